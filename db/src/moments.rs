//! Moments: members' posts with photos, newest first; managers may hide one.

use chrono::{DateTime, Utc};
use kttipay_domain::ids::{KttiId, MomentId, UserId};
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct MomentRow {
    pub id: Uuid,
    pub ktti_id: Uuid,
    pub author_id: Uuid,
    pub text: String,
    pub image_keys: Vec<String>,
    pub hidden_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! moment_select {
    () => {
        "SELECT id, ktti_id, author_id, text, image_keys, hidden_at, created_at, updated_at FROM moments "
    };
}

pub async fn create(
    conn: &mut PgConnection,
    ktti: KttiId,
    author: UserId,
    text: &str,
    image_keys: &[String],
) -> Result<MomentRow, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO moments (id, ktti_id, author_id, text, image_keys) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id, ktti_id, author_id, text, image_keys, hidden_at, created_at, updated_at",
    )
    .bind(MomentId::new().0)
    .bind(ktti.0)
    .bind(author.0)
    .bind(text)
    .bind(image_keys)
    .fetch_one(conn)
    .await
}

/// A page of the ktti's moments, newest first, after the `(created_at, id)`
/// cursor. Hidden ones are listed only for `viewer` when they wrote them or
/// `with_hidden` (managers).
pub async fn page<'e>(
    db: impl PgExecutor<'e>,
    ktti: KttiId,
    viewer: UserId,
    with_hidden: bool,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<MomentRow>, sqlx::Error> {
    let (at, id) = after.unzip();
    sqlx::query_as(concat!(
        moment_select!(),
        "WHERE ktti_id = $1 AND (hidden_at IS NULL OR $3 OR author_id = $2) \
         AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5)) \
         ORDER BY created_at DESC, id DESC LIMIT $6"
    ))
    .bind(ktti.0)
    .bind(viewer.0)
    .bind(with_hidden)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The moment, locked for a change.
pub async fn lock(conn: &mut PgConnection, ktti: KttiId, id: Uuid) -> Result<Option<MomentRow>, sqlx::Error> {
    sqlx::query_as(concat!(moment_select!(), "WHERE ktti_id = $1 AND id = $2 FOR UPDATE"))
        .bind(ktti.0)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// What a change sets (`None` leaves a field alone).
#[derive(Debug, Default)]
pub struct MomentChange {
    pub text: Option<String>,
    pub image_keys: Option<Vec<String>>,
    /// `Some(true)` hides (by `by`), `Some(false)` shows again.
    pub hidden: Option<bool>,
}

pub async fn update(conn: &mut PgConnection, id: Uuid, by: UserId, c: &MomentChange) -> Result<MomentRow, sqlx::Error> {
    sqlx::query_as(
        "UPDATE moments SET text = coalesce($2, text), image_keys = coalesce($3, image_keys), \
             hidden_at = CASE WHEN $4 IS NULL THEN hidden_at WHEN $4 THEN coalesce(hidden_at, now()) ELSE NULL END, \
             hidden_by = CASE WHEN $4 IS NULL THEN hidden_by WHEN $4 THEN $5 ELSE NULL END, \
             updated_at = now() \
         WHERE id = $1 \
         RETURNING id, ktti_id, author_id, text, image_keys, hidden_at, created_at, updated_at",
    )
    .bind(id)
    .bind(c.text.as_deref())
    .bind(c.image_keys.as_deref())
    .bind(c.hidden)
    .bind(by.0)
    .fetch_one(conn)
    .await
}
