//! Delivering notifications: push to each of the recipient's devices, email
//! (or a digest for busy ktties), and test pings.
//!
//! A push reaches each device once across retries: every device FCM accepted is
//! recorded, and a retried job sends only to the devices still missing. A token
//! FCM reports dead is forgotten at once. Emails are marked sent after the SMTP
//! server accepted them (at-least-once, as SMTP allows).

use std::collections::HashSet;

use kttipay_db::{jobs, ktties, notifications, users};
use kttipay_domain::ids::{JobId, KttiId, UserId};
use kttipay_domain::notification::{self as notice, Category};
use kttipay_jobs::kinds::{EmailDigest, EmailNotification, PushNotification, TestPush};
use kttipay_providers::email::MailError;
use kttipay_providers::push::{PushMessage, PushOutcome};
use uuid::Uuid;

use crate::templates::{self, NoticeEmail};
use crate::{JobError, WorkerDeps};

/// A chat stream seen this recently counts as open: its user is reading the
/// chat, so chat pushes to them are skipped. Streams refresh every
/// `CHAT_STREAM_HEARTBEAT_SECS` (api), well within this.
pub const CHAT_STREAM_FRESH_SECS: i64 = 45;

pub async fn push(deps: &WorkerDeps, _id: JobId, job: PushNotification) -> Result<(), JobError> {
    let Some(n) = notifications::find(&deps.pool, job.notification_id).await? else {
        return Ok(());
    };
    let user = UserId(n.user_id);
    if !n.push {
        return Ok(());
    }
    if n.category == Category::Chat
        && let Some(k) = n.ktti_id
        && notifications::has_live_chat(&deps.pool, user, k, CHAT_STREAM_FRESH_SECS).await?
    {
        tracing::debug!(notification = %n.id, "chat open live: push skipped");
        return Ok(());
    }
    let mut data = vec![
        ("notificationId", n.id.to_string()),
        ("category", n.category.as_str().to_string()),
        ("event", n.event.clone()),
        ("link", path(n.ktti_id, n.transaction_id, n.action_id)),
    ];
    if let Some(k) = n.ktti_id {
        data.push(("kttiId", k.to_string()));
    }
    if let Some(t) = n.transaction_id {
        data.push(("transactionId", t.to_string()));
    }
    if let Some(a) = n.action_id {
        data.push(("actionId", a.to_string()));
    }
    if let Some(s) = n.share {
        // As money is written everywhere: two decimals ("0.00" too).
        let mut s = s.round_dp(2);
        s.rescale(2);
        data.push(("share", s.to_string()));
    }
    deliver(deps, n.id, user, &n.title, &n.body, &data).await
}

pub async fn test_push(deps: &WorkerDeps, id: JobId, job: TestPush) -> Result<(), JobError> {
    let n = notice::test_push();
    let data = [
        ("event", n.event.to_string()),
        ("category", n.category.as_str().to_string()),
    ];
    deliver(deps, id.0, job.user_id, &n.title, &n.body, &data).await
}

/// Sends to every device of `user` that `delivery` has not reached yet, all at
/// once (the FCM client bounds how many are in flight).
async fn deliver(
    deps: &WorkerDeps,
    delivery: Uuid,
    user: UserId,
    title: &str,
    body: &str,
    data: &[(&str, String)],
) -> Result<(), JobError> {
    let targets = notifications::push_targets(&deps.pool, user).await?;
    let done: HashSet<String> = notifications::delivered_devices(&deps.pool, delivery, user)
        .await?
        .into_iter()
        .collect();
    let sends = targets
        .iter()
        .filter(|(device, _)| !done.contains(device))
        .map(|(device, token)| async move {
            let m = PushMessage {
                token,
                title,
                body,
                data,
            };
            (device, token, deps.pusher.send(&m).await)
        });
    let results = futures::future::join_all(sends).await;
    let mut again = None;
    for (device, token, outcome) in results {
        match outcome {
            PushOutcome::Sent => notifications::record_push(&deps.pool, delivery, user, device).await?,
            PushOutcome::TokenGone(why) => {
                tracing::info!(user = %user, device = %device, reason = %why, "FCM token is dead: forgotten");
                notifications::forget_token(&deps.pool, token).await?;
            }
            PushOutcome::Retry(why) => again = Some(why),
        }
    }
    match again {
        Some(why) => Err(JobError::Transient(why)),
        None => Ok(()),
    }
}

