//! A group ktti's chat: post (text and/or a photo, `Idempotency-Key`
//! honoured), read newest first, and a live Server-Sent Events stream that
//! resumes after a reconnect from `Last-Event-ID` (the message number).
//!
//! Messages are numbered per ktti in commit order, so "after N" is exact. A
//! stream first subscribes to this process's hub, then catches up from the
//! table, then follows the hub; whenever it may have missed something (a gap
//! in numbers, a full buffer, a lost LISTEN connection) it reads the table
//! again from its last number. It ends when its user leaves the ktti.

use crate::auth::BearerAuth;
use crate::chat_hub::HubEvent;
use crate::error::ApiError;
use crate::idempotency;
use crate::json::JsonBody;
use crate::routes::Tag;
use crate::routes::ktties::{visible, writable};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use kttipay_db::chat::{self, ChatRow};
use kttipay_db::{members, notifications, users};
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::notification as notice;
use kttipay_domain::social::{CHAT_TEXT_MAX_CHARS, text};
use kttipay_domain::upload::UploadKind;
use poem::web::Data;
use poem::web::sse::Event;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{EventStream, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

/// SSE comment lines this often keep proxies from closing an idle stream.
pub const CHAT_STREAM_KEEP_ALIVE_SECS: u64 = 15;
/// An open stream refreshes its presence (and rechecks membership) this often.
pub const CHAT_STREAM_HEARTBEAT_SECS: u64 = 20;
/// Messages read per query while a stream catches up.
const CATCH_UP_BATCH: i64 = 200;
/// Events waiting for a slow client before its stream catches up later.
const STREAM_BUFFER_EVENTS: usize = 256;

#[derive(Debug, Object, Deserialize, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct NewChatMessage {
    /// Up to 2,000 characters; at least one of `text` and `imageKey`.
    #[oai(nullable, validator(max_length = 2000))]
    pub text: Option<String>,
    /// A `chat` upload of the caller's (`POST /api/v2/uploads/signed-url`).
    #[oai(nullable, validator(max_length = 255))]
    pub image_key: Option<String>,
}

