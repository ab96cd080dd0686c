//! Group chat: posting, paging, replays, bad input, and the live stream
//! (resuming after a reconnect exactly once, across API replicas, and closed
//! when its member is removed).

use crate::common::fcm::{configure, stand_in};
use crate::common::group::person;
use crate::common::sse::SseReader;
use crate::common::trip::trip;
use crate::common::uploads::{tiny_png, uploaded};
use crate::common::{TestApp, problem};
use serde_json::{Value, json};

async fn post(app: &TestApp, token: &str, ktti: &str, body: Value) -> reqwest::Response {
    app.post_auth(&format!("/api/v2/ktties/{ktti}/chat"), token, body).await
}

async fn say(app: &TestApp, token: &str, ktti: &str, text: &str) -> Value {
    let r = post(app, token, ktti, json!({ "text": text })).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn device(app: &TestApp, token: &str, device: &str, fcm: &str) {
    let r = app
        .post_auth(
            "/api/v2/devices/fcm-token",
            token,
            json!({ "deviceId": device, "token": fcm, "platform": "android" }),
        )
        .await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn messages_post_page_newest_first_and_replay_once() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    let first = say(&app, &t.pia.token, &t.id, "Dinner at 7?").await;
    assert_eq!(first["seq"], 1);
    let photo = uploaded(&app, &t.sam.token, "chat", "image/png", tiny_png()).await;
    let r = post(&app, &t.sam.token, &t.id, json!({ "imageKey": photo })).await;
    assert_eq!(r.status(), 201);
    let second: Value = r.json().await.unwrap();
    assert_eq!((second["seq"].as_i64(), second["text"].is_null()), (Some(2), true));

    // A replay with the same key returns the first message and stores nothing.
    let key = "chat-key-1";
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = app
            .client
            .post(app.url(&format!("/api/v2/ktties/{}/chat", t.id)))
            .bearer_auth(&t.kim.token)
            .header("Idempotency-Key", key)
            .json(&json!({ "text": "On my way" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        ids.push(r.json::<Value>().await.unwrap()["id"].clone());
    }
    assert_eq!(ids[0], ids[1]);
    assert_eq!(app.count("SELECT count(*) FROM chat_messages").await, 3);

    // Newest first, a page at a time.
    let page: Value = app
        .get_auth(&format!("/api/v2/ktties/{}/chat?limit=2", t.id), &t.sam.token)
        .await
        .json()
        .await
        .unwrap();
    let seqs: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [3, 2]);
    let rest: Value = app
        .get_auth(
            &format!(
                "/api/v2/ktties/{}/chat?limit=2&cursor={}",
                t.id,
                page["nextCursor"].as_str().unwrap()
            ),
            &t.sam.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"][0]["text"], "Dinner at 7?");
    assert!(rest.get("nextCursor").is_none());

    // Every other member heard of each message once; the author did not.
    app.drain().await;
    let chat_notes = |user: &str| {
        let pool = app.pool.clone();
        let user: uuid::Uuid = user.parse().unwrap();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM notifications WHERE user_id = $1 AND category = 'chat'")
                .bind(user)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(chat_notes(&t.pia.id).await, 2);
    assert_eq!(chat_notes(&t.kim.id).await, 2);
    let inbox: Value = app
        .get_auth("/api/v2/notifications/inbox", &t.pia.token)
        .await
        .json()
        .await
        .unwrap();
    let newest = &inbox["items"][0];
    assert_eq!(newest["category"], "chat");
    assert_eq!(newest["title"], "Kim in Trip");
    assert_eq!(newest["body"], "On my way");
    assert_eq!(newest["kttiId"].as_str(), Some(t.id.as_str()));
    app.stop().await;
}

#[tokio::test]
async fn bad_messages_and_strangers_change_nothing() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    let outsider = person(&app, "out@example.com").await;
    let long = "x".repeat(2_001);
    for body in [
        json!({}),
        json!({ "text": "   " }),
        json!({ "text": long }),
        json!({ "text": "a\u{0007}b" }),
    ] {
        let r = post(&app, &t.pia.token, &t.id, body.clone()).await;
        assert_eq!(r.status(), 422, "{body}");
    }
    // Another user's upload, and an upload of the wrong kind.
    let sams = uploaded(&app, &t.sam.token, "chat", "image/png", tiny_png()).await;
    problem(
        post(&app, &t.pia.token, &t.id, json!({ "imageKey": sams })).await,
        422,
        "validation_failed",
    )
    .await;
    let avatar = uploaded(&app, &t.pia.token, "avatar", "image/png", tiny_png()).await;
    problem(
        post(&app, &t.pia.token, &t.id, json!({ "imageKey": avatar })).await,
        422,
        "validation_failed",
    )
    .await;
    // Someone outside the ktti sees no chat at all.
    problem(
        post(&app, &outsider.token, &t.id, json!({ "text": "hi" })).await,
        404,
        "ktti_not_found",
    )
    .await;
    problem(
        app.get_auth(&format!("/api/v2/ktties/{}/chat", t.id), &outsider.token)
            .await,
        404,
        "ktti_not_found",
    )
    .await;
    let stream = SseReader::open(
        &app,
        &format!("/api/v2/ktties/{}/chat/stream", t.id),
        &outsider.token,
        None,
    )
    .await;
    problem(stream, 404, "ktti_not_found").await;
    problem(
        app.get_auth(&format!("/api/v2/ktties/{}/chat?cursor=bm9wZQ", t.id), &t.pia.token)
            .await,
        422,
        "invalid_cursor",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM chat_messages").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM notifications WHERE category = 'chat'")
            .await,
        0
    );
    app.stop().await;
}

/// A stream gets live messages; after a reconnect with `Last-Event-ID` it gets
/// exactly what it missed, then live ones, even when posted through another
/// API replica. While the stream is open, chat pushes to its user are skipped.
#[tokio::test]
async fn the_stream_resumes_exactly_once_across_replicas() {
    let fcm = stand_in().await;
    let app = TestApp::spawn_with(|v| configure(&fcm, v)).await;
    let t = trip(&app).await;
    device(&app, &t.sam.token, "sam-phone", "fcm-token-sam").await;
    device(&app, &t.kim.token, "kim-phone", "fcm-token-kim").await;
    let path = format!("/api/v2/ktties/{}/chat/stream", t.id);

    let mut sam = SseReader::new(SseReader::open(&app, &path, &t.sam.token, None).await);
    // The stream is registered once its presence row exists.
    app.eventually("Sam's stream to be open", || async {
        (app.count("SELECT count(*) FROM chat_streams").await == 1).then_some(())
    })
    .await;
    say(&app, &t.pia.token, &t.id, "one").await;
    say(&app, &t.pia.token, &t.id, "two").await;
    for (seq, text) in [(1, "one"), (2, "two")] {
        let e = sam.next().await.unwrap();
        assert_eq!(
            (e.event.as_str(), e.id.as_deref()),
            ("message", Some(seq.to_string().as_str()))
        );
        assert_eq!(e.data["text"], text);
    }
    app.drain().await;
    // Kim (no stream) was pushed both; Sam (reading live) neither.
    assert_eq!(fcm.accepted_for("fcm-token-kim").len(), 2);
    assert!(fcm.accepted_for("fcm-token-sam").is_empty());
    drop(sam);

    // A second API replica on the same database: its own LISTEN connection.
    let replica = kttipay::start(
        &app.config,
        kttipay::Roles {
            api: true,
            relay: false,
            worker_queues: Vec::new(),
            sandbox: false,
        },
    )
    .await
    .unwrap();
    let replica_base = format!("http://{}", replica.addr.unwrap());

    // Missed while away.
    say(&app, &t.kim.token, &t.id, "three").await;
    say(&app, &t.pia.token, &t.id, "four").await;
    // Reconnect to the other replica with the last id seen.
    let resp = app
        .client
        .get(format!("{replica_base}{path}"))
        .bearer_auth(&t.sam.token)
        .header("Last-Event-ID", "2")
        .send()
        .await
        .unwrap();
    let mut sam = SseReader::new(resp);
    for text in ["three", "four"] {
        assert_eq!(sam.next().await.unwrap().data["text"], text);
    }
    // Posted through the first replica, heard on the second.
    say(&app, &t.pia.token, &t.id, "five").await;
    let e = sam.next().await.unwrap();
    assert_eq!((e.id.as_deref(), &e.data["text"]), (Some("5"), &json!("five")));
    assert!(sam.quiet_for(500).await, "nothing is sent twice");
    drop(sam);
    replica.shutdown().await;

    // A bad Last-Event-ID is a clear 422.
    let r = SseReader::open(&app, &path, &t.sam.token, Some("yesterday")).await;
    assert_eq!(r.status(), 422);
    app.stop().await;
}

#[tokio::test]
async fn a_removed_members_stream_is_closed() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    let path = format!("/api/v2/ktties/{}/chat/stream", t.id);
    let mut kim = SseReader::new(SseReader::open(&app, &path, &t.kim.token, None).await);
    app.eventually("Kim's stream to be open", || async {
        (app.count("SELECT count(*) FROM chat_streams").await == 1).then_some(())
    })
    .await;
    say(&app, &t.pia.token, &t.id, "bye Kim").await;
    assert_eq!(kim.next().await.unwrap().data["text"], "bye Kim");
    let r = app
        .client
        .delete(app.url(&format!("/api/v2/ktties/{}/members/{}", t.id, t.kim.id)))
        .bearer_auth(&t.pia.token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let e = kim.next().await.unwrap();
    assert_eq!(e.event, "removed");
    assert!(kim.next().await.is_none(), "the stream ends");
    app.eventually("the stream's presence to go", || async {
        (app.count("SELECT count(*) FROM chat_streams").await == 0).then_some(())
    })
    .await;
    // And Kim can no longer read or post.
    problem(
        post(&app, &t.kim.token, &t.id, json!({ "text": "still here?" })).await,
        404,
        "ktti_not_found",
    )
    .await;
    app.drain().await;
    let removed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE event = 'youWereRemoved' AND user_id = $1")
            .bind(t.kim.id.parse::<uuid::Uuid>().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(removed, 1);
    app.stop().await;
}

/// Presence left by an API process that died with streams open is purged by the
/// retention sweep; a live stream's row stays.
#[tokio::test]
async fn a_dead_processs_stream_presence_is_purged() {
    let app = TestApp::spawn().await;
    let (stale, fresh) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    sqlx::query(
        "INSERT INTO chat_streams (id, user_id, ktti_id, seen_at) VALUES \
         ($1, gen_random_uuid(), gen_random_uuid(), now() - interval '1 hour'), \
         ($2, gen_random_uuid(), gen_random_uuid(), now())",
    )
    .bind(stale)
    .bind(fresh)
    .execute(&app.pool)
    .await
    .unwrap();
    // The app's own sweep may run first (its first tick is at start); either
    // way the same purge leaves the live row alone.
    kttipay_db::retention::purge(&app.pool, 24, 14).await.unwrap();
    let left: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM chat_streams")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, [fresh]);
    app.stop().await;
}
