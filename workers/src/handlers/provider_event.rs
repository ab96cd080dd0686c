//! Applies one stored provider webhook. Applying the same event twice changes
//! nothing: each outcome is an idempotent state change, and the event row records
//! what happened. Events about customers or accounts we do not know are kept as
//! `unmatched` (counted in metrics and visible to operators), never dropped.

use crate::{JobError, WorkerDeps};
use kttipay_db::{kyc, provider_events};
use kttipay_domain::ids::JobId;
use kttipay_jobs::kinds::ApplyProviderEvent;
use kttipay_providers::shaype::webhook::{NotificationDto, NotificationType};

pub async fn run(deps: &WorkerDeps, _id: JobId, job: ApplyProviderEvent) -> Result<(), JobError> {
    let Some(event) = provider_events::find(&deps.pool, job.event_id).await? else {
        return Err(JobError::Permanent(format!("no provider event {}", job.event_id)));
    };
    if event.status != "received" {
        return Ok(());
    }
    let dto: NotificationDto = serde_json::from_value(event.body.clone())
        .map_err(|e| JobError::Permanent(format!("stored event unreadable: {e}")))?;
    let (status, note) = match dto.kind {
        NotificationType::OnboardingPassed => kyc_decision(deps, &dto, "verified").await?,
        NotificationType::OnboardingFailed => kyc_decision(deps, &dto, "rejected").await?,
        NotificationType::CustomerStatusUpdated => {
            let status = dto
                .customer_status_updated_event
                .as_ref()
                .and_then(|e| e.customer_status.as_deref());
            match status {
                Some("ACTIVE") => kyc_decision(deps, &dto, "verified").await?,
                Some("REJECTED") => kyc_decision(deps, &dto, "rejected").await?,
                other => (
                    "ignored",
                    Some(format!(
                        "customer status {} needs no action",
                        other.unwrap_or("unknown")
                    )),
                ),
            }
        }
        other => (
            "ignored",
            Some(format!("{other:?} events are not applied by this version")),
        ),
    };
    if status == "unmatched" {
        metrics::counter!("kttipay_provider_events_unmatched_total", "type" => event.kind.clone()).increment(1);
        tracing::warn!(event = %event.id, kind = %event.kind, note = ?note, "provider event matches nothing of ours");
    }
    provider_events::settle(&deps.pool, event.id, status, note.as_deref()).await?;
    Ok(())
}

/// Records a KYC decision for the event's customer.
async fn kyc_decision(
    deps: &WorkerDeps,
    dto: &NotificationDto,
    decision: &str,
) -> Result<(&'static str, Option<String>), JobError> {
    let Some(user) = kyc::user_by_provider_customer(&deps.pool, &dto.customer_hay_id).await? else {
        return Ok((
            "unmatched",
            Some(format!("no user is provider customer {}", dto.customer_hay_id)),
        ));
    };
    let mut tx = deps.pool.begin().await?;
    let changed = kyc::set_status(&mut tx, user, decision).await?;
    tx.commit().await?;
    Ok((
        "applied",
        (!changed).then(|| "the user was already verified".to_string()),
    ))
}
