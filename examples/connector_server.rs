//! `connector_server`: the PlayHouse-protocol reference play server with echo handlers.
//!
//! `cargo run --example connector_server -- --tcp 127.0.0.1:0 --ws 127.0.0.1:0 --auth-msg AuthenticateRequest`
//! prints `play server listening tcp://ADDR ws://ADDR/ws` and serves until Ctrl-C.

use clap::Parser;
use netplay::connector_cli::server::{listening_line, start, ServerArgs};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = ServerArgs::parse();
    let server = match start(&args).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("connector_server: {e}");
            std::process::exit(1);
        }
    };
    println!("{}", listening_line(&server));
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
}
