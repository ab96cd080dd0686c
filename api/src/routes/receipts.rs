//! Receipts: a member uploads a photo or PDF of one (multipart, field `file`),
//! it is checked by its content (never its declared type) and its header's size
//! (no decompression bombs), stored, and read by OCR in a `receipt.read.v1` job
//! written in the same transaction. Everything OCR read stays editable by hand.

use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::routes::Tag;
use crate::state::AppState;
use chrono::{DateTime, NaiveDate, Utc};
use kttipay_db::receipts::{self, ItemChanges, LineItemRow, NewReceipt, ReceiptRow};
use kttipay_db::transactions::{self as txns, TransactionRow};
use kttipay_db::{PgConnection, jobs, ktties, members, splits};
use kttipay_domain::ids::{KttiId, TransactionId, UserId};
use kttipay_domain::lifecycle::{SplitMode, TransactionKind, TransactionStatus};
use kttipay_domain::membership as rules;
use kttipay_domain::receipt::{self, DESCRIPTION_MAX_CHARS, RECEIPT_MAX_BYTES, ReceiptFormat};
use kttipay_domain::{FieldError, Money, Validation};
use kttipay_jobs::kinds::{DeleteStoredObject, ReadReceipt};
use poem::web::Data;
use poem::{Request, RequestBody};
use poem_openapi::param::Path;
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{ApiResponse, Object, OpenApi, impl_apirequest_for_payload};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Room for the multipart framing around the file itself.
const MULTIPART_OVERHEAD_BYTES: usize = 64 * 1024;

/// A receipt file from a `multipart/form-data` body (field `file`), read up to
/// [`RECEIPT_MAX_BYTES`] and no further: a bigger body is 413 before it is buffered.
pub struct ReceiptFile(pub Vec<u8>);

impl Payload for ReceiptFile {
    const CONTENT_TYPE: &'static str = "multipart/form-data";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .is_some_and(|e| e.trim().eq_ignore_ascii_case("multipart/form-data"))
    }

    fn schema_ref() -> MetaSchemaRef {
        let file = MetaSchema {
            description: Some("A JPEG, PNG or PDF of the receipt, at most 10 MiB."),
            ..MetaSchema::new_with_format("string", "binary")
        };
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            required: vec!["file"],
            properties: vec![("file", MetaSchemaRef::Inline(Box::new(file)))],
            ..MetaSchema::new("object")
        }))
    }

    fn register(_registry: &mut Registry) {}
}

impl ParsePayload for ReceiptFile {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let limit = RECEIPT_MAX_BYTES + MULTIPART_OVERHEAD_BYTES;
        let raw = body.take()?.into_bytes_limit(limit).await.map_err(|e| match e {
            poem::error::ReadBodyError::PayloadTooLarge => ApiError::new(
                poem::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("A receipt may be at most {RECEIPT_MAX_BYTES} bytes."),
            ),
            other => ApiError::bad_request(format!("The body could not be read: {other}")),
        })?;
        let boundary = request
            .content_type()
            .and_then(|ct| multer::parse_boundary(ct).ok())
            .ok_or_else(|| ApiError::bad_request("The body must be multipart/form-data with a boundary."))?;
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(raw) });
        let mut form = multer::Multipart::new(stream, boundary);
        // A form whose parts cannot be read holds no file we can take: 422 on
        // `file`, like an empty or unknown one.
        let unreadable = |e: multer::Error| {
            ApiError::invalid(vec![FieldError::new(
                "file",
                format!("the multipart form could not be read: {e}"),
            )])
        };
        while let Some(field) = form.next_field().await.map_err(unreadable)? {
            if field.name() == Some("file") {
                let bytes = field.bytes().await.map_err(unreadable)?;
                return Ok(ReceiptFile(bytes.to_vec()));
            }
        }
        Err(ApiError::invalid(vec![FieldError::new("file", "is required")]).into())
    }
}

impl_apirequest_for_payload!(ReceiptFile);

