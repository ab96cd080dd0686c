//! Sends a templated email to a user, once per job.
//!
//! Exactly-once towards the user, as far as SMTP allows: the `sent_emails` row keyed
//! by job id is checked first and written after the server accepted the message. A
//! crash between the two can resend (at-least-once is the best SMTP offers); a job
//! dispatched twice cannot, because only one dispatch can start the attempt.

use chrono::Utc;
use kttipay_db::{email_tokens, emails, payout_accounts, registrations, users};
use kttipay_domain::ids::JobId;
use kttipay_domain::secret;
use kttipay_jobs::kinds::{EmailTemplate, SendEmail};
use kttipay_providers::email::MailError;

use crate::templates;
use crate::{JobError, WorkerDeps};

/// A registration link is good for two days (people finish sign-up later).
pub const VERIFY_TOKEN_TTL_HOURS: i64 = 48;
/// A reset link is good for one hour (it is a credential to the account).
pub const RESET_TOKEN_TTL_MINUTES: i64 = 60;

pub async fn run(deps: &WorkerDeps, id: JobId, job: SendEmail) -> Result<(), JobError> {
    if emails::was_sent(&deps.pool, id).await? {
        return Ok(());
    }
    let Some(user) = users::find(&deps.pool, job.user_id).await? else {
        tracing::info!(job = %id, user = %job.user_id, "email for a deleted user: nothing to send");
        return Ok(());
    };
    let email = match job.template {
        EmailTemplate::VerifyEmail => {
            if user.password_hash.is_some() {
                // Registration finished meanwhile: the link would be useless.
                return Ok(());
            }
            let token = mint(
                deps,
                id,
                &user,
                email_tokens::PURPOSE_VERIFY_EMAIL,
                chrono::Duration::hours(VERIFY_TOKEN_TTL_HOURS),
            )
            .await?;
            // Greet whoever registered with this link, not an earlier registrant.
            let first_name = registrations::of_job(&deps.pool, id)
                .await?
                .map_or_else(|| user.first_name.clone(), |p| p.first_name);
            templates::verify_email(&first_name, &user.email, &token, &deps.public_url)
        }
        EmailTemplate::PasswordReset => {
            if user.blocked_at.is_some() {
                return Ok(());
            }
            let token = mint(
                deps,
                id,
                &user,
                email_tokens::PURPOSE_RESET_PASSWORD,
                chrono::Duration::minutes(RESET_TOKEN_TTL_MINUTES),
            )
            .await?;
            templates::password_reset(&user.first_name, &user.email, &token, &deps.public_url)
        }
        EmailTemplate::AccountExists => templates::account_exists(&user.first_name, &user.email, &deps.public_url),
        EmailTemplate::PayoutAccountChanged => {
            // What is nominated when the email goes: the newest change is what matters.
            let account = payout_accounts::find(&deps.pool, user.user_id()).await?;
            templates::payout_account_changed(&user.first_name, &user.email, account.as_ref(), &deps.public_url)
        }
    };
    deps.mailer.send(&email).await.map_err(|e| match e {
        MailError::Transient(m) => JobError::Transient(m),
        MailError::Permanent(m) => JobError::Permanent(m),
    })?;
    emails::record_sent(&deps.pool, id, &user.email, job.template.name()).await?;
    Ok(())
}

/// Mints this job's one-time token. The token exists only in the email: we keep its
/// hash, and a retried job replaces the token of its failed attempt.
async fn mint(
    deps: &WorkerDeps,
    job: JobId,
    user: &users::User,
    purpose: &str,
    ttl: chrono::Duration,
) -> Result<String, JobError> {
    let token = secret::encode(&rand::random());
    let mut conn = deps.pool.acquire().await?;
    email_tokens::upsert_for_job(
        &mut conn,
        job,
        user.user_id(),
        purpose,
        &secret::hash(&token),
        Utc::now() + ttl,
    )
    .await?;
    Ok(token)
}
