//! The caller's devices: the FCM token to push to, and the app details each device
//! reports (for support and minimum-version checks).

use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::routes::Tag;
use crate::routes::auth::NoContent;
use crate::state::AppState;
use kttipay_db::devices::{self, AppDetails as StoredDetails};
use kttipay_domain::Validation;
use poem::web::Data;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

pub const DEVICE_ID_MAX_CHARS: usize = 128;
/// FCM registration tokens are about 160 characters; leave room for change.
pub const FCM_TOKEN_MAX_CHARS: usize = 4_096;
pub const DETAIL_MAX_CHARS: usize = 64;
/// BCP 47's longest tag that browsers and phones produce in practice.
pub const LOCALE_MAX_CHARS: usize = 35;

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct FcmToken {
    #[oai(validator(min_length = 1, max_length = 128))]
    pub device_id: String,
    #[oai(validator(min_length = 1, max_length = 4096))]
    pub token: String,
    pub platform: Platform,
}

/// The device's operating system (FCM delivers to both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Ios,
    Android,
}

impl Platform {
    fn as_str(self) -> &'static str {
        match self {
            Platform::Ios => "ios",
            Platform::Android => "android",
        }
    }
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct AppDetails {
    #[oai(validator(min_length = 1, max_length = 128))]
    pub device_id: String,
    #[oai(validator(min_length = 1, max_length = 64))]
    pub app_version: String,
    #[oai(validator(min_length = 1, max_length = 64))]
    pub os_version: String,
    #[oai(validator(min_length = 1, max_length = 64))]
    pub model: String,
    /// BCP 47, e.g. `en-AU`.
    #[oai(validator(min_length = 1, max_length = 35))]
    pub locale: String,
}

/// Printable, no spaces, 1 to `max` characters.
pub(crate) fn token_like(raw: &str, max: usize) -> Result<String, String> {
    let t = raw.trim();
    if t.is_empty() || raw.chars().count() > max {
        return Err(format!("must be 1 to {max} characters"));
    }
    if t.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters".into());
    }
    Ok(t.to_string())
}

/// Free text from the device (a model name has spaces), 1 to `max` characters.
pub(crate) fn detail(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    if t.is_empty() || raw.chars().count() > DETAIL_MAX_CHARS || t.chars().any(char::is_control) {
        return Err(format!("must be 1 to {DETAIL_MAX_CHARS} printable characters"));
    }
    Ok(t.to_string())
}

pub(crate) fn locale(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    let ok = !t.is_empty()
        && raw.chars().count() <= LOCALE_MAX_CHARS
        && t.split(['-', '_'])
            .all(|p| !p.is_empty() && p.len() <= 8 && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if ok {
        Ok(t.replace('_', "-"))
    } else {
        Err("must be a language tag like en-AU".into())
    }
}

pub struct DevicesApi;

#[OpenApi(tag = "Tag::User")]
impl DevicesApi {
    /// Save the device's FCM token
    ///
    /// Upserts by `deviceId`. A token moves to this device if another held it.
    #[oai(path = "/api/v2/devices/fcm-token", method = "post", operation_id = "saveFcmToken")]
    async fn fcm_token(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<FcmToken>,
    ) -> Result<NoContent, ApiError> {
        let b = body.0;
        let mut v = Validation::new();
        let device = v.check("deviceId", token_like(&b.device_id, DEVICE_ID_MAX_CHARS));
        let token = v.check("token", token_like(&b.token, FCM_TOKEN_MAX_CHARS));
        v.finish().map_err(ApiError::invalid)?;
        let platform = b.platform.as_str();
        let (Some(device), Some(token)) = (device, token) else {
            return Err(ApiError::internal("validated fields missing"));
        };
        let mut tx = state.pool.begin().await?;
        devices::save_fcm_token(&mut tx, auth.0.user_id, &device, &token, platform).await?;
        tx.commit().await?;
        Ok(NoContent::Done)
    }

    /// Save the app details of a device
    #[oai(
        path = "/api/v2/devices/app-details",
        method = "post",
        operation_id = "saveAppDetails"
    )]
    async fn app_details(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<AppDetails>,
    ) -> Result<NoContent, ApiError> {
        let b = body.0;
        let mut v = Validation::new();
        let device = v.check("deviceId", token_like(&b.device_id, DEVICE_ID_MAX_CHARS));
        let app = v.check("appVersion", detail(&b.app_version));
        let os = v.check("osVersion", detail(&b.os_version));
        let model = v.check("model", detail(&b.model));
        let loc = v.check("locale", locale(&b.locale));
        v.finish().map_err(ApiError::invalid)?;
        let (Some(device), Some(app), Some(os), Some(model), Some(loc)) = (device, app, os, model, loc) else {
            return Err(ApiError::internal("validated fields missing"));
        };
        let mut conn = state.pool.acquire().await?;
        devices::save_app_details(
            &mut conn,
            auth.0.user_id,
            &device,
            &StoredDetails {
                app_version: &app,
                os_version: &os,
                model: &model,
                locale: &loc,
            },
        )
        .await?;
        Ok(NoContent::Done)
    }
}
