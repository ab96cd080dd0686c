//! Users.

use chrono::{DateTime, NaiveDate, Utc};
use kttipay_domain::ids::UserId;
use kttipay_domain::lifecycle::KycStatus;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub date_of_birth: Option<NaiveDate>,
    pub avatar_key: Option<String>,
    pub password_hash: Option<String>,
    pub email_verified_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "String")]
    pub kyc_status: KycStatus,
    pub blocked_at: Option<DateTime<Utc>>,
    pub is_platform_admin: bool,
    pub created_at: DateTime<Utc>,
    pub provider_customer_id: Option<String>,
    pub kyc_decided_at: Option<DateTime<Utc>>,
}

impl User {
    pub fn user_id(&self) -> UserId {
        UserId(self.id)
    }
}

/// The user columns every query returns, as a literal so queries stay static SQL.
macro_rules! columns {
    () => {
        "id, email::text AS email, first_name, last_name, phone, date_of_birth, avatar_key, \
         password_hash, email_verified_at, kyc_status, blocked_at, is_platform_admin, created_at, \
         provider_customer_id, kyc_decided_at"
    };
}

pub struct NewUser<'a> {
    pub id: UserId,
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub phone: &'a str,
    pub date_of_birth: Option<NaiveDate>,
    /// Social sign-ups arrive with a verified address.
    pub email_verified: bool,
}

/// Inserts a user; `None` when the email is taken (by a concurrent twin, too).
pub async fn insert(conn: &mut PgConnection, new: &NewUser<'_>) -> Result<Option<User>, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO users (id, email, first_name, last_name, phone, date_of_birth, email_verified_at) \
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 THEN now() END) \
         ON CONFLICT (email) DO NOTHING RETURNING ",
        columns!(),
        ""
    );
    sqlx::query_as(sql)
        .bind(new.id.0)
        .bind(new.email)
        .bind(new.first_name)
        .bind(new.last_name)
        .bind(new.phone)
        .bind(new.date_of_birth)
        .bind(new.email_verified)
        .fetch_optional(conn)
        .await
}

/// The accounts among `emails`: (email, id) for each address that has one.
pub async fn ids_by_email<'e>(
    db: impl PgExecutor<'e>,
    emails: &[String],
) -> Result<Vec<(String, UserId)>, sqlx::Error> {
    let rows: Vec<(String, Uuid)> =
        sqlx::query_as("SELECT email::text, id FROM users WHERE email = ANY($1::text[]::citext[])")
            .bind(emails)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(|(e, id)| (e, UserId(id))).collect())
}

pub async fn find_by_email<'e>(db: impl PgExecutor<'e>, email: &str) -> Result<Option<User>, sqlx::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM users WHERE email = $1");
    sqlx::query_as(sql).bind(email).fetch_optional(db).await
}

pub async fn find<'e>(db: impl PgExecutor<'e>, id: UserId) -> Result<Option<User>, sqlx::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM users WHERE id = $1");
    sqlx::query_as(sql).bind(id.0).fetch_optional(db).await
}

/// Locks the user's row for the rest of the transaction (password changes race
/// with logins and resets).
pub async fn find_for_update(conn: &mut PgConnection, id: UserId) -> Result<Option<User>, sqlx::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM users WHERE id = $1 FOR UPDATE");
    sqlx::query_as(sql).bind(id.0).fetch_optional(conn).await
}

/// Sets the password hash; finishing registration also proves the email address.
pub async fn set_password(
    conn: &mut PgConnection,
    id: UserId,
    hash: &str,
    verifies_email: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET password_hash = $2, updated_at = now(), \
         email_verified_at = CASE WHEN $3 THEN coalesce(email_verified_at, now()) ELSE email_verified_at END \
         WHERE id = $1",
    )
    .bind(id.0)
    .bind(hash)
    .bind(verifies_email)
    .execute(conn)
    .await?;
    Ok(())
}

/// Profile fields a user may change; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ProfileChange {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    /// `Some(None)` clears the avatar.
    pub avatar_key: Option<Option<String>>,
}

pub async fn update_profile(
    conn: &mut PgConnection,
    id: UserId,
    change: &ProfileChange,
) -> Result<Option<User>, sqlx::Error> {
    let sql = concat!(
        "UPDATE users SET first_name = coalesce($2, first_name), last_name = coalesce($3, last_name), \
         phone = coalesce($4, phone), avatar_key = CASE WHEN $5 THEN $6 ELSE avatar_key END, \
         updated_at = now() WHERE id = $1 RETURNING ",
        columns!(),
        ""
    );
    sqlx::query_as(sql)
        .bind(id.0)
        .bind(&change.first_name)
        .bind(&change.last_name)
        .bind(&change.phone)
        .bind(change.avatar_key.is_some())
        .bind(change.avatar_key.clone().flatten())
        .fetch_optional(conn)
        .await
}

/// Grants platform-admin rights; false when no user has that email.
pub async fn promote_admin<'e>(db: impl PgExecutor<'e>, email: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE users SET is_platform_admin = true, updated_at = now() WHERE email = $1")
        .bind(email)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The user linked to a social identity, if any.
pub async fn find_by_social<'e>(
    db: impl PgExecutor<'e>,
    provider: &str,
    subject: &str,
) -> Result<Option<User>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM users WHERE id = \
         (SELECT user_id FROM social_identities WHERE provider = $1 AND subject = $2)"
    );
    sqlx::query_as(sql)
        .bind(provider)
        .bind(subject)
        .fetch_optional(db)
        .await
}

pub async fn link_social(
    conn: &mut PgConnection,
    provider: &str,
    subject: &str,
    user: UserId,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO social_identities (provider, subject, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(provider)
    .bind(subject)
    .bind(user.0)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the address verified (a social provider vouched for it).
pub async fn mark_email_verified(conn: &mut PgConnection, id: UserId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) WHERE id = $1")
        .bind(id.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// Blocks or unblocks a user; false when there is no such user.
pub async fn set_blocked(conn: &mut PgConnection, id: UserId, blocked: bool) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET blocked_at = CASE WHEN $2 THEN coalesce(blocked_at, now()) END, updated_at = now() WHERE id = $1",
    )
    .bind(id.0)
    .bind(blocked)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
