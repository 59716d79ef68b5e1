//! Byte transports behind one trait: TCP (a byte stream) and WebSocket (one binary message
//! per packet). Both sides of the protocol use them; incoming bytes are always handed to the
//! codec as a stream, so a WebSocket message holding several or partial packets still parses.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Read buffer growth step for TCP reads.
pub const READ_CHUNK: usize = 16 * 1024;
/// Pending TCP bytes above which `feed` writes through before buffering more.
pub const WRITE_COALESCE_LIMIT: usize = 64 * 1024;

/// Transport-level failures.
#[derive(Debug, Error)]
pub enum TransportError {
    /// Socket error.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// WebSocket protocol error.
    #[error("websocket: {0}")]
    WebSocket(String),
    /// A WebSocket text message arrived where only binary packets are allowed.
    #[error("unexpected websocket text message")]
    UnexpectedText,
}

impl From<tokio_tungstenite::tungstenite::Error> for TransportError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        Self::WebSocket(e.to_string())
    }
}

/// The receiving half of a transport.
pub trait TransportRead: Send + 'static {
    /// Appends received bytes to `buf`; returns how many, 0 at end of stream.
    fn read_into(
        &mut self,
        buf: &mut BytesMut,
    ) -> impl Future<Output = Result<usize, TransportError>> + Send;
}

/// The sending half of a transport. Each `feed` is one complete packet.
pub trait TransportWrite: Send + 'static {
    /// Queues one packet (may write through when the queue is large).
    fn feed(&mut self, packet: Bytes) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Writes everything queued.
    fn flush(&mut self) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Closes the sending direction (best effort).
    fn close(&mut self) -> impl Future<Output = ()> + Send;
    /// Writes some of `frames` (each one complete packet, in order) and returns after making
    /// progress. **Cancel-safe**: frames taken from the queue but not yet on the wire are
    /// kept inside the writer ([`has_staged`](Self::has_staged)) and go out on the next call.
    fn write_some(
        &mut self,
        frames: &mut VecDeque<Bytes>,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Whether bytes taken by [`write_some`](Self::write_some) still wait to be written.
    fn has_staged(&self) -> bool;
    /// A handle for non-blocking writes from any thread, if the transport has one.
    fn direct(&self) -> Option<Arc<dyn DirectWrite>> {
        None
    }
}

/// Non-blocking writes that bypass the writer task (the TCP fast path).
pub trait DirectWrite: Send + Sync + std::fmt::Debug {
    /// Writes what fits without blocking; `WouldBlock` when nothing fits.
    fn try_write_now(&self, buf: &[u8]) -> io::Result<usize>;
}

/// A connected bidirectional transport that splits into independent halves.
pub trait Transport: Send + 'static {
    /// Receiving half.
    type Read: TransportRead;
    /// Sending half.
    type Write: TransportWrite;
    /// Splits into the two halves.
    fn split(self) -> (Self::Read, Self::Write);
}

/// TCP transport: the length-prefixed packets are the byte stream itself.
#[derive(Debug)]
pub struct TcpTransport(TcpStream);

impl TcpTransport {
    /// Wraps a connected stream (sets `TCP_NODELAY`).
    pub fn new(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        Self(stream)
    }

    /// Connects to `host:port`.
    pub async fn connect(host: &str, port: u16) -> Result<Self, TransportError> {
        Ok(Self::new(TcpStream::connect((host, port)).await?))
    }
}

/// Reading half of [`TcpTransport`].
#[derive(Debug)]
pub struct TcpReader(OwnedReadHalf);

/// Writing half of [`TcpTransport`]; coalesces packets until `flush`. The socket half is
/// shared with the [`Outbox`] fast path (non-blocking writes from the sending thread).
#[derive(Debug)]
pub struct TcpWriter {
    half: Arc<OwnedWriteHalf>,
    pending: BytesMut,
}

impl DirectWrite for OwnedWriteHalf {
    fn try_write_now(&self, buf: &[u8]) -> io::Result<usize> {
        self.try_write(buf)
    }
}

