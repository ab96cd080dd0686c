//! Paying a closing ktti out: `POST .../closure/disburse` computes the plan
//! (`domain::closure::plan`) from one consistent moment of the books, stores it
//! with one payout per member and writes their jobs to the outbox in the same
//! transaction; `GET .../closure/disbursements` shows every round and each
//! payout's progress.

use crate::amount::Amount;
use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::routes::Tag;
use crate::routes::closure::locked;
use crate::routes::ktties::visible;
use crate::state::AppState;
use crate::states;
use chrono::{DateTime, Utc};
use kttipay_db::actions::{self, Audience, Kind, NewAction};
use kttipay_db::payouts::{self, NewPayout, PayoutRow, Rounds};
use kttipay_db::{PgConnection, jobs, ktties, ledger, payout_accounts, splits, users};
use kttipay_domain::Money;
use kttipay_domain::closure;
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::lifecycle::{KttiStatus, PayoutStatus};
use kttipay_domain::membership as rules;
use kttipay_domain::payout::{self, BankAccount, Blocked, Destination};
use kttipay_domain::split::Rotation;
use kttipay_jobs::kinds::SubmitPayout;
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

/// Where a round stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "camelCase")]
pub enum RoundStatus {
    /// Payouts are still being sent.
    InProgress,
    /// Every payout of the round completed.
    Completed,
    /// A payout was refused or is dead: the owner or an operator must act.
    NeedsAttention,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct PayoutView {
    pub payout_id: Uuid,
    pub user_id: Uuid,
    pub amount: Amount,
    pub status: states::PayoutStatus,
    /// Attempts to send it so far (every one with the same idempotency key).
    pub attempts: i32,
    /// Why the last attempt did not finish, as a stable code
    /// (`provider_unavailable`, `recipient_account_closed`, ...).
    #[oai(nullable)]
    pub last_error: Option<String>,
    /// `personalKtti` (an internal transfer) or `bankAccount` (the nominated one).
    pub destination: String,
    /// The payout as a transaction of the ktti, once it was sent.
    #[oai(nullable)]
    pub transaction_id: Option<Uuid>,
    /// When it completed or was refused.
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
}

/// `fromUserId` owes `toUserId` `amount`, to be settled between them.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SettleUpView {
    pub from_user_id: Uuid,
    pub to_user_id: Uuid,
    pub amount: Amount,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct RoundView {
    pub disbursement_id: Uuid,
    /// 1 for the first disbursement; another round pays what a refusal or a late
    /// deposit left.
    pub round: i32,
    pub status: RoundStatus,
    /// What the round pays out: the available balance when it was disbursed.
    pub total: Amount,
    pub payouts: Vec<PayoutView>,
    pub settle_up: Vec<SettleUpView>,
    pub created_at: DateTime<Utc>,
}

/// The newest round's plan at the top, every round (newest first) in `rounds`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct DisbursementPlan {
    pub ktti_status: states::KttiStatus,
    pub status: RoundStatus,
    pub round: i32,
    pub total: Amount,
    pub payouts: Vec<PayoutView>,
    pub settle_up: Vec<SettleUpView>,
    pub rounds: Vec<RoundView>,
}

#[derive(ApiResponse)]
pub enum Disbursed {
    /// The plan, stored; its payouts are being sent by jobs.
    #[oai(status = 202)]
    Accepted(Json<DisbursementPlan>),
}

pub struct DisbursementsApi;

