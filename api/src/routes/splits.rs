//! Who bears which part of a transaction: reading and changing splits (DOMAIN.md
//! roles: owners and admins any, a member only expenses they are in), the ktti's
//! default proportions, and each member's totals. Splits themselves are made by
//! the money flow as transactions are booked; here people look at them and
//! change them, and every change is recorded.

use crate::amount::Amount;
use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::json::{JsonBody, SerdeJson};
use crate::routes::Tag;
use crate::routes::ktti_input::proportion;
use crate::routes::ktties::visible;
use crate::state::AppState;
use crate::states;
use chrono::{DateTime, Utc};
use kttipay_db::splits::{self, ChangeRow, NewSplit, ShareRow, SplitRow};
use kttipay_db::transactions::{self as txns, TransactionRow};
use kttipay_db::{PgConnection, ktties, members};
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::lifecycle::{SplitMode, SplitOrigin, TransactionKind, TransactionStatus};
use kttipay_domain::membership as rules;
use kttipay_domain::split::{self, Asked, Rotation};
use kttipay_domain::{FieldError, Money, Validation};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One member's part of a split.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct ShareView {
    pub user_id: Uuid,
    /// What they were given: a weight (`shares`), a percentage, an amount
    /// (`exact`, refunds), their items' total (`lineItems`); absent for `equal`.
    #[oai(nullable)]
    pub value: Option<String>,
    pub amount: Amount,
}

/// A split as it was at one moment (in its history).
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct SplitSnapshot {
    pub mode: states::SplitMode,
    pub shares: Vec<ShareView>,
}

/// One change of a split.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SplitChangeView {
    /// Who changed it; absent when the money flow made it.
    #[oai(nullable)]
    pub changed_by: Option<Uuid>,
    pub origin: states::SplitOrigin,
    pub changed_at: DateTime<Utc>,
    /// Absent for the first split.
    #[oai(nullable)]
    pub before: Option<SplitSnapshot>,
    pub after: SplitSnapshot,
}

/// A transaction's split. Deposits have none (their `assigneeId` says whose they
/// are), nor do card payments until they settle.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SplitView {
    pub transaction_id: Uuid,
    pub ktti_id: Uuid,
    #[oai(rename = "type")]
    pub kind: states::TransactionKind,
    pub status: states::TransactionStatus,
    pub amount: Amount,
    pub direction: states::Direction,
    #[oai(nullable)]
    pub mode: Option<states::SplitMode>,
    #[oai(nullable)]
    pub origin: Option<states::SplitOrigin>,
    /// Send it back with a change: a change made meanwhile answers 409.
    #[oai(nullable)]
    pub version: Option<i32>,
    pub shares: Vec<ShareView>,
    /// Deposits: the member who paid it in.
    #[oai(nullable)]
    pub assignee_id: Option<Uuid>,
    /// Refunds: the card payment they give money back for.
    #[oai(nullable)]
    pub refund_of: Option<Uuid>,
    #[oai(nullable)]
    pub updated_at: Option<DateTime<Utc>>,
    /// The newest 20 changes, oldest of them first (`version` counts them all).
    pub history: Vec<SplitChangeView>,
}

/// One member in a split change.
#[derive(Debug, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct ShareInput {
    pub user_id: Uuid,
    /// `"1"` (a weight), `"50"` (percent) or `"10.00"` (an amount); absent for
    /// `equal`.
    #[oai(nullable, validator(max_length = 20))]
    pub value: Option<String>,
}

#[derive(Debug, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct SplitUpdate {
    pub mode: states::SplitMode,
    #[oai(validator(max_items = 1000))]
    pub shares: Vec<ShareInput>,
    /// The version read; when given and no longer current, 409 and nothing changes.
    #[oai(nullable, validator(minimum(value = "1")))]
    pub version: Option<i32>,
}

/// A member's weight in the default split.
#[derive(Debug, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct ProportionView {
    pub user_id: Uuid,
    /// The weight, e.g. `"1"` or `"2.5"`.
    pub value: String,
    /// The same as a share of 100, to two decimals (these sum to exactly 100).
    pub percent: String,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SplitProportions {
    pub ktti_id: Uuid,
    pub proportions: Vec<ProportionView>,
}

