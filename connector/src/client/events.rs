//! The main-thread event queue: network tasks push events, `main_thread_action()` runs the
//! registered handlers and request callbacks on the caller's thread, in arrival order.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

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

/// Queue plus handlers, shared between the network tasks and the game thread.
#[derive(Default)]
pub(crate) struct EventQueue {
    queue: Mutex<VecDeque<Event>>,
    handlers: Mutex<Handlers>,
}

impl EventQueue {
    pub(crate) fn push(&self, event: Event) {
        lock(&self.queue).push_back(event);
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.queue).len()
    }

    pub(crate) fn clear(&self) {
        lock(&self.queue).clear();
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
        let events = std::mem::take(&mut *lock(&self.queue));
        if events.is_empty() {
            return 0;
        }
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
