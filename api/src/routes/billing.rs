//! A group ktti's billing: its plan (and a change waiting for the next period)
//! and the history of every charge with every attempt. Billed in arrears: a
//! period is charged once it has ended; a plan change applies from the next
//! period (no proration), and an upgrade's higher member limit applies at once.

use crate::amount::Amount;
use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::routes::Tag;
use crate::routes::ktties::visible;
use crate::state::AppState;
use chrono::{DateTime, NaiveDate, Utc};
use kttipay_db::{billing, ktties, members};
use kttipay_domain::billing::{Plan, find, next_billing_date};
use kttipay_domain::ids::KttiId;
use kttipay_domain::lifecycle::MembershipStatus;
use kttipay_domain::membership as rules;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use uuid::Uuid;

/// Charges listed at most per request.
pub const BILLING_HISTORY_MAX: u32 = 120;

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct PlanView {
    pub code: String,
    pub name: String,
    /// Per interval.
    pub price: Amount,
    /// `month` or `year`.
    pub interval: String,
    pub member_limit: u32,
}

impl From<&Plan> for PlanView {
    fn from(p: &Plan) -> Self {
        PlanView {
            code: p.code.clone(),
            name: p.name.clone(),
            price: p.price.into(),
            interval: p.interval.clone(),
            member_limit: p.member_limit,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct BillingView {
    /// The plan billed for the period in progress.
    pub plan: PlanView,
    /// When the period in progress ends and is charged (in arrears).
    #[oai(nullable)]
    pub next_billing_date: Option<NaiveDate>,
    /// A change the owner asked for, applying from `nextBillingDate`.
    #[oai(nullable)]
    pub next_plan: Option<PlanView>,
    /// Always `nextPeriod`: a change is not prorated.
    pub change_applies: String,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct PlanChange {
    /// The code of a plan on offer (`GET /api/v2/core/config` lists them).
    #[oai(validator(min_length = 1, max_length = 64))]
    pub plan: String,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct AttemptView {
    /// `charged`, `failed`, `free`.
    pub outcome: String,
    #[oai(nullable)]
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ChargeView {
    pub id: Uuid,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub plan: String,
    pub amount: Amount,
    /// `pending` (being charged), `charged`, `failed` (tried again by later
    /// runs), `free` (nothing to charge).
    pub status: String,
    /// Why the last attempt failed (`insufficient_funds`, ...).
    #[oai(nullable)]
    pub reason: Option<String>,
    /// The fee as a transaction of the ktti, once charged.
    #[oai(nullable)]
    pub transaction_id: Option<Uuid>,
    #[oai(nullable)]
    pub charged_at: Option<DateTime<Utc>>,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptView>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct BillingHistory {
    /// Newest period first.
    pub items: Vec<ChargeView>,
}

pub struct BillingApi;

#[OpenApi(tag = "Tag::Ktti")]
impl BillingApi {
    /// The ktti's billing plan
    ///
    /// Any member. The plan billed now, when the period in progress is charged
    /// (in arrears), and a change waiting for the next period. 409
    /// `personal_ktti` for a personal ktti (not billed).
    #[oai(
        path = "/api/v2/ktties/:kttiId/billing/plan",
        method = "get",
        operation_id = "getBillingPlan"
    )]
    async fn plan(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
    ) -> Result<Json<BillingView>, ApiError> {
        let k = visible(&state, auth.0.user_id, id.0).await?;
        rules::must_be_group(k.kind).map_err(ApiError::not_now)?;
        Ok(Json(view(&state, KttiId(k.id)).await?))
    }

    /// Change the billing plan
    ///
    /// The owner only (an admin gets 403). The new plan is charged from the next
    /// period (no proration); an upgrade's higher member limit applies at once.
    /// Choosing the current plan cancels a waiting change. 422 for a plan not on
    /// offer; 409 `too_many_members` when the ktti has more members than the plan
    /// allows; 409 `ktti_closed`.
    #[oai(
        path = "/api/v2/ktties/:kttiId/billing/plan",
        method = "put",
        operation_id = "changeBillingPlan"
    )]
    async fn change(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        body: JsonBody<PlanChange>,
    ) -> Result<Json<BillingView>, ApiError> {
        let user = auth.0.user_id;
        let k = visible(&state, user, id.0).await?;
        rules::must_be_group(k.kind).map_err(ApiError::not_now)?;
        rules::may_change_billing(k.caller_role()).map_err(ApiError::denied)?;
        let plans = &state.config.app.billing_plans;
        let plan = find(plans, body.0.plan.trim())
            .ok_or_else(|| ApiError::invalid_field("validation_failed", "plan", "is not a plan on offer"))?;
        let ktti = KttiId(k.id);
        let mut tx = state.pool.begin().await?;
        let (status, _) = ktties::lock_status(&mut tx, ktti).await?;
        rules::must_be_writable(status).map_err(ApiError::not_now)?;
        let role = members::lock(&mut tx, ktti, user)
            .await?
            .filter(|m| m.status == MembershipStatus::Active)
            .map(|m| m.role)
            .ok_or_else(crate::routes::ktties::not_found)?;
        rules::may_change_billing(role).map_err(ApiError::denied)?;
        let count = members::active_count(&mut *tx, ktti).await?;
        if count > i64::from(plan.member_limit) {
            return Err(ApiError::conflict(
                "too_many_members",
                format!(
                    "The {} plan allows {} members; this ktti has {count}.",
                    plan.name, plan.member_limit
                ),
            ));
        }
        billing::set_next_plan(&mut tx, ktti, Some(&plan.code)).await?;
        tx.commit().await?;
        Ok(Json(view(&state, ktti).await?))
    }

    /// The ktti's billing history
    ///
    /// Any member. Every charge, newest period first, with every attempt
    /// (`charged`, `failed` with its reason, `free`).
    #[oai(
        path = "/api/v2/ktties/:kttiId/billing/history",
        method = "get",
        operation_id = "getBillingHistory"
    )]
    async fn history(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        /// At most this many charges (1 to 120, default 24).
        #[oai(name = "limit", validator(minimum(value = "1"), maximum(value = "120")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<BillingHistory>, ApiError> {
        let k = visible(&state, auth.0.user_id, id.0).await?;
        rules::must_be_group(k.kind).map_err(ApiError::not_now)?;
        let limit = limit.0.unwrap_or(24).clamp(1, BILLING_HISTORY_MAX);
        let mut conn = state.pool.acquire().await?;
        let (charges, attempts) = billing::history(&mut conn, KttiId(k.id), i64::from(limit)).await?;
        let items = charges
            .into_iter()
            .map(|c| ChargeView {
                attempts: attempts
                    .iter()
                    .filter(|a| a.charge_id == c.id)
                    .map(|a| AttemptView {
                        outcome: a.outcome.clone(),
                        reason: a.reason.clone(),
                        at: a.at,
                    })
                    .collect(),
                id: c.id,
                period_start: c.period_start,
                period_end: c.period_end,
                plan: c.plan_code.clone(),
                amount: c.amount().into(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                transaction_id: (c.status == "charged").then_some(c.transaction_id).flatten(),
                charged_at: c.charged_at,
            })
            .collect();
        Ok(Json(BillingHistory { items }))
    }
}

async fn view(state: &AppState, ktti: KttiId) -> Result<BillingView, ApiError> {
    let b = billing::of(&state.pool, ktti)
        .await?
        .ok_or_else(crate::routes::ktties::not_found)?;
    let plans = &state.config.app.billing_plans;
    let current = b
        .billing_plan
        .as_deref()
        .and_then(|c| find(plans, c))
        .or(plans.first())
        .ok_or_else(|| ApiError::internal("no billing plans configured"))?;
    let next = b.next_billing_plan.as_deref().and_then(|c| find(plans, c));
    Ok(BillingView {
        plan: current.into(),
        next_billing_date: b
            .billing_anchor
            .and_then(|anchor| next_billing_date(anchor, b.billed_through, current.months())),
        next_plan: next.map(Into::into),
        change_applies: "nextPeriod".into(),
    })
}
