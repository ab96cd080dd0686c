//! Closing a ktti: starting and cancelling a closure. Cards follow the ktti's
//! status through the card-rights job (`SyncKttiCards`), written to the outbox in
//! the transaction that changes the status, so a freeze is never lost and a later
//! cancel always wins over an earlier freeze.

use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::routes::Tag;
use crate::routes::ktties::{KttiView, visible};
use crate::state::AppState;
use kttipay_db::{PgConnection, jobs, ktties};
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::lifecycle::KttiStatus;
use kttipay_domain::membership::{self as rules, NotNow};
use kttipay_jobs::kinds::SyncKttiCards;
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
        change_status(
            &state,
            auth.0.user_id,
            id.0,
            rules::must_be_active_to_close,
            KttiStatus::Active,
            KttiStatus::Closing,
        )
        .await
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
        change_status(
            &state,
            auth.0.user_id,
            id.0,
            rules::must_be_cancellable,
            KttiStatus::Closing,
            KttiStatus::Active,
        )
        .await
    }
}

/// Moves the ktti `from` -> `to` when `allowed` says its current status may, under
/// the ktti's row lock (so two requests cannot both pass the check), and has its
/// cards reconciled.
async fn change_status(
    state: &AppState,
    user: UserId,
    id: Uuid,
    allowed: fn(KttiStatus) -> Result<(), NotNow>,
    from: KttiStatus,
    to: KttiStatus,
) -> Result<StatusChanged, ApiError> {
    let k = visible(state, user, id).await?;
    rules::may_close(k.caller_role()).map_err(ApiError::denied)?;
    let ktti = KttiId(k.id);
    let mut tx = state.pool.begin().await?;
    let (status, _) = ktties::lock_status(&mut tx, ktti).await?;
    allowed(status).map_err(ApiError::not_now)?;
    if !ktties::transition(&mut tx, ktti, from, to).await? {
        return Err(ApiError::internal(format!("{status} ktti did not move {from} -> {to}")));
    }
    jobs::enqueue(&mut tx, &SyncKttiCards { ktti_id: ktti }).await?;
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
