//! Operations endpoints: health, metrics, and the API's own document and docs page.
//! They are in the OpenAPI document like every other route, so operators and the
//! contract check see them.

use crate::error::ApiError;
use crate::routes::Tag;
use crate::state::AppState;
use poem::web::Data;
use poem_openapi::payload::{Html, Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use std::time::Duration;

/// A dependency that does not answer within this is reported down.
pub const READINESS_CHECK_TIMEOUT_MS: u64 = 2_000;

/// The rendered OpenAPI document and docs page, made once when the app is built.
/// Behind `Arc`s because request data is cloned into every request: cloning the
/// document itself (hundreds of kilobytes) once took a third of the API's CPU.
#[derive(Clone)]
pub struct Published {
    pub spec: Arc<str>,
    pub docs_html: Arc<str>,
}

#[derive(Debug, Object)]
pub struct Liveness {
    /// Always `ok`.
    pub status: String,
}

#[derive(Debug, Object)]
pub struct Checks {
    /// `up` or `down`.
    pub postgres: String,
    /// `up` or `down`.
    pub redis: String,
}

#[derive(Debug, Object)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: String,
    pub checks: Checks,
}

#[derive(ApiResponse)]
pub enum ReadinessResponse {
    /// PostgreSQL and Redis both answer.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// A dependency is down: stop sending traffic here.
    #[oai(status = 503)]
    Unavailable(Json<Readiness>),
}

#[derive(ApiResponse)]
pub enum SpecResponse {
    #[oai(status = 200, content_type = "application/json")]
    Spec(PlainText<String>),
}

/// One Redis connection for readiness checks, shared by every check and opened
/// again only when it fails. Opening one per check cost a TCP handshake and its
/// buffers every time: under a 64-connection load on `/health/ready` the process
/// grew from 23 MiB to 178 MiB resident.
#[derive(Default)]
pub struct RedisProbe(tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>);

impl RedisProbe {
    /// Whether Redis answers PING. A failing shared connection (Redis restarted) is
    /// replaced within the same check, so one restart does not cost one failed
    /// check.
    pub async fn ping(&self, client: &redis::Client) -> bool {
        // Cloned out of the lock: the connection is multiplexed, so checks in
        // flight share it rather than queue for it.
        let shared = self.0.lock().await.clone();
        if let Some(mut conn) = shared
            && ping(&mut conn).await
        {
            return true;
        }
        let mut slot = self.0.lock().await;
        match client.get_multiplexed_async_connection().await {
            Ok(mut conn) => {
                let ok = ping(&mut conn).await;
                *slot = ok.then_some(conn);
                ok
            }
            Err(_) => {
                *slot = None;
                false
            }
        }
    }
}

async fn ping(conn: &mut redis::aio::MultiplexedConnection) -> bool {
    redis::cmd("PING").query_async::<String>(conn).await.is_ok()
}

pub struct OpsApi;

#[OpenApi(tag = "Tag::Ops")]
impl OpsApi {
    /// Liveness
    ///
    /// The process serves HTTP. Never checks dependencies: a database outage must
    /// not make the orchestrator restart every replica.
    #[oai(path = "/health/live", method = "get", operation_id = "live")]
    async fn live(&self) -> Result<Json<Liveness>, ApiError> {
        Ok(Json(Liveness { status: "ok".into() }))
    }

    /// Readiness
    ///
    /// PostgreSQL and Redis both answer; 503 otherwise, so a load balancer stops
    /// sending traffic to this replica.
    #[oai(path = "/health/ready", method = "get", operation_id = "ready")]
    async fn ready(&self, state: Data<&AppState>) -> Result<ReadinessResponse, ApiError> {
        let timeout = Duration::from_millis(READINESS_CHECK_TIMEOUT_MS);
        let pg = tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(&state.pool))
            .await
            .is_ok_and(|r| r.is_ok());
        let redis_ok = tokio::time::timeout(timeout, state.redis_probe.ping(&state.redis))
            .await
            .is_ok_and(|ok| ok);
        let word = |ok: bool| if ok { "up" } else { "down" }.to_string();
        let body = Readiness {
            status: if pg && redis_ok { "ready" } else { "unavailable" }.into(),
            checks: Checks {
                postgres: word(pg),
                redis: word(redis_ok),
            },
        };
        Ok(if pg && redis_ok {
            ReadinessResponse::Ready(Json(body))
        } else {
            ReadinessResponse::Unavailable(Json(body))
        })
    }

    /// Prometheus metrics
    ///
    /// The text exposition of every metric this process records. With
    /// `KTTIPAY_METRICS_TOKEN` set (required in production) it answers only
    /// `Authorization: Bearer <that token>`, else 401: metrics name routes,
    /// queues and money alerts, which are no one else's business.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(&self, state: Data<&AppState>, req: &poem::Request) -> Result<PlainText<String>, ApiError> {
        if let Some(expected) = state.config.metrics_token.as_deref() {
            let presented = req
                .header("Authorization")
                .and_then(|h| h.strip_prefix("Bearer "))
                .unwrap_or_default();
            if !kttipay_domain::secret::same(presented, expected) {
                return Err(ApiError::unauthorized(
                    "metrics_token_required",
                    "Metrics need the operators' bearer token.",
                ));
            }
        }
        Ok(PlainText(state.metrics.render()))
    }

    /// This OpenAPI document
    #[oai(path = "/api/openapi.json", method = "get", operation_id = "openapiDocument")]
    async fn spec(&self, published: Data<&Published>) -> Result<SpecResponse, ApiError> {
        Ok(SpecResponse::Spec(PlainText(published.spec.to_string())))
    }

    /// Interactive API docs
    #[oai(path = "/api/docs", method = "get", operation_id = "apiDocs")]
    async fn docs(&self, published: Data<&Published>) -> Result<Html<String>, ApiError> {
        Ok(Html(published.docs_html.to_string()))
    }
}