/// Writes all of `buf` through a shared write half (readiness + non-blocking writes).
async fn write_all_shared(half: &OwnedWriteHalf, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        half.writable().await?;
        match half.try_write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = buf.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Transport for TcpTransport {
    type Read = TcpReader;
    type Write = TcpWriter;
    fn split(self) -> (TcpReader, TcpWriter) {
        let (r, w) = self.0.into_split();
        (
            TcpReader(r),
            TcpWriter {
                half: Arc::new(w),
                pending: BytesMut::new(),
            },
        )
    }
}

impl TransportRead for TcpReader {
    async fn read_into(&mut self, buf: &mut BytesMut) -> Result<usize, TransportError> {
        buf.reserve(READ_CHUNK);
        Ok(self.0.read_buf(buf).await?)
    }
}

impl TransportWrite for TcpWriter {
    async fn feed(&mut self, packet: Bytes) -> Result<(), TransportError> {
        if self.pending.len() + packet.len() > WRITE_COALESCE_LIMIT {
            self.flush().await?;
            if packet.len() > WRITE_COALESCE_LIMIT {
                return Ok(write_all_shared(&self.half, &packet).await?);
            }
        }
        self.pending.extend_from_slice(&packet);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        if !self.pending.is_empty() {
            write_all_shared(&self.half, &self.pending).await?;
            self.pending.clear();
        }
        Ok(())
    }

    async fn close(&mut self) {
        let _ = self.flush().await;
        // dropping the last handle of the write half shuts the direction down
    }

    async fn write_some(&mut self, frames: &mut VecDeque<Bytes>) -> Result<(), TransportError> {
        while self.pending.len() < WRITE_COALESCE_LIMIT {
            match frames.pop_front() {
                Some(f) => self.pending.extend_from_slice(&f),
                None => break,
            }
        }
        while !self.pending.is_empty() {
            self.half.writable().await?;
            match self.half.try_write(&self.pending) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(n) => {
                    bytes::Buf::advance(&mut self.pending, n);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn has_staged(&self) -> bool {
        !self.pending.is_empty()
    }

    fn direct(&self) -> Option<Arc<dyn DirectWrite>> {
        Some(self.half.clone())
    }
}

/// WebSocket transport: one binary message per packet.
#[derive(Debug)]
pub struct WsTransport<S>(WebSocketStream<S>);

/// Reading half of [`WsTransport`].
#[derive(Debug)]
pub struct WsReader<S>(SplitStream<WebSocketStream<S>>);

/// Writing half of [`WsTransport`].
#[derive(Debug)]
pub struct WsWriter<S> {
    sink: SplitSink<WebSocketStream<S>, Message>,
    unflushed: bool,
}

/// WebSocket settings sized for packets of at most `max_packet_len` bytes after `Len`.
pub fn ws_config(max_packet_len: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(max_packet_len.saturating_add(64)))
        .max_frame_size(Some(max_packet_len.saturating_add(64)))
}

impl<S> WsTransport<S> {
    /// Wraps an established WebSocket.
    pub fn new(ws: WebSocketStream<S>) -> Self {
        Self(ws)
    }
}

impl WsTransport<TcpStream> {
    /// Connects to `ws://host:port{path}`.
    pub async fn connect(
        host: &str,
        port: u16,
        path: &str,
        max_packet_len: usize,
    ) -> Result<Self, TransportError> {
        let stream = TcpStream::connect((host, port)).await?;
        let _ = stream.set_nodelay(true);
        let url = format!("ws://{host}:{port}{path}");
        let config = Some(ws_config(max_packet_len));
        let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, config).await?;
        Ok(Self(ws))
    }
}

impl<S> Transport for WsTransport<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Read = WsReader<S>;
    type Write = WsWriter<S>;
    fn split(self) -> (WsReader<S>, WsWriter<S>) {
        let (w, r) = self.0.split();
        (
            WsReader(r),
            WsWriter {
                sink: w,
                unflushed: false,
            },
        )
    }
}

impl<S> TransportRead for WsReader<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async fn read_into(&mut self, buf: &mut BytesMut) -> Result<usize, TransportError> {
        loop {
            match self.0.next().await {
                None | Some(Ok(Message::Close(_))) => return Ok(0),
                Some(Ok(Message::Binary(b))) if b.is_empty() => continue,
                Some(Ok(Message::Binary(b))) => {
                    buf.extend_from_slice(&b);
                    return Ok(b.len());
                }
                Some(Ok(Message::Text(_))) => return Err(TransportError::UnexpectedText),
                Some(Ok(_)) => continue, // ping/pong handled by tungstenite
                Some(Err(e)) => return Err(e.into()),
            }
        }
    }
}

impl<S> TransportWrite for WsWriter<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async fn feed(&mut self, packet: Bytes) -> Result<(), TransportError> {
        Ok(self.sink.feed(Message::Binary(packet)).await?)
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        Ok(self.sink.flush().await?)
    }

    async fn close(&mut self) {
        let _ = self.sink.close().await;
    }

    async fn write_some(&mut self, frames: &mut VecDeque<Bytes>) -> Result<(), TransportError> {
        std::future::poll_fn(|cx| {
            while !frames.is_empty() {
                ready!(self.sink.poll_ready_unpin(cx))?;
                if let Some(f) = frames.pop_front() {
                    self.sink.start_send_unpin(Message::Binary(f))?;
                    self.unflushed = true;
                }
            }
            if self.unflushed {
                ready!(self.sink.poll_flush_unpin(cx))?;
                self.unflushed = false;
            }
            Poll::Ready(Ok(()))
        })
        .await
    }

    fn has_staged(&self) -> bool {
        self.unflushed
    }
}

/// Default bound on bytes an [`Outbox`] holds for its writer task: 8 MiB.
pub const DEFAULT_OUTBOX_MAX_BYTES: usize = 8 * 1024 * 1024;