/// A receipt already uploaded through `POST /api/v2/uploads/signed-url` (kind
/// `receipt`), by its key.
#[derive(Debug, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct ReceiptByKey {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub image_key: String,
}

/// The receipt: the file itself, or the key of one uploaded to a signed URL.
#[derive(poem_openapi::ApiRequest)]
pub enum ReceiptUpload {
    Multipart(ReceiptFile),
    Json(JsonBody<ReceiptByKey>),
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct LineItemView {
    pub id: Uuid,
    pub description: String,
    /// A decimal, e.g. `"2"` or `"0.5"`.
    pub quantity: String,
    #[oai(nullable)]
    pub unit_price: Option<crate::amount::Amount>,
    /// Negative for a discount.
    pub amount: crate::amount::Amount,
    /// Members the item is assigned to (a `lineItems` split).
    pub user_ids: Vec<Uuid>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ReceiptView {
    pub transaction_id: Uuid,
    /// `uploaded`, then `processing` while OCR reads it, then `processed` or
    /// `failed` (with `failureReason`).
    pub status: String,
    #[oai(nullable)]
    pub merchant: Option<String>,
    #[oai(nullable)]
    pub date: Option<NaiveDate>,
    #[oai(nullable)]
    pub subtotal: Option<crate::amount::Amount>,
    #[oai(nullable)]
    pub tax: Option<crate::amount::Amount>,
    #[oai(nullable)]
    pub total: Option<crate::amount::Amount>,
    pub line_items: Vec<LineItemView>,
    #[oai(nullable)]
    pub failure_reason: Option<String>,
    /// As sniffed from the file: `image/jpeg`, `image/png` or `application/pdf`.
    pub content_type: String,
    pub size_bytes: i32,
    pub uploaded_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct LineItemPatch {
    #[oai(nullable, validator(min_length = 1, max_length = 200))]
    pub description: Option<String>,
    /// More than 0, at most 10000, at most three decimals.
    #[oai(nullable, validator(max_length = 12))]
    pub quantity: Option<String>,
    #[oai(nullable)]
    pub unit_price: Option<crate::amount::Amount>,
    #[oai(nullable)]
    pub amount: Option<crate::amount::Amount>,
}

#[derive(ApiResponse)]
pub enum Accepted {
    /// Stored; OCR reads it next.
    #[oai(status = 202)]
    Accepted(Json<ReceiptView>),
}

#[derive(ApiResponse)]
pub enum Deleted {
    #[oai(status = 204)]
    NoContent,
}

/// Most a quantity may be.
pub const QUANTITY_MAX: u32 = 10_000;

fn money(d: Decimal) -> crate::amount::Amount {
    Money::new(d).expect("NUMERIC(18,2) fits Money").into()
}

fn item_view(i: LineItemRow) -> LineItemView {
    LineItemView {
        id: i.id,
        description: i.description,
        quantity: i.quantity.normalize().to_string(),
        unit_price: i.unit_price.map(money),
        amount: money(i.amount),
        user_ids: i.user_ids,
    }
}

fn view(r: ReceiptRow, items: Vec<LineItemRow>) -> ReceiptView {
    ReceiptView {
        transaction_id: r.transaction_id,
        status: r.status,
        merchant: r.merchant,
        date: r.receipt_date,
        subtotal: r.subtotal.map(money),
        tax: r.tax.map(money),
        total: r.total.map(money),
        line_items: items.into_iter().map(item_view).collect(),
        failure_reason: r.failure_reason,
        content_type: r.content_type,
        size_bytes: r.size_bytes,
        uploaded_by: r.uploaded_by,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn no_transaction() -> ApiError {
    ApiError::not_found("transaction_not_found", "No such transaction.")
}

fn no_receipt() -> ApiError {
    ApiError::not_found("receipt_not_found", "This transaction has no receipt.")
}

/// The transaction, if the caller is a member, with its ktti open for changes.
async fn writable(conn: &mut PgConnection, user: UserId, id: Uuid) -> Result<TransactionRow, ApiError> {
    let t = txns::find_for_member(&mut *conn, user, id)
        .await?
        .ok_or_else(no_transaction)?;
    let status = ktties::share_status(conn, KttiId(t.ktti_id)).await?;
    rules::must_be_writable(status).map_err(ApiError::not_now)?;
    Ok(t)
}

/// Money that left or came back through a purchase may have a receipt.
fn takes_receipt(t: &TransactionRow) -> Result<(), ApiError> {
    match t.kind {
        TransactionKind::Deposit | TransactionKind::Payout => Err(ApiError::invalid(vec![FieldError::new(
            "transactionId",
            format!("is a {}: only purchases, refunds and fees have receipts", t.kind),
        )])),
        _ if matches!(t.status, TransactionStatus::Declined | TransactionStatus::Reversed) => Err(ApiError::conflict(
            "not_paid",
            format!("This payment was {}: nothing was paid.", t.status),
        )),
        _ => Ok(()),
    }
}

/// A `lineItems` split whose items changed or went follows the change: re-split
/// from the items as they now are, or back to the default when they are gone.
async fn follow_items(conn: &mut PgConnection, t: &TransactionRow, actor: UserId) -> Result<(), ApiError> {
    let Some(split) = splits::lock(conn, t.id).await? else {
        return Ok(());
    };
    if split.mode != SplitMode::LineItems {
        return Ok(());
    }
    // The items are the split here: changing them moves money between members,
    // so it takes the right to change the split (a member only one they are in).
    let me = members::lock(conn, KttiId(t.ktti_id), actor)
        .await?
        .ok_or_else(no_transaction)?;
    let in_it = splits::shares(&mut *conn, t.id)
        .await?
        .iter()
        .any(|s| s.user_id == actor.0);
    rules::may_change_split(me.role, in_it).map_err(ApiError::denied)?;
    let amount = Money::new(t.amount).map_err(ApiError::internal)?;
    let items = receipts::line_items(&mut *conn, t.id).await?;
    let ktti = KttiId(t.ktti_id);
    if let Some(shares) = crate::routes::splits::line_item_shares(conn, ktti, t.id, amount, &items).await? {
        let new = splits::NewSplit {
            transaction: t.id,
            ktti,
            mode: SplitMode::LineItems,
            origin: kttipay_domain::lifecycle::SplitOrigin::Manual,
            actor: Some(actor),
            shares: &shares,
        };
        splits::write(conn, &new).await?;
    } else {
        splits::split_by_default_for(conn, ktti, t.id, amount, Some(actor)).await?;
    }
    Ok(())
}

pub struct ReceiptsApi;

#[OpenApi(tag = "Tag::Transactions")]
impl ReceiptsApi {
    /// Upload a receipt image or PDF
    ///
    /// Multipart, the file in field `file`: a JPEG, PNG or PDF (known by its
    /// content, not its declared type), at most 10 MiB, an image at most 40
    /// megapixels. Or JSON `{imageKey}`: a `receipt` the caller uploaded to a
    /// signed URL (once: a file is one receipt's). Any member. OCR reads it in
    /// a job (202): merchant, date, totals and line items. A new upload
    /// replaces the old one and its items.
    #[oai(
        path = "/api/v2/transactions/:transactionId/receipt",
        method = "post",
        operation_id = "uploadReceipt"
    )]
    async fn upload(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "transactionId")] id: Path<Uuid>,
        body: ReceiptUpload,
    ) -> Result<Accepted, ApiError> {
        let user = auth.0.user_id;
        {
            let mut conn = state.pool.acquire().await?;
            let t = writable(&mut conn, user, id.0).await?;
            takes_receipt(&t)?;
        }
        let (key, format, size, upload) = match body {
            ReceiptUpload::Multipart(file) => {
                let (format, size) = check_file(&file.0)?;
                let key = format!("receipts/{}/{}.{}", id.0, Uuid::now_v7(), format.extension());
                state.storage.put(&key, file.0).await.map_err(|e| {
                    tracing::error!(error = %e, "storing a receipt failed");
                    ApiError::new(
                        poem::http::StatusCode::SERVICE_UNAVAILABLE,
                        "storage_unavailable",
                        "The receipt could not be stored; try again shortly.",
                    )
                })?;
                (key, format, size, None)
            }
            ReceiptUpload::Json(b) => {
                let u = crate::routes::uploads::usable_key(
                    &state,
                    user,
                    b.0.image_key.trim(),
                    kttipay_domain::upload::UploadKind::Receipt,
                    "imageKey",
                )
                .await?;
                let format = ReceiptFormat::from_content_type(&u.content_type)
                    .ok_or_else(|| ApiError::internal("an upload of a receipt with another content type"))?;
                (u.object_key, format, u.size_bytes.unwrap_or(1), Some(u.id))
            }
        };
        let stored = async {
            let mut tx = state.pool.begin().await?;
            let t = writable(&mut tx, user, id.0).await?;
            if let Some(u) = upload
                && !kttipay_db::uploads::consume(&mut tx, u).await?
            {
                return Err(ApiError::invalid(vec![FieldError::new(
                    "imageKey",
                    "is already another receipt's: upload it again",
                )]));
            }
            let new = NewReceipt {
                transaction: t.id,
                ktti: KttiId(t.ktti_id),
                object_key: &key,
                content_type: format.content_type(),
                size_bytes: size,
                uploaded_by: user,
            };
            let (generation, previous) = receipts::upload(&mut tx, &new).await?;
            follow_items(&mut tx, &t, user).await?;
            jobs::enqueue(
                &mut tx,
                &ReadReceipt {
                    transaction_id: TransactionId(t.id),
                    generation,
                },
            )
            .await?;
            if let Some(old) = previous {
                jobs::enqueue(&mut tx, &DeleteStoredObject { key: old }).await?;
            }
            let r = receipts::find(&mut *tx, t.id).await?.ok_or_else(no_receipt)?;
            tx.commit().await?;
            Ok::<_, ApiError>(view(r, Vec::new()))
        }
        .await;
        if stored.is_err() && upload.is_none() {
            // Nothing refers to the file: it goes now rather than lingering.
            let _ = state.storage.delete(&key).await;
        }
        Ok(Accepted::Accepted(Json(stored?)))
    }

    /// Receipt details
    ///
    /// Status, merchant, date, totals and line items (each with the members it
    /// is assigned to). 404 `receipt_not_found` before one is uploaded.
    #[oai(
        path = "/api/v2/transactions/:transactionId/receipt",
        method = "get",
        operation_id = "getReceipt"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "transactionId")] id: Path<Uuid>,
    ) -> Result<Json<ReceiptView>, ApiError> {
        let t = txns::find_for_member(&state.pool, auth.0.user_id, id.0)
            .await?
            .ok_or_else(no_transaction)?;
        let r = receipts::find(&state.pool, t.id).await?.ok_or_else(no_receipt)?;
        let items = receipts::line_items(&state.pool, t.id).await?;
        Ok(Json(view(r, items)))
    }

    /// Update a line item
    ///
    /// Any member: `description`, `quantity`, `unitPrice`, `amount` (negative
    /// for a discount). A `lineItems` split is worked out again from the items.
    #[oai(
        path = "/api/v2/transactions/:transactionId/receipt/line-items/:lineItemId",
        method = "patch",
        operation_id = "updateReceiptLineItem"
    )]
    async fn patch_item(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "transactionId")] id: Path<Uuid>,
        #[oai(name = "lineItemId")] item: Path<Uuid>,
        body: JsonBody<LineItemPatch>,
    ) -> Result<Json<ReceiptView>, ApiError> {
        let b = body.0;
        let mut v = Validation::new();
        let description = b.description.as_deref().and_then(|d| {
            v.check(
                "description",
                kttipay_domain::membership::description(d).and_then(|d| {
                    if d.is_empty() || d.chars().count() > DESCRIPTION_MAX_CHARS {
                        Err(format!("1 to {DESCRIPTION_MAX_CHARS} characters"))
                    } else {
                        Ok(d)
                    }
                }),
            )
        });
        let quantity = b.quantity.as_deref().and_then(|q| v.check("quantity", quantity(q)));
        v.finish().map_err(ApiError::invalid)?;
        let mut tx = state.pool.begin().await?;
        let t = writable(&mut tx, auth.0.user_id, id.0).await?;
        receipts::lock(&mut tx, t.id).await?.ok_or_else(no_receipt)?;
        let changes = ItemChanges {
            description: description.as_deref(),
            quantity,
            unit_price: b.unit_price.map(|m| m.0.as_decimal()),
            amount: b.amount.map(|m| m.0.as_decimal()),
        };
        receipts::update_item(&mut tx, t.id, item.0, &changes)
            .await?
            .ok_or_else(|| ApiError::not_found("line_item_not_found", "No such line item on this receipt."))?;
        follow_items(&mut tx, &t, auth.0.user_id).await?;
        let r = receipts::find(&mut *tx, t.id).await?.ok_or_else(no_receipt)?;
        let items = receipts::line_items(&mut *tx, t.id).await?;
        tx.commit().await?;
        Ok(Json(view(r, items)))
    }

    /// Delete the receipt
    ///
    /// Its uploader, the owner or an admin. The line items go with it, a
    /// `lineItems` split goes back to the default proportions, and the stored
    /// file is deleted once this commits. 204.
    #[oai(
        path = "/api/v2/transactions/:transactionId/receipt",
        method = "delete",
        operation_id = "deleteReceipt"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "transactionId")] id: Path<Uuid>,
    ) -> Result<Deleted, ApiError> {
        let user = auth.0.user_id;
        let mut tx = state.pool.begin().await?;
        let t = writable(&mut tx, user, id.0).await?;
        let r = receipts::lock(&mut tx, t.id).await?.ok_or_else(no_receipt)?;
        let me = members::lock(&mut tx, KttiId(t.ktti_id), user)
            .await?
            .ok_or_else(no_transaction)?;
        rules::may_delete_receipt(me.role, r.uploaded_by == user.0).map_err(ApiError::denied)?;
        if let Some(key) = receipts::delete(&mut tx, t.id).await? {
            jobs::enqueue(&mut tx, &DeleteStoredObject { key }).await?;
        }
        follow_items(&mut tx, &t, user).await?;
        tx.commit().await?;
        Ok(Deleted::NoContent)
    }
}

