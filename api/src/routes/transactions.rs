//! Transactions: per ktti and across the caller's ktties; v2 pages by number, v3 by
//! an opaque cursor that stays stable while new transactions arrive.

use crate::amount::Amount;
use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::json::SerdeJson;
use crate::routes::Tag;
use crate::routes::ktties::{PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX};
use crate::state::AppState;
use crate::states;
use chrono::{DateTime, Utc};
use kttipay_db::transactions::{self as txns, TransactionRow, TxFilter};
use kttipay_domain::Money;
use kttipay_domain::ids::{KttiId, UserId};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::Serialize;
use uuid::Uuid;

// Written by poem-openapi (`Json`) on most routes and by serde (`SerdeJson`) on
// the cursor pages; `serde_tests::serde_writes_what_poem_writes` keeps the two
// equal. (A `//` comment: a doc comment would become the schema's description.)
#[derive(Debug, Object, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct TransactionView {
    pub id: Uuid,
    pub ktti_id: Uuid,
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: states::TransactionKind,
    pub status: states::TransactionStatus,
    /// Always positive; see `direction`.
    pub amount: Amount,
    pub direction: states::Direction,
    #[oai(nullable)]
    pub description: Option<String>,
    #[oai(nullable)]
    pub merchant_name: Option<String>,
    #[oai(nullable)]
    pub counterparty_name: Option<String>,
    #[oai(nullable)]
    pub reference: Option<String>,
    /// Deposits: the member who paid it in.
    #[oai(nullable)]
    pub assignee_id: Option<Uuid>,
    /// The provider's id of the posted movement; for a card payment not yet
    /// posted (pending, declined, reversed), its authorisation's id.
    #[oai(nullable)]
    pub provider_transaction_id: Option<String>,
    /// Card payments: the provider's id of the authorisation (hold), which links
    /// the pending, settled and reversed states of one payment.
    #[oai(nullable)]
    pub provider_hold_id: Option<String>,
    #[oai(nullable)]
    pub decline_reason: Option<String>,
    #[serde(serialize_with = "crate::json::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    #[serde(serialize_with = "crate::json::rfc3339_opt")]
    pub posted_at: Option<DateTime<Utc>>,
}

