//! Notifications (migration `..._notifications_chat_moments.sql`): the fan-out
//! of one event to its recipients in the caller's transaction, the inbox,
//! preferences, and what the push and email jobs record.

use chrono::{DateTime, Utc};
use kttipay_domain::ids::{KttiId, NotificationId, UserId};
use kttipay_domain::notification::{Category, Channel, Notice, Prefs};
use kttipay_jobs::kinds::{EmailNotification, PushNotification};
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

use crate::jobs;

#[derive(Debug, Clone, FromRow)]
pub struct NotificationRow {
    pub id: Uuid,
    pub user_id: Uuid,
    #[sqlx(try_from = "String")]
    pub category: Category,
    pub event: String,
    pub title: String,
    pub body: String,
    pub ktti_id: Option<Uuid>,
    pub transaction_id: Option<Uuid>,
    pub action_id: Option<Uuid>,
    pub share: Option<Decimal>,
    pub push: bool,
    pub email: bool,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
    pub emailed_at: Option<DateTime<Utc>>,
}

macro_rules! notification_select {
    () => {
        "SELECT id, user_id, category, event, title, body, ktti_id, transaction_id, action_id, share, \
                push, email, created_at, read_at, emailed_at FROM notifications "
    };
}

/// One recipient of a notice and their own share of the money, if any.
pub type Recipient = (UserId, Option<Decimal>);

/// Writes `notice` for each recipient as their preferences allow (a recipient
/// listed twice gets it once), and enqueues its push (if a device can take one)
/// and email jobs, all in the caller's transaction.
pub async fn notify(conn: &mut PgConnection, recipients: &[Recipient], notice: &Notice) -> Result<(), sqlx::Error> {
    if recipients.is_empty() {
        return Ok(());
    }
    let mut seen = std::collections::HashSet::new();
    let (users, shares): (Vec<Uuid>, Vec<Option<Decimal>>) = recipients
        .iter()
        .filter(|(u, _)| seen.insert(*u))
        .map(|(u, s)| (u.0, *s))
        .unzip();
    let ids: Vec<Uuid> = users.iter().map(|_| NotificationId::new().0).collect();
    let c = notice.category;
    let d = c.defaults();
    let sent: Vec<(Uuid, bool, bool)> = sqlx::query_as(
        "WITH r AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::numeric[]) AS r(id, user_id, share)), \
         p AS (SELECT r.id, r.user_id, r.share, \
                      coalesce(np.push, $4) OR $7 AS push, coalesce(np.email, $5) OR $8 AS email, \
                      coalesce(np.inbox, $6) OR $9 AS inbox \
               FROM r LEFT JOIN notification_preferences np ON np.user_id = r.user_id AND np.category = $10) \
         INSERT INTO notifications (id, user_id, category, event, title, body, ktti_id, transaction_id, action_id, \
                                    share, in_inbox, push, email) \
         SELECT p.id, p.user_id, $10, $11, $12, $13, $14, $15, $16, p.share, p.inbox, p.push, p.email FROM p \
         RETURNING id, push AND EXISTS (SELECT 1 FROM devices d WHERE d.user_id = notifications.user_id \
                                        AND d.fcm_token IS NOT NULL), email",
    )
    .bind(&ids)
    .bind(&users)
    .bind(&shares)
    .bind(d.push)
    .bind(d.email)
    .bind(d.inbox)
    .bind(!c.may_mute(Channel::Push))
    .bind(!c.may_mute(Channel::Email))
    .bind(!c.may_mute(Channel::Inbox))
    .bind(c.as_str())
    .bind(notice.event)
    .bind(&notice.title)
    .bind(&notice.body)
    .bind(notice.ktti)
    .bind(notice.transaction)
    .bind(notice.action)
    .fetch_all(&mut *conn)
    .await?;
    let pushes: Vec<PushNotification> = sent
        .iter()
        .filter(|(_, push, _)| *push)
        .map(|(id, _, _)| PushNotification {
            notification_id: NotificationId(*id),
        })
        .collect();
    let emails: Vec<EmailNotification> = sent
        .iter()
        .filter(|(_, _, email)| *email && !notice.emailed_elsewhere)
        .map(|(id, _, _)| EmailNotification {
            notification_id: NotificationId(*id),
        })
        .collect();
    jobs::enqueue_many(&mut *conn, &pushes).await?;
    jobs::enqueue_many(conn, &emails).await?;
    Ok(())
}

/// Recipients grouped by their share, each with it: a notice that names the
/// share is written once per distinct share, not once per member.
pub fn group_by_share(shares: impl Iterator<Item = (UserId, Decimal)>) -> Vec<(Decimal, Vec<Recipient>)> {
    let mut groups: Vec<(Decimal, Vec<Recipient>)> = Vec::new();
    for (user, amount) in shares {
        match groups.iter_mut().find(|(a, _)| *a == amount) {
            Some((_, users)) => users.push((user, Some(amount))),
            None => groups.push((amount, vec![(user, Some(amount))])),
        }
    }
    groups
}