/// The sending side of a connection, usable from any thread: a packet is written right
/// away with a non-blocking write when the transport allows it, nothing is queued and the
/// sender asks for it (latency); otherwise it is queued for the writer task, which coalesces
/// queued packets into one flush (throughput). Packet order is preserved either way.
///
/// The queue is bounded in bytes ([`DEFAULT_OUTBOX_MAX_BYTES`] unless
/// [`start_bounded`](Self::start_bounded)): a packet that does not fit is refused (`send`
/// returns false and [`overflowed`](Self::overflowed) turns true), and the owner closes the
/// connection: a peer that does not read is cut instead of growing memory.
#[derive(Debug)]
pub struct Outbox {
    state: Arc<Mutex<OutboxState>>,
    direct: Option<Arc<dyn DirectWrite>>,
    queue: tokio::sync::mpsc::UnboundedSender<Bytes>,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct OutboxState {
    /// Bytes queued for the writer task and not yet fed to the transport.
    queued: usize,
    /// A packet was refused because the queue was full.
    overflowed: bool,
    /// The writer task has queued bytes: direct writes would reorder.
    busy: bool,
    /// Packets collected between `cork` and `uncork`.
    corked: Option<BytesMut>,
}

fn lock_state(m: &Mutex<OutboxState>) -> std::sync::MutexGuard<'_, OutboxState> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Outbox {
    /// Starts the writer task for `writer`; it ends when the outbox is dropped.
    pub fn start<W: TransportWrite>(
        writer: W,
    ) -> (Self, tokio::task::JoinHandle<Result<(), TransportError>>) {
        Self::start_bounded(writer, DEFAULT_OUTBOX_MAX_BYTES)
    }

    /// Like [`start`](Self::start) with a queue bound of `max_bytes`.
    pub fn start_bounded<W: TransportWrite>(
        writer: W,
        max_bytes: usize,
    ) -> (Self, tokio::task::JoinHandle<Result<(), TransportError>>) {
        let (queue, rx) = tokio::sync::mpsc::unbounded_channel();
        let state = Arc::new(Mutex::new(OutboxState::default()));
        let direct = writer.direct();
        let task = tokio::spawn(write_loop(writer, rx, state.clone()));
        (
            Self {
                state,
                direct,
                queue,
                max_bytes,
            },
            task,
        )
    }

    /// Sends one complete packet, directly when possible. False when the connection is gone.
    pub fn send(&self, packet: Bytes) -> bool {
        self.send_with(packet, true)
    }

    /// Sends one complete packet; `prefer_direct` false always goes through the writer task
    /// (so a burst is coalesced into few writes). False when the connection is gone.
    pub fn send_with(&self, packet: Bytes, prefer_direct: bool) -> bool {
        let mut state = lock_state(&self.state);
        if let Some(buf) = state.corked.as_mut() {
            if buf.len().saturating_add(packet.len()) > self.max_bytes {
                state.overflowed = true;
                return false;
            }
            buf.extend_from_slice(&packet);
            return true;
        }
        self.send_locked(&mut state, packet, prefer_direct)
    }

    fn send_locked(&self, state: &mut OutboxState, mut packet: Bytes, direct: bool) -> bool {
        if !state.busy {
            if let Some(d) = self.direct.as_ref().filter(|_| direct) {
                match d.try_write_now(&packet) {
                    Ok(n) if n >= packet.len() => return true,
                    Ok(n) => bytes::Buf::advance(&mut packet, n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return false,
                }
            }
            state.busy = true;
        }
        if state.queued.saturating_add(packet.len()) > self.max_bytes {
            state.overflowed = true;
            return false;
        }
        state.queued = state.queued.saturating_add(packet.len());
        self.queue.send(packet).is_ok()
    }

    /// Whether a packet was refused because the queue was full.
    pub fn overflowed(&self) -> bool {
        lock_state(&self.state).overflowed
    }

    /// Bytes queued for the writer task now.
    pub fn queued_bytes(&self) -> usize {
        lock_state(&self.state).queued
    }

    /// Collects packets until [`uncork`](Self::uncork) (e.g. replies to one read's requests).
    pub fn cork(&self) {
        lock_state(&self.state)
            .corked
            .get_or_insert_with(BytesMut::new);
    }

    /// Sends everything collected since [`cork`](Self::cork) as one write.
    pub fn uncork(&self) -> bool {
        let mut state = lock_state(&self.state);
        match state.corked.take() {
            Some(buf) if !buf.is_empty() => self.send_locked(&mut state, buf.freeze(), true),
            _ => true,
        }
    }
}

/// Writes queued packets until the outbox closes, coalescing whatever is queued into one
/// flush; clears `busy` once the queue is empty so senders may write directly again.
async fn write_loop<W: TransportWrite>(
    mut writer: W,
    mut out: tokio::sync::mpsc::UnboundedReceiver<Bytes>,
    state: Arc<Mutex<OutboxState>>,
) -> Result<(), TransportError> {
    let fed = |len: usize| {
        let mut s = lock_state(&state);
        s.queued = s.queued.saturating_sub(len);
    };
    while let Some(first) = out.recv().await {
        let len = first.len();
        writer.feed(first).await?;
        fed(len);
        while let Ok(more) = out.try_recv() {
            let len = more.len();
            writer.feed(more).await?;
            fed(len);
        }
        writer.flush().await?;
        let mut s = lock_state(&state);
        if out.is_empty() {
            s.busy = false;
        }
    }
    writer.close().await;
    Ok(())
}
