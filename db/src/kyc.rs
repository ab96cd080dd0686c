//! KYC submissions and the user's standing at the provider.

use chrono::{DateTime, NaiveDate, Utc};
use kttipay_domain::ids::UserId;
use kttipay_domain::lifecycle::KycStatus;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

pub struct NewSubmission<'a> {
    pub id: Uuid,
    pub user: UserId,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub date_of_birth: NaiveDate,
    pub address: serde_json::Value,
    pub id_document_type: &'a str,
    pub id_document_number: &'a str,
}

pub async fn insert(conn: &mut PgConnection, s: &NewSubmission<'_>) -> Result<(), sqlx::Error> {
    let chars: Vec<char> = s.id_document_number.chars().collect();
    let last4: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    sqlx::query(
        "INSERT INTO kyc_submissions (id, user_id, first_name, last_name, date_of_birth, address, \
                                      id_document_type, id_document_number, id_document_last4) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(s.id)
    .bind(s.user.0)
    .bind(s.first_name)
    .bind(s.last_name)
    .bind(s.date_of_birth)
    .bind(&s.address)
    .bind(s.id_document_type)
    .bind(s.id_document_number)
    .bind(last4)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct Submission {
    pub id: Uuid,
    pub user_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub date_of_birth: NaiveDate,
    pub address: serde_json::Value,
    pub id_document_type: String,
    pub id_document_number: Option<String>,
    pub id_document_last4: String,
    pub provider_case_id: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub sent_to_provider_at: Option<DateTime<Utc>>,
}

const SUBMISSION: &str = "SELECT id, user_id, first_name, last_name, date_of_birth, address, id_document_type, \
    id_document_number, id_document_last4, provider_case_id, submitted_at, sent_to_provider_at FROM kyc_submissions";

pub async fn find<'e>(db: impl PgExecutor<'e>, id: Uuid) -> Result<Option<Submission>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SUBMISSION} WHERE id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn latest<'e>(db: impl PgExecutor<'e>, user: UserId) -> Result<Option<Submission>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SUBMISSION} WHERE user_id = $1 ORDER BY submitted_at DESC LIMIT 1"
    )))
    .bind(user.0)
    .fetch_optional(db)
    .await
}

/// The submission reached the provider: keep the case, erase the document number.
pub async fn mark_sent(conn: &mut PgConnection, id: Uuid, case_id: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE kyc_submissions SET sent_to_provider_at = now(), provider_case_id = $2, id_document_number = NULL \
         WHERE id = $1",
    )
    .bind(id)
    .bind(case_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_provider_customer(conn: &mut PgConnection, user: UserId, customer: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET provider_customer_id = $2, updated_at = now() WHERE id = $1")
        .bind(user.0)
        .bind(customer)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets the user's KYC status. A decision (`verified`, `rejected`) is stamped; a
/// verified user is never downgraded by a late, stale event.
pub async fn set_status(conn: &mut PgConnection, user: UserId, status: KycStatus) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET kyc_status = $2, updated_at = now(), \
             kyc_decided_at = CASE WHEN $2 IN ('verified', 'rejected') THEN now() ELSE kyc_decided_at END \
         WHERE id = $1 AND NOT (kyc_status = 'verified' AND $2 <> 'verified')",
    )
    .bind(user.0)
    .bind(status.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn user_by_provider_customer<'e>(
    db: impl PgExecutor<'e>,
    customer: &str,
) -> Result<Option<UserId>, sqlx::Error> {
    let id: Option<Uuid> = sqlx::query_scalar("SELECT id FROM users WHERE provider_customer_id = $1")
        .bind(customer)
        .fetch_optional(db)
        .await?;
    Ok(id.map(UserId))
}