impl From<TransactionRow> for TransactionView {
    fn from(t: TransactionRow) -> Self {
        TransactionView {
            id: t.id,
            ktti_id: t.ktti_id,
            kind: t.kind.into(),
            status: t.status.into(),
            amount: Money::new(t.amount).expect("NUMERIC(18,2) fits Money").into(),
            direction: t.direction.into(),
            description: t.description,
            merchant_name: t.merchant_name,
            counterparty_name: t.counterparty_name,
            reference: t.reference,
            assignee_id: t.assignee_id,
            provider_transaction_id: t.provider_transaction_id.or_else(|| t.provider_hold_id.clone()),
            provider_hold_id: t.provider_hold_id,
            decline_reason: t.decline_reason,
            created_at: t.created_at,
            posted_at: t.posted_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct TransactionPage {
    pub items: Vec<TransactionView>,
    pub page: u32,
    pub page_size: u32,
    pub total: i64,
}

#[derive(Debug, Object, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct TransactionCursorPage {
    pub items: Vec<TransactionView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// The query parameters every transaction list takes.
struct Filters {
    kind: Option<states::TransactionKind>,
    status: Option<states::TransactionStatus>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    member: Option<Uuid>,
}

impl Filters {
    fn into_filter(self, ktti: Option<KttiId>) -> Result<TxFilter, ApiError> {
        // `from` after `to` is a window with nothing in it: an empty page.
        Ok(TxFilter {
            ktti,
            kind: self.kind.map(Into::into),
            status: self.status.map(Into::into),
            from: self.from,
            to: self.to,
            member: self.member.map(UserId),
            unassigned: false,
        })
    }
}

pub(crate) fn page_params(page: Option<u32>, size: Option<u32>) -> Result<(u32, u32), ApiError> {
    let (page, size) = (page.unwrap_or(1), size.unwrap_or(PAGE_SIZE_DEFAULT));
    if page == 0 {
        return Err(ApiError::invalid_field("invalid_page", "page", "must be 1 or more"));
    }
    if !(1..=PAGE_SIZE_MAX).contains(&size) {
        return Err(ApiError::invalid_field(
            "invalid_page_size",
            "pageSize",
            "must be 1 to 100",
        ));
    }
    Ok((page, size))
}

pub(crate) async fn v2(
    state: &AppState,
    user: UserId,
    filter: TxFilter,
    page: u32,
    size: u32,
) -> Result<Json<TransactionPage>, ApiError> {
    let (rows, total) = txns::page(
        &state.pool,
        user,
        &filter,
        i64::from(size),
        i64::from(page - 1) * i64::from(size),
    )
    .await?;
    Ok(Json(TransactionPage {
        items: rows.into_iter().map(Into::into).collect(),
        page,
        page_size: size,
        total,
    }))
}

pub(crate) async fn v3(
    state: &AppState,
    user: UserId,
    filter: TxFilter,
    cursor: Option<String>,
    limit: Option<u32>,
) -> Result<SerdeJson<TransactionCursorPage>, ApiError> {
    let checked = crate::cursor::limit(limit).and_then(|l| Ok((l, crate::cursor::decode(cursor.as_deref())?)));
    let (limit, after) = match checked {
        Ok(ok) => ok,
        Err(bad) => {
            // A stranger learns nothing from their own bad input: 404 first.
            if let Some(ktti) = filter.ktti {
                member_ktti(state, user, ktti.0).await?;
            }
            return Err(bad);
        }
    };
    // One extra row tells whether another page exists.
    let mut rows = txns::page_after(&state.pool, user, &filter, after, i64::from(limit) + 1).await?;
    // One ktti's page is read with the membership test inside its query, so rows
    // prove the caller a member: only an empty page needs asking whether it is a
    // 404 (a stranger sees no page, not an empty one). A round trip saved on
    // every page that has rows.
    if rows.is_empty()
        && let Some(ktti) = filter.ktti
    {
        member_ktti(state, user, ktti.0).await?;
    }
    let next_cursor = crate::cursor::split_page(&mut rows, limit, |r| crate::cursor::encode(r.created_at, r.id));
    // Up to a hundred rows: written by serde straight into bytes.
    Ok(SerdeJson(TransactionCursorPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// 404 unless the caller is a member of the ktti.
/// The ktti, if the caller is an active member (a lighter check than reading the
/// whole ktti: list routes need only the yes or no).
async fn member_ktti(state: &AppState, user: UserId, id: Uuid) -> Result<KttiId, ApiError> {
    let ktti = KttiId(id);
    if kttipay_db::members::is_active(&state.pool, ktti, user).await? {
        Ok(ktti)
    } else {
        Err(ApiError::not_found("ktti_not_found", "No such ktti."))
    }
}

/// Limits on what members write about a transaction.
pub const NOTE_MAX_CHARS: usize = 1_000;
pub const CATEGORY_MAX_CHARS: usize = 50;
pub const TAGS_MAX: usize = 20;
pub const TAG_MAX_CHARS: usize = 30;

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct AdditionalInfo {
    pub transaction: TransactionView,
    #[oai(nullable)]
    pub note: Option<String>,
    #[oai(nullable)]
    pub category: Option<String>,
    pub tags: Vec<String>,
    /// `none` until a receipt is uploaded; then `uploaded`, `processing`,
    /// `processed` or `failed`.
    pub receipt_status: String,
    #[oai(nullable)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Deposits: every time it was given an assignee, oldest first.
    pub assignments: Vec<AssignmentView>,
    /// Who bears it (expenses, refunds, fees); the split route has its history.
    #[oai(nullable)]
    pub split: Option<crate::routes::splits::SplitSnapshot>,
}

/// One (re)assignment of a deposit.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct AssignmentView {
    /// Who assigned it; absent when the attribution rules did as it landed.
    #[oai(nullable)]
    pub actor_id: Option<Uuid>,
    /// The assignee before; absent for the first assignment.
    #[oai(nullable)]
    pub from_user_id: Option<Uuid>,
    pub to_user_id: Uuid,
    /// `personalKtti`, `rememberedAccount`, `depositReference`, `nameMatch` or
    /// `owner` (automatic); `claim` (a member for themselves) or `assign` (the
    /// owner or an admin).
    pub reason: String,
    pub at: DateTime<Utc>,
}

impl From<kttipay_db::assignments::Assignment> for AssignmentView {
    fn from(a: kttipay_db::assignments::Assignment) -> Self {
        AssignmentView {
            actor_id: a.actor_id,
            from_user_id: a.from_user_id,
            to_user_id: a.to_user_id,
            reason: a.reason,
            at: a.created_at,
        }
    }
}

#[derive(Debug, Object, serde::Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct AdditionalInfoPatch {
    #[oai(nullable)]
    #[oai(validator(max_length = 1000))]
    pub note: Option<String>,
    #[oai(nullable)]
    #[oai(validator(max_length = 50))]
    pub category: Option<String>,
    #[oai(nullable)]
    #[oai(validator(max_items = 20, min_length = 1, max_length = 30))]
    pub tags: Option<Vec<String>>,
}

async fn additional_info(state: &AppState, user: UserId, id: Uuid) -> Result<AdditionalInfo, ApiError> {
    let row = txns::find_for_member(&state.pool, user, id)
        .await?
        .ok_or_else(|| ApiError::not_found("transaction_not_found", "No such transaction."))?;
    let note = kttipay_db::notes::find(&state.pool, id).await?.unwrap_or_default();
    let assignments = kttipay_db::assignments::history(&state.pool, id).await?;
    let split = crate::routes::splits::summary(&state.pool, id).await?;
    let receipt = kttipay_db::receipts::find(&state.pool, id).await?;
    Ok(AdditionalInfo {
        transaction: row.into(),
        note: note.note,
        category: note.category,
        tags: note.tags,
        receipt_status: receipt.map_or_else(|| "none".into(), |r| r.status),
        updated_at: note.updated_at,
        assignments: assignments.into_iter().map(Into::into).collect(),
        split,
    })
}

pub struct TransactionsApi;

#[OpenApi(tag = "Tag::Transactions")]
impl TransactionsApi {
    /// Transactions of a ktti
    #[oai(
        path = "/api/v2/ktties/:kttiId/transactions",
        method = "get",
        operation_id = "listKttiTransactions"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn ktti_v2(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        #[oai(name = "type")] kind: Query<Option<states::TransactionKind>>,
        status: Query<Option<states::TransactionStatus>>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        #[oai(name = "memberId")] member: Query<Option<Uuid>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u32>>,
        #[oai(name = "pageSize", validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<
            Option<u32>,
        >,
    ) -> Result<Json<TransactionPage>, ApiError> {
        let ktti = member_ktti(&state, auth.0.user_id, id.0).await?;
        let (page, size) = page_params(page.0, page_size.0)?;
        let filter = Filters {
            kind: kind.0,
            status: status.0,
            from: from.0,
            to: to.0,
            member: member.0,
        }
        .into_filter(Some(ktti))?;
        v2(&state, auth.0.user_id, filter, page, size).await
    }

    /// Transactions of a ktti, cursor-paginated
    #[oai(
        path = "/api/v3/ktties/:kttiId/transactions",
        method = "get",
        operation_id = "listKttiTransactionsV3"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn ktti_v3(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        #[oai(name = "type")] kind: Query<Option<states::TransactionKind>>,
        status: Query<Option<states::TransactionStatus>>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        #[oai(name = "memberId")] member: Query<Option<Uuid>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> Result<SerdeJson<TransactionCursorPage>, ApiError> {
        // Membership is checked by `v3`, with the page.
        let filter = Filters {
            kind: kind.0,
            status: status.0,
            from: from.0,
            to: to.0,
            member: member.0,
        }
        .into_filter(Some(KttiId(id.0)))?;
        v3(&state, auth.0.user_id, filter, cursor.0, limit.0).await
    }

    /// Transactions of every ktti the caller belongs to
    #[oai(path = "/api/v2/transactions", method = "get", operation_id = "listTransactions")]
    #[allow(clippy::too_many_arguments)]
    async fn all_v2(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "type")] kind: Query<Option<states::TransactionKind>>,
        status: Query<Option<states::TransactionStatus>>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        #[oai(name = "memberId")] member: Query<Option<Uuid>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u32>>,
        #[oai(name = "pageSize", validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<
            Option<u32>,
        >,
    ) -> Result<Json<TransactionPage>, ApiError> {
        let (page, size) = page_params(page.0, page_size.0)?;
        let filter = Filters {
            kind: kind.0,
            status: status.0,
            from: from.0,
            to: to.0,
            member: member.0,
        }
        .into_filter(None)?;
        v2(&state, auth.0.user_id, filter, page, size).await
    }

    /// Transactions of every ktti the caller belongs to, cursor-paginated
    #[oai(path = "/api/v3/transactions", method = "get", operation_id = "listTransactionsV3")]
    #[allow(clippy::too_many_arguments)]
    async fn all_v3(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "type")] kind: Query<Option<states::TransactionKind>>,
        status: Query<Option<states::TransactionStatus>>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        #[oai(name = "memberId")] member: Query<Option<Uuid>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> Result<SerdeJson<TransactionCursorPage>, ApiError> {
        let filter = Filters {
            kind: kind.0,
            status: status.0,
            from: from.0,
            to: to.0,
            member: member.0,
        }
        .into_filter(None)?;
        v3(&state, auth.0.user_id, filter, cursor.0, limit.0).await
    }

