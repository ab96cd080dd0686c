//! Listing and reading ktties, and creating and changing group ktties (v2, and v3
//! with plan, split proportions, invitees and settings; the bodies and their rules
//! are in [`super::ktti_input`]). Creating one opens its provider group, account and
//! the owner's card through a job; the ktti is `pendingSetup` until that is done.

use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::idempotency;
use crate::json::JsonBody;
use crate::membership;
use crate::routes::Tag;
use crate::routes::ktti_input::{
    CreateKtti, CreateKttiV3, Fields, INVITEES_MAX, UpdateKtti, UpdateKttiV3, changes, fields, proportion,
};
use crate::routes::ktties::{KttiPage, KttiView, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, not_found, visible};
use crate::state::AppState;
use crate::states;
use kttipay_db::ktties::{self, GroupFields, KttiChanges, KttiFilter};
use kttipay_db::{PgConnection, jobs, members, users};
use kttipay_domain::Validation;
use kttipay_domain::ids::{KttiId, UserId, deposit_reference};
use kttipay_domain::membership::{self as rules, Role, referral_code};
use kttipay_domain::upload::UploadKind;
use kttipay_jobs::kinds::SetupKtti;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Serialize, Deserialize)]
struct CreatedId {
    id: Uuid,
}

#[derive(ApiResponse)]
pub enum Created {
    /// Created; its account and card are being opened (`pendingSetup`).
    #[oai(status = 201)]
    Ktti(Json<KttiView>),
}

/// Creates the ktti, its owner membership, invitations and setup job in one
/// transaction, with the idempotent response.
struct NewGroup {
    fields: Fields,
    billing_plan: String,
    /// The creator's own weight in the default split.
    own_proportion: Option<Decimal>,
    /// (email, its account if any, weight once they join)
    invitees: Vec<(String, Option<UserId>, Option<Decimal>)>,
}

async fn create_group(
    state: &AppState,
    user: UserId,
    key: Option<&str>,
    fingerprint: &[u8],
    g: NewGroup,
) -> Result<Created, ApiError> {
    if let Some(k) = &g.fields.image_key {
        crate::routes::uploads::usable_key(state, user, k, UploadKind::KttiImage, "imageKey").await?;
    }
    let caller = users::find(&state.pool, user)
        .await?
        .ok_or_else(|| ApiError::internal("caller vanished"))?;
    rules::must_be_verified(caller.kyc_status).map_err(ApiError::not_now)?;
    let scope = format!("ktti.create:{user}");
    let mut tx = state.pool.begin().await?;
    // The key remembers which ktti it created; a replay shows that ktti as it is now.
    if let Some(first) = idempotency::begin::<CreatedId>(&mut tx, &scope, key, fingerprint).await? {
        let view = read(&mut tx, user, KttiId(first.id)).await?.into();
        return Ok(Created::Ktti(Json(view)));
    }
    // Serialises one user's creates, so two at once cannot both squeeze under the cap.
    users::find_for_update(&mut tx, user).await?;
    let owned = kttipay_db::quotas::group_ktties_owned(&mut *tx, user).await?;
    crate::quota::cap(owned, state.config.app.group_ktties_per_user, "open group ktties")?;
    let ktti = KttiId::new();
    let code = referral_code(rand::random());
    ktties::create_group(
        &mut tx,
        ktti,
        user,
        &GroupFields {
            name: &g.fields.name,
            description: g.fields.description.as_deref(),
            purpose: g.fields.purpose.as_deref(),
            target_amount: g.fields.target_amount,
            end_date: g.fields.end_date,
            image_key: g.fields.image_key.as_deref(),
            billing_plan: Some(&g.billing_plan),
            referral_code: &code,
        },
    )
    .await?;
    members::join(&mut tx, ktti, user, Role::Owner, &deposit_reference(rand::random())).await?;
    if let Some(p) = g.own_proportion {
        members::set_split_proportion(&mut tx, ktti, user, p).await?;
    }
    jobs::enqueue(&mut tx, &SetupKtti { ktti_id: ktti }).await?;
    let row = read(&mut tx, user, ktti).await?;
    for (email, account, weight) in &g.invitees {
        membership::invite(&mut tx, &row, user, email, *account, *weight).await?;
    }
    let view: KttiView = read(&mut tx, user, ktti).await?.into();
    idempotency::finish(&mut tx, &scope, key, 201, &CreatedId { id: ktti.0 }).await?;
    tx.commit().await?;
    Ok(Created::Ktti(Json(view)))
}