#[derive(Debug, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct ProportionInput {
    pub user_id: Uuid,
    /// More than 0 and at most 10000, at most two decimals.
    #[oai(validator(max_length = 20))]
    pub value: String,
}

#[derive(Debug, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct ProportionsUpdate {
    /// Members not listed keep their weight.
    #[oai(validator(min_items = 1, max_items = 1000))]
    pub proportions: Vec<ProportionInput>,
}

#[derive(Debug, Object, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct MemberTotal {
    pub user_id: Uuid,
    pub role: states::Role,
    /// Members who left or were removed keep their row.
    pub status: states::MembershipStatus,
    /// Deposits assigned to them.
    pub deposited: Amount,
    /// Their shares of expenses and fees, net of refunds.
    pub spent: Amount,
    /// Payouts to them.
    pub paid_out: Amount,
    /// `deposited - spent - paidOut`.
    pub net: Amount,
}

/// Per-member totals. Always `sum(net) + unassigned == totalBalance`.
#[derive(Debug, Object, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct MemberTotals {
    pub ktti_id: Uuid,
    pub members: Vec<MemberTotal>,
    /// Posted deposits no member is assigned yet.
    pub unassigned: Amount,
    pub total_balance: Amount,
    pub available_balance: Amount,
}

/// A stored amount; `NUMERIC(18,2)` always fits [`Money`].
fn amount_of(d: rust_decimal::Decimal) -> Amount {
    Money::new(d).expect("NUMERIC(18,2) fits Money").into()
}

/// Changes a split view carries, the newest; `version` counts them all.
pub const HISTORY_IN_VIEW: i64 = 20;

fn not_found() -> ApiError {
    ApiError::not_found("transaction_not_found", "No such transaction.")
}

fn share_views(rows: Vec<ShareRow>) -> Vec<ShareView> {
    rows.into_iter()
        .map(|r| ShareView {
            user_id: r.user_id,
            value: r.value.map(|v| v.normalize().to_string()),
            amount: amount_of(r.amount),
        })
        .collect()
}

fn change_view(c: ChangeRow) -> SplitChangeView {
    let snapshot = |v: serde_json::Value| serde_json::from_value::<SplitSnapshot>(v).ok();
    SplitChangeView {
        changed_by: c.actor_id,
        origin: c.origin.into(),
        changed_at: c.created_at,
        before: c.before.and_then(snapshot),
        after: snapshot(c.after).unwrap_or(SplitSnapshot {
            mode: states::SplitMode::Equal,
            shares: Vec::new(),
        }),
    }
}

