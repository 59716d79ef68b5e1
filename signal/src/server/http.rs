//! HTTP routes: the authenticated WebSocket upgrade, `/healthz`, `/metrics`, 404 elsewhere.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::config::FRAME_LIMIT_FACTOR;
use super::connection::run_connection;
use super::Shared;
use crate::auth::AuthError;
use crate::lobby_deflate::{self, LobbyCompression};

/// Path of the WebSocket endpoint.
pub const WS_PATH: &str = "/ws/signal";

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(WS_PATH, get(upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .with_state(shared)
}

/// `ok`, or `degraded` (HTTP 503) while a cluster node cannot reach Redis.
async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.metrics.cluster.is_degraded() {
        (StatusCode::SERVICE_UNAVAILABLE, "degraded").into_response()
    } else {
        "ok".into_response()
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}

/// The token from `Authorization: Bearer` or `?token=`.
fn bearer_token(headers: &HeaderMap, query: Option<&str>) -> Result<String, AuthError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| AuthError::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::Missing)?;
        return Ok(token.trim().to_owned());
    }
    let query = query.ok_or(AuthError::Missing)?;
    if query.len() > crate::auth::MAX_TOKEN_LEN * 2 {
        return Err(AuthError::TooLong);
    }
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .ok_or(AuthError::Missing)
}

/// The `?lobby_compression=` choice (absent: none); `Err` carries an unknown value.
fn lobby_compression(query: Option<&str>) -> Result<LobbyCompression, String> {
    let Some(query) = query else {
        return Ok(LobbyCompression::None);
    };
    match url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == lobby_deflate::QUERY_PARAM)
    {
        None => Ok(LobbyCompression::None),
        Some((_, v)) => LobbyCompression::parse(&v).ok_or_else(|| v.into_owned()),
    }
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let identity =
        match bearer_token(&headers, query.as_deref()).and_then(|t| shared.verifier.verify(&t)) {
            Ok(identity) => identity,
            Err(e) => {
                shared.metrics.auth_failures.inc();
                tracing::debug!(error = %e, "handshake refused");
                return (StatusCode::UNAUTHORIZED, "unauthorized").into_response();
            }
        };
    let compression = match lobby_compression(query.as_deref()) {
        Ok(c) => c,
        Err(value) => {
            let msg = format!(
                "unknown {}={value:.40} (expected none or deflate)",
                lobby_deflate::QUERY_PARAM
            );
            return (StatusCode::BAD_REQUEST, msg).into_response();
        }
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let config = &shared.config;
    if shared.active.fetch_add(1, Ordering::Relaxed) >= config.max_connections {
        shared.active.fetch_sub(1, Ordering::Relaxed);
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    }
    let frame_cap = config.max_message_size.saturating_mul(FRAME_LIMIT_FACTOR);
    let task_shared = shared.clone();
    let fail_shared = shared.clone();
    ws.read_buffer_size(config.ws_read_buffer)
        .write_buffer_size(config.ws_write_buffer)
        .max_write_buffer_size(config.ws_max_write_buffer)
        .max_message_size(frame_cap)
        .max_frame_size(frame_cap)
        .on_failed_upgrade(move |e| {
            fail_shared.active.fetch_sub(1, Ordering::Relaxed);
            tracing::debug!(error = %e, "websocket upgrade failed");
        })
        .on_upgrade(move |socket| {
            let tracker = task_shared.tracker.clone();
            tracker.track_future(run_connection(socket, identity, compression, task_shared))
        })
}
