//! ICE configuration: which servers, which local addresses, which candidates.
//!
//! The servers normally come from the signal server's `welcome` message (STUN and TURN, the
//! TURN entries carrying coturn REST-API credentials minted for this player). [`IceConfig`]
//! decides what to do with them:
//! - [`IceMode::Standard`]: bind every interface, use every server from `welcome`.
//! - [`IceMode::LoopbackOnly`]: bind `127.0.0.1` only, mDNS off, UDP over IPv4, and drop any
//!   server that is not on the loopback interface (no public STUN). For tests and examples.
//! - relay-only ([`IceConfig::relay_only`]): the transport policy `relay`, which forces every
//!   byte through a TURN server; combinable with either mode.

use std::time::Duration;

use rtc::ice::mdns::MulticastDnsMode;
use rtc::ice::network_type::NetworkType;
use signal::protocol::IceServer;
use webrtc::peer_connection::{
    RTCConfiguration, RTCConfigurationBuilder, RTCIceServer, RTCIceTransportPolicy, SettingEngine,
    SettingEngineBuilder,
};

/// Default delay between two ICE connectivity checks. webrtc-rs uses 200 ms; a pair on a LAN or
/// loopback answers in well under a millisecond, so a short interval is what makes the
/// connection come up in tens of milliseconds instead of hundreds.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_millis(10);
/// Default number of binding requests per candidate pair before it is given up. Scaled up with
/// the shorter interval so a pair is still tried for ~1 s before being declared failed.
pub const DEFAULT_MAX_BINDING_REQUESTS: u16 = 100;
/// Default time without traffic before ICE reports `disconnected` (webrtc-rs: 5 s). A game
/// sends a packet every frame, so silence this long means the opponent is gone.
pub const DEFAULT_DISCONNECTED_TIMEOUT: Duration = Duration::from_secs(3);
/// Default time after `disconnected` before ICE reports `failed` (webrtc-rs: 25 s).
pub const DEFAULT_FAILED_TIMEOUT: Duration = Duration::from_secs(5);
/// Default STUN keep-alive interval on an idle pair.
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);

/// Which local interfaces and which servers ICE may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IceMode {
    /// Every local interface (one socket per interface address) and every server from
    /// `welcome`. The mode for real matches over the Internet.
    #[default]
    Standard,
    /// `127.0.0.1` only, mDNS off, UDP/IPv4, servers outside the loopback interface dropped.
    /// Nothing leaves the machine; for tests, benchmarks and the demo.
    LoopbackOnly,
}

/// ICE settings of one peer connection. Build with [`IceConfig::standard`] or
/// [`IceConfig::loopback`], adjust fields, then the peer applies [`IceConfig::servers`] from
/// `welcome` on top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceConfig {
    /// Interfaces and server filtering.
    pub mode: IceMode,
    /// Use only relayed (TURN) candidates (`iceTransportPolicy: "relay"`).
    pub relay_only: bool,
    /// Servers added to the ones `welcome` announces (for example a local TURN in tests).
    pub extra_servers: Vec<IceServer>,
    /// Delay between connectivity checks ([`DEFAULT_CHECK_INTERVAL`]).
    pub check_interval: Duration,
    /// Binding requests per pair before giving up ([`DEFAULT_MAX_BINDING_REQUESTS`]).
    pub max_binding_requests: u16,
    /// Silence before `disconnected` ([`DEFAULT_DISCONNECTED_TIMEOUT`]).
    pub disconnected_timeout: Duration,
    /// Time in `disconnected` before `failed` ([`DEFAULT_FAILED_TIMEOUT`]).
    pub failed_timeout: Duration,
    /// Keep-alive interval ([`DEFAULT_KEEPALIVE_INTERVAL`]).
    pub keepalive_interval: Duration,
    /// Test hook (false): neither send nor apply ICE candidates, so ICE can never connect,
    /// as if all UDP between the peers were blocked (the relay fallback's tests).
    pub block_candidates: bool,
}

impl Default for IceConfig {
    fn default() -> Self {
        Self::standard()
    }
}

impl IceConfig {
    /// Every interface, every server from `welcome`, tuned timers.
    pub fn standard() -> Self {
        Self {
            mode: IceMode::Standard,
            relay_only: false,
            extra_servers: Vec::new(),
            check_interval: DEFAULT_CHECK_INTERVAL,
            max_binding_requests: DEFAULT_MAX_BINDING_REQUESTS,
            disconnected_timeout: DEFAULT_DISCONNECTED_TIMEOUT,
            failed_timeout: DEFAULT_FAILED_TIMEOUT,
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            block_candidates: false,
        }
    }

    /// Loopback only: nothing leaves the machine.
    pub fn loopback() -> Self {
        Self {
            mode: IceMode::LoopbackOnly,
            ..Self::standard()
        }
    }

    /// The same configuration with only relayed candidates allowed.
    pub fn with_relay_only(mut self, relay_only: bool) -> Self {
        self.relay_only = relay_only;
        self
    }

    /// The same configuration with one more ICE server.
    pub fn with_server(mut self, server: IceServer) -> Self {
        self.extra_servers.push(server);
        self
    }

