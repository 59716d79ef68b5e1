//! The public client API: [`Connector`], the Rust shape of the seed's C# `Connector`.

pub mod config;
mod driver;
mod events;
mod link;
pub mod liveness;

use std::sync::Arc;

use bytes::BytesMut;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::{mpsc, oneshot};

use crate::codec;
use crate::error::{ConnectorError, DISCONNECTED, INVALID_PACKET, UNAUTHENTICATED};
use crate::packet::Packet;
use config::ConnectorConfig;
use driver::{ActiveLink, Command, LinkState, Shared};
use events::{Event, EventQueue};
use link::{complete, Completion, LinkIo, Pending};

/// Owns a private runtime when the connector was created outside any tokio runtime.
struct OwnedRuntime(Option<Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// The user-facing half: closes the connection when the last clone is dropped.
struct HandleInner {
    shared: Arc<Shared>,
    runtime: Handle,
    _owned: Option<OwnedRuntime>,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        if let Some(link) = self.shared.lock_link().active.take() {
            let _ = link.commands.send(Command::Close);
        }
    }
}

/// A PlayHouse client connection (TCP or WebSocket), the Rust shape of the seed's C#
/// `Connector`. Cheap to clone; all clones drive the same connection.
///
/// Network I/O runs on tokio tasks. Event handlers and request callbacks are **queued** and
/// run only inside [`main_thread_action`](Self::main_thread_action), on the thread that calls
/// it (the Unity `Update()` pattern). The `*_async` methods complete without it.
///
/// Every request completes exactly once: with its reply, with `REQUEST_TIMEOUT` (60202),
/// or with `DISCONNECTED` (60201). Callback-style requests report failures through
/// `on_error(stage_id, error_code, request)` instead of their callback.
#[derive(Clone)]
pub struct Connector {
    inner: Arc<HandleInner>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("config", &self.inner.shared.config)
            .field("connected", &self.is_connected())
            .field("authenticated", &self.is_authenticated())
            .finish()
    }
}

