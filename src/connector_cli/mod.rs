//! Library side of the two connector example programs (kept out of the `connector` crate),
//! so their logic is tested directly: [`client`] is `connector_cli` (a debugging client for any PlayHouse server) and
//! [`server`] is `connector_server` (the reference server with echo handlers).

pub mod client;
pub mod server;

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0F)]));
    }
    s
}

/// Parses hex (either case, even length).
pub fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits in {s:?}"));
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| format!("invalid hex in {s:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        assert_eq!(to_hex(&[0x00, 0xAB, 0x7F]), "00ab7f");
        assert_eq!(from_hex("00aB7f").unwrap(), vec![0x00, 0xAB, 0x7F]);
        assert!(from_hex("abc").is_err());
        assert!(from_hex("zz").is_err());
    }
}
