//! Notifications: the inbox, preferences, push through FCM (against a local
//! stand-in speaking FCM HTTP v1 and Google's token endpoint), email with a
//! digest for busy ktties.

use crate::common::fcm::{Answer, configure, stand_in};
use crate::common::group::person;
use crate::common::trip::{pays_in, spend, trip};
use crate::common::{TestApp, problem};
use kttipay_domain::ids::{KttiId, UserId};
use serde_json::{Value, json};

async fn device(app: &TestApp, token: &str, device: &str, fcm: &str) {
    let r = app
        .post_auth(
            "/api/v2/devices/fcm-token",
            token,
            json!({ "deviceId": device, "token": fcm, "platform": "ios" }),
        )
        .await;
    assert_eq!(r.status(), 204);
}

async fn say(app: &TestApp, token: &str, ktti: &str, text: &str) {
    let r = app
        .post_auth(&format!("/api/v2/ktties/{ktti}/chat"), token, json!({ "text": text }))
        .await;
    assert_eq!(r.status(), 201);
}

async fn inbox(app: &TestApp, token: &str) -> Vec<Value> {
    let page: Value = app
        .get_auth("/api/v2/notifications/inbox?limit=100", token)
        .await
        .json()
        .await
        .unwrap();
    page["items"].as_array().unwrap().clone()
}

