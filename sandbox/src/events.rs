//! Webhooks the sandbox owes our API, written in the same transaction as the change
//! they report and delivered by [`crate::background`].

use kttipay_providers::shaype::webhook::{NotificationDto, NotificationType};
use sqlx::PgConnection;
use uuid::Uuid;

/// The path of the provider's event webhook on our API.
pub const NOTIFICATION_PATH: &str = "/api/hay/v0/communications/notification";

/// A notification with a fresh idempotency key and no event body yet.
pub fn notification(customer: Uuid, kind: NotificationType) -> NotificationDto {
    NotificationDto {
        customer_hay_id: customer.to_string(),
        idempotency_key: Uuid::new_v4().to_string(),
        kind,
        card_hay_id: None,
        product_id: None,
        account_status_change_event: None,
        customer_status_updated_event: None,
        transaction_event: None,
        card_status_change_event: None,
        onboarding_failed_event: None,
    }
}

/// Queues a webhook for delivery; its id.
pub async fn enqueue(conn: &mut PgConnection, notification: &NotificationDto) -> Result<Uuid, sqlx::Error> {
    let body = serde_json::to_value(notification).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO webhooks (id, path, body) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(NOTIFICATION_PATH)
        .bind(body)
        .execute(conn)
        .await?;
    Ok(id)
}

/// Keeps a queued webhook back until [`release_withheld`].
pub async fn withhold(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhooks SET withheld = true, next_attempt_at = 'infinity' WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sends every withheld webhook from now on; how many.
pub async fn release_withheld(pool: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhooks SET withheld = false, next_attempt_at = now() WHERE withheld AND delivered_at IS NULL",
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
