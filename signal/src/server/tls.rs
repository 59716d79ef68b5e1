//! `wss://`: a listener that completes TLS handshakes (rustls) off the accept path and
//! hands finished streams to axum.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::config::TlsConfig;
use super::ServerError;

/// Builds a rustls server configuration from PEM bytes.
pub(crate) fn acceptor(tls: &TlsConfig) -> Result<TlsAcceptor, ServerError> {
    crate::install_crypto_provider();
    let certs = rustls_pemfile::certs(&mut tls.cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServerError::Tls(format!("certificate: {e}")))?;
    if certs.is_empty() {
        return Err(ServerError::Tls("no certificate in PEM".into()));
    }
    let key = rustls_pemfile::private_key(&mut tls.key_pem.as_slice())
        .map_err(|e| ServerError::Tls(format!("key: {e}")))?
        .ok_or_else(|| ServerError::Tls("no private key in PEM".into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// An axum listener yielding streams whose TLS handshake already completed.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts the accept loop; handshakes run in their own tasks with a timeout.
    pub(crate) fn spawn(
        tcp: TcpListener,
        acceptor: TlsAcceptor,
        handshake_timeout: Duration,
        shutdown: CancellationToken,
    ) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(256);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    accepted = tcp.accept() => accepted,
                };
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed; backing off");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "tls handshake failed"),
                        Err(_) => tracing::debug!("tls handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(pair) => pair,
            // The accept loop stopped (shutdown): never yield again.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