impl Connector {
    /// A connector for `config`. Inside a tokio runtime it uses that runtime; otherwise it
    /// starts a private one-worker runtime for its I/O.
    pub fn new(config: ConnectorConfig) -> std::io::Result<Self> {
        match Handle::try_current() {
            Ok(handle) => Ok(Self::with_runtime(config, handle)),
            Err(_) => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("connector-io")
                    .enable_all()
                    .build()?;
                let handle = rt.handle().clone();
                Ok(Self::build(config, handle, Some(OwnedRuntime(Some(rt)))))
            }
        }
    }

    /// A connector whose I/O runs on the given runtime.
    pub fn with_runtime(config: ConnectorConfig, runtime: Handle) -> Self {
        Self::build(config, runtime, None)
    }

    fn build(config: ConnectorConfig, runtime: Handle, owned: Option<OwnedRuntime>) -> Self {
        let shared = Arc::new(Shared {
            config,
            events: EventQueue::default(),
            link: std::sync::Mutex::new(LinkState::default()),
        });
        Self {
            inner: Arc::new(HandleInner {
                shared,
                runtime,
                _owned: owned,
            }),
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// The configuration.
    pub fn config(&self) -> &ConnectorConfig {
        &self.shared().config
    }

    /// Registers the msgId of the authenticate request: until authenticated, only it may be
    /// sent; anything else fails locally with `UNAUTHENTICATED` (60203) and is not written.
    pub fn set_authenticate_message_id(&self, msg_id: impl Into<String>) {
        self.shared().lock_link().auth_msg_id = Some(msg_id.into());
    }

    /// Starts connecting; the result arrives as `on_connect(bool)`. `debug_mode` disables the
    /// heartbeat and idle checks. Does nothing while a connection is open or being opened.
    pub fn connect(&self, debug_mode: bool) {
        self.start(debug_mode, None);
    }

    /// Connects and returns whether it worked (`on_connect` is queued as well).
    pub async fn connect_async(&self, debug_mode: bool) -> bool {
        let (tx, rx) = oneshot::channel();
        if !self.start(debug_mode, Some(tx)) {
            return self.is_connected();
        }
        rx.await.unwrap_or(false)
    }

    fn start(&self, debug_mode: bool, connected_tx: Option<oneshot::Sender<bool>>) -> bool {
        let (tx, rx) = mpsc::unbounded_channel();
        let generation = {
            let mut state = self.shared().lock_link();
            if state.active.is_some() {
                return false;
            }
            state.next_generation += 1;
            let generation = state.next_generation;
            state.active = Some(ActiveLink {
                generation,
                commands: tx,
                io: None,
                authenticated: false,
            });
            generation
        };
        let shared = Arc::clone(self.shared());
        self.inner.runtime.spawn(driver::run_link(
            shared,
            generation,
            rx,
            debug_mode,
            connected_tx,
        ));
        true
    }

    /// Closes the connection. Pending requests complete with `DISCONNECTED`; `on_disconnect`
    /// is **not** fired for a disconnect the application asked for.
    pub fn disconnect(&self) {
        if let Some(link) = self.shared().lock_link().active.take() {
            let _ = link.commands.send(Command::Close);
        }
    }

    /// Whether the connection is open.
    pub fn is_connected(&self) -> bool {
        self.shared()
            .lock_link()
            .active
            .as_ref()
            .is_some_and(|l| l.io.is_some())
    }

    /// Whether an authenticate request succeeded on the current connection.
    pub fn is_authenticated(&self) -> bool {
        self.shared()
            .lock_link()
            .active
            .as_ref()
            .is_some_and(|l| l.io.is_some() && l.authenticated)
    }

    /// Checks the connection and the auth gate; returns the command channel or a local code.
    fn admit(&self, msg_id: &str) -> Result<Arc<LinkIo>, u16> {
        let state = self.shared().lock_link();
        let link = state.active.as_ref().ok_or(DISCONNECTED)?;
        let io = link.io.as_ref().ok_or(DISCONNECTED)?;
        match &state.auth_msg_id {
            Some(auth) if !link.authenticated && auth != msg_id => Err(UNAUTHENTICATED),
            _ => Ok(io.clone()),
        }
    }

    fn encode(&self, stage_id: i64, packet: &Packet) -> Result<BytesMut, u16> {
        let mut frame = BytesMut::new();
        codec::encode_client(packet.msg_id(), 0, stage_id, packet.payload(), &mut frame)
            .map_err(|_| INVALID_PACKET)?;
        if frame.len() - codec::LEN_PREFIX > self.config().max_packet_len {
            return Err(INVALID_PACKET);
        }
        Ok(frame)
    }

    /// Sends a one-way message without a stage. Failures arrive as `on_error`.
    pub fn send(&self, packet: Packet) {
        self.send_to_stage(0, packet);
    }

    /// Sends a one-way message to `stage_id` (0 = none). Failures arrive as `on_error`.
    pub fn send_to_stage(&self, stage_id: i64, packet: Packet) {
        let sent = self.encode(stage_id, &packet).and_then(|frame| {
            self.admit(packet.msg_id())?
                .write(frame.freeze())
                .then_some(())
                .ok_or(DISCONNECTED)
        });
        if let Err(code) = sent {
            self.shared()
                .events
                .push(Event::Error(stage_id, code, packet));
        }
    }

    /// Sends a one-way message without a stage; a local failure (60201 not connected,
    /// 60203 before authentication, 60204 unencodable) is returned instead of `on_error`.
    pub async fn send_async(&self, packet: Packet) -> Result<(), ConnectorError> {
        self.send_to_stage_async(0, packet).await
    }

    /// Sends a one-way message to `stage_id`; local failures are returned as errors.
    pub async fn send_to_stage_async(
        &self,
        stage_id: i64,
        packet: Packet,
    ) -> Result<(), ConnectorError> {
        let error = |error_code| ConnectorError {
            stage_id,
            error_code,
            msg_id: packet.msg_id().to_owned(),
        };
        let frame = self.encode(stage_id, &packet).map_err(error)?;
        let io = self.admit(packet.msg_id()).map_err(error)?;
        if io.write(frame.freeze()) {
            Ok(())
        } else {
            Err(error(DISCONNECTED))
        }
    }

    fn submit(&self, stage_id: i64, request: Packet, completion: Completion, is_auth: bool) {
        let admitted = self
            .encode(stage_id, &request)
            .and_then(|f| self.admit(request.msg_id()).map(|io| (f, io)));
        let events = &self.shared().events;
        match admitted {
            Ok((frame, io)) => {
                let pending = Pending {
                    request,
                    stage_id,
                    completion,
                    is_auth,
                    sent_at: std::time::Instant::now(),
                };
                io.submit(events, frame, pending);
            }
            Err(code) => complete(events, completion, stage_id, request, Err(code)),
        }
    }

    async fn submit_async(
        &self,
        stage_id: i64,
        request: Packet,
        is_auth: bool,
        raw: bool,
    ) -> Result<Packet, ConnectorError> {
        let (tx, rx) = oneshot::channel();
        let msg_id = request.msg_id().to_owned();
        let completion = if raw {
            Completion::AsyncRaw(tx)
        } else {
            Completion::Async(tx)
        };
        self.submit(stage_id, request, completion, is_auth);
        rx.await.unwrap_or(Err(ConnectorError {
            stage_id,
            error_code: DISCONNECTED,
            msg_id,
        }))
    }

    /// Sends the authenticate request; `callback` runs (in `main_thread_action`) with the
    /// reply when the server answers with error code 0, which also sets `is_authenticated`.
    pub fn authenticate(&self, packet: Packet, callback: impl FnOnce(Packet) + Send + 'static) {
        self.submit(0, packet, Completion::Callback(Box::new(callback)), true);
    }

    /// Sends the authenticate request and awaits the reply.
    pub async fn authenticate_async(&self, packet: Packet) -> Result<Packet, ConnectorError> {
        self.submit_async(0, packet, true, false).await
    }

    /// Sends a request without a stage; `callback` gets the reply.
    pub fn request(&self, packet: Packet, callback: impl FnOnce(Packet) + Send + 'static) {
        self.request_to_stage(0, packet, callback);
    }

    /// Sends a request to `stage_id`; `callback` gets the reply (failures: `on_error`).
    pub fn request_to_stage(
        &self,
        stage_id: i64,
        packet: Packet,
        callback: impl FnOnce(Packet) + Send + 'static,
    ) {
        self.submit(
            stage_id,
            packet,
            Completion::Callback(Box::new(callback)),
            false,
        );
    }

    /// Sends a request without a stage and awaits the reply.
    pub async fn request_async(&self, packet: Packet) -> Result<Packet, ConnectorError> {
        self.submit_async(0, packet, false, false).await
    }

    /// Sends a request to `stage_id` and awaits the reply.
    pub async fn request_to_stage_async(
        &self,
        stage_id: i64,
        packet: Packet,
    ) -> Result<Packet, ConnectorError> {
        self.submit_async(stage_id, packet, false, false).await
    }

    /// Sends a request and awaits the reply **including** server error replies: a non-zero
    /// server error code is returned as `Ok(reply)` (see [`Packet::received_header`]); only
    /// local failures (60201/60202/60203/60204) are errors. For tools such as `connector_cli`.
    pub async fn request_raw_async(
        &self,
        stage_id: i64,
        packet: Packet,
    ) -> Result<Packet, ConnectorError> {
        self.submit_async(stage_id, packet, false, true).await
    }

    /// [`authenticate_async`](Self::authenticate_async) returning server error replies as
    /// `Ok(reply)` like [`request_raw_async`](Self::request_raw_async).
    pub async fn authenticate_raw_async(&self, packet: Packet) -> Result<Packet, ConnectorError> {
        self.submit_async(0, packet, true, true).await
    }

    /// Runs every queued event and callback on the calling thread, in arrival order.
    /// Returns how many ran. Call it once per frame from the game loop.
    pub fn main_thread_action(&self) -> usize {
        self.shared().events.run()
    }

    /// Number of events waiting for `main_thread_action`.
    pub fn queued_events(&self) -> usize {
        self.shared().events.len()
    }

    /// Drops queued-but-undelivered events and callbacks, and forgets pending callback-style
    /// requests (their replies are then dropped like late replies). Pending `*_async`
    /// requests are kept and still complete.
    pub fn clear_cache(&self) {
        self.shared().events.clear();
        let io = self
            .shared()
            .lock_link()
            .active
            .as_ref()
            .and_then(|l| l.io.clone());
        if let Some(io) = io {
            io.requests()
                .tracker
                .retain(|p| !matches!(p.completion, Completion::Callback(_)));
        }
    }

    /// Adds an `on_connect(success)` handler.
    pub fn on_connect(&self, handler: impl FnMut(bool) + Send + 'static) {
        self.shared().events.on_connect(Box::new(handler));
    }

    /// Adds an `on_receive(stage_id, packet)` handler for pushes (seq 0).
    pub fn on_receive(&self, handler: impl FnMut(i64, Packet) + Send + 'static) {
        self.shared().events.on_receive(Box::new(handler));
    }

    /// Adds an `on_error(stage_id, error_code, request)` handler.
    pub fn on_error(&self, handler: impl FnMut(i64, u16, Packet) + Send + 'static) {
        self.shared().events.on_error(Box::new(handler));
    }

    /// Adds an `on_disconnect()` handler (not fired for an application `disconnect()`).
    pub fn on_disconnect(&self, handler: impl FnMut() + Send + 'static) {
        self.shared().events.on_disconnect(Box::new(handler));
    }
}
