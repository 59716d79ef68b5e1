//! Direct relay routes: a relayed ICE candidate goes from the sender's connection task
//! straight into the receiver's outbound queue, without the hop through the hub task.
//!
//! The hub task grants a route after it relayed a candidate itself (the normal path,
//! [`super::hub_driver`]): the grant names the sender's ids, the session, the receiver's
//! queue and the sender's command number (`seq`) of that candidate. The sender's
//! connection task relays a later candidate directly only when
//!
//! - its ids and session are the granted ones, and
//! - the sender sent the hub nothing since (`seq` equals its count of commands sent), so
//!   everything it sent before is already handled and its output queued: per-sender order
//!   is kept, also when a route is granted in the middle of a burst.
//!
//! Anything else takes the normal path and is answered exactly as before (403, 404, 409,
//! 400, slow-consumer cut-off). The hub task revokes routes under the same lock the sender
//! relays under, before any change that could alter the answer becomes visible: for every
//! command of the sender or the receiver (end, report, disconnect), every message or close
//! the hub sends either of them (session ended or failed, newest-connection-wins
//! replacement, a peer gone, resume), every connection that leaves, and a re-check of every
//! route against [`Hub::ice_route`] after timeouts. A candidate relayed directly before a
//! revocation is as if the hub had handled it before the change (it sits in the receiver's
//! queue ahead of whatever the change sends). Cluster mode grants no routes.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::mpsc;

use super::fast_relay::IceFrame;
use super::hub_driver::{Outbound, Outbox};
use crate::hub::{ConnId, Hub};

/// Wire name of the relayed message (for metrics).
const RELAYED: &str = "ice_candidate_received";

/// One granted route (held in the sender's [`RouteCell`]).
#[derive(Debug)]
struct Grant {
    /// The sender's command number of the candidate the hub relayed when granting.
    seq: u64,
    /// The receiver's connection.
    to: ConnId,
    queue: mpsc::Sender<Outbound>,
    sender_id: Box<str>,
    receiver_id: Box<str>,
    session_id: Box<str>,
}

impl Grant {
    fn names(&self, sender_id: &str, receiver_id: &str, session_id: &str) -> bool {
        *self.session_id == *session_id
            && *self.sender_id == *sender_id
            && *self.receiver_id == *receiver_id
    }
}

/// What the sender's connection task did with a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direct {
    /// Queued for the receiver.
    Relayed,
    /// Queued for the receiver, whose queue is more than half full: the sender should yield
    /// so the receiver's task drains it (the hub task yields after a full batch for the
    /// same reason; a healthy receiver must not be cut off as a slow consumer because its
    /// sender's task ran first).
    Crowded,
    /// No usable route: send it to the hub.
    Hub,
}

/// The route of one sending connection, shared by its task and the hub task (boxed: a
/// connection that never relays pays 16 bytes for it).
#[derive(Debug, Default)]
pub(crate) struct RouteCell(Mutex<Option<Box<Grant>>>);

impl RouteCell {
    /// Relays `frame` directly when the granted route covers it and the sender has sent
    /// `sent` commands to the hub (see the module docs). A full or closed receiver queue
    /// drops the route and leaves the frame to the hub (which cuts a slow consumer off).
    pub(crate) fn relay(&self, frame: &IceFrame, sent: u64) -> Direct {
        let Ok(mut cell) = self.0.lock() else {
            return Direct::Hub;
        };
        let Some(grant) = cell.as_ref() else {
            return Direct::Hub;
        };
        if grant.seq != sent
            || !grant.names(frame.sender_id(), frame.receiver_id(), frame.session_id())
        {
            return Direct::Hub;
        }
        match grant
            .queue
            .try_send(Outbound::Text(RELAYED, frame.relayed()))
        {
            Ok(()) if grant.queue.capacity() < grant.queue.max_capacity() / 2 => Direct::Crowded,
            Ok(()) => Direct::Relayed,
            Err(_) => {
                *cell = None;
                Direct::Hub
            }
        }
    }

