//! Operations endpoints outside the OpenAPI document: health and metrics.

use crate::state::AppState;
use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{IntoResponse, Response, handler};
use serde_json::json;
use std::time::Duration;

/// A dependency that does not answer within this is reported down.
pub const READINESS_CHECK_TIMEOUT_MS: u64 = 2_000;

/// Liveness: the process serves HTTP. Never checks dependencies (a database
/// outage must not make the orchestrator restart every replica).
#[handler]
pub async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: PostgreSQL and Redis both answer. 503 when either does not, so a
/// load balancer stops sending traffic to this replica.
#[handler]
pub async fn ready(state: Data<&AppState>) -> Response {
    let timeout = Duration::from_millis(READINESS_CHECK_TIMEOUT_MS);
    let pg = tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(&state.pool))
        .await
        .is_ok_and(|r| r.is_ok());
    let redis_ok = tokio::time::timeout(timeout, ping_redis(&state.redis))
        .await
        .is_ok_and(|ok| ok);
    let status = if pg && redis_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "up" } else { "down" };
    let body = json!({
        "status": if pg && redis_ok { "ready" } else { "unavailable" },
        "checks": { "postgres": word(pg), "redis": word(redis_ok) },
    });
    Json(body).with_status(status).into_response()
}

async fn ping_redis(client: &redis::Client) -> bool {
    match client.get_multiplexed_async_connection().await {
        Ok(mut conn) => redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok(),
        Err(_) => false,
    }
}

/// Prometheus text exposition of every metric this process records.
#[handler]
pub async fn metrics(state: Data<&AppState>) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