pub async fn email(deps: &WorkerDeps, _id: JobId, job: EmailNotification) -> Result<(), JobError> {
    let Some(n) = notifications::find(&deps.pool, job.notification_id).await? else {
        return Ok(());
    };
    if !n.email || n.emailed_at.is_some() {
        return Ok(());
    }
    let user = UserId(n.user_id);
    let Some(u) = users::find(&deps.pool, user).await? else {
        return Ok(());
    };
    if n.category.digested()
        && let Some(k) = n.ktti_id
    {
        let mut tx = deps.pool.begin().await?;
        match notifications::take_window(&mut tx, user, k, n.category, deps.digest_window_secs).await? {
            notifications::Window::Open => {}
            notifications::Window::Held { opens_at, schedule } => {
                if schedule {
                    let digest = EmailDigest {
                        user_id: user,
                        ktti_id: KttiId(k),
                        category: n.category.as_str().to_string(),
                    };
                    jobs::enqueue_at(&mut tx, &digest, Some(opens_at)).await?;
                }
                tx.commit().await?;
                return Ok(());
            }
        }
        tx.commit().await?;
    }
    let link = path(n.ktti_id, n.transaction_id, n.action_id);
    let mail = templates::notification(
        &u.first_name,
        &u.email,
        &NoticeEmail {
            category: n.category,
            title: &n.title,
            body: &n.body,
            path: &link,
        },
        &deps.public_url,
    );
    send(deps, &mail).await?;
    notifications::mark_emailed(&deps.pool, &[n.id]).await?;
    Ok(())
}

pub async fn digest(deps: &WorkerDeps, _id: JobId, job: EmailDigest) -> Result<(), JobError> {
    let category: Category = job
        .category
        .parse()
        .map_err(|e| JobError::Permanent(format!("digest of {e}")))?;
    let Some(u) = users::find(&deps.pool, job.user_id).await? else {
        return Ok(());
    };
    // The window restarts first: an email arriving from now on schedules the
    // next digest instead of waiting on this one (which may not include it).
    let mut tx = deps.pool.begin().await?;
    notifications::restart_window(&mut tx, job.user_id, job.ktti_id.0, category, deps.digest_window_secs).await?;
    tx.commit().await?;
    let held = notifications::unemailed(&deps.pool, job.user_id, job.ktti_id.0, category).await?;
    if held.is_empty() {
        return Ok(());
    }
    let ktti_name = ktties::name_of(&deps.pool, job.ktti_id).await?;
    let bodies: Vec<String> = held.iter().map(|n| n.body.clone()).collect();
    let link = path(Some(job.ktti_id.0), None, None);
    let mail = templates::digest(
        &u.first_name,
        &u.email,
        category,
        &ktti_name,
        &bodies,
        &link,
        &deps.public_url,
    );
    send(deps, &mail).await?;
    let ids: Vec<Uuid> = held.iter().map(|n| n.id).collect();
    notifications::mark_emailed(&deps.pool, &ids).await?;
    Ok(())
}

async fn send(deps: &WorkerDeps, mail: &kttipay_providers::email::OutgoingEmail) -> Result<(), JobError> {
    deps.mailer.send(mail).await.map_err(|e| match e {
        MailError::Transient(m) => JobError::Transient(m),
        MailError::Permanent(m) => JobError::Permanent(m),
    })
}

/// The app's deep link for a notification.
fn path(ktti: Option<Uuid>, txn: Option<Uuid>, action: Option<Uuid>) -> String {
    match (ktti, txn, action) {
        (Some(k), Some(t), _) => format!("/ktties/{k}/transactions/{t}"),
        (_, _, Some(a)) => format!("/actions/{a}"),
        (Some(k), None, None) => format!("/ktties/{k}"),
        (None, _, None) => "/notifications".into(),
    }
}
