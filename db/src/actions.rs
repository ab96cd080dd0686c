//! Action items: decisions waiting on someone. Addressed either to one user or to
//! a ktti's current owner and admins (resolved at read time, so a newly promoted
//! admin sees what is open).

use chrono::{DateTime, Utc};
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::notification as notice;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

pub use kttipay_domain::lifecycle::{ActionKind as Kind, ActionStatus};

/// Who decides an item.
#[derive(Debug, Clone, Copy)]
pub enum Audience {
    /// The ktti's owner and admins.
    Managers,
    User(UserId),
}

#[derive(Debug)]
pub struct NewAction {
    pub kind: Kind,
    pub ktti: KttiId,
    pub audience: Audience,
    pub subject: Option<UserId>,
    pub invitation: Option<Uuid>,
    pub transaction: Option<Uuid>,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActionRow {
    pub uuid: Uuid,
    #[sqlx(try_from = "String")]
    pub kind: Kind,
    pub ktti_id: Uuid,
    pub audience: String,
    pub addressee_id: Option<Uuid>,
    pub subject_id: Option<Uuid>,
    pub invitation_id: Option<Uuid>,
    pub transaction_id: Option<Uuid>,
    pub payload: serde_json::Value,
    #[sqlx(try_from = "String")]
    pub status: ActionStatus,
    pub created_at: DateTime<Utc>,
}

/// Creates an item; `None` when the same one is already open (one per deposit,
/// invitation, or pending requester).
pub async fn create(conn: &mut PgConnection, a: &NewAction) -> Result<Option<Uuid>, sqlx::Error> {
    let (audience, addressee) = match a.audience {
        Audience::Managers => ("admins", None),
        Audience::User(u) => ("user", Some(u.0)),
    };
    let created: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO action_items (uuid, kind, ktti_id, audience, addressee_id, subject_id, invitation_id, \
                                   transaction_id, payload) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING uuid",
    )
    .bind(Uuid::now_v7())
    .bind(a.kind.as_str())
    .bind(a.ktti.0)
    .bind(audience)
    .bind(addressee)
    .bind(a.subject.map(|s| s.0))
    .bind(a.invitation)
    .bind(a.transaction)
    .bind(&a.payload)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = created {
        tell(conn, a, id).await?;
    }
    Ok(created)
}

/// Notifies whom a new item waits for, in the same transaction.
async fn tell(conn: &mut PgConnection, a: &NewAction, id: Uuid) -> Result<(), sqlx::Error> {
    let recipients: Vec<crate::notifications::Recipient> = match a.audience {
        Audience::User(u) => vec![(u, None)],
        Audience::Managers => crate::members::managers(&mut *conn, a.ktti)
            .await?
            .into_iter()
            .map(|m| (UserId(m), None))
            .collect(),
    };
    let name = crate::ktties::name_of(&mut *conn, a.ktti).await?;
    let mut n = notice::action_item(a.kind.as_str(), &name)
        .in_ktti(a.ktti.0)
        .about_action(id);
    if let Some(t) = a.transaction {
        n = n.about_transaction(t);
    }
    if a.kind == Kind::Invitation {
        // The invitation email (with its sign-up link) is the email.
        n = n.emailed_elsewhere();
    }
    crate::notifications::notify(conn, &recipients, &n).await
}

macro_rules! addressed_to {
    // $1 is the user.
    () => {
        "((a.audience = 'user' AND a.addressee_id = $1) OR (a.audience = 'admins' AND EXISTS ( \
             SELECT 1 FROM ktti_members m WHERE m.ktti_id = a.ktti_id AND m.user_id = $1 \
             AND m.status = 'active' AND m.role IN ('owner', 'admin'))))"
    };
}

macro_rules! action_columns {
    () => {
        "SELECT a.uuid, a.kind, a.ktti_id, a.audience, a.addressee_id, a.subject_id, a.invitation_id, \
                a.transaction_id, a.payload, a.status, a.created_at FROM action_items a "
    };
}

/// The user's pending items, oldest first.
pub async fn open_for<'e>(db: impl PgExecutor<'e>, user: UserId) -> Result<Vec<ActionRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        action_columns!(),
        "WHERE a.status = 'pending' AND ",
        addressed_to!(),
        // A lapsed invitation is nothing to decide any more.
        " AND NOT EXISTS (SELECT 1 FROM invitations i WHERE i.id = a.invitation_id AND i.expires_at <= now()) \
         ORDER BY a.created_at, a.uuid"
    ))
    .bind(user.0)
    .fetch_all(db)
    .await
}

/// An item addressed to `user`, in any status, locked: of two deciders at once,
/// the second waits and then sees the first's decision.
pub async fn lock_for(conn: &mut PgConnection, user: UserId, uuid: Uuid) -> Result<Option<ActionRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        action_columns!(),
        "WHERE a.uuid = $2 AND ",
        addressed_to!(),
        " FOR UPDATE OF a"
    ))
    .bind(user.0)
    .bind(uuid)
    .fetch_optional(conn)
    .await
}

/// Records a decision on a pending item.
pub async fn decide(
    conn: &mut PgConnection,
    uuid: Uuid,
    status: ActionStatus,
    by: UserId,
) -> Result<bool, sqlx::Error> {
    debug_assert!(ActionStatus::Pending.can_become(status), "{status} decides nothing");
    let done = sqlx::query(
        "UPDATE action_items SET status = $2, decided_by = $3, decided_at = now() WHERE uuid = $1 AND status = 'pending'",
    )
    .bind(uuid)
    .bind(status.as_str())
    .bind(by.0)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Closes the open item about a deposit once it is assigned some other way.
pub async fn resolve_deposit(conn: &mut PgConnection, transaction: Uuid, by: UserId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE action_items SET status = 'resolved', decided_by = $2, decided_at = now() \
         WHERE transaction_id = $1 AND status = 'pending'",
    )
    .bind(transaction)
    .bind(by.0)
    .execute(conn)
    .await?;
    Ok(())
}

/// Closes the open item about an invitation decided through its own routes.
pub async fn close_invitation(
    conn: &mut PgConnection,
    invitation: Uuid,
    status: ActionStatus,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE action_items SET status = $2, decided_at = now() WHERE invitation_id = $1 AND status = 'pending'",
    )
    .bind(invitation)
    .bind(status.as_str())
    .execute(conn)
    .await?;
    Ok(())
}