#[OpenApi(tag = "Tag::Ktti")]
impl DisbursementsApi {
    /// Pay the closing ktti out
    ///
    /// Owner or admin, on a `closing` ktti. Computes the plan from the books:
    /// members with a positive net are paid it, scaled pro rata when some members
    /// are negative, summing to exactly the available balance; what the negative
    /// members owe is listed as settle-up suggestions. The plan is stored and one
    /// payout job per member is queued with it (202); the ktti is `disbursing`.
    /// Each payout goes to the member's nominated payout account, or else their
    /// personal ktti. 409 with the reason: `unassigned_deposits`, `open_holds`,
    /// `payout_account_needed` (those members get an action item),
    /// `books_disagree` (operators are alerted), `payouts_in_flight` for a second
    /// disburse, `not_closing`. A replay with the same `Idempotency-Key` answers
    /// with the same plan.
    #[oai(
        path = "/api/v2/ktties/:kttiId/closure/disburse",
        method = "post",
        operation_id = "disburseClosure"
    )]
    async fn disburse(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<String>>,
    ) -> Result<Disbursed, ApiError> {
        let user = auth.0.user_id;
        let (mut tx, ktti, status) = locked(&state, user, id.0).await?;
        let scope = format!("closure.disburse:{user}:{ktti}");
        let fingerprint = crate::idempotency::fingerprint("disburseClosure", &ktti.0);
        let key = key.0.as_deref();
        if crate::idempotency::replayed(&mut tx, &scope, key, &fingerprint).await? {
            let plan = plan_view(&mut tx, ktti).await?;
            return Ok(Disbursed::Accepted(Json(plan)));
        }
        rules::must_be_disbursable(status).map_err(ApiError::not_now)?;
        let planned = plan(&mut tx, ktti, user).await?;
        let missing: Vec<UserId> = planned
            .payouts
            .iter()
            .filter(|(_, to)| to.is_none())
            .map(|(p, _)| p.user)
            .collect();
        if !missing.is_empty() {
            ask_for_accounts(&mut tx, ktti, &missing).await?;
            tx.commit().await?;
            return Err(blocked(Blocked::NoDestination(missing)));
        }
        let new: Vec<NewPayout> = planned
            .payouts
            .into_iter()
            .filter_map(|(p, to)| {
                to.map(|(destination, to_name)| NewPayout {
                    user: p.user,
                    amount: p.amount,
                    destination,
                    to_name,
                })
            })
            .collect();
        let (_, ids) = payouts::create(&mut tx, ktti, user, planned.available, &new, &planned.settle_ups).await?;
        for payout_id in &ids {
            jobs::enqueue(&mut tx, &SubmitPayout { payout_id: *payout_id }).await?;
        }
        ktties::transition(&mut tx, ktti, KttiStatus::Closing, KttiStatus::Disbursing).await?;
        if ids.is_empty() {
            // Nothing to pay (every member square): the round is over at once.
            let b = ledger::balances(&mut *tx, ktti).await?.unwrap_or_default();
            if let Some(next) = payout::after_round(0, b.total(), b.available) {
                ktties::transition(&mut tx, ktti, KttiStatus::Disbursing, next).await?;
            }
        }
        crate::idempotency::finish(&mut tx, &scope, key, 202, &serde_json::json!({})).await?;
        let view = plan_view(&mut tx, ktti).await?;
        tx.commit().await?;
        tracing::info!(%ktti, payouts = ids.len(), total = %planned.available, "disbursement planned");
        Ok(Disbursed::Accepted(Json(view)))
    }

    /// The disbursement plan and each payout's progress
    ///
    /// Any member. The newest round at the top (its status, payouts with their
    /// state, attempts and last error, and settle-up suggestions), every round in
    /// `rounds`. 404 `disbursement_not_found` before the first disburse.
    #[oai(
        path = "/api/v2/ktties/:kttiId/closure/disbursements",
        method = "get",
        operation_id = "getDisbursements"
    )]
    async fn disbursements(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
    ) -> Result<Json<DisbursementPlan>, ApiError> {
        let k = visible(&state, auth.0.user_id, id.0).await?;
        let mut conn = state.pool.acquire().await?;
        Ok(Json(plan_view(&mut conn, KttiId(k.id)).await?))
    }
}

/// A plan computed from the books, each payout with where it goes (`None`: the
/// member has nowhere to be paid).
struct Planned {
    payouts: Vec<(closure::PlannedPayout, Option<(Destination, String)>)>,
    settle_ups: Vec<(UserId, UserId, Money)>,
    available: Money,
}

/// Reads the books at one moment (the balances locked, so no money event lands
/// between reading them and the members' totals) and plans from them.
async fn plan(conn: &mut PgConnection, ktti: KttiId, viewer: UserId) -> Result<Planned, ApiError> {
    ledger::lock_balances(&mut *conn, ktti)
        .await?
        .ok_or_else(|| ApiError::internal("a ktti without balances"))?;
    let books = splits::totals_snapshot(&mut *conn, ktti, viewer)
        .await?
        .ok_or_else(crate::routes::ktties::not_found)?;
    let holds = payouts::open_holds(&mut *conn, ktti).await?;
    payout::may_disburse(books.unassigned, holds).map_err(blocked)?;
    let nets: Vec<(UserId, Money)> = books
        .members
        .iter()
        .map(|m| (UserId(m.user_id), m.net()))
        .filter(|(_, net)| *net != Money::ZERO)
        .collect();
    // Nothing is reserved once no hold is open and no payout is in flight.
    if books.reserved != Money::ZERO {
        let why = format!(
            "{} is reserved with no hold open and no payout in flight",
            books.reserved
        );
        return Err(books_disagree(ktti, why));
    }
    let plan = closure::plan(&nets, books.available, Rotation::of(ktti.0)).map_err(|e| books_disagree(ktti, e))?;
    let mut payouts = Vec::with_capacity(plan.payouts.len());
    for p in plan.payouts {
        let destination = destination_of(&mut *conn, p.user).await?;
        payouts.push((p, destination));
    }
    Ok(Planned {
        payouts,
        settle_ups: plan.settle_ups.iter().map(|s| (s.from, s.to, s.amount)).collect(),
        available: books.available,
    })
}

