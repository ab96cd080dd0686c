//! Accounts and cards.

use crate::error::{SandboxError, SbResult};
use chrono::{DateTime, Utc};
use kttipay_providers::shaype::types::*;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
pub struct AccountRow {
    pub id: Uuid,
    pub holder_id: Uuid,
    pub holder_type: String,
    pub product_id: String,
    pub bsb: String,
    pub account_number: String,
    pub status: String,
    pub balance: Decimal,
    pub held: Decimal,
    pub custom_data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

pub const ACCOUNT_COLUMNS: &str =
    "id, holder_id, holder_type, product_id, bsb, account_number, status, balance, held, custom_data, created_at";

impl AccountRow {
    pub fn to_wire(&self) -> HayAccount {
        HayAccount {
            account_hay_id: self.id.to_string(),
            account_holder_id: Some(self.holder_id.to_string()),
            account_holder_type: Some(if self.holder_type == "GROUP" {
                AccountHolderType::Group
            } else {
                AccountHolderType::Customer
            }),
            bsb: Some(self.bsb.clone()),
            account_number: Some(self.account_number.clone()),
            currency: Some("AUD".into()),
            status: serde_json::from_value(serde_json::Value::String(self.status.clone())).ok(),
            total_balance: Some(super::cents(self.balance)),
            available_balance: Some(super::cents(self.balance - self.held)),
            held_balance: Some(super::cents(self.held)),
            product_id: Some(self.product_id.clone()),
            custom_data: self.custom_data.as_object().cloned().unwrap_or_default(),
        }
    }
}

async fn find_account(pool: &PgPool, filter: &str, value: Uuid) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE {filter} = $1 ORDER BY created_at LIMIT 1"
    )))
    .bind(value)
    .fetch_optional(pool)
    .await
}

pub async fn account_row(pool: &PgPool, id: Uuid) -> SbResult<AccountRow> {
    find_account(pool, "id", id)
        .await?
        .ok_or_else(|| SandboxError::not_found("account"))
}

pub async fn account_of_holder(pool: &PgPool, holder: Uuid) -> SbResult<Option<HayAccount>> {
    Ok(find_account(pool, "holder_id", holder).await?.map(|a| a.to_wire()))
}

/// Opens an account for an active customer or an existing group.
pub async fn create_account(pool: &PgPool, body: &CreateAccount, bsb: &str) -> SbResult<HayAccount> {
    let holder: Uuid = body
        .account_holder_id
        .parse()
        .map_err(|_| SandboxError::invalid("accountHolderId is not an id"))?;
    let (holder_type, holder_ok) = match body.account_holder_type {
        AccountHolderType::Customer => {
            let status: Option<String> = sqlx::query_scalar("SELECT status FROM customers WHERE id = $1")
                .bind(holder)
                .fetch_optional(pool)
                .await?;
            ("CUSTOMER", status.as_deref() == Some("ACTIVE"))
        }
        AccountHolderType::Group => {
            let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM groups WHERE id = $1)")
                .bind(holder)
                .fetch_one(pool)
                .await?;
            ("GROUP", exists)
        }
    };
    if !holder_ok {
        return Err(SandboxError::invalid(
            "the account holder does not exist or is not active",
        ));
    }
    // Nine random digits; retried on the rare collision with an existing number.
    for _ in 0..5 {
        let number = format!("{:09}", rand::random::<u32>() % 1_000_000_000);
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, idempotency_key, holder_id, holder_type, product_id, bsb, account_number, custom_data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(Uuid::new_v4())
        .bind(&body.idempotency_key)
        .bind(holder)
        .bind(holder_type)
        .bind(&body.product_id)
        .bind(bsb)
        .bind(&number)
        .bind(serde_json::Value::Object(body.custom_data.clone()))
        .execute(pool)
        .await;
        match inserted {
            Ok(_) => {
                let row: AccountRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE idempotency_key = $1"
                )))
                .bind(&body.idempotency_key)
                .fetch_one(pool)
                .await?;
                return Ok(row.to_wire());
            }
            Err(sqlx::Error::Database(e)) if e.constraint() == Some("accounts_bsb_account_number_key") => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(SandboxError::new(
        poem::http::StatusCode::INTERNAL_SERVER_ERROR,
        "no free account number",
    ))
}

