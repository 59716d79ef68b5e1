//! netplay: the root package of the workspace. It owns the examples (`demo`, `bot`,
//! `fighter`, `botmatch`, `bench_report`, `signal_load`, `connector_cli`, `connector_server`) and the
//! criterion benches, and holds the little code they share across crates.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bot_report;
pub mod connector_cli;
pub mod fighter_app;
pub mod netmatch;
pub mod replay_cli;
pub mod spectate;

/// Default log filter of the WebRTC examples: our warnings, but not webrtc-rs's chatter
/// about expected events (lost candidates, closed associations).
pub const QUIET_WEBRTC_LOGS: &str =
    "warn,rtc=error,rtc_ice=error,rtc_sctp=error,rtc_dtls=error,webrtc=error";

/// Logs to stderr with `RUST_LOG` if set, else [`QUIET_WEBRTC_LOGS`].
pub fn init_example_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| QUIET_WEBRTC_LOGS.into()),
        )
        .with_writer(std::io::stderr)
        .init();
}
