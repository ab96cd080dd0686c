//! The sandbox's clock: delivers webhooks (signed, retried with backoff until our
//! API acknowledges them), decides KYC, and settles or expires holds when their time comes.

use crate::bank::{holds, parties};
use crate::state::{Faults, SandboxState};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use kttipay_providers::shaype::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Webhooks sent per tick.
pub const DELIVERY_BATCH: i64 = 500;
/// Customers whose webhooks are in flight at once.
pub const DELIVERY_CONCURRENCY: usize = 16;
pub const DELIVERY_TIMEOUT_MS: u64 = 5_000;
/// Longest wait between two attempts at one webhook.
pub const DELIVERY_MAX_BACKOFF_SECS: i64 = 60;

pub async fn run(state: SandboxState, shutdown: CancellationToken) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(DELIVERY_TIMEOUT_MS))
        .build()
        .expect("a plain reqwest client builds");
    while !shutdown.is_cancelled() {
        if let Err(e) = parties::decide_due_kyc(&state.pool).await {
            tracing::warn!(error = %e, "sandbox KYC decisions failed");
        }
        if let Err(e) = holds::settle_due(&state.pool).await {
            tracing::warn!(error = %e, "sandbox settlements failed");
        }
        if let Err(e) = holds::expire_due(&state.pool, Utc::now()).await {
            tracing::warn!(error = %e, "sandbox hold expiry failed");
        }
        if let Err(e) = deliver_due(&state, &http).await {
            tracing::warn!(error = %e, "sandbox webhook delivery failed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(state.config.tick) => {}
        }
    }
}

/// Sends every due webhook once. Like the real provider, it delivers for many
/// customers at once but in order for each one: a customer's webhooks go one after
/// another, oldest first, so a hold reaches our API before its settlement unless a
/// delivery fails and is retried.
async fn deliver_due(state: &SandboxState, http: &reqwest::Client) -> Result<(), sqlx::Error> {
    let due: Vec<(Uuid, String, serde_json::Value, i32, String)> = sqlx::query_as(
        "SELECT id, path, body, attempts, coalesce(body->>'customerHayId', id::text) FROM webhooks \
         WHERE delivered_at IS NULL AND next_attempt_at <= now() ORDER BY created_at, id LIMIT $1",
    )
    .bind(DELIVERY_BATCH)
    .fetch_all(&state.pool)
    .await?;
    // Queues in order of each customer's oldest webhook.
    let mut per_customer: Vec<Vec<Due>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (id, path, body, attempts, customer) in due {
        let webhook = Due {
            id,
            path,
            body,
            attempts,
        };
        let slot = *index.entry(customer).or_insert_with(|| {
            per_customer.push(Vec::new());
            per_customer.len() - 1
        });
        per_customer[slot].push(webhook);
    }
    futures::stream::iter(per_customer)
        .map(|queue| async move {
            for webhook in queue {
                deliver_one(state, http, webhook).await?;
            }
            Ok::<_, sqlx::Error>(())
        })
        .buffer_unordered(DELIVERY_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

struct Due {
    id: Uuid,
    path: String,
    body: serde_json::Value,
    attempts: i32,
}

/// One delivery attempt, recorded: delivered, or due again after a backoff.
async fn deliver_one(state: &SandboxState, http: &reqwest::Client, w: Due) -> Result<(), sqlx::Error> {
    let result = if Faults::roll(state.faults().webhook_error_rate) {
        Err("injected webhook fault".to_string())
    } else {
        send(state, http, &w.path, &w.body).await
    };
    match result {
        Ok(()) => {
            sqlx::query("UPDATE webhooks SET delivered_at = now(), attempts = attempts + 1 WHERE id = $1")
                .bind(w.id)
                .execute(&state.pool)
                .await?;
        }
        Err(error) => {
            let backoff_ms = (200i64 << w.attempts.clamp(0, 20)).min(DELIVERY_MAX_BACKOFF_SECS * 1000);
            sqlx::query(
                "UPDATE webhooks SET attempts = attempts + 1, last_error = $2, \
                 next_attempt_at = now() + $3 * interval '1 millisecond' WHERE id = $1",
            )
            .bind(w.id)
            .bind(&error)
            .bind(backoff_ms)
            .execute(&state.pool)
            .await?;
            tracing::debug!(webhook = %w.id, attempts = w.attempts, %error, "webhook not acknowledged; will retry");
        }
    }
    Ok(())
}

async fn send(
    state: &SandboxState,
    http: &reqwest::Client,
    path: &str,
    body: &serde_json::Value,
) -> Result<(), String> {
    let raw = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    let now = Utc::now().timestamp();
    let resp = http
        .post(format!("{}{path}", state.config.webhook_base_url.trim_end_matches('/')))
        .header("content-type", "application/json")
        .header(TIMESTAMP_HEADER, now.to_string())
        .header(
            SIGNATURE_HEADER,
            sign(state.config.webhook_secret.as_bytes(), now, &raw),
        )
        .body(raw)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", resp.status()))
    }
}
