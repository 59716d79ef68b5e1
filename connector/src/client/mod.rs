//! The public client API: [`Connector`], the Rust shape of the seed's C# `Connector`.
//!
//! One driver task per connection drives the sans-IO [`Connection`](crate::connection::Connection).
//! The handle runs a command on the calling thread when the connection is not busy (and on
//! TCP writes the frame itself with a non-blocking write), otherwise it hands the command to
//! the driver through a bounded command queue
//! ([`COMMAND_QUEUE_CAPACITY`](driver::COMMAND_QUEUE_CAPACITY)); it receives events through
//! the bounded main-thread queue ([`DEFAULT_MAX_QUEUED_EVENTS`]).

pub mod config;
mod driver;
mod events;
pub mod liveness;
mod requests;

use std::sync::Arc;

use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::codec;
use crate::error::{ConnectorError, DISCONNECTED, INVALID_PACKET};
use crate::packet::Packet;
use config::ConnectorConfig;
pub use driver::COMMAND_QUEUE_CAPACITY;
use driver::{ActiveLink, Command, LinkStart, LinkState, Shared};
pub use events::DEFAULT_MAX_QUEUED_EVENTS;
use events::{Event, EventQueue};
use requests::{complete, Completion};

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
            link.close.cancel();
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
        let msg_id = msg_id.into();
        let core = {
            let mut state = self.shared().lock_link();
            state.auth_msg_id = Some(msg_id.clone());
            state.active.as_ref().and_then(|l| l.core.clone())
        };
        // a connection that is still being opened reads `auth_msg_id` when it starts
        if let Some(core) = core {
            core.submit(Command::SetAuth(Some(msg_id)), self.shared());
        }
    }
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
        let close = CancellationToken::new();
        let generation = {
            let mut state = self.shared().lock_link();
            if state.active.is_some() {
                return false;
            }
            state.next_generation += 1;
            let generation = state.next_generation;
            state.active = Some(ActiveLink {
                generation,
                close: close.clone(),
                connected: false,
                authenticated: false,
                core: None,
            });
            generation
        };
        self.inner.runtime.spawn(driver::run_link(LinkStart {
            shared: Arc::clone(self.shared()),
            generation,
            close,
            debug_mode,
            connected_tx,
        }));
        true
    }

    /// Closes the connection. Pending requests complete with `DISCONNECTED`; `on_disconnect`
    /// is **not** fired for a disconnect the application asked for.
    pub fn disconnect(&self) {
        if let Some(link) = self.shared().lock_link().active.take() {
            link.close.cancel();
        }
    }

    /// Whether the connection is open.
    pub fn is_connected(&self) -> bool {
        self.shared()
            .lock_link()
            .active
            .as_ref()
            .is_some_and(|l| l.connected)
    }

    /// Whether an authenticate request succeeded on the current connection.
    pub fn is_authenticated(&self) -> bool {
        self.shared()
            .lock_link()
            .active
            .as_ref()
            .is_some_and(|l| l.connected && l.authenticated)
    }

    /// Checks that `packet` can be encoded within the configured maximum (60204 otherwise).
    fn check_encodable(&self, packet: &Packet) -> Result<(), u16> {
        let id = packet.msg_id().len();
        let len = codec::CLIENT_FIXED + id + packet.payload().len();
        if (1..=255).contains(&id) && len <= self.config().max_packet_len {
            Ok(())
        } else {
            Err(INVALID_PACKET)
        }
    }

    /// Runs `cmd` on the open connection (on this thread, or through the driver's bounded
    /// command queue when the connection is busy); when that is not possible the command
    /// completes at once with the local code (60201 not connected, 60205 command queue full)
    /// through its own completion.
    fn dispatch(&self, cmd: Command) {
        let core = {
            let state = self.shared().lock_link();
            state
                .active
                .as_ref()
                .filter(|l| l.connected)
                .and_then(|l| l.core.clone())
        };
        match core {
            Some(core) => core.submit(cmd, self.shared()),
            None => cmd.fail(&self.shared().events, DISCONNECTED),
        }
    }

    /// Sends a one-way message without a stage. Failures arrive as `on_error`.
    pub fn send(&self, packet: Packet) {
        self.send_to_stage(0, packet);
    }

    /// Sends a one-way message to `stage_id` (0 = none). Failures arrive as `on_error`.
    pub fn send_to_stage(&self, stage_id: i64, packet: Packet) {
        if let Err(code) = self.check_encodable(&packet) {
            self.shared()
                .events
                .push(Event::Error(stage_id, code, packet));
            return;
        }
        let cmd = Command::Send {
            stage_id,
            packet,
            result: None,
        };
        self.dispatch(cmd);
    }

    /// Sends a one-way message without a stage; a local failure (60201 not connected,
    /// 60203 before authentication, 60204 unencodable, 60205 queue full) is returned instead
    /// of `on_error`.
    pub async fn send_async(&self, packet: Packet) -> Result<(), ConnectorError> {
        self.send_to_stage_async(0, packet).await
    }

    /// Sends a one-way message to `stage_id`; local failures are returned as errors. It
    /// completes once the message is queued on the connection.
    pub async fn send_to_stage_async(
        &self,
        stage_id: i64,
        packet: Packet,
    ) -> Result<(), ConnectorError> {
        let msg_id = packet.msg_id().to_owned();
        let error = |error_code| ConnectorError {
            stage_id,
            error_code,
            msg_id: msg_id.clone(),
        };
        self.check_encodable(&packet).map_err(error)?;
        let (tx, rx) = oneshot::channel();
        let cmd = Command::Send {
            stage_id,
            packet,
            result: Some(tx),
        };
        self.dispatch(cmd);
        rx.await.unwrap_or(Err(DISCONNECTED)).map_err(error)
    }

    fn submit(&self, stage_id: i64, request: Packet, completion: Completion, is_auth: bool) {
        let events = &self.shared().events;
        if let Err(code) = self.check_encodable(&request) {
            return complete(events, completion, stage_id, request, Err(code));
        }
        let cmd = Command::Request {
            stage_id,
            packet: request,
            completion,
            is_auth,
        };
        self.dispatch(cmd);
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
        self.submit(
            0,
            packet,
            Completion::Callback(Box::new(callback), self.shared().events.epoch()),
            true,
        );
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
            Completion::Callback(Box::new(callback), self.shared().events.epoch()),
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

    /// Completes once an event was queued since the last wake-up: lets one async consumer
    /// (such as `relay::RelayMember::next_events`) sleep until
    /// [`main_thread_action`](Self::main_thread_action) has work. May wake spuriously.
    pub async fn events_arrived(&self) {
        self.shared().events.arrived().await;
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
        self.dispatch(Command::ForgetCallbacks);
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