async fn read(conn: &mut PgConnection, user: UserId, ktti: KttiId) -> Result<ktties::KttiRow, ApiError> {
    ktties::find_for_member(&mut *conn, user, ktti)
        .await?
        .ok_or_else(|| ApiError::internal("the ktti just written is not visible"))
}

/// Applies a PATCH after the caller's role was checked.
async fn apply_update(
    state: &AppState,
    user: UserId,
    id: Uuid,
    changes: KttiChanges,
) -> Result<Json<KttiView>, ApiError> {
    if let Some(Some(k)) = &changes.image_key {
        crate::routes::uploads::usable_key(state, user, k, UploadKind::KttiImage, "imageKey").await?;
    }
    let mut tx = state.pool.begin().await?;
    ktties::update(&mut tx, KttiId(id), &changes).await?;
    if changes.members_can_spend.is_some() {
        // Members' cards freeze or thaw at the bank to match.
        jobs::enqueue(&mut tx, &kttipay_jobs::kinds::SyncKttiCards { ktti_id: KttiId(id) }).await?;
    }
    let view = read(&mut tx, user, KttiId(id)).await?.into();
    tx.commit().await?;
    Ok(Json(view))
}

fn closed_check(k: &ktties::KttiRow) -> Result<(), ApiError> {
    rules::must_be_writable(k.status).map_err(ApiError::not_now)
}

/// Ktties: list, read, create and update. (One struct, because poem-openapi
/// documents one operation set per path per struct.)
pub struct KttiApi;