#[derive(Debug, Clone, Object, Deserialize, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct ChatMessageView {
    pub id: Uuid,
    pub ktti_id: Uuid,
    /// The message's number in its ktti's chat (1, 2, ...); the stream's event id.
    pub seq: i64,
    pub author_id: Uuid,
    #[oai(nullable)]
    pub text: Option<String>,
    #[oai(nullable)]
    pub image_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&ChatRow> for ChatMessageView {
    fn from(r: &ChatRow) -> Self {
        ChatMessageView {
            id: r.id,
            ktti_id: r.ktti_id,
            seq: r.seq,
            author_id: r.author_id,
            text: r.text.clone(),
            image_key: r.image_key.clone(),
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ChatPage {
    /// Newest first.
    pub items: Vec<ChatMessageView>,
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// One event of the live stream: `message` (with the message; its SSE id is
/// the message number) or `removed` (the caller is no longer a member; the
/// stream ends).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ChatStreamEvent {
    /// `message` or `removed`.
    #[oai(rename = "type")]
    pub kind: String,
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<ChatMessageView>,
}

#[derive(ApiResponse)]
pub enum Posted {
    #[oai(status = 201)]
    Created(Json<ChatMessageView>),
}

pub struct ChatApi;

#[OpenApi(tag = "Tag::Ktti")]
impl ChatApi {
    /// Send a chat message
    ///
    /// Any member of a group ktti: text (up to 2,000 characters) and/or a photo
    /// (`imageKey` of a `chat` upload of the caller's). Other members are
    /// notified (no push to those reading the chat live). Accepts
    /// `Idempotency-Key`: a replay returns the first message and sends nothing.
    #[oai(
        path = "/api/v2/ktties/:kttiId/chat",
        method = "post",
        operation_id = "postChatMessage"
    )]
    async fn post(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<String>>,
        body: JsonBody<NewChatMessage>,
    ) -> Result<Posted, ApiError> {
        let user = auth.0.user_id;
        let k = writable(&state, user, id.0).await?;
        kttipay_domain::membership::must_be_group(k.kind).map_err(ApiError::not_now)?;
        let b = body.0;
        let fingerprint = idempotency::fingerprint("postChatMessage", &b);
        let mut v = kttipay_domain::Validation::new();
        let message = v
            .check_opt("text", b.text.as_deref(), |t| text(t, CHAT_TEXT_MAX_CHARS))
            .flatten()
            .flatten();
        let image = v
            .check_opt("imageKey", b.image_key.as_deref(), crate::routes::ktti_input::image_key)
            .flatten()
            .filter(|k| !k.is_empty());
        let blank = |f: &Option<String>| f.as_deref().is_none_or(|t| t.trim().is_empty());
        if blank(&b.text) && blank(&b.image_key) {
            v.check::<()>("text", Err("a message needs text or a photo".into()));
        }
        v.finish().map_err(ApiError::invalid)?;
        if let Some(key) = &image {
            crate::routes::uploads::usable_key(&state, user, key, UploadKind::Chat, "imageKey").await?;
        }
        let author = users::find(&state.pool, user)
            .await?
            .ok_or_else(|| ApiError::internal("caller vanished"))?;
        let ktti = KttiId(k.id);
        let scope = format!("chat.post:{user}:{ktti}");
        let mut tx = state.pool.begin().await?;
        if let Some(first) =
            idempotency::begin::<ChatMessageView>(&mut tx, &scope, key.0.as_deref(), &fingerprint).await?
        {
            return Ok(Posted::Created(Json(first)));
        }
        // Membership is checked again inside the transaction: a member removed
        // a moment ago cannot post.
        if !members::is_active(&mut *tx, ktti, user).await? {
            return Err(crate::routes::ktties::not_found());
        }
        let row = chat::post(&mut tx, ktti, user, message.as_deref(), image.as_deref()).await?;
        let others = notifications::active_members(&mut *tx, ktti, Some(user)).await?;
        let n = notice::chat_message(&k.name, &author.first_name, message.as_deref()).in_ktti(ktti.0);
        let recipients: Vec<_> = others.into_iter().map(|u| (u, None)).collect();
        notifications::notify(&mut tx, &recipients, &n).await?;
        let view = ChatMessageView::from(&row);
        idempotency::finish(&mut tx, &scope, key.0.as_deref(), 201, &view).await?;
        tx.commit().await?;
        Ok(Posted::Created(Json(view)))
    }

    /// Chat messages
    ///
    /// Any member. Newest first, cursor-paged (`limit` 1 to 100, default 20).
    #[oai(
        path = "/api/v2/ktties/:kttiId/chat",
        method = "get",
        operation_id = "listChatMessages"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> Result<Json<ChatPage>, ApiError> {
        let k = visible(&state, auth.0.user_id, id.0).await?;
        let limit = crate::cursor::limit(limit.0)?;
        let before = crate::cursor::decode_seq(cursor.0.as_deref())?;
        let mut rows = chat::page(&state.pool, KttiId(k.id), before, i64::from(limit) + 1).await?;
        let next_cursor = crate::cursor::split_page(&mut rows, limit, |r| crate::cursor::encode_seq(r.seq));
        Ok(Json(ChatPage {
            items: rows.iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    /// Live chat stream (Server-Sent Events)
    ///
    /// Any member; authenticated like every route (`Authorization: Bearer`).
    /// Each `message` event's id is the message number: reconnect with
    /// `Last-Event-ID` to receive exactly what was missed, then live messages.
    /// Without it the stream starts with the next message. A `removed` event
    /// ends the stream when the caller leaves or is removed. A comment line is
    /// sent every 15 seconds to keep the connection open.
    #[oai(
        path = "/api/v2/ktties/:kttiId/chat/stream",
        method = "get",
        operation_id = "streamChat"
    )]
    async fn stream(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        /// The last message number received (SSE reconnection).
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<String>>,
    ) -> Result<EventStream<BoxStream<'static, ChatStreamEvent>>, ApiError> {
        let user = auth.0.user_id;
        let k = visible(&state, user, id.0).await?;
        // Subscribe before reading where the chat is, so nothing falls between.
        let hub = state.chat_hub.subscribe();
        let from = match last_event_id.0.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(raw) => raw.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                ApiError::invalid_field("validation_failed", "Last-Event-ID", "must be a message number")
            })?,
            None => chat::last_seq(&state.pool, k.id).await?,
        };
        let (out, rx) = mpsc::channel(STREAM_BUFFER_EVENTS);
        let follower = Follower {
            state: state.clone(),
            user,
            ktti: k.id,
            sent: from,
            out,
            stream_id: Uuid::now_v7(),
        };
        tokio::spawn(follower.run(hub));
        let events = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) }).boxed();
        Ok(EventStream::new(events)
            .keep_alive(Duration::from_secs(CHAT_STREAM_KEEP_ALIVE_SECS))
            .to_event(|e: ChatStreamEvent| {
                let data = serde_json::to_string(&e.message).unwrap_or_default();
                match e.message {
                    Some(m) => Event::message(data).id(m.seq.to_string()).event_type("message"),
                    None => Event::message("{}").event_type(e.kind),
                }
            }))
    }
}