/// The split view of a transaction the caller may see.
async fn view(conn: &mut PgConnection, t: TransactionRow) -> Result<SplitView, ApiError> {
    let split: Option<SplitRow> = splits::find(&mut *conn, t.id).await?;
    let (shares, history) = match &split {
        Some(_) => (
            share_views(splits::shares(&mut *conn, t.id).await?),
            splits::history(&mut *conn, t.id, HISTORY_IN_VIEW)
                .await?
                .into_iter()
                .map(change_view)
                .collect(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let refund_of = txns::refund_of(&mut *conn, t.id).await?;
    Ok(SplitView {
        transaction_id: t.id,
        ktti_id: t.ktti_id,
        kind: t.kind.into(),
        status: t.status.into(),
        amount: amount_of(t.amount),
        direction: t.direction.into(),
        mode: split.as_ref().map(|s| s.mode.into()),
        origin: split.as_ref().map(|s| s.origin.into()),
        version: split.as_ref().map(|s| s.version),
        shares,
        assignee_id: t.assignee_id,
        refund_of,
        updated_at: split.as_ref().map(|s| s.updated_at),
        history,
    })
}

/// A transaction's split as it stands, for the transaction's additional info.
pub async fn summary(pool: &kttipay_db::PgPool, id: Uuid) -> Result<Option<SplitSnapshot>, ApiError> {
    let Some(split) = splits::find(pool, id).await? else {
        return Ok(None);
    };
    Ok(Some(SplitSnapshot {
        mode: split.mode.into(),
        shares: share_views(splits::shares(pool, id).await?),
    }))
}

async fn get_split(state: &AppState, user: UserId, id: Uuid) -> Result<SplitView, ApiError> {
    let mut conn = state.pool.acquire().await?;
    let t = txns::find_for_member(&mut *conn, user, id)
        .await?
        .ok_or_else(not_found)?;
    view(&mut conn, t).await
}

/// Whether the transaction's split may change at all, whoever asks.
fn splittable(t: &TransactionRow) -> Result<(), ApiError> {
    match t.kind {
        TransactionKind::Deposit => Err(ApiError::invalid(vec![FieldError::new(
            "transactionId",
            "is a deposit: deposits have no split; assign it to the member who paid it in",
        )])),
        TransactionKind::Payout => Err(ApiError::invalid(vec![FieldError::new(
            "transactionId",
            "is a payout: it is paid to one member and cannot be split",
        )])),
        _ if t.status != TransactionStatus::Posted => Err(ApiError::conflict(
            "not_settled",
            "This payment has not settled; its split is made when it does.",
        )),
        _ => Ok(()),
    }
}

/// Changes transaction `id`'s split as `actor` asked (the shares already
/// computed by `compute` from the ktti's active members), under the split's lock.
pub async fn change_split<F>(
    state: &AppState,
    actor: UserId,
    id: Uuid,
    version: Option<i32>,
    compute: F,
) -> Result<SplitView, ApiError>
where
    F: FnOnce(Money, &[UserId], Rotation) -> Result<(SplitMode, Vec<split::Share>), Vec<FieldError>>,
{
    change_split_then(state, actor, id, version, compute, |_| Box::pin(async { Ok(()) })).await
}

/// As [`change_split`], then `after` (a `lineItems` split's item assignments) in
/// the same transaction.
async fn change_split_then<F, A>(
    state: &AppState,
    actor: UserId,
    id: Uuid,
    version: Option<i32>,
    compute: F,
    after: A,
) -> Result<SplitView, ApiError>
where
    F: FnOnce(Money, &[UserId], Rotation) -> Result<(SplitMode, Vec<split::Share>), Vec<FieldError>>,
    A: for<'c> FnOnce(&'c mut PgConnection) -> futures::future::BoxFuture<'c, Result<(), sqlx::Error>>,
{
    let mut tx = state.pool.begin().await?;
    let t = txns::find_for_member(&mut *tx, actor, id)
        .await?
        .ok_or_else(not_found)?;
    let ktti = KttiId(t.ktti_id);
    let status = ktties::share_status(&mut tx, ktti).await?;
    rules::must_allow_money_edits(status).map_err(ApiError::not_now)?;
    splittable(&t)?;
    let current = splits::lock(&mut tx, id).await?;
    let me = members::lock(&mut tx, ktti, actor).await?.ok_or_else(not_found)?;
    let before = splits::shares(&mut *tx, id).await?;
    let in_it = before.iter().any(|s| s.user_id == actor.0);
    rules::may_change_split(me.role, in_it).map_err(ApiError::denied)?;
    if let (Some(asked), Some(cur)) = (version, &current)
        && asked != cur.version
    {
        return Err(ApiError::conflict(
            "split_changed",
            format!(
                "The split changed since version {asked} (it is at version {}); read it again.",
                cur.version
            ),
        ));
    }
    let eligible: Vec<UserId> = splits::default_weights(&mut *tx, ktti)
        .await?
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    let amount = Money::new(t.amount).map_err(ApiError::internal)?;
    let (mode, shares) = compute(amount, &eligible, Rotation::of(id)).map_err(ApiError::invalid)?;
    let new = NewSplit {
        transaction: id,
        ktti,
        mode,
        origin: SplitOrigin::Manual,
        actor: Some(actor),
        shares: &shares,
    };
    splits::write(&mut tx, &new).await?;
    after(&mut tx).await?;
    tell_changed_shares(&mut tx, ktti, &t, actor, &before).await?;
    let v = view(&mut tx, t).await?;
    tx.commit().await?;
    Ok(v)
}

/// Members whose share of `t` changed (other than whoever changed it) hear of
/// it, with their new share; a member dropped from the split hears of 0.00.
async fn tell_changed_shares(
    conn: &mut PgConnection,
    ktti: KttiId,
    t: &TransactionRow,
    actor: UserId,
    before: &[splits::ShareRow],
) -> Result<(), ApiError> {
    let after = splits::shares(&mut *conn, t.id).await?;
    let old = |u: Uuid| before.iter().find(|s| s.user_id == u).map(|s| s.amount);
    let mut changed: Vec<(UserId, rust_decimal::Decimal)> = after
        .iter()
        .filter(|s| old(s.user_id) != Some(s.amount))
        .map(|s| (UserId(s.user_id), s.amount))
        .collect();
    changed.extend(
        before
            .iter()
            .filter(|b| !after.iter().any(|a| a.user_id == b.user_id) && !b.amount.is_zero())
            .map(|b| (UserId(b.user_id), rust_decimal::Decimal::ZERO)),
    );
    changed.retain(|(u, _)| *u != actor);
    if changed.is_empty() {
        return Ok(());
    }
    let name = ktties::name_of(&mut *conn, ktti).await?;
    let what = t
        .merchant_name
        .clone()
        .or_else(|| t.description.clone())
        .unwrap_or_else(|| "an expense".into());
    for (share, recipients) in kttipay_db::notifications::group_by_share(changed.into_iter()) {
        let n = kttipay_domain::notification::split_changed(&name, &what, share)
            .in_ktti(ktti.0)
            .about_transaction(t.id);
        kttipay_db::notifications::notify(conn, &recipients, &n).await?;
    }
    Ok(())
}

/// The values of a v2 split request, parsed; every bad one named.
fn asked(shares: &[ShareInput]) -> Result<Vec<Asked>, Vec<FieldError>> {
    let mut v = Validation::new();
    let asked: Vec<Option<Asked>> = shares
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let value = match &s.value {
                Some(raw) => Some(v.check(&format!("shares[{i}].value"), split::parse_value(raw))?),
                None => None,
            };
            Some(Asked {
                user: UserId(s.user_id),
                value,
            })
        })
        .collect();
    v.finish()?;
    Ok(asked.into_iter().flatten().collect())
}

