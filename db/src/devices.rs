//! Users' devices: FCM tokens for push, and the app and OS each runs.

use kttipay_domain::ids::UserId;
use sqlx::{PgConnection, PgExecutor};

/// Saves the device's FCM token. A token is unique: if another device (of anyone)
/// held it, that device loses it, so pushes never reach a previous owner.
pub async fn save_fcm_token(
    conn: &mut PgConnection,
    user: UserId,
    device: &str,
    token: &str,
    platform: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE devices SET fcm_token = NULL, updated_at = now() WHERE fcm_token = $1 AND NOT (user_id = $2 AND device_id = $3)")
        .bind(token)
        .bind(user.0)
        .bind(device)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO devices (user_id, device_id, fcm_token, platform) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, device_id) DO UPDATE SET fcm_token = EXCLUDED.fcm_token, \
             platform = EXCLUDED.platform, updated_at = now()",
    )
    .bind(user.0)
    .bind(device)
    .bind(token)
    .bind(platform)
    .execute(conn)
    .await?;
    Ok(())
}

/// What the app reports about itself on a device.
#[derive(Debug)]
pub struct AppDetails<'a> {
    pub app_version: &'a str,
    pub os_version: &'a str,
    pub model: &'a str,
    pub locale: &'a str,
}

pub async fn save_app_details(
    conn: &mut PgConnection,
    user: UserId,
    device: &str,
    d: &AppDetails<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO devices (user_id, device_id, app_version, os_version, model, locale) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (user_id, device_id) DO UPDATE SET app_version = EXCLUDED.app_version, \
             os_version = EXCLUDED.os_version, model = EXCLUDED.model, locale = EXCLUDED.locale, \
             updated_at = now()",
    )
    .bind(user.0)
    .bind(device)
    .bind(d.app_version)
    .bind(d.os_version)
    .bind(d.model)
    .bind(d.locale)
    .execute(conn)
    .await?;
    Ok(())
}

/// A device as stored: (platform, fcm token, app version, locale).
pub async fn find<'e>(
    db: impl PgExecutor<'e>,
    user: UserId,
    device: &str,
) -> Result<Option<(Option<String>, Option<String>, Option<String>, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT platform, fcm_token, app_version, locale FROM devices WHERE user_id = $1 AND device_id = $2")
        .bind(user.0)
        .bind(device)
        .fetch_optional(db)
        .await
}
