//! Moments: a member's post (text with up to ten photos) in a group ktti,
//! newest first. Its author edits it; the owner or an admin may hide one
//! (kept, shown only to them and its author).

use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::routes::Tag;
use crate::routes::ktties::{visible, writable};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use kttipay_db::members;
use kttipay_db::moments::{self, MomentChange, MomentRow};
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::lifecycle::MembershipStatus;
use kttipay_domain::membership as rules;
use kttipay_domain::social::{MOMENT_IMAGES_MAX, MOMENT_TEXT_MAX_CHARS, text};
use kttipay_domain::upload::UploadKind;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct NewMoment {
    /// 1 to 2,000 characters.
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub text: String,
    /// Up to 10 `moment` uploads of the caller's.
    #[oai(nullable, validator(max_items = 10))]
    pub image_keys: Option<Vec<String>>,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct MomentPatch {
    /// The author only.
    #[oai(nullable, validator(min_length = 1, max_length = 2000))]
    pub text: Option<String>,
    /// The author only; replaces the photos.
    #[oai(nullable, validator(max_items = 10))]
    pub image_keys: Option<Vec<String>>,
    /// The owner or an admin only: hide (`true`) or show again (`false`).
    #[oai(nullable)]
    pub hidden: Option<bool>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct MomentView {
    pub id: Uuid,
    pub ktti_id: Uuid,
    pub author_id: Uuid,
    pub text: String,
    pub image_keys: Vec<String>,
    /// Hidden by the owner or an admin (listed only for them and the author).
    pub hidden: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<MomentRow> for MomentView {
    fn from(m: MomentRow) -> Self {
        MomentView {
            id: m.id,
            ktti_id: m.ktti_id,
            author_id: m.author_id,
            text: m.text,
            image_keys: m.image_keys,
            hidden: m.hidden_at.is_some(),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct MomentPage {
    /// Newest first.
    pub items: Vec<MomentView>,
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum MomentCreated {
    #[oai(status = 201)]
    Created(Json<MomentView>),
}

pub struct MomentsApi;

#[OpenApi(tag = "Tag::Ktti")]
impl MomentsApi {
    /// The ktti's moments
    ///
    /// Any member. Newest first, cursor-paged (`limit` 1 to 100, default 20).
    #[oai(
        path = "/api/v2/ktties/:kttiId/moments",
        method = "get",
        operation_id = "listMoments"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> Result<Json<MomentPage>, ApiError> {
        let user = auth.0.user_id;
        let k = visible(&state, user, id.0).await?;
        let limit = crate::cursor::limit(limit.0)?;
        let after = crate::cursor::decode(cursor.0.as_deref())?;
        let with_hidden = k.caller_role().manages();
        let mut rows = moments::page(
            &state.pool,
            KttiId(k.id),
            user,
            with_hidden,
            after,
            i64::from(limit) + 1,
        )
        .await?;
        let next_cursor = crate::cursor::split_page(&mut rows, limit, |m| crate::cursor::encode(m.created_at, m.id));
        Ok(Json(MomentPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    /// Post a moment
    ///
    /// Any member of a group ktti: text (1 to 2,000 characters) with up to 10
    /// photos (`moment` uploads of the caller's; another user's key is 422).
    #[oai(
        path = "/api/v2/ktties/:kttiId/moments",
        method = "post",
        operation_id = "createMoment"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        body: JsonBody<NewMoment>,
    ) -> Result<MomentCreated, ApiError> {
        let user = auth.0.user_id;
        let k = writable(&state, user, id.0).await?;
        rules::must_be_group(k.kind).map_err(ApiError::not_now)?;
        let b = body.0;
        let mut v = kttipay_domain::Validation::new();
        let words = v.check("text", required_text(&b.text));
        let keys = v.check("imageKeys", image_keys(b.image_keys.as_deref().unwrap_or_default()));
        v.finish().map_err(ApiError::invalid)?;
        let (Some(words), Some(keys)) = (words, keys) else {
            return Err(ApiError::internal("validated fields missing"));
        };
        check_uploads(&state, user, &keys).await?;
        let ktti = KttiId(k.id);
        let mut tx = state.pool.begin().await?;
        if !members::is_active(&mut *tx, ktti, user).await? {
            return Err(crate::routes::ktties::not_found());
        }
        let row = moments::create(&mut tx, ktti, user, &words, &keys).await?;
        tx.commit().await?;
        Ok(MomentCreated::Created(Json(row.into())))
    }

    /// Update a moment
    ///
    /// Its author changes `text` and `imageKeys`; the owner or an admin sets
    /// `hidden`. Anyone else: 403. A moment of another ktti: 404.
    #[oai(
        path = "/api/v2/ktties/:kttiId/moments/:momentId",
        method = "patch",
        operation_id = "updateMoment"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        #[oai(name = "momentId")] moment: Path<Uuid>,
        body: JsonBody<MomentPatch>,
    ) -> Result<Json<MomentView>, ApiError> {
        let user = auth.0.user_id;
        let k = writable(&state, user, id.0).await?;
        let b = body.0;
        let mut v = kttipay_domain::Validation::new();
        let words = v.check_opt("text", b.text.as_deref(), required_text).flatten();
        let keys = v.check_opt("imageKeys", b.image_keys.as_deref(), image_keys).flatten();
        v.finish().map_err(ApiError::invalid)?;
        if let Some(keys) = &keys {
            check_uploads(&state, user, keys).await?;
        }
        let ktti = KttiId(k.id);
        let mut tx = state.pool.begin().await?;
        let role = members::lock(&mut tx, ktti, user)
            .await?
            .filter(|m| m.status == MembershipStatus::Active)
            .map(|m| m.role)
            .ok_or_else(crate::routes::ktties::not_found)?;
        let current = moments::lock(&mut tx, ktti, moment.0)
            .await?
            .ok_or_else(|| ApiError::not_found("moment_not_found", "No such moment."))?;
        let wrote_it = current.author_id == user.0;
        if current.hidden_at.is_some() && !wrote_it && !role.manages() {
            return Err(ApiError::not_found("moment_not_found", "No such moment."));
        }
        if words.is_some() || keys.is_some() {
            rules::may_edit_moment(wrote_it).map_err(ApiError::denied)?;
        }
        if b.hidden.is_some() {
            rules::may_hide_moment(role).map_err(ApiError::denied)?;
        }
        let change = MomentChange {
            text: words,
            image_keys: keys,
            hidden: b.hidden,
        };
        let row = moments::update(&mut tx, moment.0, user, &change).await?;
        tx.commit().await?;
        Ok(Json(row.into()))
    }
}

fn required_text(raw: &str) -> Result<String, String> {
    text(raw, MOMENT_TEXT_MAX_CHARS)?.ok_or_else(|| "must not be blank".to_string())
}

/// Up to [`MOMENT_IMAGES_MAX`] distinct, well-formed keys.
fn image_keys(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.len() > MOMENT_IMAGES_MAX {
        return Err(format!("at most {MOMENT_IMAGES_MAX} photos"));
    }
    let mut keys: Vec<String> = Vec::with_capacity(raw.len());
    for k in raw {
        let k = crate::routes::ktti_input::image_key(k)?;
        if k.is_empty() {
            return Err("must not contain an empty key".into());
        }
        if keys.contains(&k) {
            return Err("must not list a photo twice".into());
        }
        keys.push(k);
    }
    Ok(keys)
}

async fn check_uploads(state: &AppState, user: UserId, keys: &[String]) -> Result<(), ApiError> {
    for (i, k) in keys.iter().enumerate() {
        crate::routes::uploads::usable_key(state, user, k, UploadKind::Moment, &format!("imageKeys[{i}]")).await?;
    }
    Ok(())
}
