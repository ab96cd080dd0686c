//! The caller's settings: password and profile.

use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::routes::Tag;
use crate::routes::auth::NoContent;
use crate::state::AppState;
use crate::views::UserView;
use kttipay_db::{sessions, users};
use kttipay_domain::{Validation, user as rules};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

/// Longest avatar image key accepted (keys come from the signed-upload route).
pub const IMAGE_KEY_MAX_CHARS: usize = 512;

#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct ChangePassword {
    #[oai(validator(min_length = 1))]
    pub current_password: String,
    #[oai(validator(min_length = 10, max_length = 128))]
    pub new_password: String,
}
kttipay_domain::debug_redacted!(ChangePassword {} secret { current_password, new_password });

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct ProfilePatch {
    #[oai(nullable)]
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: Option<String>,
    #[oai(nullable)]
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: Option<String>,
    #[oai(nullable)]
    pub phone: Option<String>,
    /// An image key from `POST /api/v2/uploads/signed-url`; empty string clears it.
    #[oai(nullable)]
    pub avatar_key: Option<String>,
}

pub struct SettingsApi;

#[OpenApi(tag = "Tag::User")]
impl SettingsApi {
    /// Change password
    ///
    /// Needs the current password. Ends every other session of the user; the
    /// calling session stays signed in.
    #[oai(path = "/api/v2/settings/password", method = "put", operation_id = "changePassword")]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        body: JsonBody<ChangePassword>,
    ) -> Result<NoContent, ApiError> {
        let me = auth.0;
        let ChangePassword {
            current_password,
            new_password,
        } = body.0;
        rules::password(&new_password).map_err(|m| ApiError::invalid_field("weak_password", "newPassword", &m))?;
        // A stolen access token must not become a way to guess the password.
        state.login_limiter.check(
            &format!("changePassword:{}", me.user_id),
            &crate::routes::client_ip(req, state.config.forwarded),
        )?;
        let user = users::find(&state.pool, me.user_id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("session_revoked", "This session has ended; sign in again."))?;
        if !state
            .passwords
            .verify(current_password, user.password_hash.clone())
            .await
        {
            return Err(ApiError::invalid_field(
                "wrong_password",
                "currentPassword",
                "is incorrect",
            ));
        }
        let hash = state.passwords.hash(new_password).await.map_err(ApiError::internal)?;
        let mut tx = state.pool.begin().await?;
        users::find_for_update(&mut tx, me.user_id).await?;
        users::set_password(&mut tx, me.user_id, &hash, false).await?;
        sessions::revoke_all_for_user(&mut *tx, me.user_id, Some(me.session_id), "password changed").await?;
        tx.commit().await?;
        Ok(NoContent::Done)
    }

    /// Update profile
    ///
    /// Absent fields stay as they are.
    #[oai(path = "/api/v2/settings/profile", method = "patch", operation_id = "updateProfile")]
    async fn update_profile(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<ProfilePatch>,
    ) -> Result<Json<UserView>, ApiError> {
        let patch = body.0;
        let mut v = Validation::new();
        let first_name = v
            .check_opt("firstName", patch.first_name, |n| rules::name(&n))
            .flatten();
        let last_name = v.check_opt("lastName", patch.last_name, |n| rules::name(&n)).flatten();
        let phone = v.check_opt("phone", patch.phone, |p| rules::phone(&p)).flatten();
        let avatar_key = v
            .check_opt("avatarKey", patch.avatar_key, |raw| {
                let k = raw.trim().to_string();
                if raw.chars().count() > IMAGE_KEY_MAX_CHARS || k.chars().any(char::is_control) {
                    Err(format!(
                        "must be an image key of at most {IMAGE_KEY_MAX_CHARS} characters"
                    ))
                } else {
                    Ok(if k.is_empty() { None } else { Some(k) })
                }
            })
            .flatten();
        v.finish().map_err(ApiError::invalid)?;
        if let Some(Some(k)) = &avatar_key {
            crate::routes::uploads::usable_key(
                &state,
                auth.0.user_id,
                k,
                kttipay_domain::upload::UploadKind::Avatar,
                "avatarKey",
            )
            .await?;
        }
        let change = users::ProfileChange {
            first_name,
            last_name,
            phone,
            avatar_key,
        };
        let mut tx = state.pool.begin().await?;
        let user = users::update_profile(&mut tx, auth.0.user_id, &change)
            .await?
            .ok_or_else(|| ApiError::unauthorized("session_revoked", "This session has ended; sign in again."))?;
        tx.commit().await?;
        Ok(Json(user.into()))
    }
}