    /// Transaction with additional info
    #[oai(
        path = "/api/v2/transactions/:transactionId/additional-info",
        method = "get",
        operation_id = "getTransactionInfo"
    )]
    async fn get_info(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "transactionId")] id: Path<Uuid>,
    ) -> Result<Json<AdditionalInfo>, ApiError> {
        Ok(Json(additional_info(&state, auth.0.user_id, id.0).await?))
    }

    /// Update a transaction's note, category and tags
    ///
    /// Any member of the ktti; absent fields stay as they are.
    #[oai(
        path = "/api/v2/transactions/:transactionId/additional-info",
        method = "put",
        operation_id = "updateTransactionInfo"
    )]
    async fn put_info(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "transactionId")] id: Path<Uuid>,
        body: crate::json::JsonBody<AdditionalInfoPatch>,
    ) -> Result<Json<AdditionalInfo>, ApiError> {
        let patch = body.0;
        let mut v = kttipay_domain::Validation::new();
        let bounded = |max: usize| {
            move |s: String| {
                let too_long = s.chars().count() > max;
                let s = s.trim().to_string();
                if too_long || s.chars().any(|c| c.is_control() && c != '\n') {
                    Err(format!("must be at most {max} printable characters"))
                } else {
                    Ok(s)
                }
            }
        };
        let note = v.check_opt("note", patch.note, bounded(NOTE_MAX_CHARS)).flatten();
        let category = v
            .check_opt("category", patch.category, bounded(CATEGORY_MAX_CHARS))
            .flatten();
        let tags = v
            .check_opt("tags", patch.tags, |tags: Vec<String>| {
                if tags.len() > TAGS_MAX {
                    return Err(format!("must be at most {TAGS_MAX} tags"));
                }
                let mut clean: Vec<String> = Vec::new();
                for raw in tags {
                    let t = raw.trim().to_lowercase();
                    if t.is_empty() || raw.chars().count() > TAG_MAX_CHARS || t.chars().any(char::is_control) {
                        return Err(format!("each tag must be 1 to {TAG_MAX_CHARS} printable characters"));
                    }
                    if !clean.contains(&t) {
                        clean.push(t);
                    }
                }
                Ok(clean)
            })
            .flatten();
        v.finish().map_err(ApiError::invalid)?;
        // Visible to the caller, or 404 before anything is written.
        additional_info(&state, auth.0.user_id, id.0).await?;
        let mut tx = state.pool.begin().await?;
        let ktti = kttipay_db::transactions::ktti_of(&mut *tx, id.0)
            .await?
            .ok_or_else(|| ApiError::internal("a visible transaction without its ktti"))?;
        let status = kttipay_db::ktties::share_status(&mut tx, ktti).await?;
        kttipay_domain::membership::must_be_writable(status).map_err(ApiError::not_now)?;
        kttipay_db::notes::upsert(
            &mut tx,
            id.0,
            auth.0.user_id,
            note.as_deref(),
            category.as_deref(),
            tags.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(Json(additional_info(&state, auth.0.user_id, id.0).await?))
    }

    /// Details of a transaction
    #[oai(
        path = "/api/v2/transactions/:transactionId",
        method = "get",
        operation_id = "getTransaction"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "transactionId")] id: Path<Uuid>,
    ) -> Result<Json<TransactionView>, ApiError> {
        let row = txns::find_for_member(&state.pool, auth.0.user_id, id.0).await?;
        row.map(|t| Json(t.into()))
            .ok_or_else(|| ApiError::not_found("transaction_not_found", "No such transaction."))
    }
}

