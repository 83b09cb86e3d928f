//! Protection against slow and excessive clients.
//!
//! - [`limit`] (middleware): at most `max_in_flight` requests are handled at once; one more is
//!   shed at once with 503 and `Retry-After` instead of queueing, and a request that takes
//!   longer than `request_timeout_s` (body upload included) is answered 503 the same way.
//! - [`serve_connections`] (the accept loop): at most `max_connections` open connections, and
//!   a client must send its request headers within `header_read_timeout_s` (hyper's
//!   header-read timeout), so a slowloris client cannot hold a connection.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;

use crate::AppState;
use crate::error::ApiError;

/// Seconds a shed client is told to wait.
pub const RETRY_AFTER_S: u32 = 1;

/// 503 with `Retry-After`.
pub fn overloaded(message: impl Into<String>) -> Response {
    let mut response = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
    response
}

/// Middleware: concurrency limit with load shedding, then the request timeout.
pub async fn limit(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
        state.metrics.shed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return overloaded(format!("overloaded: {} requests in flight (max_in_flight); retry after {RETRY_AFTER_S} s", state.config.max_in_flight));
    };
    let timeout = Duration::from_secs_f64(state.config.request_timeout_s);
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            state.metrics.timed_out.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            overloaded(format!("the request took longer than {} s (request_timeout_s); nothing it asked was acknowledged", state.config.request_timeout_s))
        }
    }
}

/// Accepts connections on `listener` and serves [`crate::router`] on each with HTTP/1.1, a
/// header-read timeout and a cap on open connections, until `shutdown` resolves; then stops
/// accepting and lets open connections finish their request.
pub async fn serve_connections(listener: tokio::net::TcpListener, state: Arc<AppState>, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let app = crate::router(state.clone());
    let connections = Arc::new(tokio::sync::Semaphore::new(state.config.max_connections));
    let header_timeout = Duration::from_secs_f64(state.config.header_read_timeout_s);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // Out of file descriptors and the like: back off instead of spinning.
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            state.metrics.shed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(permit);
        });
    }
    let _ = stop_tx.send(true);
    // Wait (bounded) for open connections to finish.
    let all = u32::try_from(state.config.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(5), connections.acquire_many(all)).await;
    Ok(())
}