/// The ktti's active members (and their `share` of nothing): a notice for everyone.
pub async fn active_members<'e>(
    db: impl PgExecutor<'e>,
    ktti: KttiId,
    except: Option<UserId>,
) -> Result<Vec<UserId>, sqlx::Error> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM ktti_members WHERE ktti_id = $1 AND status = 'active' \
         AND user_id IS DISTINCT FROM $2",
    )
    .bind(ktti.0)
    .bind(except.map(|u| u.0))
    .fetch_all(db)
    .await?;
    Ok(ids.into_iter().map(UserId).collect())
}

pub async fn find<'e>(db: impl PgExecutor<'e>, id: NotificationId) -> Result<Option<NotificationRow>, sqlx::Error> {
    sqlx::query_as(concat!(notification_select!(), "WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(db)
        .await
}

/// A page of the user's inbox, newest first, after the `(created_at, id)` cursor.
pub async fn inbox<'e>(
    db: impl PgExecutor<'e>,
    user: UserId,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<NotificationRow>, sqlx::Error> {
    let (at, id) = after.unzip();
    sqlx::query_as(concat!(
        notification_select!(),
        "WHERE user_id = $1 AND in_inbox AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(user.0)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Marks one of the user's notifications read (the first time counts). False
/// when the user has no such notification.
pub async fn mark_read<'e>(db: impl PgExecutor<'e>, user: UserId, id: Uuid) -> Result<bool, sqlx::Error> {
    let found: Option<Uuid> = sqlx::query_scalar(
        "UPDATE notifications SET read_at = coalesce(read_at, now()) \
         WHERE id = $1 AND user_id = $2 AND in_inbox RETURNING id",
    )
    .bind(id)
    .bind(user.0)
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

/// (unread count, when the newest inbox notification came).
pub async fn summary<'e>(db: impl PgExecutor<'e>, user: UserId) -> Result<(i64, Option<DateTime<Utc>>), sqlx::Error> {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM notifications WHERE user_id = $1 AND in_inbox AND read_at IS NULL), \
                (SELECT max(created_at) FROM notifications WHERE user_id = $1 AND in_inbox)",
    )
    .bind(user.0)
    .fetch_one(db)
    .await
}

/// The user's stored choices (categories without a row use the defaults).
pub async fn preferences<'e>(db: impl PgExecutor<'e>, user: UserId) -> Result<Vec<(Category, Prefs)>, sqlx::Error> {
    let rows: Vec<(String, bool, bool, bool)> =
        sqlx::query_as("SELECT category, push, email, inbox FROM notification_preferences WHERE user_id = $1")
            .bind(user.0)
            .fetch_all(db)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(c, push, email, inbox)| Some((c.parse().ok()?, Prefs { push, email, inbox })))
        .collect())
}

pub async fn set_preferences(
    conn: &mut PgConnection,
    user: UserId,
    prefs: &[(Category, Prefs)],
) -> Result<(), sqlx::Error> {
    let cats: Vec<&str> = prefs.iter().map(|(c, _)| c.as_str()).collect();
    let push: Vec<bool> = prefs.iter().map(|(_, p)| p.push).collect();
    let email: Vec<bool> = prefs.iter().map(|(_, p)| p.email).collect();
    let inbox: Vec<bool> = prefs.iter().map(|(_, p)| p.inbox).collect();
    sqlx::query(
        "INSERT INTO notification_preferences (user_id, category, push, email, inbox) \
         SELECT $1, * FROM unnest($2::text[], $3::bool[], $4::bool[], $5::bool[]) \
         ON CONFLICT (user_id, category) DO UPDATE SET push = EXCLUDED.push, email = EXCLUDED.email, \
             inbox = EXCLUDED.inbox, updated_at = now()",
    )
    .bind(user.0)
    .bind(cats)
    .bind(push)
    .bind(email)
    .bind(inbox)
    .execute(conn)
    .await?;
    Ok(())
}

/// A user's devices that can take a push: (device id, FCM token).
pub async fn push_targets<'e>(db: impl PgExecutor<'e>, user: UserId) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT device_id, fcm_token FROM devices WHERE user_id = $1 AND fcm_token IS NOT NULL ORDER BY device_id",
    )
    .bind(user.0)
    .fetch_all(db)
    .await
}

/// Devices `delivery` (a notification or a test push) already reached.
pub async fn delivered_devices<'e>(
    db: impl PgExecutor<'e>,
    delivery: Uuid,
    user: UserId,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT device_id FROM push_deliveries WHERE delivery_id = $1 AND user_id = $2")
        .bind(delivery)
        .bind(user.0)
        .fetch_all(db)
        .await
}

