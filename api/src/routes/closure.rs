//! Closing a ktti: starting, cancelling and finalising a closure (paying out is
//! in [`super::disbursements`]). Cards follow the ktti's status through the
//! card-rights job (`SyncKttiCards`), written to the outbox in the transaction
//! that changes the status, so a freeze is never lost and a later cancel always
//! wins over an earlier freeze. Every status move happens under the ktti's row
//! lock, with the caller's role checked again under it.

use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::routes::Tag;
use crate::routes::ktties::{KttiView, visible};
use crate::state::AppState;
use kttipay_db::{PgConnection, jobs, ktties, ledger, members, payouts};
use kttipay_domain::Money;
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::lifecycle::KttiStatus;
use kttipay_domain::lifecycle::MembershipStatus;
use kttipay_domain::membership as rules;
use kttipay_domain::notification::ClosureStep;
use kttipay_jobs::kinds::{CloseKttiAccount, SyncKttiCards};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

#[derive(ApiResponse)]
pub enum StatusChanged {
    /// The ktti's new status; its cards follow at the bank in the background.
    #[oai(status = 202)]
    Accepted(Json<KttiView>),
}

pub struct ClosureApi;

#[OpenApi(tag = "Tag::Ktti")]
impl ClosureApi {
    /// Start closing a ktti
    ///
    /// Owner or admin. The ktti becomes `closing`: every card is frozen at the bank
    /// (by a job, hence 202), no one new joins, and deposits still land. Open card
    /// holds need not settle first. 409 `ktti_not_active` unless the ktti is active.
    #[oai(
        path = "/api/v2/ktties/:kttiId/closure",
        method = "post",
        operation_id = "initiateClosure"
    )]
    async fn initiate(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
    ) -> Result<StatusChanged, ApiError> {
        let (mut tx, ktti, status) = locked(&state, auth.0.user_id, id.0).await?;
        rules::must_be_active_to_close(status).map_err(ApiError::not_now)?;
        move_to(&mut tx, ktti, status, KttiStatus::Closing).await?;
        jobs::enqueue(&mut tx, &SyncKttiCards { ktti_id: ktti }).await?;
        answer(tx, auth.0.user_id, ktti).await
    }

    /// Cancel a closure
    ///
    /// Owner or admin. The ktti is `active` again and cards follow each member's
    /// rights once more. 409 `payouts_started` once the plan was disbursed, 409
    /// `not_closing` when there is no closure to cancel.
    #[oai(
        path = "/api/v2/ktties/:kttiId/closure/cancel",
        method = "post",
        operation_id = "cancelClosure"
    )]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
    ) -> Result<StatusChanged, ApiError> {
        let (mut tx, ktti, status) = locked(&state, auth.0.user_id, id.0).await?;
        rules::must_be_cancellable(status).map_err(ApiError::not_now)?;
        // Back in `closing` after a round with money left, payouts have started.
        if payouts::any_for(&mut *tx, ktti).await? {
            return Err(ApiError::conflict(
                "payouts_started",
                "Payouts have started; the closure can no longer be cancelled.",
            ));
        }
        move_to(&mut tx, ktti, status, KttiStatus::Active).await?;
        jobs::enqueue(&mut tx, &SyncKttiCards { ktti_id: ktti }).await?;
        answer(tx, auth.0.user_id, ktti).await
    }

    /// Finalise a closure
    ///
    /// Owner or admin. Only a `readyToClose` ktti (every payout completed, both
    /// balances 0): it becomes `closed` for good, read-only, and its account is
    /// closed at the bank by a job (hence 202). 409 `not_ready_to_close` before
    /// that, `money_left` if money arrived since, `ktti_closed` once closed.
    #[oai(
        path = "/api/v2/ktties/:kttiId/closure/finalize",
        method = "post",
        operation_id = "finalizeClosure"
    )]
    async fn finalize(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
    ) -> Result<StatusChanged, ApiError> {
        let (mut tx, ktti, status) = locked(&state, auth.0.user_id, id.0).await?;
        rules::must_be_finalizable(status).map_err(ApiError::not_now)?;
        // Locked so that a deposit landing now is either seen here or lands after
        // the ktti is closed (and is then an action item for the owner).
        let balances = ledger::lock_balances(&mut tx, ktti)
            .await?
            .ok_or_else(|| ApiError::internal("a ktti without balances"))?;
        if balances.total() != Money::ZERO || balances.available != Money::ZERO {
            return Err(ApiError::conflict(
                "money_left",
                format!("{} is still in this ktti: pay it out first.", balances.total()),
            ));
        }
        move_to(&mut tx, ktti, status, KttiStatus::Closed).await?;
        jobs::enqueue(&mut tx, &CloseKttiAccount { ktti_id: ktti }).await?;
        answer(tx, auth.0.user_id, ktti).await
    }
}

