//! The banking provider's webhooks. Authenticated by HMAC signature, stored once
//! per idempotency key, acknowledged at once, and applied by a job.

use crate::error::ApiError;
use crate::raw_json::RawJson;
use crate::routes::Tag;
use crate::routes::auth::NoContent;
use crate::state::AppState;
use kttipay_db::{jobs, provider_events};
use kttipay_jobs::kinds::ApplyProviderEvent;
use kttipay_providers::shaype::webhook::{self, NotificationDto};
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Header;

pub struct ProviderApi;

#[OpenApi(tag = "Tag::Provider")]
impl ProviderApi {
    /// The banking provider's event webhook
    ///
    /// A `NotificationDto` (specs/shaype-notifications.openapi.json): transactions,
    /// account, card and customer status changes, onboarding results. Requires
    /// `X-Hay-Timestamp` (unix seconds, within 5 minutes) and `X-Hay-Signature:
    /// sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>`. Each
    /// `idempotencyKey` is processed exactly once; a redelivery is acknowledged and
    /// changes nothing.
    #[oai(
        path = "/api/hay/v0/communications/notification",
        method = "post",
        operation_id = "providerNotification"
    )]
    async fn notification(
        &self,
        state: Data<&AppState>,
        #[oai(name = "X-Hay-Timestamp")] timestamp: Header<Option<String>>,
        #[oai(name = "X-Hay-Signature")] signature: Header<Option<String>>,
        body: RawJson,
    ) -> Result<NoContent, ApiError> {
        authenticate(&state, timestamp.as_deref(), signature.as_deref(), &body.0)?;
        let value: serde_json::Value = serde_json::from_slice(&body.0)
            .map_err(|e| ApiError::bad_request(format!("The body is not valid JSON: {e}")))?;
        let dto: NotificationDto = serde_json::from_value(value.clone())
            .map_err(|e| ApiError::invalid_field("invalid_notification", "body", &e.to_string()))?;
        let kind = value["type"].as_str().unwrap_or("UNKNOWN");
        let mut tx = state.pool.begin().await?;
        let stored = provider_events::record(
            &mut tx,
            &dto.idempotency_key,
            "notification",
            kind,
            Some(&dto.customer_hay_id),
            &value,
        )
        .await?;
        if let Some(event_id) = stored {
            jobs::enqueue(&mut tx, &ApplyProviderEvent { event_id }).await?;
        }
        tx.commit().await?;
        let outcome = if stored.is_some() { "stored" } else { "duplicate" };
        metrics::counter!("kttipay_provider_events_total", "type" => kind.to_string(), "outcome" => outcome)
            .increment(1);
        Ok(NoContent::Done)
    }
}

/// 401 unless the webhook carries a fresh, valid signature.
fn authenticate(
    state: &AppState,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), ApiError> {
    let now = chrono::Utc::now().timestamp();
    webhook::verify(
        state.config.shaype_webhook_secret.as_bytes(),
        timestamp,
        signature,
        body,
        now,
    )
    .map_err(|e| {
        tracing::warn!(reason = ?e, "provider webhook refused");
        ApiError::unauthorized("invalid_signature", "The webhook signature is missing, stale or wrong.")
    })
}