#[OpenApi(tag = "Tag::Ktti")]
impl KttiApi {
    /// The caller's ktties
    ///
    /// Newest first; filter by `status`, `type` (`group`/`personal`), `role` and `q`
    /// (part of the name).
    #[oai(path = "/api/v2/ktties", method = "get", operation_id = "listKtties")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        status: Query<Option<states::KttiStatus>>,
        #[oai(name = "type")] kind: Query<Option<states::KttiKind>>,
        role: Query<Option<states::Role>>,
        q: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u32>>,
        #[oai(name = "pageSize", validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<
            Option<u32>,
        >,
    ) -> Result<Json<KttiPage>, ApiError> {
        let page = page.0.unwrap_or(1);
        let page_size = page_size.0.unwrap_or(PAGE_SIZE_DEFAULT);
        if page == 0 {
            return Err(ApiError::invalid_field("invalid_page", "page", "must be 1 or more"));
        }
        if !(1..=PAGE_SIZE_MAX).contains(&page_size) {
            return Err(ApiError::invalid_field(
                "invalid_page_size",
                "pageSize",
                "must be 1 to 100",
            ));
        }
        let filter = KttiFilter {
            status: status.0.map(Into::into),
            kind: kind.0.map(Into::into),
            role: role.0.map(Into::into),
            q: q.0.filter(|s| !s.trim().is_empty()),
        };
        let offset = i64::from(page - 1) * i64::from(page_size);
        let (rows, total) =
            ktties::list_for_member(&state.pool, auth.0.user_id, &filter, i64::from(page_size), offset).await?;
        Ok(Json(KttiPage {
            items: rows.into_iter().map(Into::into).collect(),
            page,
            page_size,
            total,
        }))
    }

    /// Read a single ktti
    #[oai(path = "/api/v2/ktties/:kttiId", method = "get", operation_id = "getKtti")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
    ) -> Result<Json<KttiView>, ApiError> {
        let row = ktties::find_for_member(&state.pool, auth.0.user_id, KttiId(id.0)).await?;
        row.map(|k| Json(k.into())).ok_or_else(not_found)
    }

    /// Create a group ktti
    ///
    /// The caller becomes its owner. Needs a verified identity (409 `kyc_required`).
    /// Accepts `Idempotency-Key`.
    #[oai(path = "/api/v2/ktties", method = "post", operation_id = "createKtti")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<String>>,
        body: JsonBody<CreateKtti>,
    ) -> Result<Created, ApiError> {
        let b = &body.0;
        let mut v = Validation::new();
        let f = fields(
            &mut v,
            &b.name,
            b.description.as_deref(),
            b.purpose.as_deref(),
            b.target_amount,
            b.end_date.as_deref(),
            b.image_key.as_deref(),
        );
        v.finish().map_err(ApiError::invalid)?;
        let plan = state.config.app.billing_plans[0].code.clone();
        let g = NewGroup {
            fields: f.ok_or_else(|| ApiError::internal("validated fields missing"))?,
            billing_plan: plan,
            own_proportion: None,
            invitees: Vec::new(),
        };
        let fp = idempotency::fingerprint("createKtti", b);
        create_group(&state, auth.0.user_id, key.0.as_deref(), &fp, g).await
    }

    /// Create a group ktti (v3)
    ///
    /// As v2, plus the billing plan, default split proportions and invitees in one
    /// call. Accepts `Idempotency-Key`.
    #[oai(path = "/api/v3/ktties", method = "post", operation_id = "createKttiV3")]
    async fn create_v3(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<String>>,
        body: JsonBody<CreateKttiV3>,
    ) -> Result<Created, ApiError> {
        let b = &body.0;
        let me = auth.0.user_id;
        let mut v = Validation::new();
        let f = fields(
            &mut v,
            &b.ktti.name,
            b.ktti.description.as_deref(),
            b.ktti.purpose.as_deref(),
            b.ktti.target_amount,
            b.ktti.end_date.as_deref(),
            b.ktti.image_key.as_deref(),
        );
        let plans = &state.config.app.billing_plans;
        let plan = match &b.billing_plan {
            None => Some(&plans[0]),
            Some(code) => v.check(
                "billingPlan",
                plans
                    .iter()
                    .find(|p| p.code == *code)
                    .ok_or_else(|| "must be a plan code from /api/v2/core/config".to_string()),
            ),
        };
        let caller = users::find(&state.pool, me)
            .await?
            .ok_or_else(|| ApiError::internal("caller vanished"))?;
        let raw_invitees = b.invitees.as_deref().unwrap_or_default();
        let mut emails: Vec<String> = Vec::new();
        if raw_invitees.len() > INVITEES_MAX {
            // Refused before any of them is looked up.
            v.check::<()>("invitees", Err(format!("at most {INVITEES_MAX} at once")));
        } else {
            for (i, raw) in raw_invitees.iter().enumerate() {
                let field = format!("invitees[{i}]");
                let Some(email) = v.check(&field, kttipay_domain::user::email(raw)) else {
                    continue;
                };
                if email.eq_ignore_ascii_case(&caller.email) {
                    v.check::<()>(&field, Err("you are the creator; invite others".into()));
                } else if !emails.iter().any(|e| e.eq_ignore_ascii_case(&email)) {
                    emails.push(email);
                }
            }
        }
        // Their accounts, in one query.
        let accounts = users::ids_by_email(&state.pool, &emails).await?;
        let invitees: Vec<(String, Option<UserId>)> = emails
            .into_iter()
            .map(|e| {
                let id = accounts
                    .iter()
                    .find(|(a, _)| a.eq_ignore_ascii_case(&e))
                    .map(|(_, id)| *id);
                (e, id)
            })
            .collect();
        if let Some(p) = plan
            && invitees.len() + 1 > p.member_limit as usize
        {
            v.check::<()>(
                "invitees",
                Err(format!("the {} plan allows {} members", p.code, p.member_limit)),
            );
        }
        let mut own = None;
        let mut weights: Vec<(UserId, Decimal)> = Vec::new();
        for (i, p) in b.split_proportions.iter().flatten().enumerate() {
            let field = format!("splitProportions[{i}]");
            let Some(value) = v.check(&format!("{field}.value"), proportion(&p.value)) else {
                continue;
            };
            let who = UserId(p.user_id);
            if weights.iter().any(|(u, _)| *u == who) {
                v.check::<()>(&format!("{field}.userId"), Err("appears twice".into()));
            } else if who == me {
                own = Some(value);
                weights.push((who, value));
            } else if invitees.iter().any(|(_, u)| *u == Some(who)) {
                weights.push((who, value));
            } else {
                v.check::<()>(
                    &format!("{field}.userId"),
                    Err("must be you or an invitee with a KttiPay account".into()),
                );
            }
        }
        v.finish().map_err(ApiError::invalid)?;
        let g = NewGroup {
            fields: f.ok_or_else(|| ApiError::internal("validated fields missing"))?,
            billing_plan: plan.map(|p| p.code.clone()).unwrap_or_default(),
            own_proportion: own,
            invitees: invitees
                .into_iter()
                .map(|(email, user)| {
                    let w = user.and_then(|u| weights.iter().find(|(x, _)| *x == u).map(|(_, w)| *w));
                    (email, user, w)
                })
                .collect(),
        };
        let fp = idempotency::fingerprint("createKttiV3", b);
        create_group(&state, me, key.0.as_deref(), &fp, g).await
    }

    /// Update a ktti
    ///
    /// Owner or admin.
    #[oai(path = "/api/v2/ktties/:kttiId", method = "patch", operation_id = "updateKtti")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        body: JsonBody<UpdateKtti>,
    ) -> Result<Json<KttiView>, ApiError> {
        let k = visible(&state, auth.0.user_id, id.0).await?;
        rules::may_edit(k.caller_role()).map_err(ApiError::denied)?;
        closed_check(&k)?;
        let changes = changes(body.0)?;
        apply_update(&state, auth.0.user_id, id.0, changes).await
    }

    /// Update a ktti (v3)
    ///
    /// As v2, plus `settings` (owner or admin) and `rotateReferralCode` (whoever
    /// may invite).
    #[oai(path = "/api/v3/ktties/:kttiId", method = "patch", operation_id = "updateKttiV3")]
    async fn update_v3(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        body: JsonBody<UpdateKttiV3>,
    ) -> Result<Json<KttiView>, ApiError> {
        let k = visible(&state, auth.0.user_id, id.0).await?;
        closed_check(&k)?;
        let b = body.0;
        let rotate = b.rotate_referral_code == Some(true);
        let k_edits = &b.ktti;
        let edits = k_edits.name.is_some()
            || k_edits.description.is_some()
            || k_edits.purpose.is_some()
            || k_edits.target_amount.is_some()
            || k_edits.end_date.is_some()
            || k_edits.image_key.is_some()
            || b.settings.is_some();
        if edits {
            rules::may_edit(k.caller_role()).map_err(ApiError::denied)?;
        }
        if rotate || b.settings.is_some() {
            rules::must_be_group(k.kind).map_err(ApiError::not_now)?;
        }
        if rotate {
            rules::may_invite(k.caller_role(), k.settings()).map_err(ApiError::denied)?;
        }
        let mut changes = changes(b.ktti)?;
        if let Some(s) = b.settings {
            changes.members_can_spend = s.members_can_spend;
            changes.members_can_invite = s.members_can_invite;
            changes.approval_required_to_join = s.approval_required_to_join;
        }
        if rotate {
            changes.referral_code = Some(referral_code(rand::random()));
        }
        apply_update(&state, auth.0.user_id, id.0, changes).await
    }
}
