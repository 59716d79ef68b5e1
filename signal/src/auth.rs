//! JWT verification at the WebSocket handshake, token minting for development, and TURN
//! REST-API credentials.
//!
//! Only the configured algorithm is accepted: `alg: none` never parses, and a token signed
//! with another algorithm (e.g. HS256 signed with an RSA public key) is refused.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha1::Sha1;

/// Maximum length of a player id (`sub`).
pub const MAX_PLAYER_ID_LEN: usize = 64;
/// Maximum length of a token accepted at the handshake; longer ones are refused unparsed.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Default clock-skew leeway for `exp` / `nbf`, in seconds.
pub const DEFAULT_JWT_LEEWAY_SECS: u64 = 5;

/// Authentication failures.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token in the `Authorization` header nor in `?token=`.
    #[error("missing token")]
    Missing,
    /// The token is longer than [`MAX_TOKEN_LEN`].
    #[error("token too long")]
    TooLong,
    /// Malformed, forged, expired, not yet valid, or signed with another algorithm.
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    /// `sub` is not 1–64 characters of `[A-Za-z0-9_.-]`.
    #[error("invalid subject")]
    BadSubject,
    /// The key material could not be loaded.
    #[error("bad key: {0}")]
    BadKey(String),
    /// The system clock is before 1970.
    #[error("system clock before the unix epoch")]
    Clock,
}

/// The claims this server reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The player id.
    pub sub: String,
    /// Expiry (unix seconds).
    pub exp: u64,
    /// Issued at (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not before (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Default display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The verified identity of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `sub`.
    pub player_id: String,
    /// `name`, or the player id when absent.
    pub name: String,
}

/// Which algorithm and key the server pins.
#[derive(Clone)]
pub enum JwtKey {
    /// HS256 with a shared secret (the default).
    Hs256(Vec<u8>),
    /// RS256 with an RSA public key (PEM).
    Rs256Pem(Vec<u8>),
    /// EdDSA (Ed25519) with a public key (PEM).
    EdDsaPem(Vec<u8>),
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        let name = match self {
            Self::Hs256(_) => "Hs256(..)",
            Self::Rs256Pem(_) => "Rs256Pem(..)",
            Self::EdDsaPem(_) => "EdDsaPem(..)",
        };
        f.write_str(name)
    }
}

/// A ready-to-use verifier: decoding key plus a validation pinned to one algorithm.
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish()
    }
}

impl TokenVerifier {
    /// Builds a verifier; fails when the PEM key does not load.
    pub fn new(key: &JwtKey, leeway_secs: u64) -> Result<Self, AuthError> {
        let (alg, key) = match key {
            JwtKey::Hs256(secret) => (Algorithm::HS256, DecodingKey::from_secret(secret)),
            JwtKey::Rs256Pem(pem) => (
                Algorithm::RS256,
                DecodingKey::from_rsa_pem(pem).map_err(|e| AuthError::BadKey(e.to_string()))?,
            ),
            JwtKey::EdDsaPem(pem) => (
                Algorithm::EdDSA,
                DecodingKey::from_ed_pem(pem).map_err(|e| AuthError::BadKey(e.to_string()))?,
            ),
        };
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.leeway = leeway_secs;
        Ok(Self { key, validation })
    }

    /// Verifies a token and returns the identity it proves.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::TooLong);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)?;
        let claims = data.claims;
        if !valid_player_id(&claims.sub) {
            return Err(AuthError::BadSubject);
        }
        let name = claims
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| n.chars().take(crate::hub::MAX_NAME_CHARS).collect())
            .unwrap_or_else(|| claims.sub.clone());
        Ok(Identity {
            player_id: claims.sub,
            name,
        })
    }
}

/// True when `id` is 1–64 characters of `[A-Za-z0-9_.-]`.
pub fn valid_player_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_PLAYER_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

fn unix_now() -> Result<u64, AuthError> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| AuthError::Clock)
}

/// Mints an HS256 token for `sub` that expires after `ttl` (development and tests).
pub fn mint_token(
    secret: &[u8],
    sub: &str,
    name: Option<&str>,
    ttl: Duration,
) -> Result<String, AuthError> {
    if !valid_player_id(sub) {
        return Err(AuthError::BadSubject);
    }
    let now = unix_now()?;
    let claims = Claims {
        sub: sub.to_owned(),
        exp: now.saturating_add(ttl.as_secs()),
        iat: Some(now),
        nbf: None,
        name: name.map(str::to_owned),
    };
    mint_claims(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
}

/// Signs arbitrary claims with any header and key (tests of RS256/EdDSA and attack tokens).
pub fn mint_claims(
    header: &Header,
    claims: &Claims,
    key: &EncodingKey,
) -> Result<String, AuthError> {
    Ok(jsonwebtoken::encode(header, claims, key)?)
}

/// The current unix time in seconds (for building test claims).
pub fn now_unix() -> Result<u64, AuthError> {
    unix_now()
}

/// TURN REST-API credentials (coturn `use-auth-secret` scheme) for one player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredentials {
    /// `"<expiry-unix>:<playerId>"`.
    pub username: String,
    /// `base64(HMAC-SHA1(secret, username))`.
    pub credential: String,
}

/// Mints TURN credentials valid until `expiry_unix`.
pub fn turn_credentials(secret: &[u8], player_id: &str, expiry_unix: u64) -> TurnCredentials {
    let username = format!("{expiry_unix}:{player_id}");
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here; fall back to
    // an empty credential rather than panicking if that ever changes.
    let credential = match Hmac::<Sha1>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(username.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    TurnCredentials {
        username,
        credential,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_verifies() {
        let token = mint_token(b"s3cret", "alice", Some("Alice"), Duration::from_secs(60)).unwrap();
        let v = TokenVerifier::new(&JwtKey::Hs256(b"s3cret".to_vec()), 0).unwrap();
        let id = v.verify(&token).unwrap();
        assert_eq!(id.player_id, "alice");
        assert_eq!(id.name, "Alice");
        let other = TokenVerifier::new(&JwtKey::Hs256(b"other".to_vec()), 0).unwrap();
        assert!(other.verify(&token).is_err());
    }

    #[test]
    fn player_id_charset() {
        assert!(valid_player_id("a.b-c_9"));
        assert!(!valid_player_id(""));
        assert!(!valid_player_id("a b"));
        assert!(!valid_player_id(&"x".repeat(65)));
    }

    #[test]
    fn turn_credentials_follow_the_coturn_scheme() {
        // Reference value computed independently:
        // printf '1700000000:alice' | openssl dgst -sha1 -hmac secret -binary | base64
        let c = turn_credentials(b"secret", "alice", 1_700_000_000);
        assert_eq!(c.username, "1700000000:alice");
        assert_eq!(c.credential, "d8soP47RbdIKLDUOpnJPVQyq5Ts=");
    }
}
