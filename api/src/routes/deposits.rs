//! Deposits nobody could be matched to, and assigning a deposit to the member
//! who paid it in. Assigning remembers the sender account, so that member's next
//! transfer from it is theirs without asking.

use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::routes::Tag;
use crate::routes::ktties::visible;
use crate::routes::transactions::{TransactionCursorPage, TransactionPage, TransactionView, page_params, v2, v3};
use crate::state::AppState;
use kttipay_db::assignments::{self, NewAssignment};
use kttipay_db::transactions::{self as txns, TxFilter};
use kttipay_db::{PgConnection, actions, members};
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::lifecycle::{MembershipStatus, TransactionKind};
use kttipay_domain::membership as rules;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Assignee {
    pub assignee_id: Uuid,
}

/// Assigns deposit `id` to `assignee` on behalf of `actor` (whose role in the
/// deposit's ktti is checked here, DOMAIN.md's roles table), records the change,
/// remembers the sender account where the rules allow it and closes the
/// deposit's action item. 404 when the actor is not a member of its ktti.
pub async fn assign(conn: &mut PgConnection, actor: UserId, id: Uuid, assignee: UserId) -> Result<(), ApiError> {
    let not_found = || ApiError::not_found("transaction_not_found", "No such transaction.");
    let txn = txns::lock_deposit(conn, id).await?.ok_or_else(not_found)?;
    let ktti = KttiId(txn.ktti_id);
    let me = members::lock(conn, ktti, actor)
        .await?
        .filter(|m| m.status == MembershipStatus::Active)
        .ok_or_else(not_found)?;
    let status = kttipay_db::ktties::share_status(conn, ktti).await?;
    rules::must_allow_money_edits(status).map_err(ApiError::not_now)?;
    if txn.kind != TransactionKind::Deposit {
        return Err(ApiError::conflict("not_a_deposit", "Only deposits have an assignee."));
    }
    let role = me.role;
    rules::may_assign_deposit(role, assignee == actor, txn.assignee_id.is_some()).map_err(ApiError::denied)?;
    let is_member = members::lock(conn, ktti, assignee)
        .await?
        .is_some_and(|m| m.status == MembershipStatus::Active);
    if !is_member {
        return Err(ApiError::invalid_field(
            "validation_failed",
            "assigneeId",
            "must be an active member of the ktti",
        ));
    }
    let current = txn.assignee_id.map(UserId);
    if current != Some(assignee) {
        txns::set_assignee(conn, id, assignee).await?;
        let reason = if role.manages() { "assign" } else { "claim" };
        let change = NewAssignment {
            transaction: id,
            actor: Some(actor),
            from: current,
            to: assignee,
            reason,
        };
        assignments::record(conn, &change).await?;
    }
    if let (Some(bsb), Some(account)) = (txn.counterparty_bsb, txn.counterparty_account) {
        let remembered = members::sender_remembered_for(conn, ktti, &bsb, &account).await?;
        if rules::remembers_sender(role, remembered, assignee) {
            members::remember_sender(conn, ktti, &bsb, &account, assignee).await?;
        }
    }
    actions::resolve_deposit(conn, id, actor).await?;
    Ok(())
}

pub struct DepositsApi;

#[OpenApi(tag = "Tag::Transactions")]
impl DepositsApi {
    /// Deposits not yet attributed to a member
    #[oai(
        path = "/api/v2/ktties/:kttiId/unassigned-deposits",
        method = "get",
        operation_id = "listUnassignedDeposits"
    )]
    async fn unassigned_v2(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u32>>,
        #[oai(name = "pageSize", validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<
            Option<u32>,
        >,
    ) -> Result<Json<TransactionPage>, ApiError> {
        let k = visible(&state, auth.0.user_id, id.0).await?;
        let (page, size) = page_params(page.0, page_size.0)?;
        v2(&state, auth.0.user_id, unassigned(k.id), page, size).await
    }

    /// Deposits not yet attributed to a member (cursor)
    #[oai(
        path = "/api/v3/ktties/:kttiId/unassigned-deposits",
        method = "get",
        operation_id = "listUnassignedDepositsV3"
    )]
    async fn unassigned_v3(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> Result<crate::json::SerdeJson<TransactionCursorPage>, ApiError> {
        let k = visible(&state, auth.0.user_id, id.0).await?;
        v3(&state, auth.0.user_id, unassigned(k.id), cursor.0, limit.0).await
    }

    /// Assign a deposit to the member who paid it in
    ///
    /// Owners and admins assign or reassign any deposit. A member claims only a
    /// deposit nobody has yet, and only for themselves (403 `role_forbidden`
    /// otherwise). The sender account is remembered for next time, except that a
    /// member's claim never takes an account remembered for someone else. Every
    /// change is recorded and listed in the transaction's additional info.
    #[oai(
        path = "/api/v2/transactions/:transactionId/assignee",
        method = "put",
        operation_id = "assignDeposit"
    )]
    async fn assignee(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "transactionId")] id: Path<Uuid>,
        body: JsonBody<Assignee>,
    ) -> Result<Json<TransactionView>, ApiError> {
        let mut tx = state.pool.begin().await?;
        assign(&mut tx, auth.0.user_id, id.0, UserId(body.0.assignee_id)).await?;
        let row = txns::find_for_member(&mut *tx, auth.0.user_id, id.0)
            .await?
            .ok_or_else(|| ApiError::internal("assigned deposit not visible"))?;
        tx.commit().await?;
        Ok(Json(row.into()))
    }
}

fn unassigned(ktti: Uuid) -> TxFilter {
    TxFilter {
        ktti: Some(KttiId(ktti)),
        unassigned: true,
        ..Default::default()
    }
}