pub async fn record_push<'e>(
    db: impl PgExecutor<'e>,
    delivery: Uuid,
    user: UserId,
    device: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO push_deliveries (delivery_id, user_id, device_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(delivery)
    .bind(user.0)
    .bind(device)
    .execute(db)
    .await?;
    Ok(())
}

/// FCM said the token is no longer valid: no push goes to it again.
pub async fn forget_token<'e>(db: impl PgExecutor<'e>, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE devices SET fcm_token = NULL, updated_at = now() WHERE fcm_token = $1")
        .bind(token)
        .execute(db)
        .await?;
    Ok(())
}

/// Whether the user has the ktti's chat open live somewhere (a stream seen
/// within `fresh_secs`).
pub async fn has_live_chat<'e>(
    db: impl PgExecutor<'e>,
    user: UserId,
    ktti: Uuid,
    fresh_secs: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM chat_streams WHERE user_id = $1 AND ktti_id = $2 \
                        AND seen_at > now() - make_interval(secs => $3))",
    )
    .bind(user.0)
    .bind(ktti)
    .bind(fresh_secs)
    .fetch_one(db)
    .await
}

pub async fn mark_emailed<'e>(db: impl PgExecutor<'e>, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE notifications SET emailed_at = now() WHERE id = ANY($1) AND emailed_at IS NULL")
        .bind(ids)
        .execute(db)
        .await?;
    Ok(())
}

/// What is still to be emailed to `user` about `ktti` in `category`, oldest first.
pub async fn unemailed<'e>(
    db: impl PgExecutor<'e>,
    user: UserId,
    ktti: Uuid,
    category: Category,
) -> Result<Vec<NotificationRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        notification_select!(),
        "WHERE user_id = $1 AND ktti_id = $2 AND category = $3 AND email AND emailed_at IS NULL \
         ORDER BY created_at, id"
    ))
    .bind(user.0)
    .bind(ktti)
    .bind(category.as_str())
    .fetch_all(db)
    .await
}

/// What an email of a digested category may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// No email of this kind went within the window: send now (the window
    /// restarts from now).
    Open,
    /// One went recently: hold this one for the digest at `opens_at`;
    /// `schedule` is true for the first held email (it enqueues the digest).
    Held { opens_at: DateTime<Utc>, schedule: bool },
}

/// Takes the digest window of (user, ktti, category) for an email now, or
/// holds the email for the digest. Atomic: of two emails at once, one sends.
pub async fn take_window(
    conn: &mut PgConnection,
    user: UserId,
    ktti: Uuid,
    category: Category,
    window_secs: i64,
) -> Result<Window, sqlx::Error> {
    let opened: Option<DateTime<Utc>> = sqlx::query_scalar(
        "INSERT INTO email_windows (user_id, ktti_id, category, opens_at) \
         VALUES ($1, $2, $3, now() + make_interval(secs => $4)) \
         ON CONFLICT (user_id, ktti_id, category) DO UPDATE \
             SET opens_at = EXCLUDED.opens_at, digest_queued = false \
             WHERE email_windows.opens_at <= now() AND NOT email_windows.digest_queued \
         RETURNING opens_at",
    )
    .bind(user.0)
    .bind(ktti)
    .bind(category.as_str())
    .bind(window_secs)
    .fetch_optional(&mut *conn)
    .await?;
    if opened.is_some() {
        return Ok(Window::Open);
    }
    let (opens_at, was_queued): (DateTime<Utc>, bool) = sqlx::query_as(
        "UPDATE email_windows w SET digest_queued = true \
         FROM (SELECT opens_at, digest_queued FROM email_windows \
               WHERE user_id = $1 AND ktti_id = $2 AND category = $3 FOR UPDATE) old \
         WHERE w.user_id = $1 AND w.ktti_id = $2 AND w.category = $3 \
         RETURNING old.opens_at, old.digest_queued",
    )
    .bind(user.0)
    .bind(ktti)
    .bind(category.as_str())
    .fetch_one(&mut *conn)
    .await?;
    Ok(Window::Held {
        opens_at,
        schedule: !was_queued,
    })
}

/// After a digest went: the next email waits a whole window again.
pub async fn restart_window(
    conn: &mut PgConnection,
    user: UserId,
    ktti: Uuid,
    category: Category,
    window_secs: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE email_windows SET opens_at = now() + make_interval(secs => $4), digest_queued = false \
         WHERE user_id = $1 AND ktti_id = $2 AND category = $3",
    )
    .bind(user.0)
    .bind(ktti)
    .bind(category.as_str())
    .bind(window_secs)
    .execute(conn)
    .await?;
    Ok(())
}
