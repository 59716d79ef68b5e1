//! The main-thread event queue: network tasks push events, `main_thread_action()` runs the
//! registered handlers and request callbacks on the caller's thread, in arrival order.
//!
//! The queue is bounded by [`DEFAULT_MAX_QUEUED_EVENTS`]: when it is full the driver stops
//! reading from the socket (TCP flow control pushes back on the server) until
//! `main_thread_action()` drains it; nothing is dropped. A game that stops calling
//! `main_thread_action()` for longer than the idle timeout is disconnected by it.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::packet::Packet;

/// Callback of a callback-style request.
pub type ReplyCallback = Box<dyn FnOnce(Packet) + Send>;
type ConnectHandler = Box<dyn FnMut(bool) + Send>;
type ReceiveHandler = Box<dyn FnMut(i64, Packet) + Send>;
type ErrorHandler = Box<dyn FnMut(i64, u16, Packet) + Send>;
type DisconnectHandler = Box<dyn FnMut() + Send>;

/// One queued event.
pub(crate) enum Event {
    Connected(bool),
    Received(i64, Packet),
    Error(i64, u16, Packet),
    Disconnected,
    Reply(ReplyCallback, Packet),
}

#[derive(Default)]
struct Handlers {
    connect: Vec<ConnectHandler>,
    receive: Vec<ReceiveHandler>,
    error: Vec<ErrorHandler>,
    disconnect: Vec<DisconnectHandler>,
}

impl Handlers {
    fn absorb(&mut self, mut newer: Handlers) {
        self.connect.append(&mut newer.connect);
        self.receive.append(&mut newer.receive);
        self.error.append(&mut newer.error);
        self.disconnect.append(&mut newer.disconnect);
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Connected(ok) => self.connect.iter_mut().for_each(|h| h(ok)),
            Event::Received(stage, packet) => self
                .receive
                .iter_mut()
                .for_each(|h| h(stage, packet.clone())),
            Event::Error(stage, code, packet) => self
                .error
                .iter_mut()
                .for_each(|h| h(stage, code, packet.clone())),
            Event::Disconnected => self.disconnect.iter_mut().for_each(|h| h()),
            Event::Reply(callback, packet) => callback(packet),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Events queued for `main_thread_action()` above which the driver stops reading.
pub const DEFAULT_MAX_QUEUED_EVENTS: usize = 65_536;

#[derive(Default)]
struct Queue {
    events: VecDeque<Event>,
    /// Bumped by `clear`: callbacks registered before it are dropped instead of queued.
    epoch: u64,
}

/// Queue plus handlers, shared between the network tasks and the game thread.
pub(crate) struct EventQueue {
    queue: Mutex<Queue>,
    handlers: Mutex<Handlers>,
    capacity: usize,
    drained: Notify,
    /// Woken when an event is queued (for async consumers such as the relay member).
    arrived: Notify,
}

impl Default for EventQueue {
    fn default() -> Self {
        Self {
            queue: Mutex::default(),
            handlers: Mutex::default(),
            capacity: DEFAULT_MAX_QUEUED_EVENTS,
            drained: Notify::new(),
            arrived: Notify::new(),
        }
    }
}

impl EventQueue {
    pub(crate) fn push(&self, event: Event) {
        lock(&self.queue).events.push_back(event);
        self.arrived.notify_one();
    }

    /// Queues the outcome of a callback-style request registered at `epoch`; dropped when
    /// `clear` ran since.
    pub(crate) fn push_callback(&self, event: Event, epoch: u64) {
        let mut q = lock(&self.queue);
        if q.epoch == epoch {
            q.events.push_back(event);
            drop(q);
            self.arrived.notify_one();
        }
    }

    /// Completes once an event was queued since the last wake-up (at most one waiter).
    pub(crate) async fn arrived(&self) {
        self.arrived.notified().await;
    }

    /// The current callback epoch.
    pub(crate) fn epoch(&self) -> u64 {
        lock(&self.queue).epoch
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.queue).events.len()
    }

    /// Whether the driver should stop reading until the game drains the queue.
    pub(crate) fn is_full(&self) -> bool {
        self.len() >= self.capacity
    }

    /// Completes after the queue was drained (or cleared) since the last wake-up.
    pub(crate) async fn drained(&self) {
        self.drained.notified().await;
    }

    pub(crate) fn clear(&self) {
        let mut q = lock(&self.queue);
        q.events.clear();
        q.epoch = q.epoch.wrapping_add(1);
        drop(q);
        self.drained.notify_one();
    }

    pub(crate) fn on_connect(&self, h: ConnectHandler) {
        lock(&self.handlers).connect.push(h);
    }
    pub(crate) fn on_receive(&self, h: ReceiveHandler) {
        lock(&self.handlers).receive.push(h);
    }
    pub(crate) fn on_error(&self, h: ErrorHandler) {
        lock(&self.handlers).error.push(h);
    }
    pub(crate) fn on_disconnect(&self, h: DisconnectHandler) {
        lock(&self.handlers).disconnect.push(h);
    }

    /// Runs every queued event on the calling thread; returns how many ran. Handlers may call
    /// back into the connector (no lock is held while they run).
    pub(crate) fn run(&self) -> usize {
        let events = std::mem::take(&mut lock(&self.queue).events);
        if events.is_empty() {
            return 0;
        }
        self.drained.notify_one();
        let count = events.len();
        let mut handlers = std::mem::take(&mut *lock(&self.handlers));
        for event in events {
            handlers.dispatch(event);
        }
        let mut shared = lock(&self.handlers);
        let added = std::mem::take(&mut *shared);
        handlers.absorb(added);
        *shared = handlers;
        count
    }
}
