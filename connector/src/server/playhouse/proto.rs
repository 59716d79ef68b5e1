//! The messages of PlayHouse's connector test server (`test_messages.proto`, package
//! `playhouse.test`), written by hand with prost derives (no protoc). Field numbers and types
//! follow that schema, so any PlayHouse connector's integration suite talks to this server.

use std::collections::BTreeMap;

/// Implements `prost::Name` (the msgId) for messages of package `playhouse.test`.
macro_rules! named {
    ($($t:ident),* $(,)?) => {$(
        impl prost::Name for $t {
            const NAME: &'static str = stringify!($t);
            const PACKAGE: &'static str = "playhouse.test";
        }
    )*};
}

/// Authentication (handled by the actor's `OnAuthenticate`).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthenticateRequest {
    /// Must be non-empty.
    #[prost(string, tag = "1")]
    pub user_id: String,
    /// Must be non-empty and must not contain "invalid" (any case).
    #[prost(string, tag = "2")]
    pub token: String,
    /// Free-form metadata (ignored).
    #[prost(btree_map = "string, string", tag = "3")]
    pub metadata: BTreeMap<String, String>,
}

/// Answer to [`AuthenticateRequest`] (also on failure, with header error code 5).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthenticateReply {
    /// The account id given to the session (empty on failure).
    #[prost(string, tag = "1")]
    pub account_id: String,
    /// Whether authentication succeeded.
    #[prost(bool, tag = "2")]
    pub success: bool,
    /// Echo of the request's user id.
    #[prost(string, tag = "3")]
    pub received_user_id: String,
    /// Echo of the request's token.
    #[prost(string, tag = "4")]
    pub received_token: String,
}

/// Payload given to a stage's `OnCreate` by the HTTP API.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct CreateStagePayload {
    /// The stage type.
    #[prost(string, tag = "1")]
    pub stage_name: String,
    /// Player limit.
    #[prost(int32, tag = "2")]
    pub max_players: i32,
}

/// What a test stage's `OnCreate` answers (always `TestStage`, 100, created).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct CreateStageReply {
    /// Stage name.
    #[prost(string, tag = "1")]
    pub received_stage_name: String,
    /// Player limit.
    #[prost(int32, tag = "2")]
    pub received_max_players: i32,
    /// Created.
    #[prost(bool, tag = "3")]
    pub created: bool,
}

/// Echo request.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct EchoRequest {
    /// Echoed content.
    #[prost(string, tag = "1")]
    pub content: String,
    /// Echoed sequence.
    #[prost(int32, tag = "2")]
    pub sequence: i32,
}

/// Echo reply.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct EchoReply {
    /// The request's content.
    #[prost(string, tag = "1")]
    pub content: String,
    /// The request's sequence.
    #[prost(int32, tag = "2")]
    pub sequence: i32,
    /// Server time, Unix ms.
    #[prost(int64, tag = "3")]
    pub processed_at: i64,
}

/// Asks for a [`FailReply`] carrying `error_code`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct FailRequest {
    /// Code to put in the reply's payload.
    #[prost(int32, tag = "1")]
    pub error_code: i32,
    /// Message to put in the reply's payload.
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// Answer to [`FailRequest`]: header error code 0, the code in the payload.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct FailReply {
    /// The requested code.
    #[prost(int32, tag = "1")]
    pub error_code: i32,
    /// The requested message.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// Never answered (for request-timeout tests).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct NoResponseRequest {
    /// Ignored.
    #[prost(int32, tag = "1")]
    pub delay_ms: i32,
}

/// Answered with a [`BenchmarkReply`] carrying a fixed 1 MiB payload.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LargePayloadRequest {
    /// Ignored (the reply is always 1 MiB).
    #[prost(int32, tag = "1")]
    pub size_bytes: i32,
}

/// Large payload reply of the schema (the server answers with [`BenchmarkReply`] instead).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LargePayloadReply {
    /// Data.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
    /// Size.
    #[prost(int32, tag = "2")]
    pub original_size: i32,
    /// Compressed.
    #[prost(bool, tag = "3")]
    pub compressed: bool,
}

/// Asks for a [`BroadcastNotify`] push (to the sender).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct BroadcastRequest {
    /// Content to push back.
    #[prost(string, tag = "1")]
    pub content: String,
}

/// The push answering a [`BroadcastRequest`].
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct BroadcastNotify {
    /// Always `TestBroadcast`.
    #[prost(string, tag = "1")]
    pub event_type: String,
    /// The request's content.
    #[prost(string, tag = "2")]
    pub data: String,
    /// The sender's account id.
    #[prost(int64, tag = "3")]
    pub from_account_id: i64,
    /// Unused.
    #[prost(string, tag = "4")]
    pub sender_id: String,
}

/// Benchmark request of the schema.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct BenchmarkRequest {
    /// Sequence.
    #[prost(int32, tag = "1")]
    pub sequence: i32,
    /// Requested reply size.
    #[prost(int32, tag = "2")]
    pub response_size: i32,
}

/// Reply to [`LargePayloadRequest`]: sequence 1, byte `i` of `payload` is `i % 256`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct BenchmarkReply {
    /// Sequence.
    #[prost(int32, tag = "1")]
    pub sequence: i32,
    /// Server time, Unix ms.
    #[prost(int64, tag = "2")]
    pub processed_at: i64,
    /// Payload.
    #[prost(bytes = "vec", tag = "3")]
    pub payload: Vec<u8>,
}

named!(
    AuthenticateRequest,
    AuthenticateReply,
    CreateStagePayload,
    CreateStageReply,
    EchoRequest,
    EchoReply,
    FailRequest,
    FailReply,
    NoResponseRequest,
    LargePayloadRequest,
    LargePayloadReply,
    BroadcastRequest,
    BroadcastNotify,
    BenchmarkRequest,
    BenchmarkReply,
);