/// Opens a transaction holding the group ktti's row lock, once the caller may
/// close it (an outsider 404, a member 403), checked again under the lock: a
/// role taken away a moment ago counts. Returns the status it is in.
pub(crate) async fn locked(
    state: &AppState,
    user: UserId,
    id: Uuid,
) -> Result<(Transaction, KttiId, KttiStatus), ApiError> {
    let k = visible(state, user, id).await?;
    rules::may_close(k.caller_role()).map_err(ApiError::denied)?;
    rules::must_be_group(k.kind).map_err(ApiError::not_now)?;
    let ktti = KttiId(k.id);
    let mut tx = state.pool.begin().await?;
    let (status, _) = ktties::lock_status(&mut tx, ktti).await?;
    let role = members::lock(&mut tx, ktti, user)
        .await?
        .filter(|m| m.status == MembershipStatus::Active)
        .map(|m| m.role)
        .ok_or_else(crate::routes::ktties::not_found)?;
    rules::may_close(role).map_err(ApiError::denied)?;
    Ok((tx, ktti, status))
}

type Transaction = kttipay_db::Transaction<'static, kttipay_db::Postgres>;

async fn move_to(conn: &mut PgConnection, ktti: KttiId, from: KttiStatus, to: KttiStatus) -> Result<(), ApiError> {
    if !ktties::transition(conn, ktti, from, to).await? {
        return Err(ApiError::internal(format!("ktti did not move {from} -> {to}")));
    }
    // Every member hears of the steps that change what they can do.
    let step = match (from, to) {
        (_, KttiStatus::Closing) if from == KttiStatus::Active => Some(ClosureStep::Started),
        (KttiStatus::Closing, KttiStatus::Active) => Some(ClosureStep::Cancelled),
        (_, KttiStatus::Closed) => Some(ClosureStep::Closed),
        _ => None,
    };
    if let Some(step) = step {
        let name = ktties::name_of(&mut *conn, ktti).await?;
        let everyone: Vec<_> = kttipay_db::notifications::active_members(&mut *conn, ktti, None)
            .await?
            .into_iter()
            .map(|u| (u, None))
            .collect();
        let n = kttipay_domain::notification::closure_step(&name, step).in_ktti(ktti.0);
        kttipay_db::notifications::notify(conn, &everyone, &n).await?;
    }
    Ok(())
}

/// Commits and answers with the ktti as the caller now sees it.
async fn answer(mut tx: Transaction, user: UserId, ktti: KttiId) -> Result<StatusChanged, ApiError> {
    let view = read(&mut tx, user, ktti).await?;
    tx.commit().await?;
    Ok(StatusChanged::Accepted(Json(view)))
}

async fn read(conn: &mut PgConnection, user: UserId, ktti: KttiId) -> Result<KttiView, ApiError> {
    ktties::find_for_member(&mut *conn, user, ktti)
        .await?
        .map(Into::into)
        .ok_or_else(|| ApiError::internal("the ktti just changed is not visible"))
}
