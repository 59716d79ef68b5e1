//! An impairing UDP relay for measurements on loopback: delay, jitter and loss applied to
//! real WebRTC packets (below SCTP, unlike a ggrs-level simulator).
//!
//! One socket in front of a `target` address: a datagram from `target` goes to whoever sent
//! the last datagram from elsewhere, and the other way round. Each datagram is dropped with
//! probability [`RelayConditions::loss_per_mille`] / 1000, otherwise forwarded after
//! `delay ± jitter` (which may reorder, as real jitter does). Seeded: reproducible.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Impairment applied in each direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConditions {
    /// One-way delay added to every datagram.
    pub delay: Duration,
    /// Uniform jitter: the delay varies in `delay ± jitter`.
    pub jitter: Duration,
    /// Loss probability in per mille (20 = 2 %).
    pub loss_per_mille: u32,
    /// PRNG seed.
    pub seed: u64,
}

impl Default for RelayConditions {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss_per_mille: 0,
            seed: 0x2545_F491_4F6C_DD1D,
        }
    }
}

/// Handle of a running relay. Dropping it stops the relay.
#[derive(Debug)]
pub struct UdpRelay {
    addr: SocketAddr,
    impaired: Arc<AtomicBool>,
    forwarded: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl UdpRelay {
    /// Starts a relay on `127.0.0.1:0` in front of `target`, impairing or not.
    pub async fn start(
        target: SocketAddr,
        conditions: RelayConditions,
        impaired: bool,
    ) -> std::io::Result<Self> {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = socket.local_addr()?;
        let impaired = Arc::new(AtomicBool::new(impaired));
        let forwarded = Arc::new(AtomicU64::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(relay_loop(
            socket,
            target,
            conditions,
            impaired.clone(),
            forwarded.clone(),
            dropped.clone(),
        ));
        Ok(Self {
            addr,
            impaired,
            forwarded,
            dropped,
            task,
        })
    }

    /// The relay's address (give it to the far side instead of `target`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the impairment on or off (off: forward everything at once).
    pub fn set_impaired(&self, on: bool) {
        self.impaired.store(on, Ordering::Relaxed);
    }

    /// Datagrams forwarded so far.
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::Relaxed)
    }

    /// Datagrams dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// xorshift64*: small, seeded, good enough for impairment decisions.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

async fn relay_loop(
    socket: Arc<UdpSocket>,
    target: SocketAddr,
    conditions: RelayConditions,
    impaired: Arc<AtomicBool>,
    forwarded: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 65_536];
    let mut client: Option<SocketAddr> = None;
    let mut rng = conditions.seed | 1;
    let jitter_us = conditions.jitter.as_micros() as u64;
    while let Ok((n, from)) = socket.recv_from(&mut buf).await {
        let to = if from == target {
            match client {
                Some(client) => client,
                None => continue,
            }
        } else {
            client = Some(from);
            target
        };
        let data = buf.get(..n).unwrap_or_default().to_vec();
        if !impaired.load(Ordering::Relaxed) {
            forwarded.fetch_add(1, Ordering::Relaxed);
            let _ = socket.send_to(&data, to).await;
            continue;
        }
        if next_random(&mut rng) % 1000 < u64::from(conditions.loss_per_mille) {
            dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let mut delay = conditions.delay;
        if jitter_us > 0 {
            let offset = next_random(&mut rng) % (2 * jitter_us + 1);
            delay = (delay + Duration::from_micros(offset))
                .saturating_sub(Duration::from_micros(jitter_us));
        }
        forwarded.fetch_add(1, Ordering::Relaxed);
        if delay.is_zero() {
            let _ = socket.send_to(&data, to).await;
        } else {
            let socket = socket.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = socket.send_to(&data, to).await;
            });
        }
    }
}
