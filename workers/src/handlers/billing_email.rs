//! Emails a ktti's owner that a billing charge failed, once per job (the
//! `sent_emails` row keyed by job id, like every email). A charge that went
//! through meanwhile (a later run) sends nothing.

use crate::templates;
use crate::{JobError, WorkerDeps};
use kttipay_db::{billing, emails, ktties, users};
use kttipay_domain::ids::{JobId, KttiId, UserId};
use kttipay_jobs::kinds::SendBillingFailedEmail;
use kttipay_providers::email::MailError;

pub async fn send(deps: &WorkerDeps, id: JobId, job: SendBillingFailedEmail) -> Result<(), JobError> {
    if emails::was_sent(&deps.pool, id).await? {
        return Ok(());
    }
    let charge = billing::find(&deps.pool, job.charge_id).await?;
    let Some(charge) = charge.filter(|c| c.status == "failed") else {
        return Ok(());
    };
    let ktti = ktties::find_plain(&deps.pool, KttiId(charge.ktti_id))
        .await?
        .ok_or_else(|| JobError::Permanent("the ktti no longer exists".into()))?;
    let Some(owner) = users::find(&deps.pool, UserId(ktti.owner_id)).await? else {
        return Ok(());
    };
    let email = templates::billing_failed(
        &owner.first_name,
        &owner.email,
        &templates::FailedCharge {
            ktti_name: &ktti.name,
            plan: &charge.plan_code,
            amount: &charge.amount().to_string(),
            period: &format!("{} to {}", charge.period_start, charge.period_end),
            reason: charge.reason.as_deref().unwrap_or("unknown"),
        },
        &deps.public_url,
    );
    deps.mailer.send(&email).await.map_err(|e| match e {
        MailError::Transient(m) => JobError::Transient(m),
        MailError::Permanent(m) => JobError::Permanent(m),
    })?;
    emails::record_sent(&deps.pool, id, &owner.email, "billingFailed").await?;
    Ok(())
}
