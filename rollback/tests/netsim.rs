//! Network simulator: measured loss, latency and jitter match the configured values within
//! statistical tolerance, reordering and duplication happen only when configured, nothing
//! is delivered early, bandwidth caps delay packets, and `SimSocket` honours all of it.

use std::time::Duration;

use ggrs::NonBlockingSocket;
use rollback::clock::VirtualClock;
use rollback::netsim::{LinkConditions, LinkShaper, SimNetwork};

const N: u64 = 20_000;

/// Sends `N` packets 1 ms apart and delivers each exactly when due; returns the shaper and
/// the delivered sequence numbers in delivery order.
fn run(c: LinkConditions, seed: u64) -> (LinkShaper<u64>, Vec<u64>) {
    let mut s = LinkShaper::new(c, seed);
    let mut order = Vec::new();
    let mut now = Duration::ZERO;
    for i in 0..N {
        s.submit(now, i, 100);
        now += Duration::from_millis(1);
        s.deliver_due(now, |x| order.push(x));
    }
    while let Some(due) = s.next_due() {
        // never early: nothing is handed out just before it is due
        let mut early = Vec::new();
        s.deliver_due(due.saturating_sub(Duration::from_nanos(1)), |x| {
            early.push(x)
        });
        assert!(early.is_empty() || due.is_zero(), "delivered before due");
        s.deliver_due(due, |x| order.push(x));
    }
    assert_eq!(s.stats().early, 0);
    (s, order)
}

#[test]
fn measured_loss_matches_configuration() {
    for loss in [0.0, 0.05, 0.3] {
        let (s, order) = run(
            LinkConditions::with_latency_loss(Duration::from_millis(10), loss),
            1,
        );
        let st = s.stats();
        // binomial: 4 sigma
        let sigma = (loss * (1.0 - loss) / N as f64).sqrt();
        assert!(
            (st.loss_rate() - loss).abs() <= 4.0 * sigma + 1e-9,
            "loss {loss}: measured {}",
            st.loss_rate()
        );
        assert_eq!(order.len() as u64, N - st.lost);
    }
}

#[test]
fn measured_latency_and_jitter_match_configuration() {
    let c = LinkConditions {
        latency: Duration::from_millis(50),
        jitter: Duration::from_millis(10),
        ..LinkConditions::ideal()
    };
    let (s, _) = run(c, 2);
    let st = s.stats();
    // uniform(-10, 10) ms: mean 50, std 10/sqrt(3) = 5.77 ms
    assert!(
        (st.mean_delay_ms() - 50.0).abs() < 0.2,
        "mean {}",
        st.mean_delay_ms()
    );
    assert!(
        (st.delay_std_ms() - 5.774).abs() < 0.2,
        "std {}",
        st.delay_std_ms()
    );
    assert!(st.delay_max_ns <= 60_000_000);
    // without jitter every packet takes exactly the latency
    let (s, order) = run(
        LinkConditions::with_latency_loss(Duration::from_millis(30), 0.0),
        3,
    );
    assert!((s.stats().mean_delay_ms() - 30.0).abs() < 1e-6);
    assert!(s.stats().delay_std_ms() < 1e-3);
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "no jitter, no reorder: FIFO"
    );
}

#[test]
fn reordering_and_duplication_happen_only_when_configured() {
    let c = LinkConditions {
        latency: Duration::from_millis(20),
        reorder: 0.1,
        duplicate: 0.05,
        ..LinkConditions::ideal()
    };
    let (s, order) = run(c, 4);
    let st = s.stats();
    let out_of_order = order.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(out_of_order > 100, "reordered deliveries: {out_of_order}");
    assert!(st.reordered > 100);
    let dup_rate = st.duplicated as f64 / N as f64;
    assert!((dup_rate - 0.05).abs() < 0.01, "dup rate {dup_rate}");
    assert_eq!(order.len() as u64, N + st.duplicated);
    let (plain, _) = run(
        LinkConditions::with_latency_loss(Duration::from_millis(20), 0.0),
        4,
    );
    assert_eq!(plain.stats().reordered, 0);
    assert_eq!(plain.stats().duplicated, 0);
}

#[test]
fn the_same_seed_gives_the_same_schedule() {
    let c = LinkConditions {
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(5),
        loss: 0.1,
        reorder: 0.1,
        duplicate: 0.1,
        ..LinkConditions::ideal()
    };
    assert_eq!(run(c, 9).1, run(c, 9).1);
    assert_ne!(run(c, 9).1, run(c, 10).1);
}

#[test]
fn bandwidth_cap_adds_serialization_delay() {
    let c = LinkConditions {
        bandwidth: Some(100_000), // 100 kB/s: a 100-byte packet takes 1 ms
        ..LinkConditions::ideal()
    };
    let mut s = LinkShaper::new(c, 1);
    for i in 0..10u64 {
        s.submit(Duration::ZERO, i, 100);
    }
    let mut got = Vec::new();
    s.deliver_due(Duration::from_micros(5_500), |x| got.push(x));
    assert_eq!(got, vec![0, 1, 2, 3, 4], "five packets fit in 5.5 ms");
    assert!(LinkConditions {
        bandwidth: Some(0),
        ..c
    }
    .validate()
    .is_err());
    assert!(LinkConditions { loss: 1.5, ..c }.validate().is_err());
}

#[test]
fn sim_sockets_deliver_after_the_latency_on_the_virtual_clock() {
    let clock = VirtualClock::new();
    let net = SimNetwork::new(5, clock.clone());
    let (mut a, mut b) = (net.endpoint(), net.endpoint());
    net.set_link(
        a.addr(),
        b.addr(),
        LinkConditions::with_latency_loss(Duration::from_millis(40), 0.0),
    )
    .unwrap();
    // a KeepAlive message: magic 5, variant 7
    let (msg, _): (ggrs::Message, usize) =
        bincode::serde::decode_from_slice(&[5, 7], bincode::config::standard()).unwrap();
    a.send_to(&msg, &b.addr());
    clock.set(Duration::from_millis(39));
    assert!(b.receive_all_messages().is_empty(), "delivered early");
    assert_eq!(net.next_delivery(), Some(Duration::from_millis(40)));
    clock.set(Duration::from_millis(40));
    let got = b.receive_all_messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, a.addr());
    assert_eq!(got[0].1, msg);
    // the reverse direction is ideal by default
    b.send_to(&msg, &a.addr());
    assert_eq!(a.receive_all_messages().len(), 1);
    assert_eq!(net.link_stats(a.addr(), b.addr()).delivered, 1);
}