    /// Grants (or renews with a new `seq`) the route of `frame` to `to`.
    fn grant(&self, frame: &IceFrame, to: ConnId, queue: &mpsc::Sender<Outbound>) {
        let Ok(mut cell) = self.0.lock() else {
            return;
        };
        let seq = frame.seq();
        if let Some(grant) = cell.as_mut() {
            if grant.to == to
                && grant.names(frame.sender_id(), frame.receiver_id(), frame.session_id())
            {
                grant.seq = seq;
                return;
            }
        }
        *cell = Some(Box::new(Grant {
            seq,
            to,
            queue: queue.clone(),
            sender_id: frame.sender_id().into(),
            receiver_id: frame.receiver_id().into(),
            session_id: frame.session_id().into(),
        }));
    }

    fn revoke(&self) {
        if let Ok(mut cell) = self.0.lock() {
            *cell = None;
        }
    }

    /// True when the granted route is still what `hub` would answer.
    fn still_valid(&self, hub: &Hub, from: ConnId) -> bool {
        let Ok(cell) = self.0.lock() else {
            return false;
        };
        cell.as_ref().is_some_and(|g| {
            hub.ice_route(from, &g.sender_id, &g.receiver_id, &g.session_id) == Some(g.to)
        })
    }
}

/// The hub task's index of granted routes (sender → receiver and back), so it can revoke
/// every route touching a connection.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    by_sender: HashMap<ConnId, ConnId>,
    by_receiver: HashMap<ConnId, Vec<ConnId>>,
}

impl Routes {
    /// Grants `from` the route of `frame` to `to`, which the hub just relayed it to.
    pub(crate) fn grant(
        &mut self,
        outboxes: &HashMap<ConnId, Outbox>,
        from: ConnId,
        to: ConnId,
        frame: &IceFrame,
    ) {
        let (Some(sender), Some(receiver)) = (outboxes.get(&from), outboxes.get(&to)) else {
            return;
        };
        if receiver.kick.is_none() {
            return;
        }
        if let Some(old) = self.by_sender.insert(from, to) {
            if old != to {
                self.unlink(old, from);
            }
        }
        let senders = self.by_receiver.entry(to).or_default();
        if !senders.contains(&from) {
            senders.push(from);
        }
        sender.route.grant(frame, to, &receiver.queue);
    }

    /// Revokes every route from or to `conn`.
    pub(crate) fn revoke_touching(&mut self, outboxes: &HashMap<ConnId, Outbox>, conn: ConnId) {
        if self.by_sender.is_empty() {
            return;
        }
        if let Some(to) = self.by_sender.remove(&conn) {
            self.unlink(to, conn);
            if let Some(outbox) = outboxes.get(&conn) {
                outbox.route.revoke();
            }
        }
        for from in self.by_receiver.remove(&conn).unwrap_or_default() {
            self.by_sender.remove(&from);
            if let Some(outbox) = outboxes.get(&from) {
                outbox.route.revoke();
            }
        }
    }

    /// Re-checks every route against the hub (after timeouts) and revokes the stale ones.
    pub(crate) fn revalidate(&mut self, hub: &Hub, outboxes: &HashMap<ConnId, Outbox>) {
        let stale: Vec<ConnId> = self
            .by_sender
            .keys()
            .copied()
            .filter(|from| {
                !outboxes
                    .get(from)
                    .is_some_and(|o| o.route.still_valid(hub, *from))
            })
            .collect();
        for from in stale {
            if let Some(to) = self.by_sender.remove(&from) {
                self.unlink(to, from);
            }
            if let Some(outbox) = outboxes.get(&from) {
                outbox.route.revoke();
            }
        }
    }

    fn unlink(&mut self, to: ConnId, from: ConnId) {
        if let Some(senders) = self.by_receiver.get_mut(&to) {
            senders.retain(|s| *s != from);
            if senders.is_empty() {
                self.by_receiver.remove(&to);
            }
        }
    }
}
