//! Receipts and their line items (migration `..._receipts.sql`).

use chrono::{DateTime, NaiveDate, Utc};
use kttipay_domain::Money;
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::receipt::ParsedReceipt;
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct ReceiptRow {
    pub transaction_id: Uuid,
    pub ktti_id: Uuid,
    pub status: String,
    pub generation: i32,
    pub object_key: String,
    pub content_type: String,
    pub size_bytes: i32,
    pub uploaded_by: Uuid,
    pub merchant: Option<String>,
    pub receipt_date: Option<NaiveDate>,
    pub subtotal: Option<Decimal>,
    pub tax: Option<Decimal>,
    pub total: Option<Decimal>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow)]
pub struct LineItemRow {
    pub id: Uuid,
    pub position: i32,
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Option<Decimal>,
    pub amount: Decimal,
    pub user_ids: Vec<Uuid>,
}

macro_rules! receipt_select {
    () => {
        "SELECT transaction_id, ktti_id, status, generation, object_key, content_type, size_bytes, uploaded_by, \
                merchant, receipt_date, subtotal, tax, total, failure_reason, created_at, updated_at FROM receipts "
    };
}

pub async fn find<'e>(db: impl PgExecutor<'e>, transaction: Uuid) -> Result<Option<ReceiptRow>, sqlx::Error> {
    sqlx::query_as(concat!(receipt_select!(), "WHERE transaction_id = $1"))
        .bind(transaction)
        .fetch_optional(db)
        .await
}

/// The receipt, locked for a change in the caller's transaction.
pub async fn lock(conn: &mut PgConnection, transaction: Uuid) -> Result<Option<ReceiptRow>, sqlx::Error> {
    sqlx::query_as(concat!(receipt_select!(), "WHERE transaction_id = $1 FOR UPDATE"))
        .bind(transaction)
        .fetch_optional(conn)
        .await
}

pub async fn line_items<'e>(db: impl PgExecutor<'e>, transaction: Uuid) -> Result<Vec<LineItemRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, position, description, quantity, unit_price, amount, user_ids FROM receipt_line_items \
         WHERE transaction_id = $1 ORDER BY position",
    )
    .bind(transaction)
    .fetch_all(db)
    .await
}

/// A new upload for a transaction, replacing any earlier one (its line items go).
pub struct NewReceipt<'a> {
    pub transaction: Uuid,
    pub ktti: KttiId,
    pub object_key: &'a str,
    pub content_type: &'a str,
    pub size_bytes: i32,
    pub uploaded_by: UserId,
}

/// Stores the upload as `uploaded`; returns its generation and the object key of
/// the upload it replaced, if any (to be deleted once this commits).
pub async fn upload(conn: &mut PgConnection, r: &NewReceipt<'_>) -> Result<(i32, Option<String>), sqlx::Error> {
    let previous: Option<String> =
        sqlx::query_scalar("SELECT object_key FROM receipts WHERE transaction_id = $1 FOR UPDATE")
            .bind(r.transaction)
            .fetch_optional(&mut *conn)
            .await?;
    sqlx::query("DELETE FROM receipt_line_items WHERE transaction_id = $1")
        .bind(r.transaction)
        .execute(&mut *conn)
        .await?;
    let generation: i32 = sqlx::query_scalar(
        "INSERT INTO receipts (transaction_id, ktti_id, status, object_key, content_type, size_bytes, uploaded_by) \
         VALUES ($1, $2, 'uploaded', $3, $4, $5, $6) \
         ON CONFLICT (transaction_id) DO UPDATE SET status = 'uploaded', generation = receipts.generation + 1, \
             object_key = EXCLUDED.object_key, content_type = EXCLUDED.content_type, size_bytes = EXCLUDED.size_bytes, \
             uploaded_by = EXCLUDED.uploaded_by, merchant = NULL, receipt_date = NULL, subtotal = NULL, tax = NULL, \
             total = NULL, failure_reason = NULL, ocr_text = NULL, updated_at = now() \
         RETURNING generation",
    )
    .bind(r.transaction)
    .bind(r.ktti.0)
    .bind(r.object_key)
    .bind(r.content_type)
    .bind(r.size_bytes)
    .bind(r.uploaded_by.0)
    .fetch_one(&mut *conn)
    .await?;
    Ok((generation, previous))
}

