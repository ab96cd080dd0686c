//! Customers and groups.

use crate::error::{SandboxError, SbResult};
use crate::events;
use chrono::{DateTime, Utc};
use kttipay_providers::shaype::types::*;
use kttipay_providers::shaype::webhook::{
    CustomerStatusUpdatedEvent, NotificationDto, NotificationType, OnboardingFailedEvent,
};
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use uuid::Uuid;

/// The documented test identity that fails KYC: any customer with this last name.
pub const KYC_REJECTED_LAST_NAME: &str = "Rejected";

#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: Uuid,
    email: String,
    first_name: String,
    last_name: String,
    date_of_birth: String,
    status: String,
    created_at: DateTime<Utc>,
}

fn customer(row: CustomerRow) -> HayCustomer {
    HayCustomer {
        customer_hay_id: row.id.to_string(),
        status: serde_json::from_value(serde_json::Value::String(row.status)).ok(),
        email: Some(row.email),
        customer_details: Some(CustomerDetails {
            first_name: row.first_name,
            last_name: row.last_name,
            date_of_birth: row.date_of_birth,
        }),
        creation_date_time_utc: Some(super::rfc3339(row.created_at)),
    }
}

const CUSTOMER: &str = "SELECT id, email, first_name, last_name, date_of_birth, status, created_at FROM customers";

/// Creates a customer pending KYC; the decision comes `kyc_delay` later as webhooks.
pub async fn create_customer(pool: &PgPool, body: &CreateCustomer, kyc_delay: Duration) -> SbResult<HayCustomer> {
    if body.idempotency_key.trim().is_empty() {
        return Err(SandboxError::invalid("idempotencyKey is required"));
    }
    let decision = if body
        .customer_details
        .last_name
        .eq_ignore_ascii_case(KYC_REJECTED_LAST_NAME)
    {
        "fail"
    } else {
        "pass"
    };
    let decide_at = Utc::now() + chrono::Duration::from_std(kyc_delay).unwrap_or_default();
    sqlx::query(
        "INSERT INTO customers (id, idempotency_key, email, first_name, last_name, date_of_birth, status, decide_at, decision, body) \
         VALUES ($1, $2, $3, $4, $5, $6, 'PENDING_APPROVAL', $7, $8, $9) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(Uuid::new_v4())
    .bind(&body.idempotency_key)
    .bind(&body.email)
    .bind(&body.customer_details.first_name)
    .bind(&body.customer_details.last_name)
    .bind(&body.customer_details.date_of_birth)
    .bind(decide_at)
    .bind(decision)
    .bind(serde_json::to_value(body).unwrap_or_default())
    .execute(pool)
    .await?;
    let row: CustomerRow = sqlx::query_as(sqlx::AssertSqlSafe(format!("{CUSTOMER} WHERE idempotency_key = $1")))
        .bind(&body.idempotency_key)
        .fetch_one(pool)
        .await?;
    Ok(customer(row))
}

pub async fn get_customer(pool: &PgPool, id: Uuid) -> SbResult<HayCustomer> {
    let row: Option<CustomerRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{CUSTOMER} WHERE id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(customer).ok_or_else(|| SandboxError::not_found("customer"))
}

/// `PATCH /v0/customers/{id}`: replaces the customer's address (as a whole, as
/// the spec says); cards converted later are posted there.
pub async fn update_customer_address(pool: &PgPool, id: Uuid, address: &serde_json::Value) -> SbResult<HayCustomer> {
    let done = sqlx::query("UPDATE customers SET body = jsonb_set(body, '{address}', $2) WHERE id = $1")
        .bind(id)
        .bind(address)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(SandboxError::not_found("customer"));
    }
    get_customer(pool, id).await
}

/// Blocks or unblocks a customer, telling our API by webhook.
pub async fn set_customer_status(pool: &PgPool, id: Uuid, status: &str) -> SbResult<HayCustomer> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query("UPDATE customers SET status = $2 WHERE id = $1")
        .bind(id)
        .bind(status)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(SandboxError::not_found("customer"));
    }
    status_event(&mut tx, id, status).await?;
    tx.commit().await?;
    get_customer(pool, id).await
}

async fn status_event(conn: &mut PgConnection, id: Uuid, status: &str) -> Result<(), sqlx::Error> {
    let mut n = events::notification(id, NotificationType::CustomerStatusUpdated);
    n.customer_status_updated_event = Some(CustomerStatusUpdatedEvent {
        customer_status: Some(status.to_string()),
    });
    events::enqueue(conn, &n).await?;
    Ok(())
}

