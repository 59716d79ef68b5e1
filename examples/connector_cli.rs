//! `connector_cli`: a debugging client for any PlayHouse server; one JSON line per event.
//!
//! `cargo run --example connector_cli -- --host 127.0.0.1 --port PORT --auth AuthenticateRequest:74 --request EchoRequest:abcd@7 --json`
//! Exit code 0 when all steps completed, 1 when connecting failed, 2 for bad flags.

use netplay::connector_cli::client::{run, Invocation};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let invocation = Invocation::parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit());
    let code = run(&invocation, &mut std::io::stdout()).await;
    std::process::exit(code);
}