/// The OCR job starts on `generation`. False when that upload is gone or already
/// read (a replaced receipt, a replayed job).
pub async fn start_reading<'e>(
    db: impl PgExecutor<'e>,
    transaction: Uuid,
    generation: i32,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE receipts SET status = 'processing', updated_at = now() \
         WHERE transaction_id = $1 AND generation = $2 AND status IN ('uploaded', 'processing')",
    )
    .bind(transaction)
    .bind(generation)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores what OCR read from `generation` and its line items; `processed`. False
/// when the upload was replaced or deleted meanwhile (nothing is written).
pub async fn save_read(
    conn: &mut PgConnection,
    transaction: Uuid,
    generation: i32,
    parsed: &ParsedReceipt,
    text: &str,
) -> Result<bool, sqlx::Error> {
    let money = |m: Option<Money>| m.map(|m| m.as_decimal());
    let done = sqlx::query(
        "UPDATE receipts SET status = 'processed', merchant = $3, receipt_date = $4, subtotal = $5, tax = $6, \
             total = $7, ocr_text = $8, failure_reason = NULL, updated_at = now() \
         WHERE transaction_id = $1 AND generation = $2 AND status = 'processing'",
    )
    .bind(transaction)
    .bind(generation)
    .bind(parsed.merchant.as_deref())
    .bind(parsed.date)
    .bind(money(parsed.subtotal))
    .bind(money(parsed.tax))
    .bind(money(parsed.total))
    .bind(text)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM receipt_line_items WHERE transaction_id = $1")
        .bind(transaction)
        .execute(&mut *conn)
        .await?;
    for (i, item) in parsed.items.iter().enumerate() {
        sqlx::query(
            "INSERT INTO receipt_line_items (id, transaction_id, position, description, quantity, unit_price, amount) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(Uuid::now_v7())
        .bind(transaction)
        .bind(i as i32 + 1)
        .bind(&item.description)
        .bind(item.quantity)
        .bind(money(item.unit_price))
        .bind(item.amount.as_decimal())
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

/// Reading `generation` failed for good; the reason is kept and the receipt
/// stays editable by hand.
pub async fn fail<'e>(
    db: impl PgExecutor<'e>,
    transaction: Uuid,
    generation: i32,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE receipts SET status = 'failed', failure_reason = $3, updated_at = now() \
         WHERE transaction_id = $1 AND generation = $2 AND status = 'processing'",
    )
    .bind(transaction)
    .bind(generation)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes the receipt and its line items; the object key of its file.
pub async fn delete(conn: &mut PgConnection, transaction: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("DELETE FROM receipts WHERE transaction_id = $1 RETURNING object_key")
        .bind(transaction)
        .fetch_optional(conn)
        .await
}

/// A change to one line item (`None` leaves a field alone).
#[derive(Debug, Default)]
pub struct ItemChanges<'a> {
    pub description: Option<&'a str>,
    pub quantity: Option<Decimal>,
    pub unit_price: Option<Decimal>,
    pub amount: Option<Decimal>,
}

/// Changes a line item of the transaction's receipt; `None` when the transaction's
/// receipt has no such item.
pub async fn update_item(
    conn: &mut PgConnection,
    transaction: Uuid,
    item: Uuid,
    c: &ItemChanges<'_>,
) -> Result<Option<LineItemRow>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE receipt_line_items SET description = coalesce($3, description), quantity = coalesce($4, quantity), \
             unit_price = coalesce($5, unit_price), amount = coalesce($6, amount) \
         WHERE transaction_id = $1 AND id = $2 \
         RETURNING id, position, description, quantity, unit_price, amount, user_ids",
    )
    .bind(transaction)
    .bind(item)
    .bind(c.description)
    .bind(c.quantity)
    .bind(c.unit_price)
    .bind(c.amount)
    .fetch_optional(conn)
    .await
}

/// Assigns each of the receipt's items to members (items not listed to nobody).
pub async fn assign_items(
    conn: &mut PgConnection,
    transaction: Uuid,
    assigned: &[(Uuid, Vec<Uuid>)],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE receipt_line_items SET user_ids = '{}' WHERE transaction_id = $1")
        .bind(transaction)
        .execute(&mut *conn)
        .await?;
    for (item, users) in assigned {
        sqlx::query("UPDATE receipt_line_items SET user_ids = $3 WHERE transaction_id = $1 AND id = $2")
            .bind(transaction)
            .bind(item)
            .bind(users)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
