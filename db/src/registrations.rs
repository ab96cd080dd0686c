//! The profile each registration submitted, kept with the email job that carries
//! its verification link until the address is proven (see the migration).

use chrono::NaiveDate;
use kttipay_domain::ids::{JobId, UserId};
use sqlx::{FromRow, PgConnection, PgExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct Profile {
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub date_of_birth: Option<NaiveDate>,
}

pub async fn record(conn: &mut PgConnection, job: JobId, user: UserId, p: &Profile) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO registration_profiles (job_id, user_id, first_name, last_name, phone, date_of_birth) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(job.0)
    .bind(user.0)
    .bind(&p.first_name)
    .bind(&p.last_name)
    .bind(&p.phone)
    .bind(p.date_of_birth)
    .execute(conn)
    .await?;
    Ok(())
}

/// The profile submitted with the registration whose email job is `job`.
pub async fn of_job<'e>(db: impl PgExecutor<'e>, job: JobId) -> Result<Option<Profile>, sqlx::Error> {
    sqlx::query_as("SELECT first_name, last_name, phone, date_of_birth FROM registration_profiles WHERE job_id = $1")
        .bind(job.0)
        .fetch_optional(db)
        .await
}

/// Makes `p` the user's profile (the address was just proven with its link),
/// and forgets every pending registration of the user.
pub async fn adopt(conn: &mut PgConnection, user: UserId, p: &Profile) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET first_name = $2, last_name = $3, phone = $4, date_of_birth = $5, updated_at = now() \
         WHERE id = $1",
    )
    .bind(user.0)
    .bind(&p.first_name)
    .bind(&p.last_name)
    .bind(&p.phone)
    .bind(p.date_of_birth)
    .execute(&mut *conn)
    .await?;
    forget(conn, user).await
}

/// Drops a user's pending registrations (once the address is proven).
pub async fn forget(conn: &mut PgConnection, user: UserId) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM registration_profiles WHERE user_id = $1")
        .bind(user.0)
        .execute(conn)
        .await?;
    Ok(())
}