    /// The servers to give the peer connection: `welcome`'s plus [`IceConfig::extra_servers`],
    /// filtered by the mode (loopback mode keeps only servers on the loopback interface).
    pub fn servers(&self, welcome: &[IceServer]) -> Vec<IceServer> {
        welcome
            .iter()
            .chain(self.extra_servers.iter())
            .filter_map(|server| {
                let urls: Vec<String> = server
                    .urls
                    .iter()
                    .filter(|url| self.mode == IceMode::Standard || is_loopback_url(url))
                    .cloned()
                    .collect();
                (!urls.is_empty()).then(|| IceServer {
                    urls,
                    username: server.username.clone(),
                    credential: server.credential.clone(),
                })
            })
            .collect()
    }

    /// The `RTCConfiguration` for these servers (already filtered by [`IceConfig::servers`]).
    pub fn rtc_configuration(&self, servers: &[IceServer]) -> RTCConfiguration {
        let ice_servers = servers
            .iter()
            .map(|server| RTCIceServer {
                urls: server.urls.clone(),
                username: server.username.clone().unwrap_or_default(),
                credential: server.credential.clone().unwrap_or_default(),
            })
            .collect();
        let policy = if self.relay_only {
            RTCIceTransportPolicy::Relay
        } else {
            RTCIceTransportPolicy::All
        };
        RTCConfigurationBuilder::new()
            .with_ice_servers(ice_servers)
            .with_ice_transport_policy(policy)
            .build()
    }

    /// The webrtc-rs `SettingEngine`: timers, mDNS and network types.
    pub fn setting_engine(&self) -> SettingEngine {
        self.setting_engine_builder().build()
    }

    /// The builder behind [`IceConfig::setting_engine`] (a spectator stream adds its SCTP
    /// settings).
    pub(crate) fn setting_engine_builder(&self) -> SettingEngineBuilder {
        let mut builder = SettingEngineBuilder::new()
            .with_ice_connection_attempts(
                Some(self.check_interval),
                Some(self.max_binding_requests),
            )
            .with_ice_timeouts(
                Some(self.disconnected_timeout),
                Some(self.failed_timeout),
                Some(self.keepalive_interval),
            )
            // A peer-reflexive pair (the remote's check arrived before its candidate) is as
            // good as a host pair on the paths we use; webrtc-rs waits 1 s before using it.
            .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
            .with_host_acceptance_min_wait(Some(Duration::ZERO));
        if self.relay_only {
            // Only relay candidates exist, there is nothing better to wait for.
            builder = builder.with_relay_acceptance_min_wait(Some(Duration::ZERO));
        }
        if self.mode == IceMode::LoopbackOnly {
            builder = builder
                .with_multicast_dns_mode(MulticastDnsMode::Disabled)
                .with_network_types(vec![NetworkType::Udp4])
                .with_include_loopback_candidate(true);
        }
        builder
    }

    /// Local UDP addresses to bind.
    pub fn udp_addrs(&self) -> Vec<String> {
        match self.mode {
            IceMode::Standard => vec!["0.0.0.0:0".to_owned()],
            IceMode::LoopbackOnly => vec!["127.0.0.1:0".to_owned()],
        }
    }
}

/// Whether a `stun:`/`turn:` URL names a host on the loopback interface.
fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once(':').map(|(_, rest)| rest).unwrap_or(url);
    let rest = rest.trim_start_matches("//");
    let host_port = rest.split(['?', '/']).next().unwrap_or(rest);
    let host = if let Some(stripped) = host_port.strip_prefix('[') {
        stripped.split(']').next().unwrap_or(stripped)
    } else {
        host_port
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(host_port)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(url: &str) -> IceServer {
        IceServer {
            urls: vec![url.to_owned()],
            username: Some("1700000000:alice".to_owned()),
            credential: Some("c3VwZXI=".to_owned()),
        }
    }

    #[test]
    fn loopback_mode_drops_public_servers() {
        let welcome = vec![
            server("stun:stun.l.google.com:19302"),
            server("turn:127.0.0.1:3478?transport=udp"),
            server("stun:[::1]:3478"),
            server("turn:localhost:3478"),
        ];
        let kept = IceConfig::loopback().servers(&welcome);
        let urls: Vec<&str> = kept.iter().map(|s| s.urls[0].as_str()).collect();
        assert_eq!(
            urls,
            [
                "turn:127.0.0.1:3478?transport=udp",
                "stun:[::1]:3478",
                "turn:localhost:3478"
            ]
        );
        assert_eq!(kept[0].username.as_deref(), Some("1700000000:alice"));
    }

    #[test]
    fn standard_mode_keeps_every_server_and_extra_ones() {
        let config = IceConfig::standard().with_server(server("turn:10.0.0.1:3478"));
        let kept = config.servers(&[server("stun:stun.example.org:3478")]);
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn relay_only_sets_the_transport_policy() {
        let config = IceConfig::loopback().with_relay_only(true);
        let rtc = config.rtc_configuration(&config.servers(&[server("turn:127.0.0.1:1")]));
        assert_eq!(rtc.ice_transport_policy(), RTCIceTransportPolicy::Relay);
        assert_eq!(rtc.ice_servers()[0].credential, "c3VwZXI=");
        assert_eq!(config.udp_addrs(), ["127.0.0.1:0"]);
    }
}
