//! Group chat: messages numbered per ktti in commit order, the channel that
//! tells every API replica about them, and who has a live stream open.

use chrono::{DateTime, Utc};
use kttipay_domain::ids::{ChatMessageId, KttiId, UserId};
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

/// The PostgreSQL channel chat events go out on (delivered at commit, so a
/// listener never hears of a message it cannot read yet).
pub const CHANNEL: &str = "kttipay_chat";

#[derive(Debug, Clone, FromRow)]
pub struct ChatRow {
    pub id: Uuid,
    pub ktti_id: Uuid,
    pub seq: i64,
    pub author_id: Uuid,
    pub text: Option<String>,
    pub image_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

macro_rules! chat_select {
    () => {
        "SELECT id, ktti_id, seq, author_id, text, image_key, created_at FROM chat_messages "
    };
}

/// Stores a message as the ktti's next and announces it. Taking the next number
/// locks the ktti's counter row until commit, so numbers commit in order.
pub async fn post(
    conn: &mut PgConnection,
    ktti: KttiId,
    author: UserId,
    text: Option<&str>,
    image_key: Option<&str>,
) -> Result<ChatRow, sqlx::Error> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO chat_counters (ktti_id, last_seq) VALUES ($1, 1) \
         ON CONFLICT (ktti_id) DO UPDATE SET last_seq = chat_counters.last_seq + 1 RETURNING last_seq",
    )
    .bind(ktti.0)
    .fetch_one(&mut *conn)
    .await?;
    let row: ChatRow = sqlx::query_as(
        "INSERT INTO chat_messages (id, ktti_id, seq, author_id, text, image_key) VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING id, ktti_id, seq, author_id, text, image_key, created_at",
    )
    .bind(ChatMessageId::new().0)
    .bind(ktti.0)
    .bind(seq)
    .bind(author.0)
    .bind(text)
    .bind(image_key)
    .fetch_one(&mut *conn)
    .await?;
    announce(conn, &format!("m:{}:{seq}", ktti.0)).await?;
    Ok(row)
}

/// Tells every replica's open streams of `ktti` that `user` is no longer a
/// member (their streams end), at commit of the caller's transaction.
pub async fn announce_departure(conn: &mut PgConnection, ktti: KttiId, user: UserId) -> Result<(), sqlx::Error> {
    announce(conn, &format!("r:{}:{}", ktti.0, user.0)).await
}

async fn announce(conn: &mut PgConnection, payload: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(())
}

/// A page of the ktti's chat, newest first, before message number `before`.
pub async fn page<'e>(
    db: impl PgExecutor<'e>,
    ktti: KttiId,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ChatRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        chat_select!(),
        "WHERE ktti_id = $1 AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3"
    ))
    .bind(ktti.0)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Messages after number `after`, oldest first (a stream catching up).
pub async fn after<'e>(
    db: impl PgExecutor<'e>,
    ktti: Uuid,
    after: i64,
    limit: i64,
) -> Result<Vec<ChatRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        chat_select!(),
        "WHERE ktti_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    ))
    .bind(ktti)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The ktti's newest message number (0 before the first).
pub async fn last_seq<'e>(db: impl PgExecutor<'e>, ktti: Uuid) -> Result<i64, sqlx::Error> {
    let seq: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM chat_counters WHERE ktti_id = $1")
        .bind(ktti)
        .fetch_optional(db)
        .await?;
    Ok(seq.unwrap_or(0))
}

pub async fn by_seq<'e>(db: impl PgExecutor<'e>, ktti: Uuid, seq: i64) -> Result<Option<ChatRow>, sqlx::Error> {
    sqlx::query_as(concat!(chat_select!(), "WHERE ktti_id = $1 AND seq = $2"))
        .bind(ktti)
        .bind(seq)
        .fetch_optional(db)
        .await
}

/// A stream opened: its user counts as reading the chat (pushes are skipped).
pub async fn stream_opened<'e>(db: impl PgExecutor<'e>, id: Uuid, user: UserId, ktti: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO chat_streams (id, user_id, ktti_id) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(user.0)
        .bind(ktti)
        .execute(db)
        .await?;
    Ok(())
}

/// The stream is still open (its row stays fresh).
pub async fn stream_seen<'e>(db: impl PgExecutor<'e>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE chat_streams SET seen_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn stream_closed<'e>(db: impl PgExecutor<'e>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM chat_streams WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// What the chat channel says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Message number `seq` of `ktti` committed.
    Message { ktti: Uuid, seq: i64 },
    /// `user` left or was removed from `ktti`.
    Departed { ktti: Uuid, user: Uuid },
    /// The listening connection dropped and came back: signals may have been
    /// missed, so streams catch up from the table.
    Lost,
}

fn parse(payload: &str) -> Option<Signal> {
    let mut parts = payload.split(':');
    let (kind, ktti, rest) = (parts.next()?, parts.next()?.parse().ok()?, parts.next()?);
    match kind {
        "m" => Some(Signal::Message {
            ktti,
            seq: rest.parse().ok()?,
        }),
        "r" => Some(Signal::Departed {
            ktti,
            user: rest.parse().ok()?,
        }),
        _ => None,
    }
}

/// One LISTEN connection on [`CHANNEL`].
pub struct Listener(sqlx::postgres::PgListener);

impl Listener {
    pub async fn connect(pool: &sqlx::PgPool) -> Result<Listener, sqlx::Error> {
        let mut l = sqlx::postgres::PgListener::connect_with(pool).await?;
        l.listen(CHANNEL).await?;
        Ok(Listener(l))
    }

    /// The next signal. A dropped connection is re-established (and listened
    /// on again) by the next call; its loss is reported as [`Signal::Lost`].
    pub async fn next(&mut self) -> Result<Signal, sqlx::Error> {
        loop {
            match self.0.try_recv().await? {
                None => return Ok(Signal::Lost),
                Some(n) => {
                    if let Some(s) = parse(n.payload()) {
                        return Ok(s);
                    }
                    tracing::warn!(payload = n.payload(), "unreadable chat signal ignored");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_read_back() {
        let k = Uuid::now_v7();
        let u = Uuid::now_v7();
        assert_eq!(parse(&format!("m:{k}:7")), Some(Signal::Message { ktti: k, seq: 7 }));
        assert_eq!(
            parse(&format!("r:{k}:{u}")),
            Some(Signal::Departed { ktti: k, user: u })
        );
        assert_eq!(parse("x:1:2"), None);
        assert_eq!(parse("m:nope:1"), None);
    }
}
