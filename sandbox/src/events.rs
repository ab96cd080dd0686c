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

pub async fn enqueue(conn: &mut PgConnection, notification: &NotificationDto) -> Result<(), sqlx::Error> {
    let body = serde_json::to_value(notification).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query("INSERT INTO webhooks (id, path, body) VALUES ($1, $2, $3)")
        .bind(Uuid::now_v7())
        .bind(NOTIFICATION_PATH)
        .bind(body)
        .execute(conn)
        .await?;
    Ok(())
}