/// What an uploaded receipt file is, and its size, or 422 on `file`: empty, not
/// a JPEG, PNG or PDF by its content, or an image whose header claims too many
/// pixels.
fn check_file(bytes: &[u8]) -> Result<(ReceiptFormat, i32), ApiError> {
    let field = |why: String| ApiError::invalid(vec![FieldError::new("file", why)]);
    if bytes.is_empty() {
        return Err(field("is empty".into()));
    }
    let format = receipt::sniff(bytes)
        .ok_or_else(|| field("must be a JPEG, PNG or PDF (judged by its content, not its name or type)".into()))?;
    if format != ReceiptFormat::Pdf {
        let (w, h) = receipt::dimensions(bytes, format)
            .ok_or_else(|| field("is not a readable image: its header is damaged".into()))?;
        receipt::check_dimensions(w, h).map_err(field)?;
    }
    Ok((format, i32::try_from(bytes.len()).map_err(ApiError::internal)?))
}

/// A line item's quantity as sent: a plain decimal above 0, at most
/// [`QUANTITY_MAX`], at most three decimals.
fn quantity(raw: &str) -> Result<Decimal, String> {
    let q: Decimal = kttipay_domain::split::parse_value(raw)?;
    if q <= Decimal::ZERO || q > Decimal::from(QUANTITY_MAX) || q.normalize().scale() > 3 {
        return Err(format!(
            "more than 0 and at most {QUANTITY_MAX}, at most three decimals"
        ));
    }
    Ok(q)
}