/// Percentages of 100 for the weights, to the cent, summing to exactly 100.
fn percents(weights: &[(UserId, rust_decimal::Decimal)]) -> Vec<String> {
    let hundred = Money::from_cents(10_000);
    let shares = split::by_weights(hundred, weights, Rotation(0)).unwrap_or_default();
    weights
        .iter()
        .map(|(u, _)| {
            shares
                .iter()
                .find(|s| s.user == *u)
                .map_or_else(|| "0.00".into(), |s| s.amount.to_string())
        })
        .collect()
}

async fn proportions_of(conn: &mut PgConnection, ktti: KttiId) -> Result<SplitProportions, ApiError> {
    let weights = splits::default_weights(&mut *conn, ktti).await?;
    let percents = percents(&weights);
    Ok(SplitProportions {
        ktti_id: ktti.0,
        proportions: weights
            .iter()
            .zip(percents)
            .map(|((u, w), percent)| ProportionView {
                user_id: u.0,
                value: w.normalize().to_string(),
                percent,
            })
            .collect(),
    })
}

/// A `lineItems` split from the receipt's items as assigned now (members no
/// longer active drop out of their items). `None` when no item is assigned to an
/// active member, or the assigned items add up to nothing.
pub async fn line_item_shares(
    conn: &mut PgConnection,
    ktti: KttiId,
    transaction: Uuid,
    amount: Money,
    items: &[kttipay_db::receipts::LineItemRow],
) -> Result<Option<Vec<split::Share>>, ApiError> {
    let eligible: Vec<UserId> = splits::default_weights(&mut *conn, ktti)
        .await?
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    let items: Vec<split::LineItem> = items
        .iter()
        .map(|i| split::LineItem {
            amount: Money::new(i.amount).unwrap_or(Money::ZERO),
            users: i
                .user_ids
                .iter()
                .copied()
                .map(UserId)
                .filter(|u| eligible.contains(u))
                .collect(),
        })
        .collect();
    Ok(split::split_line_items(amount, &items, &eligible, Rotation::of(transaction)).ok())
}

