//! Per-request observability and the last line of error handling: a request id,
//! a tracing span, HTTP metrics by route, and problem+json for every error.

use crate::error::{ApiError, problem_from_poem_error};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::OperationId;
use std::sync::OnceLock;
use std::time::Instant;
use tracing::Instrument;

/// Latency buckets in seconds: 1 ms to 10 s.
const LATENCY_BUCKETS_SECS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide Prometheus recorder (a process has one recorder; tests that
/// start several apps in one process share it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS_SECS)
                .expect("buckets are non-empty")
                .install_recorder()
                .expect("the Prometheus recorder is installed once")
        })
        .clone()
}

/// Wraps the whole app.
pub async fn observe<E: Endpoint>(next: std::sync::Arc<E>, req: Request) -> poem::Result<Response> {
    let request_id = req
        .header("X-Request-Id")
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!("request", id = %request_id, method = %req.method(), path = %req.uri().path());
    let started = Instant::now();
    // Kept for a 405's `Allow` header (a `Uri` clone shares its bytes).
    let uri = req.uri().clone();
    let result = match nul_in_query(&req) {
        // PostgreSQL cannot store a NUL character: refuse it here, naming the
        // parameter, rather than let a query fail with a 500.
        Some(name) => {
            Err(ApiError::invalid_field("validation_failed", &name, "must not contain a NUL character").into())
        }
        None => next.call(req).instrument(span.clone()).await,
    };
    let (mut resp, route) = match result {
        Ok(resp) => {
            let resp = resp.into_response();
            let route = resp.data::<OperationId>().map(|o| o.0).unwrap_or("other");
            (resp, route)
        }
        Err(err) => {
            let route = err.data::<OperationId>().map(|o| o.0).unwrap_or("unmatched");
            (problem_from_poem_error(err), route)
        }
    };
    if resp.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED
        && let Some(allow) = crate::document::allowed_methods(uri.path())
        && let Ok(v) = allow.parse()
    {
        resp.headers_mut().insert(poem::http::header::ALLOW, v);
    }
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    if let Ok(v) = request_id.parse() {
        resp.headers_mut().insert("X-Request-Id", v);
    }
    metrics::counter!("kttipay_http_requests_total", "route" => route, "status" => status.to_string()).increment(1);
    metrics::histogram!("kttipay_http_request_duration_seconds", "route" => route).record(elapsed.as_secs_f64());
    span.in_scope(|| tracing::info!(status, route, latency_ms = elapsed.as_millis() as u64, "request"));
    Ok(resp)
}

/// The first query parameter whose name or value decodes to a NUL character.
fn nul_in_query(req: &Request) -> Option<String> {
    let query = req.uri().query()?;
    if !query.contains("%00") && !query.contains('\0') {
        return None;
    }
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = |s: &str| percent_decode(s).contains('\0');
        (decoded(name) || decoded(value)).then(|| percent_decode(name).replace('\0', ""))
    })
}

/// Minimal `application/x-www-form-urlencoded` decoding, enough to see a NUL.
fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| Some(hex(bytes[i + 1])? * 16 + hex(bytes[i + 2])?))
            .flatten();
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A panic in a handler: 500 without internals.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::new(
        poem::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "Something went wrong on our side.",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn decodes_escapes_and_leaves_the_rest() {
        assert_eq!(percent_decode("a%00b"), "a\0b");
        assert_eq!(percent_decode("x+y%2Fz"), "x y/z");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%é"), "%zz%é");
    }
}