#[cfg(test)]
mod serde_tests {
    use super::{TransactionCursorPage, TransactionView};
    use crate::states;
    use chrono::TimeZone;
    use kttipay_domain::Money;
    use poem_openapi::types::ToJSON;

    fn view(full: bool) -> TransactionView {
        let at =
            chrono::Utc.with_ymd_and_hms(2026, 12, 3, 19, 45, 27).unwrap() + chrono::Duration::microseconds(123_456);
        let text = |t: &str| full.then(|| t.to_string());
        TransactionView {
            id: uuid::Uuid::from_u128(1),
            ktti_id: uuid::Uuid::from_u128(2),
            kind: states::TransactionKind::CardPayment,
            status: states::TransactionStatus::Posted,
            amount: Money::from_cents(12_345).into(),
            direction: states::Direction::Out,
            description: text("Dinner \"quoted\" é"),
            merchant_name: text("Café"),
            counterparty_name: text("Someone"),
            reference: text("ref-1"),
            assignee_id: full.then(|| uuid::Uuid::from_u128(3)),
            provider_transaction_id: text("ptx"),
            provider_hold_id: text("hold"),
            decline_reason: text("none"),
            created_at: at,
            posted_at: full.then_some(at),
        }
    }

    /// The cursor pages are written by serde, every other transaction by
    /// poem-openapi: the same transaction must read the same either way
    /// (timestamps as `+00:00`, money as strings, absent values as `null`).
    #[test]
    fn serde_writes_what_poem_writes() {
        for full in [true, false] {
            let page = TransactionCursorPage {
                items: vec![view(full)],
                next_cursor: full.then(|| "abc".to_string()),
            };
            assert_eq!(
                serde_json::to_value(&page).unwrap(),
                page.to_json().unwrap(),
                "full: {full}"
            );
        }
    }
}