/// One receipt line item and the members it is for.
#[derive(Debug, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct LineItemAssignment {
    pub line_item_id: Uuid,
    #[oai(validator(max_items = 20))]
    pub user_ids: Vec<Uuid>,
}

/// Most line items one v3 change assigns (a receipt keeps at most 200).
pub const ASSIGNED_ITEMS_MAX: usize = 200;
/// Most members one line item is for. With [`ASSIGNED_ITEMS_MAX`], the largest
/// valid body stays well inside the JSON body limit.
pub const ITEM_MEMBERS_MAX: usize = 20;

#[derive(Debug, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct SplitUpdateV3 {
    pub mode: states::SplitMode,
    /// For every mode but `lineItems`.
    #[oai(nullable, validator(max_items = 1000))]
    pub shares: Option<Vec<ShareInput>>,
    /// For `lineItems`: who each of the receipt's items is for. Items not listed
    /// are for nobody; their cost is shared like tax, in proportion.
    #[oai(nullable, validator(max_items = 200))]
    pub line_items: Option<Vec<LineItemAssignment>>,
    #[oai(nullable, validator(minimum(value = "1")))]
    pub version: Option<i32>,
}

pub struct SplitsApi;

#[OpenApi(tag = "Tag::Transactions")]
impl SplitsApi {
    /// Split details of a transaction
    ///
    /// Who bears which part, the split's version and its history. Deposits and
    /// unsettled card payments have no split (`mode` absent).
    #[oai(
        path = "/api/v2/transactions/:transactionId/split",
        method = "get",
        operation_id = "getSplit"
    )]
    async fn get_v2(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "transactionId")] id: Path<Uuid>,
    ) -> Result<Json<SplitView>, ApiError> {
        Ok(Json(get_split(&state, auth.0.user_id, id.0).await?))
    }

    /// Split details of any transaction (expenses, refunds, fees and deposits)
    ///
    /// As v2; deposits show their `assigneeId`.
    #[oai(
        path = "/api/v3/transactions/:transactionId/split",
        method = "get",
        operation_id = "getSplitV3"
    )]
    async fn get_v3(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "transactionId")] id: Path<Uuid>,
    ) -> Result<Json<SplitView>, ApiError> {
        Ok(Json(get_split(&state, auth.0.user_id, id.0).await?))
    }

    /// Update the split of an expense, refund or fee
    ///
    /// Modes `equal` (no values), `shares` (weights), `percentages` (summing to
    /// 100) and `exact` (amounts summing to the transaction's), over any active
    /// members. Owners and admins change any split; a member only one they are
    /// in (403 `role_forbidden`). Send the `version` you read: if the split
    /// changed meanwhile, 409 `split_changed` and nothing changes. A deposit or
    /// a payout: 422 naming `transactionId`. An unsettled payment: 409.
    #[oai(
        path = "/api/v2/transactions/:transactionId/split",
        method = "put",
        operation_id = "updateSplit"
    )]
    async fn put_v2(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "transactionId")] id: Path<Uuid>,
        body: JsonBody<SplitUpdate>,
    ) -> Result<Json<SplitView>, ApiError> {
        let b = body.0;
        let mode: SplitMode = b.mode.into();
        let shares = b.shares;
        let view = change_split(
            &state,
            auth.0.user_id,
            id.0,
            b.version,
            move |amount, eligible, rotation| {
                let asked = asked(&shares)?;
                let split = split::split(amount, mode, &asked, eligible, rotation)?;
                Ok((mode, split))
            },
        )
        .await?;
        Ok(Json(view))
    }

    /// Update a split (v3): as v2, plus `lineItems`
    ///
    /// `{mode: "lineItems", lineItems: [{lineItemId, userIds}]}` assigns the
    /// receipt's items to members: each item is shared equally by its members,
    /// and the difference between the items and the amount paid (tax,
    /// surcharge, rounding) in proportion. A line item of another receipt is 422
    /// naming `lineItems[i].lineItemId`.
    #[oai(
        path = "/api/v3/transactions/:transactionId/split",
        method = "put",
        operation_id = "updateSplitV3"
    )]
    async fn put_v3(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "transactionId")] id: Path<Uuid>,
        body: JsonBody<SplitUpdateV3>,
    ) -> Result<Json<SplitView>, ApiError> {
        let b = body.0;
        let mode: SplitMode = b.mode.into();
        if mode != SplitMode::LineItems {
            let shares = b
                .shares
                .ok_or_else(|| ApiError::invalid(vec![FieldError::new("shares", "is required")]))?;
            let view = change_split(
                &state,
                auth.0.user_id,
                id.0,
                b.version,
                move |amount, eligible, rotation| {
                    let asked = asked(&shares)?;
                    Ok((mode, split::split(amount, mode, &asked, eligible, rotation)?))
                },
            )
            .await?;
            return Ok(Json(view));
        }
        let assigned = b
            .line_items
            .ok_or_else(|| ApiError::invalid(vec![FieldError::new("lineItems", "is required")]))?;
        // An outsider learns nothing from the items' validation: 404 first.
        txns::find_for_member(&state.pool, auth.0.user_id, id.0)
            .await?
            .ok_or_else(not_found)?;
        let items = kttipay_db::receipts::line_items(&state.pool, id.0).await?;
        let mut v = Validation::new();
        if assigned.len() > ASSIGNED_ITEMS_MAX {
            v.check::<()>("lineItems", Err(format!("at most {ASSIGNED_ITEMS_MAX} items")));
        }
        let mut seen: Vec<Uuid> = Vec::new();
        for (i, a) in assigned.iter().enumerate() {
            if a.user_ids.len() > ITEM_MEMBERS_MAX {
                v.check::<()>(
                    &format!("lineItems[{i}].userIds"),
                    Err(format!("at most {ITEM_MEMBERS_MAX} members")),
                );
            }
            let field = format!("lineItems[{i}].lineItemId");
            if !items.iter().any(|it| it.id == a.line_item_id) {
                v.check::<()>(&field, Err("is not a line item of this transaction's receipt".into()));
            } else if seen.contains(&a.line_item_id) {
                v.check::<()>(&field, Err("appears twice".into()));
            }
            seen.push(a.line_item_id);
        }
        v.finish().map_err(ApiError::invalid)?;
        // In the request's order, so errors name the request's own indices.
        let requested: Vec<split::LineItem> = assigned
            .iter()
            .map(|a| {
                let amount = items
                    .iter()
                    .find(|i| i.id == a.line_item_id)
                    .and_then(|i| Money::new(i.amount).ok())
                    .unwrap_or(Money::ZERO);
                split::LineItem {
                    amount,
                    users: a.user_ids.iter().copied().map(UserId).collect(),
                }
            })
            .collect();
        // Items nobody was named for still count, for nobody: their cost is shared.
        let unlisted = items.iter().filter(|i| !seen.contains(&i.id)).map(|i| split::LineItem {
            amount: Money::new(i.amount).unwrap_or(Money::ZERO),
            users: Vec::new(),
        });
        let all: Vec<split::LineItem> = requested.into_iter().chain(unlisted).collect();
        let wanted: Vec<(Uuid, Vec<Uuid>)> = assigned.iter().map(|a| (a.line_item_id, a.user_ids.clone())).collect();
        let transaction = id.0;
        let view = change_split_then(
            &state,
            auth.0.user_id,
            id.0,
            b.version,
            move |amount, eligible, rotation| Ok((mode, split::split_line_items(amount, &all, eligible, rotation)?)),
            move |conn| Box::pin(async move { kttipay_db::receipts::assign_items(conn, transaction, &wanted).await }),
        )
        .await?;
        Ok(Json(view))
    }

    /// The ktti's default split proportions
    ///
    /// Every active member's weight; card spends, fees and bank transfers out
    /// are split by these as they are booked.
    #[oai(
        path = "/api/v2/ktties/:kttiId/split-proportions",
        method = "get",
        operation_id = "getSplitProportions"
    )]
    async fn get_proportions(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
    ) -> Result<Json<SplitProportions>, ApiError> {
        let k = visible(&state, auth.0.user_id, id.0).await?;
        let mut conn = state.pool.acquire().await?;
        Ok(Json(proportions_of(&mut conn, KttiId(k.id)).await?))
    }

    /// Update the default split proportions
    ///
    /// Owner or admin. Members not listed keep their weight; a new member starts
    /// at the average weight; those who leave drop out and the rest share in
    /// proportion. Applies to transactions booked from now on.
    #[oai(
        path = "/api/v2/ktties/:kttiId/split-proportions",
        method = "put",
        operation_id = "updateSplitProportions"
    )]
    async fn put_proportions(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        body: JsonBody<ProportionsUpdate>,
    ) -> Result<Json<SplitProportions>, ApiError> {
        let k = visible(&state, auth.0.user_id, id.0).await?;
        let ktti = KttiId(k.id);
        rules::may_edit_proportions(k.caller_role()).map_err(ApiError::denied)?;
        let mut tx = state.pool.begin().await?;
        let status = ktties::share_status(&mut tx, ktti).await?;
        rules::must_allow_money_edits(status).map_err(ApiError::not_now)?;
        let active: Vec<UserId> = splits::default_weights(&mut *tx, ktti)
            .await?
            .into_iter()
            .map(|(u, _)| u)
            .collect();
        let mut v = Validation::new();
        if body.0.proportions.is_empty() {
            v.check::<()>("proportions", Err("name at least one member".into()));
        }
        if body.0.proportions.len() > split::MEMBERS_MAX {
            v.check::<()>("proportions", Err(format!("at most {} members", split::MEMBERS_MAX)));
        }
        let mut seen: Vec<Uuid> = Vec::new();
        let mut changes = Vec::new();
        for (i, p) in body.0.proportions.iter().enumerate() {
            let value = v.check(&format!("proportions[{i}].value"), proportion(&p.value));
            let who = if seen.contains(&p.user_id) {
                Err("appears twice".to_string())
            } else if !active.contains(&UserId(p.user_id)) {
                Err("is not an active member of this ktti".to_string())
            } else {
                Ok(UserId(p.user_id))
            };
            seen.push(p.user_id);
            if let (Some(who), Some(value)) = (v.check(&format!("proportions[{i}].userId"), who), value) {
                changes.push((who, value));
            }
        }
        v.finish().map_err(ApiError::invalid)?;
        for (who, value) in changes {
            members::set_split_proportion(&mut tx, ktti, who, value).await?;
        }
        let out = proportions_of(&mut tx, ktti).await?;
        tx.commit().await?;
        Ok(Json(out))
    }

    /// Each member's totals
    ///
    /// Per member (former members included): `deposited`, `spent` (shares of
    /// expenses and fees net of refunds), `paidOut` and `net`; plus the ktti's
    /// unassigned deposits and balances. `sum(net) + unassigned == totalBalance`.
    #[oai(
        path = "/api/v2/ktties/:kttiId/member-totals",
        method = "get",
        operation_id = "getMemberTotals"
    )]
    async fn member_totals(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
    ) -> Result<SerdeJson<MemberTotals>, ApiError> {
        let ktti = KttiId(id.0);
        // Membership is checked inside the one statement that reads the totals.
        let snap = splits::totals_snapshot(&state.pool, ktti, auth.0.user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("ktti_not_found", "No such ktti."))?;
        let total = snap
            .available
            .checked_add(snap.reserved)
            .ok_or_else(|| ApiError::internal("balance overflow"))?;
        // A hundred members of five amounts each: written by serde directly.
        Ok(SerdeJson(MemberTotals {
            ktti_id: ktti.0,
            members: snap
                .members
                .into_iter()
                .map(|r| MemberTotal {
                    user_id: r.user_id,
                    role: r.role.into(),
                    status: r.status.into(),
                    deposited: r.deposited.into(),
                    spent: r.spent.into(),
                    paid_out: r.paid_out.into(),
                    net: r.net().into(),
                })
                .collect(),
            unassigned: snap.unassigned.into(),
            total_balance: total.into(),
            available_balance: snap.available.into(),
        }))
    }
}
