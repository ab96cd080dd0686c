//! Uploads through signed URLs (migration `..._uploads.sql`).

use chrono::{DateTime, Utc};
use kttipay_domain::ids::UserId;
use kttipay_domain::upload::UploadKind;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct UploadRow {
    pub id: Uuid,
    pub user_id: Uuid,
    #[sqlx(try_from = "String")]
    pub kind: UploadKind,
    pub object_key: String,
    pub content_type: String,
    pub max_bytes: i32,
    pub expires_at: DateTime<Utc>,
    pub uploaded_at: Option<DateTime<Utc>>,
    pub size_bytes: Option<i32>,
    pub consumed_at: Option<DateTime<Utc>>,
}

macro_rules! upload_select {
    () => {
        "SELECT id, user_id, kind, object_key, content_type, max_bytes, expires_at, uploaded_at, size_bytes, consumed_at \
         FROM uploads "
    };
}

pub struct NewUpload<'a> {
    pub id: Uuid,
    pub user: UserId,
    pub kind: UploadKind,
    pub object_key: &'a str,
    pub content_type: &'a str,
    pub max_bytes: i32,
    pub expires_at: DateTime<Utc>,
}

pub async fn create<'e>(db: impl PgExecutor<'e>, u: &NewUpload<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO uploads (id, user_id, kind, object_key, content_type, max_bytes, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(u.id)
    .bind(u.user.0)
    .bind(u.kind.as_str())
    .bind(u.object_key)
    .bind(u.content_type)
    .bind(u.max_bytes)
    .bind(u.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn find<'e>(db: impl PgExecutor<'e>, id: Uuid) -> Result<Option<UploadRow>, sqlx::Error> {
    sqlx::query_as(concat!(upload_select!(), "WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn by_key<'e>(db: impl PgExecutor<'e>, key: &str) -> Result<Option<UploadRow>, sqlx::Error> {
    sqlx::query_as(concat!(upload_select!(), "WHERE object_key = $1"))
        .bind(key)
        .fetch_optional(db)
        .await
}

/// Claims the URL's one upload: false when it was used or has expired (a
/// concurrent twin that claims first wins; this one gets nothing).
pub async fn claim<'e>(db: impl PgExecutor<'e>, id: Uuid, size: i32) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE uploads SET uploaded_at = now(), size_bytes = $2 \
         WHERE id = $1 AND uploaded_at IS NULL AND expires_at > now()",
    )
    .bind(id)
    .bind(size)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a file that arrived in the bucket by a presigned URL (found and
/// checked on its first use). Idempotent: the first size recorded stays.
pub async fn claim_stored<'e>(db: impl PgExecutor<'e>, id: Uuid, size: i32) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE uploads SET uploaded_at = now(), size_bytes = $2 WHERE id = $1 AND uploaded_at IS NULL")
        .bind(id)
        .bind(size)
        .execute(db)
        .await?;
    Ok(())
}

/// Gives a claim back when storing the file failed, so the client can retry.
pub async fn release<'e>(db: impl PgExecutor<'e>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE uploads SET uploaded_at = NULL, size_bytes = NULL WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// A receipt takes the uploaded file as its own; false when another already did.
pub async fn consume(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE uploads SET consumed_at = now() WHERE id = $1 AND consumed_at IS NULL")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
