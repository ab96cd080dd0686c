//! The banking provider's webhooks. Authenticated by HMAC signature, stored once
//! per idempotency key, acknowledged at once, and applied by a job.

use crate::error::ApiError;
use crate::raw_json::RawJson;
use crate::routes::Tag;
use crate::routes::auth::NoContent;
use crate::state::AppState;
use kttipay_db::{jobs, provider_events};
use kttipay_domain::ids::ProviderEventId;
use kttipay_jobs::kinds::{ApplyProviderEvent, DeliverProviderMessage};
use kttipay_providers::shaype::webhook::{self, EmailDto, NotificationDto, SmsDto};
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
        let (dto, value): (NotificationDto, _) = parse(&body.0)?;
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
            jobs::enqueue(
                &mut tx,
                &ApplyProviderEvent {
                    event_id: ProviderEventId(event_id),
                },
            )
            .await?;
        }
        tx.commit().await?;
        let outcome = if stored.is_some() { "stored" } else { "duplicate" };
        metrics::counter!("kttipay_provider_events_total", "type" => kind.to_string(), "outcome" => outcome)
            .increment(1);
        Ok(NoContent::Done)
    }
}

/// Stores a provider message request once and enqueues its delivery.
async fn store_message(
    state: &AppState,
    channel: &str,
    key: &str,
    kind: &str,
    customer: Option<&str>,
    value: &serde_json::Value,
) -> Result<(), ApiError> {
    let mut tx = state.pool.begin().await?;
    if let Some(event_id) = provider_events::record(&mut tx, key, channel, kind, customer, value).await? {
        jobs::enqueue(
            &mut tx,
            &DeliverProviderMessage {
                event_id: ProviderEventId(event_id),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn parse<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<(T, serde_json::Value), ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| ApiError::bad_request(format!("The body is not valid JSON: {e}")))?;
    let dto = serde_json::from_value(value.clone())
        .map_err(|e| ApiError::invalid_field("invalid_notification", "body", &e.to_string()))?;
    Ok((dto, value))
}

pub struct ProviderMessagesApi;

#[OpenApi(tag = "Tag::Provider")]
impl ProviderMessagesApi {
    /// The banking provider asks us to email a customer
    ///
    /// An `EmailDto` (magic link, PIN change, wallet addition, reminder), with the
    /// same signature headers as the event webhook; delivered by a job, once per
    /// `idempotencyKey`.
    #[oai(
        path = "/api/hay/v0/communications/email",
        method = "post",
        operation_id = "providerEmail"
    )]
    async fn email(
        &self,
        state: Data<&AppState>,
        #[oai(name = "X-Hay-Timestamp")] timestamp: Header<Option<String>>,
        #[oai(name = "X-Hay-Signature")] signature: Header<Option<String>>,
        body: RawJson,
    ) -> Result<NoContent, ApiError> {
        authenticate(&state, timestamp.as_deref(), signature.as_deref(), &body.0)?;
        let (dto, value): (EmailDto, _) = parse(&body.0)?;
        store_message(&state, "email", &dto.idempotency_key, &dto.kind, None, &value).await?;
        Ok(NoContent::Done)
    }

    /// The banking provider asks us to text a customer
    ///
    /// An `SmsDto` (one-time codes, status changes), with the same signature
    /// headers; delivered by a job, once per `idempotencyKey`.
    #[oai(
        path = "/api/hay/v0/communications/sms",
        method = "post",
        operation_id = "providerSms"
    )]
    async fn sms(
        &self,
        state: Data<&AppState>,
        #[oai(name = "X-Hay-Timestamp")] timestamp: Header<Option<String>>,
        #[oai(name = "X-Hay-Signature")] signature: Header<Option<String>>,
        body: RawJson,
    ) -> Result<NoContent, ApiError> {
        authenticate(&state, timestamp.as_deref(), signature.as_deref(), &body.0)?;
        let (dto, value): (SmsDto, _) = parse(&body.0)?;
        store_message(
            &state,
            "sms",
            &dto.idempotency_key,
            &dto.kind,
            dto.customer_hay_id.as_deref(),
            &value,
        )
        .await?;
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