/// Decides KYC for customers whose delay has passed: `ONBOARDING_PASSED` and
/// status `ACTIVE`, or `ONBOARDING_FAILED` and `REJECTED` for the test identity.
pub async fn decide_due_kyc(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let due: Vec<(Uuid, String)> = sqlx::query_as(
        "UPDATE customers SET status = CASE WHEN decision = 'pass' THEN 'ACTIVE' ELSE 'REJECTED' END, decide_at = NULL \
         WHERE id IN (SELECT id FROM customers WHERE decide_at <= now() FOR UPDATE SKIP LOCKED) \
         RETURNING id, decision",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (id, decision) in &due {
        if decision == "pass" {
            events::enqueue(&mut tx, &events::notification(*id, NotificationType::OnboardingPassed)).await?;
            status_event(&mut tx, *id, "ACTIVE").await?;
        } else {
            let mut n: NotificationDto = events::notification(*id, NotificationType::OnboardingFailed);
            n.onboarding_failed_event = Some(OnboardingFailedEvent {
                state: Some("KYC_AML_SCAN".into()),
                submission_failure: Some(false),
            });
            events::enqueue(&mut tx, &n).await?;
            status_event(&mut tx, *id, "REJECTED").await?;
        }
    }
    tx.commit().await?;
    Ok(due.len() as u64)
}

/// Refuses ids that name no customer: a bank puts only its own customers in a group.
async fn check_customers(pool: &PgPool, ids: &[Uuid]) -> SbResult<()> {
    let known: i64 = sqlx::query_scalar("SELECT count(DISTINCT id) FROM customers WHERE id = ANY($1)")
        .bind(ids)
        .fetch_one(pool)
        .await?;
    let mut distinct = ids.to_vec();
    distinct.sort();
    distinct.dedup();
    if known != distinct.len() as i64 {
        return Err(SandboxError::not_found("customer"));
    }
    Ok(())
}

pub async fn create_group(pool: &PgPool, body: &CreateGroup) -> SbResult<HayGroup> {
    let ids = parse_ids(&body.customer_hay_ids)?;
    check_customers(pool, &ids).await?;
    sqlx::query(
        "INSERT INTO groups (id, idempotency_key, name, customer_ids) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(Uuid::new_v4())
    .bind(&body.idempotency_key)
    .bind(&body.group_name)
    .bind(&ids)
    .execute(pool)
    .await?;
    let (id, name, members): (Uuid, Option<String>, Vec<Uuid>) =
        sqlx::query_as("SELECT id, name, customer_ids FROM groups WHERE idempotency_key = $1")
            .bind(&body.idempotency_key)
            .fetch_one(pool)
            .await?;
    Ok(HayGroup {
        group_hay_id: id.to_string(),
        customer_hay_ids: members.iter().map(Uuid::to_string).collect(),
        group_name: name,
    })
}

/// Adds (idempotently) or removes members, returning the group and its account.
pub async fn change_group(pool: &PgPool, group: Uuid, add: &[Uuid], remove: Option<Uuid>) -> SbResult<HayJointAccount> {
    check_customers(pool, add).await?;
    let done = sqlx::query(
        "UPDATE groups SET customer_ids = ARRAY(SELECT DISTINCT x FROM unnest(customer_ids || $2::uuid[]) AS x \
                                              WHERE x IS DISTINCT FROM $3) WHERE id = $1",
    )
    .bind(group)
    .bind(add)
    .bind(remove)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(SandboxError::not_found("group"));
    }
    let members: Vec<Uuid> = sqlx::query_scalar("SELECT customer_ids FROM groups WHERE id = $1")
        .bind(group)
        .fetch_one(pool)
        .await?;
    let account = super::accounts::account_of_holder(pool, group).await?;
    Ok(HayJointAccount {
        group_hay_id: group.to_string(),
        customer_hay_ids: members.iter().map(Uuid::to_string).collect(),
        hay_account: account,
    })
}

/// The customer our webhooks name for an account holder: the customer, or a
/// group's first member.
pub async fn customer_of_holder(conn: &mut PgConnection, holder: Uuid) -> Result<Uuid, sqlx::Error> {
    let first: Option<Uuid> = sqlx::query_scalar("SELECT customer_ids[1] FROM groups WHERE id = $1")
        .bind(holder)
        .fetch_optional(conn)
        .await?
        .flatten();
    Ok(first.unwrap_or(holder))
}

pub fn parse_ids(ids: &[String]) -> SbResult<Vec<Uuid>> {
    ids.iter()
        .map(|s| {
            s.parse::<Uuid>()
                .map_err(|_| SandboxError::invalid(format!("{s} is not a customer id")))
        })
        .collect()
}