/// Closes an empty account; refuses one that still holds money.
pub async fn close_account(pool: &PgPool, id: Uuid) -> SbResult<(bool, CloseAccountResponse)> {
    let account = account_row(pool, id).await?;
    if account.balance != Decimal::ZERO || account.held != Decimal::ZERO {
        return Ok((
            false,
            CloseAccountResponse {
                result: Some("FAILURE".into()),
                description: Some("the account is not empty".into()),
            },
        ));
    }
    sqlx::query("UPDATE accounts SET status = 'CLOSED', closed_at = coalesce(closed_at, now()) WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok((
        true,
        CloseAccountResponse {
            result: Some("SUCCESS".into()),
            description: None,
        },
    ))
}

#[derive(sqlx::FromRow)]
pub struct CardRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub customer_id: Uuid,
    pub token: String,
    pub card_type: String,
    pub status: String,
    pub last_four: String,
    pub name_on_card: String,
}

pub const CARD_COLUMNS: &str = "id, account_id, customer_id, token, card_type, status, last_four, name_on_card";

impl CardRow {
    pub fn to_wire(&self) -> HayCard {
        HayCard {
            card_hay_id: self.id.to_string(),
            account_hay_id: Some(self.account_id.to_string()),
            customer_hay_id: Some(self.customer_id.to_string()),
            card_token: Some(self.token.clone()),
            card_type: Some(if self.card_type == "PHYSICAL" {
                CardType::Physical
            } else {
                CardType::Virtual
            }),
            card_status: serde_json::from_value(serde_json::Value::String(self.status.clone())).ok(),
            last_four_digits: Some(self.last_four.clone()),
            expiry_date: Some("12/30".into()),
            name_on_card: Some(self.name_on_card.clone()),
        }
    }
}

pub async fn create_card(pool: &PgPool, body: &CreateCard) -> SbResult<HayCard> {
    let account: Uuid = body
        .account_id
        .parse()
        .map_err(|_| SandboxError::invalid("accountId is not an id"))?;
    let customer: Uuid = body
        .customer_hay_id
        .parse()
        .map_err(|_| SandboxError::invalid("customerHayId is not an id"))?;
    account_row(pool, account).await?;
    let card_type = match body.card_type {
        CardType::Physical => "PHYSICAL",
        CardType::Virtual => "VIRTUAL",
    };
    let token = format!("tok_{}", Uuid::new_v4().simple());
    let last_four = format!("{:04}", rand::random::<u16>() % 10_000);
    sqlx::query(
        "INSERT INTO cards (id, idempotency_key, account_id, customer_id, token, card_type, last_four, name_on_card, \
                            delivery_address) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(Uuid::new_v4())
    .bind(&body.idempotency_key)
    .bind(account)
    .bind(customer)
    .bind(token)
    .bind(card_type)
    .bind(last_four)
    .bind(format!("{} {}", body.first_name, body.last_name))
    .bind(serde_json::to_value(&body.delivery_address).unwrap_or_default())
    .execute(pool)
    .await?;
    let row: CardRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE idempotency_key = $1"
    )))
    .bind(&body.idempotency_key)
    .fetch_one(pool)
    .await?;
    Ok(row.to_wire())
}

pub async fn card_row(pool: &PgPool, id: Uuid) -> SbResult<CardRow> {
    let row: Option<CardRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.ok_or_else(|| SandboxError::not_found("card"))
}

/// Changes a card's status (block, unblock, cancel) or type (convert). A cancelled
/// card stays cancelled; cancelling it again answers as the first time did.
pub async fn update_card(pool: &PgPool, id: Uuid, status: Option<&str>, card_type: Option<&str>) -> SbResult<HayCard> {
    let card = card_row(pool, id).await?;
    if card.status == "INACTIVE" && status == Some("INACTIVE") {
        return Ok(card.to_wire());
    }
    if card.status == "INACTIVE" && status.is_some() {
        return Err(SandboxError::invalid("the card is cancelled"));
    }
    // Converting to physical posts the card to the customer's current address.
    sqlx::query(
        "UPDATE cards SET status = coalesce($2, status), card_type = coalesce($3, card_type), \
         delivery_address = CASE WHEN $3 = 'PHYSICAL' \
             THEN coalesce((SELECT c.body -> 'address' FROM customers c WHERE c.id = cards.customer_id), delivery_address) \
             ELSE delivery_address END \
         WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(card_type)
    .execute(pool)
    .await?;
    Ok(card_row(pool, id).await?.to_wire())
}