/// Where `user` is paid, with the name the transfer is addressed to.
async fn destination_of(conn: &mut PgConnection, user: UserId) -> Result<Option<(Destination, String)>, ApiError> {
    let nominated = payout_accounts::find(&mut *conn, user).await?.map(|a| BankAccount {
        bsb: a.bsb,
        account_number: a.account_number,
        account_name: a.account_name,
    });
    let personal = ktties::personal_of(&mut *conn, user)
        .await?
        .filter(|k| k.status == KttiStatus::Active)
        .and_then(|k| k.provider_account_id);
    let Some(destination) = Destination::choose(nominated, personal) else {
        return Ok(None);
    };
    let name = match &destination {
        Destination::BankAccount(a) => a.account_name.clone(),
        Destination::PersonalKtti { .. } => users::find(&mut *conn, user)
            .await?
            .map(|u| format!("{} {}", u.first_name, u.last_name))
            .unwrap_or_default(),
    };
    Ok(Some((destination, name)))
}

/// Each member with nowhere to be paid is asked (once) to nominate an account.
async fn ask_for_accounts(conn: &mut PgConnection, ktti: KttiId, users: &[UserId]) -> Result<(), ApiError> {
    for user in users {
        actions::create(
            conn,
            &NewAction {
                kind: Kind::PayoutAccountNeeded,
                ktti,
                audience: Audience::User(*user),
                subject: Some(*user),
                invitation: None,
                transaction: None,
                payload: serde_json::json!({ "path": "/api/v2/settings/payout-account" }),
            },
        )
        .await?;
    }
    Ok(())
}

fn blocked(b: Blocked) -> ApiError {
    ApiError::conflict(b.code(), b.reason())
}

/// The books do not add up: nobody is paid, and operators hear of it.
fn books_disagree(ktti: KttiId, e: impl std::fmt::Display) -> ApiError {
    metrics::counter!("kttipay_disbursement_refused_total", "reason" => "books_disagree").increment(1);
    tracing::error!(%ktti, error = %e, "a disbursement was refused: the members' totals do not match the balance");
    ApiError::conflict(
        "books_disagree",
        "The members' totals do not match the ktti's balance; our operators have been alerted.",
    )
}

async fn plan_view(conn: &mut PgConnection, ktti: KttiId) -> Result<DisbursementPlan, ApiError> {
    let status = ktties::status_of(&mut *conn, ktti).await?;
    let rounds = payouts::rounds(conn, ktti).await?;
    let mut views = round_views(rounds);
    if views.is_empty() {
        return Err(ApiError::not_found(
            "disbursement_not_found",
            "Nothing has been disbursed for this ktti yet.",
        ));
    }
    let newest = &mut views[0];
    Ok(DisbursementPlan {
        ktti_status: status.into(),
        status: newest.status,
        round: newest.round,
        total: newest.total,
        payouts: std::mem::take(&mut newest.payouts),
        settle_up: std::mem::take(&mut newest.settle_up),
        rounds: views,
    })
}

fn round_views(r: Rounds) -> Vec<RoundView> {
    r.disbursements
        .into_iter()
        .map(|d| {
            let payouts: Vec<PayoutView> = r
                .payouts
                .iter()
                .filter(|p| p.disbursement_id == d.id)
                .map(payout_view)
                .collect();
            let settle_up = r
                .settle_ups
                .iter()
                .filter(|s| s.disbursement_id == d.id)
                .map(|s| SettleUpView {
                    from_user_id: s.from_user_id,
                    to_user_id: s.to_user_id,
                    amount: money(s.amount).into(),
                })
                .collect();
            RoundView {
                disbursement_id: d.id,
                round: d.round,
                status: round_status(&payouts),
                total: money(d.available).into(),
                payouts,
                settle_up,
                created_at: d.created_at,
            }
        })
        .collect()
}

fn round_status(payouts: &[PayoutView]) -> RoundStatus {
    let has = |s: states::PayoutStatus| payouts.iter().any(|p| p.status == s);
    if has(states::PayoutStatus::Failed) || has(states::PayoutStatus::Dead) {
        RoundStatus::NeedsAttention
    } else if has(states::PayoutStatus::Pending) || has(states::PayoutStatus::Submitted) {
        RoundStatus::InProgress
    } else {
        RoundStatus::Completed
    }
}

fn payout_view(p: &PayoutRow) -> PayoutView {
    PayoutView {
        payout_id: p.id,
        user_id: p.user_id,
        amount: p.amount().into(),
        status: p.status.into(),
        attempts: p.attempts,
        last_error: match p.status {
            PayoutStatus::Completed => None,
            _ => p.last_error.clone(),
        },
        destination: p.destination.clone(),
        transaction_id: p.transaction_id,
        finished_at: p.finished_at,
    }
}

fn money(d: rust_decimal::Decimal) -> Money {
    Money::new(d).expect("NUMERIC(18,2) always fits Money")
}