async fn put_prefs(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.client
        .put(app.url("/api/v2/notifications/preferences"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_inbox_pages_reads_and_counts_for_its_owner_only() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    // What the trip's setup said (joins, verification) is read first.
    let unread = |token: String| {
        let app = &app;
        async move {
            let s: Value = app
                .get_auth("/api/v2/notifications", &token)
                .await
                .json()
                .await
                .unwrap();
            s["unreadCount"].as_i64().unwrap()
        }
    };
    let (pia_before, kim_before) = (unread(t.pia.token.clone()).await, unread(t.kim.token.clone()).await);
    for i in 0..3 {
        say(&app, &t.sam.token, &t.id, &format!("message {i}")).await;
    }
    let summary: Value = app
        .get_auth("/api/v2/notifications", &t.pia.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(summary["unreadCount"].as_i64(), Some(pia_before + 3));
    assert!(summary["lastNotificationAt"].is_string());

    let first: Value = app
        .get_auth("/api/v2/notifications/inbox?limit=2", &t.pia.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"][0]["body"], "message 2");
    let rest: Value = app
        .get_auth(
            &format!(
                "/api/v2/notifications/inbox?limit=2&cursor={}",
                first["nextCursor"].as_str().unwrap()
            ),
            &t.pia.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"][0]["body"], "message 0");

    let id = first["items"][0]["id"].as_str().unwrap().to_string();
    let read = |token: String, id: String| {
        let app = &app;
        async move {
            app.post_auth(&format!("/api/v2/notifications/inbox/{id}/read"), &token, json!({}))
                .await
        }
    };
    // Someone else's notification is not there for them.
    problem(
        read(t.kim.token.clone(), id.clone()).await,
        404,
        "notification_not_found",
    )
    .await;
    problem(
        read(t.pia.token.clone(), uuid::Uuid::now_v7().to_string()).await,
        404,
        "notification_not_found",
    )
    .await;
    assert_eq!(read(t.pia.token.clone(), id.clone()).await.status(), 204);
    assert_eq!(
        read(t.pia.token.clone(), id.clone()).await.status(),
        204,
        "again: still 204"
    );
    assert_eq!(unread(t.pia.token.clone()).await, pia_before + 2);
    assert_eq!(
        unread(t.kim.token.clone()).await,
        kim_before + 3,
        "Kim's own are untouched"
    );
    app.stop().await;
}

#[tokio::test]
async fn preferences_mute_channels_but_never_account_email() {
    let fcm = stand_in().await;
    let app = TestApp::spawn_with(|v| configure(&fcm, v)).await;
    let t = trip(&app).await;
    device(&app, &t.pia.token, "pia-phone", "fcm-pia").await;

    let prefs: Value = app
        .get_auth("/api/v2/notifications/preferences", &t.pia.token)
        .await
        .json()
        .await
        .unwrap();
    let cats = prefs["categories"].as_array().unwrap();
    assert_eq!(cats.len(), 9);
    let chat = cats.iter().find(|c| c["category"] == "chat").unwrap();
    assert_eq!(
        (chat["push"].as_bool(), chat["email"].as_bool(), chat["inbox"].as_bool()),
        (Some(true), Some(false), Some(true))
    );
    let account = cats.iter().find(|c| c["category"] == "account").unwrap();
    assert_eq!(account["locked"], json!(["email"]));

    // Account email cannot be muted; nothing changes.
    let r = put_prefs(
        &app,
        &t.pia.token,
        json!({"categories": [
            {"category": "chat", "push": false, "email": false, "inbox": false},
            {"category": "account", "push": true, "email": false, "inbox": true}]}),
    )
    .await;
    problem(r, 422, "validation_failed").await;
    for bad in [
        json!({"categories": []}),
        json!({"categories": [{"category": "gossip", "push": true, "email": true, "inbox": true}]}),
        json!({"categories": [
            {"category": "chat", "push": true, "email": true, "inbox": true},
            {"category": "chat", "push": false, "email": true, "inbox": true}]}),
    ] {
        assert!(
            put_prefs(&app, &t.pia.token, bad.clone())
                .await
                .status()
                .is_client_error(),
            "{bad}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM notification_preferences").await, 0);

    // Chat muted on push and inbox: a message reaches neither.
    let r = put_prefs(
        &app,
        &t.pia.token,
        json!({"categories": [{"category": "chat", "push": false, "email": false, "inbox": false}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let after: Value = r.json().await.unwrap();
    let chat = after["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == "chat")
        .unwrap()
        .clone();
    assert_eq!(chat["push"], false);
    say(&app, &t.sam.token, &t.id, "muted?").await;
    app.drain().await;
    assert!(!inbox(&app, &t.pia.token).await.iter().any(|n| n["category"] == "chat"));
    assert!(!fcm.received().iter().any(|m| m.data["category"] == "chat"));
    assert_eq!(
        app.count(
            "SELECT count(*) FROM notifications WHERE category = 'chat' AND (push OR in_inbox) \
             AND user_id = (SELECT id FROM users WHERE email = 'pia@example.com')"
        )
        .await,
        0,
        "nothing to push or show on muted channels"
    );

    // Other categories still push: a card payment, with Pia's own share.
    pays_in(&app, &t, &t.pia, "90.00", "dep-1").await;
    spend(&app, &t, "30.00").await;
    app.drain().await;
    let spends: Vec<_> = fcm
        .accepted_for("fcm-pia")
        .into_iter()
        .filter(|m| m.data["event"] == "cardSpend")
        .collect();
    assert_eq!(spends.len(), 1);
    assert_eq!(spends[0].data["share"], "10.00");
    assert!(spends[0].body.contains("Your share: $10.00"), "{}", spends[0].body);
    let sams = inbox(&app, &t.sam.token).await;
    let spend_note = sams.iter().find(|n| n["event"] == "cardSpend").unwrap();
    assert_eq!(spend_note["share"], "10.00");
    assert!(spend_note["transactionId"].is_string());
    app.stop().await;
}

/// FCM answering 500 then 200 delivers once; `UNREGISTERED` removes the token;
/// the token endpoint failing delays but loses nothing; the access token is
/// fetched once and reused.
#[tokio::test]
async fn pushes_survive_fcm_faults_and_dead_tokens_are_forgotten() {
    let fcm = stand_in().await;
    let app = TestApp::spawn_with(|v| configure(&fcm, v)).await;
    let t = trip(&app).await;
    device(&app, &t.pia.token, "pia-phone", "fcm-flaky").await;
    device(&app, &t.pia.token, "pia-old-tablet", "fcm-dead").await;
    fcm.script(
        "fcm-flaky",
        vec![
            Answer::Error(500, "INTERNAL", None),
            Answer::Error(503, "UNAVAILABLE", Some(0)),
        ],
    );
    fcm.script("fcm-dead", vec![Answer::Error(404, "UNREGISTERED", None)]);
    fcm.fail_tokens(2);

    let r = app
        .post_auth("/api/v2/notifications/test-push", &t.pia.token, json!({}))
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["devices"], 2);
    app.drain_all().await;
    assert_eq!(fcm.accepted_for("fcm-flaky").len(), 1, "delivered exactly once");
    assert!(fcm.accepted_for("fcm-dead").is_empty());
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM devices WHERE fcm_token = 'fcm-dead'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(dead, 0, "the unregistered token is forgotten");
    assert_eq!(fcm.token_requests(), 3, "two refused, then one token reused");

    // A notification push after that: the flaky device only.
    say(&app, &t.sam.token, &t.id, "ping").await;
    app.drain_all().await;
    let flaky = fcm.accepted_for("fcm-flaky");
    assert_eq!(flaky.len(), 2);
    assert_eq!(flaky[1].title, "Sam in Trip");
    assert_eq!(flaky[1].data["category"], "chat");
    assert_eq!(flaky[1].data["kttiId"].as_str(), Some(t.id.as_str()));
    assert_eq!(fcm.token_requests(), 3, "the cached token served the second push");
    app.stop().await;
}

/// A chat message to a 200-member ktti: every member's inbox row and push, at
/// most `KTTIPAY_FCM_MAX_IN_FLIGHT` sends at once however many workers run.
#[tokio::test]
async fn a_big_ktti_is_pushed_with_bounded_concurrency() {
    const MEMBERS: usize = 200;
    const IN_FLIGHT: usize = 6;
    let fcm = stand_in().await;
    fcm.slow(25);
    let app = TestApp::spawn_with(|v| {
        configure(&fcm, v);
        v.insert("KTTIPAY_FCM_MAX_IN_FLIGHT".into(), IN_FLIGHT.to_string());
        v.insert("KTTIPAY_WORKER_CONCURRENCY".into(), "24".into());
    })
    .await;
    let owner = person(&app, "owner@example.com").await;
    let k = crate::common::group::group(&app, &owner, json!({"name": "Festival"})).await;
    let ktti = KttiId(k["id"].as_str().unwrap().parse().unwrap());
    // Members seeded as the join route writes them (the route is tested elsewhere).
    let mut tx = app.pool.begin().await.unwrap();
    for i in 1..MEMBERS {
        let user = UserId::new();
        let email = format!("fan{i}@example.com");
        let new = kttipay_db::users::NewUser {
            id: user,
            email: &email,
            first_name: "Fan",
            last_name: "Member",
            phone: "+61412345678",
            date_of_birth: chrono::NaiveDate::from_ymd_opt(1990, 4, 1),
            email_verified: true,
        };
        kttipay_db::users::insert(&mut tx, &new).await.unwrap().unwrap();
        let reference = kttipay_domain::ids::deposit_reference(i as u64 * 7_919 + 13);
        kttipay_db::members::join(
            &mut tx,
            ktti,
            user,
            kttipay_domain::membership::Role::Member,
            &reference,
        )
        .await
        .unwrap();
        kttipay_db::devices::save_fcm_token(&mut tx, user, "phone", &format!("fcm-fan-{i}"), "android")
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    say(&app, &owner.token, &ktti.0.to_string(), "Gates open at 4").await;
    app.drain().await;
    let received = fcm.received();
    assert_eq!(received.len(), MEMBERS - 1);
    let mut tokens: Vec<&str> = received.iter().map(|r| r.token.as_str()).collect();
    tokens.sort_unstable();
    tokens.dedup();
    assert_eq!(tokens.len(), MEMBERS - 1, "one push per member");
    let max = fcm.max_in_flight();
    assert!(max <= IN_FLIGHT, "at most {IN_FLIGHT} at once, saw {max}");
    assert!(max >= 2, "sends overlap ({max})");
    assert_eq!(
        app.count("SELECT count(*) FROM notifications WHERE in_inbox AND category = 'chat'")
            .await,
        (MEMBERS - 1) as i64
    );
    app.stop().await;
}

/// Money-in emails to one member about one ktti: the first goes at once, the
/// rest of the window arrive as one digest when it ends.
#[tokio::test]
async fn busy_ktties_send_one_digest_not_an_email_per_deposit() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    let before = app.smtp.messages_to(&t.pia.email).len();
    for (i, amount) in ["10.00", "11.00", "12.00"].into_iter().enumerate() {
        pays_in(&app, &t, &t.sam, amount, &format!("dep-{i}")).await;
    }
    app.drain().await;
    let mails = app.smtp.messages_to(&t.pia.email);
    let money: Vec<_> = mails[before..]
        .iter()
        .filter(|m| m.data.contains("in Trip") && m.data.contains("paid in"))
        .collect();
    assert_eq!(money.len(), 1, "the first at once");
    let digests_for_pia: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE kind = 'notification.digest.v1' AND payload->>'userId' = $1",
    )
    .bind(&t.pia.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(digests_for_pia, 1, "one digest waits for the window");
    // The window ends (moved in the database, not waited for).
    sqlx::query("UPDATE email_windows SET opens_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE jobs SET run_at = now() WHERE kind = 'notification.digest.v1'")
        .execute(&app.pool)
        .await
        .unwrap();
    app.drain().await;
    let mails = app.smtp.messages_to(&t.pia.email);
    let digests: Vec<_> = mails
        .iter()
        .filter(|m| m.data.contains("Subject: 2 updates from Trip"))
        .collect();
    assert_eq!(digests.len(), 1);
    assert!(digests[0].data.contains("$11.00") && digests[0].data.contains("$12.00"));
    assert!(!digests[0].data.contains("$10.00"), "the first is not sent again");
    // Every deposit is still in the inbox, one each.
    let notes = inbox(&app, &t.pia.token).await;
    assert_eq!(notes.iter().filter(|n| n["event"] == "depositIn").count(), 3);
    // Sam, who paid in, sees his own share.
    let sams = inbox(&app, &t.sam.token).await;
    let own = sams.iter().find(|n| n["event"] == "depositIn").unwrap();
    assert!(own["share"].is_string());
    app.stop().await;
}

/// A split changed by one member tells each member whose share changed, with
/// the new share (a member dropped from it hears of 0.00); unchanged shares and
/// the one who changed it hear nothing.
#[tokio::test]
async fn a_changed_split_tells_whose_share_changed() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    pays_in(&app, &t, &t.pia, "90.00", "dep-1").await;
    let txn = spend(&app, &t, "30.00").await;
    app.drain().await;
    let r = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v2/transactions/{}/split", txn["id"].as_str().unwrap()),
            &t.pia.token,
            Some(json!({"mode": "exact", "shares": [
                {"userId": t.pia.id, "value": "20.00"},
                {"userId": t.sam.id, "value": "10.00"}]})),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    app.drain().await;
    let told = |who: &str| {
        let pool = app.pool.clone();
        let user: uuid::Uuid = who.parse().unwrap();
        async move {
            sqlx::query_as::<_, (Option<rust_decimal::Decimal>, String)>(
                "SELECT share, body FROM notifications WHERE event = 'splitChanged' AND user_id = $1",
            )
            .bind(user)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let kim = told(&t.kim.id).await;
    assert_eq!(kim.len(), 1);
    assert_eq!(kim[0].0, Some(rust_decimal::Decimal::ZERO));
    assert!(kim[0].1.contains("Your share is now $0.00"), "{}", kim[0].1);
    assert!(told(&t.sam.id).await.is_empty(), "Sam's 10.00 did not change");
    assert!(told(&t.pia.id).await.is_empty(), "Pia changed it herself");
    app.stop().await;
}
