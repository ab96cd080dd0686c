//! The record of emails handed to the mail server, keyed by the sending job.

use kttipay_domain::ids::JobId;
use sqlx::PgExecutor;

pub async fn was_sent<'e>(db: impl PgExecutor<'e>, job: JobId) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sent_emails WHERE job_id = $1)")
        .bind(job.0)
        .fetch_one(db)
        .await
}

pub async fn record_sent<'e>(
    db: impl PgExecutor<'e>,
    job: JobId,
    recipient: &str,
    template: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO sent_emails (job_id, recipient, template) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(job.0)
        .bind(recipient)
        .bind(template)
        .execute(db)
        .await?;
    Ok(())
}
