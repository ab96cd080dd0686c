//! Applies one stored provider webhook. Applying the same event twice changes
//! nothing: each outcome is an idempotent state change, and the event row records
//! what happened. Events about customers or accounts we do not know are kept as
//! `unmatched` (counted in metrics and visible to operators), never dropped.

use super::money_event;
use crate::{JobError, WorkerDeps};
use kttipay_db::ktties::{self, KttiKind};
use kttipay_db::{jobs, kyc, members, provider_events};
use kttipay_domain::ids::{JobId, KttiId, UserId, deposit_reference};
use kttipay_domain::lifecycle::KycStatus;
use kttipay_domain::membership::Role;
use kttipay_jobs::kinds::{ApplyProviderEvent, SetupKtti};
use kttipay_providers::shaype::webhook::{NotificationDto, NotificationType};

pub async fn run(deps: &WorkerDeps, _id: JobId, job: ApplyProviderEvent) -> Result<(), JobError> {
    let Some(event) = provider_events::find(&deps.pool, job.event_id.0).await? else {
        return Err(JobError::Permanent(format!("no provider event {}", job.event_id)));
    };
    if event.status != "received" {
        return Ok(());
    }
    let dto: NotificationDto = serde_json::from_value(event.body.clone())
        .map_err(|e| JobError::Permanent(format!("stored event unreadable: {e}")))?;
    let (status, note) = match dto.kind {
        NotificationType::OnboardingPassed => kyc_decision(deps, &dto, KycStatus::Verified).await?,
        NotificationType::OnboardingFailed => kyc_decision(deps, &dto, KycStatus::Rejected).await?,
        NotificationType::CustomerStatusUpdated => {
            let status = dto
                .customer_status_updated_event
                .as_ref()
                .and_then(|e| e.customer_status.as_deref());
            match status {
                Some("ACTIVE") => kyc_decision(deps, &dto, KycStatus::Verified).await?,
                Some("REJECTED") => kyc_decision(deps, &dto, KycStatus::Rejected).await?,
                other => (
                    "ignored",
                    Some(format!(
                        "customer status {} needs no action",
                        other.unwrap_or("unknown")
                    )),
                ),
            }
        }
        NotificationType::Transaction => match dto.transaction_event.as_ref() {
            Some(event) => money_event::apply(&deps.pool, job.event_id.0, event).await?,
            None => ("ignored", Some("a TRANSACTION notification without its event".into())),
        },
        other => (
            "ignored",
            Some(format!("{other:?} events are not applied by this version")),
        ),
    };
    if status == "unmatched" {
        metrics::counter!("kttipay_provider_events_unmatched_total", "type" => event.kind.clone()).increment(1);
        tracing::warn!(event = %event.id, kind = %event.kind, note = ?note, "provider event matches nothing of ours");
    }
    if status == money_event::PARKED {
        // Already recorded, in the transaction that parked it: writing the status
        // again here could undo a wake that happened since.
        return Ok(());
    }
    provider_events::settle(&deps.pool, event.id, status, note.as_deref()).await?;
    if let Some(account) = dto.transaction_event.as_ref().and_then(|e| e.account_hay_id.as_deref()) {
        money_event::check_balances(&deps.pool, account).await?;
    }
    Ok(())
}

/// Records a KYC decision for the event's customer.
async fn kyc_decision(
    deps: &WorkerDeps,
    dto: &NotificationDto,
    decision: KycStatus,
) -> Result<(&'static str, Option<String>), JobError> {
    let Some(user) = kyc::user_by_provider_customer(&deps.pool, &dto.customer_hay_id).await? else {
        return Ok((
            "unmatched",
            Some(format!("no user is provider customer {}", dto.customer_hay_id)),
        ));
    };
    let mut tx = deps.pool.begin().await?;
    let changed = kyc::set_status(&mut tx, user, decision).await?;
    if decision == KycStatus::Verified {
        open_personal_ktti(&mut tx, user).await?;
    }
    if changed {
        let n = kttipay_domain::notification::kyc_outcome(decision == KycStatus::Verified);
        kttipay_db::notifications::notify(&mut tx, &[(user, None)], &n).await?;
    }
    tx.commit().await?;
    Ok((
        "applied",
        (!changed).then(|| "the user was already verified".to_string()),
    ))
}

/// A verified user gets their personal ktti: created here, in the same transaction
/// as the decision, and set up at the provider by a job. Idempotent: a user has at
/// most one personal ktti.
async fn open_personal_ktti(conn: &mut kttipay_db::PgConnection, user: UserId) -> Result<(), sqlx::Error> {
    if ktties::personal_of(&mut *conn, user).await?.is_some() {
        return Ok(());
    }
    let ktti = KttiId::new();
    ktties::create(conn, ktti, KttiKind::Personal, "Personal", user).await?;
    members::join(conn, ktti, user, Role::Owner, &deposit_reference(rand::random())).await?;
    jobs::enqueue(conn, &SetupKtti { ktti_id: ktti }).await?;
    Ok(())
}
