//! Emails an invitation to a ktti, once per job (like every email: the
//! `sent_emails` row keyed by job id). An invitation decided or expired before the
//! job ran sends nothing.

use crate::templates;
use crate::{JobError, WorkerDeps};
use kttipay_db::{emails, invitations, ktties, users};
use kttipay_domain::ids::{JobId, KttiId, UserId};
use kttipay_domain::lifecycle::InvitationStatus;
use kttipay_jobs::kinds::SendInvitation;
use kttipay_providers::email::MailError;

pub async fn run(deps: &WorkerDeps, id: JobId, job: SendInvitation) -> Result<(), JobError> {
    if emails::was_sent(&deps.pool, id).await? {
        return Ok(());
    }
    let invitation = {
        let mut conn = deps.pool.acquire().await?;
        invitations::lock(&mut conn, job.invitation_id.0).await?
    };
    let Some(invitation) =
        invitation.filter(|i| !i.is_expired(chrono::Utc::now()) && i.status == InvitationStatus::Pending)
    else {
        return Ok(());
    };
    let ktti = ktties::find_plain(&deps.pool, KttiId(invitation.ktti_id))
        .await?
        .ok_or_else(|| JobError::Permanent("the ktti no longer exists".into()))?;
    let inviter = users::find(&deps.pool, UserId(invitation.invited_by))
        .await?
        .map(|u| format!("{} {}", u.first_name, u.last_name))
        .unwrap_or_else(|| "A KttiPay member".into());
    let email = templates::invitation(
        &inviter,
        &ktti.name,
        &invitation.email,
        invitation.user_id.is_some(),
        &deps.public_url,
    );
    deps.mailer.send(&email).await.map_err(|e| match e {
        MailError::Transient(m) => JobError::Transient(m),
        MailError::Permanent(m) => JobError::Permanent(m),
    })?;
    emails::record_sent(&deps.pool, id, &invitation.email, "invitation").await?;
    Ok(())
}