/// One open stream's work: catch up, follow the hub, keep presence fresh.
/// Ends when the client goes away (its receiver is dropped) or leaves the ktti.
struct Follower {
    state: AppState,
    user: UserId,
    ktti: Uuid,
    /// The last message number sent.
    sent: i64,
    out: mpsc::Sender<ChatStreamEvent>,
    stream_id: Uuid,
}

enum Next {
    Go,
    Stop,
}

impl Follower {
    async fn run(mut self, mut hub: broadcast::Receiver<HubEvent>) {
        let pool = self.state.pool.clone();
        if let Err(e) = chat::stream_opened(&pool, self.stream_id, self.user, self.ktti).await {
            tracing::warn!(error = %e, "recording an open chat stream failed");
        }
        let mut beat = tokio::time::interval(Duration::from_secs(CHAT_STREAM_HEARTBEAT_SECS));
        beat.tick().await;
        let stopping = self.state.chat_hub.stopping();
        let mut next = self.catch_up().await;
        while let Next::Go = next {
            next = tokio::select! {
                _ = self.out.closed() => Next::Stop,
                _ = stopping.cancelled() => Next::Stop,
                _ = beat.tick() => self.heartbeat().await,
                e = hub.recv() => match e {
                    Ok(HubEvent::Message(row)) if row.ktti_id == self.ktti => {
                        if row.seq == self.sent + 1 {
                            self.send(ChatMessageView::from(&*row)).await
                        } else if row.seq > self.sent {
                            self.catch_up().await
                        } else {
                            Next::Go
                        }
                    }
                    Ok(HubEvent::Departed { ktti, user }) if ktti == self.ktti && user == self.user.0 => {
                        self.removed().await
                    }
                    Ok(HubEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up().await,
                    Ok(_) => Next::Go,
                    Err(broadcast::error::RecvError::Closed) => Next::Stop,
                },
            };
        }
        if let Err(e) = chat::stream_closed(&pool, self.stream_id).await {
            tracing::warn!(error = %e, "recording a closed chat stream failed");
        }
    }

    async fn send(&mut self, m: ChatMessageView) -> Next {
        let seq = m.seq;
        let event = ChatStreamEvent {
            kind: "message".into(),
            message: Some(m),
        };
        if self.out.send(event).await.is_err() {
            return Next::Stop;
        }
        self.sent = seq;
        Next::Go
    }

    /// Everything after the last number sent, from the table.
    async fn catch_up(&mut self) -> Next {
        loop {
            let rows = match chat::after(&self.state.pool, self.ktti, self.sent, CATCH_UP_BATCH).await {
                Ok(rows) => rows,
                Err(e) => {
                    // The next event or heartbeat tries again.
                    tracing::warn!(error = %e, "chat stream catch-up failed");
                    return Next::Go;
                }
            };
            let full = rows.len() as i64 == CATCH_UP_BATCH;
            for r in &rows {
                if let Next::Stop = self.send(r.into()).await {
                    return Next::Stop;
                }
            }
            if !full {
                return Next::Go;
            }
        }
    }

    /// Presence stays fresh; a membership that ended while a signal was missed
    /// still ends the stream.
    async fn heartbeat(&mut self) -> Next {
        let pool = &self.state.pool;
        let _ = chat::stream_seen(pool, self.stream_id).await;
        match members::is_active(pool, KttiId(self.ktti), self.user).await {
            Ok(false) => self.removed().await,
            _ => self.catch_up().await,
        }
    }

    async fn removed(&mut self) -> Next {
        let _ = self
            .out
            .send(ChatStreamEvent {
                kind: "removed".into(),
                message: None,
            })
            .await;
        Next::Stop
    }
}
