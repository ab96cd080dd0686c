//! Replicas and faults (issue 12, gate 3): two `kttipay api` processes and three
//! `kttipay worker` processes share one PostgreSQL and one Redis while a mixed
//! load runs: people join, members pay in, the card is spent, splits change,
//! the group chats. Midway one API process and one worker process are killed
//! (SIGKILL) and Redis restarts, losing every message it held; the load goes on
//! through the survivors. Then the ktti is closed and paid out. Afterwards every
//! job is done, nothing happened twice (one booking per bank movement, one
//! transfer per payout, one message per idempotency key), every request answered
//! 2xx kept its effect, and `verify-ledger --against-provider` agrees with the
//! bank.

use crate::common::TestApp;
use crate::common::bank::verify_against_provider;
use crate::common::fleet::{api_process, kill, time_passes, worker_process};
use crate::common::group::{Person, banking, card, group, member_pays_in, members, person_named};
use crate::common::pot::sandbox_raw;
use crate::common::redis_server::PrivateRedis;
use crate::common::totals::{dec, totals};
use futures::future::join_all;
use kttipay::Roles;
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};

const JOINERS: usize = 6;
const OWNER_DEPOSITS: usize = 8;
const SPENDS: usize = 6;
const CHAT_MESSAGES: usize = 30;
/// Tries per request across the replicas before the client gives up.
const CLIENT_TRIES: usize = 6;

/// The API replicas as a client with failover sees them: each request goes to
/// the next replica in turn; when one cannot be reached (or its answer is cut
/// off), the same request, with the same idempotency key, goes to the next.
struct Front {
    bases: Vec<String>,
    next: AtomicUsize,
    client: reqwest::Client,
    /// Requests that had to go to another replica.
    failovers: AtomicUsize,
}

impl Front {
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        for attempt in 0..CLIENT_TRIES {
            if attempt > 0 {
                self.failovers.fetch_add(1, Ordering::Relaxed);
            }
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.bases.len();
            let mut req = self
                .client
                .request(method.clone(), format!("{}{path}", self.bases[i]))
                .bearer_auth(token);
            if let Some(k) = key {
                req = req.header("Idempotency-Key", k);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            let Ok(r) = req.send().await else { continue };
            let status = r.status().as_u16();
            let Ok(bytes) = r.bytes().await else { continue };
            let v = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or(Value::Null)
            };
            return (status, v);
        }
        panic!("no API replica answered {method} {path}");
    }
}

/// Waits for `check`, letting time pass for the claims the killed processes held.
async fn settled<T, F, Fut>(app: &TestApp, what: &str, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    app.eventually(what, || async {
        time_passes(app).await;
        check().await
    })
    .await
}

async fn unfinished_jobs(app: &TestApp) -> i64 {
    app.count(
        "SELECT count(*) FROM jobs WHERE status NOT IN ('done', 'dead') \
         AND NOT (kind = 'notification.digest.v1' AND status = 'pending')",
    )
    .await
}

async fn all_jobs_done(app: &TestApp) {
    settled(app, "every job to finish", || async {
        (unfinished_jobs(app).await == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn two_apis_and_three_workers_lose_nothing_and_repeat_nothing_through_kills_and_a_redis_restart() {
    let mut redis = PrivateRedis::start();
    let redis_url = redis.url();
    let settings = [("REDIS_URL", redis_url.as_str()), ("KTTIPAY_JOINS_PER_HOUR", "1000")];
    // The test process hosts the sandbox bank and the API its webhooks reach;
    // every job runs in the worker processes.
    let app = TestApp::spawn_roles(
        |vars| {
            for (k, v) in settings {
                vars.insert(k.into(), v.into());
            }
        },
        |_| Roles {
            api: true,
            relay: false,
            worker_queues: vec![],
            sandbox: true,
        },
    )
    .await;
    let mut workers: Vec<Child> = (0..3).map(|_| worker_process(&app, &settings)).collect();
    let mut apis = Vec::new();
    for _ in 0..2 {
        apis.push(api_process(&app, &settings).await);
    }
    let front = Front {
        bases: apis.iter().map(|(_, base)| base.clone()).collect(),
        next: AtomicUsize::new(0),
        client: reqwest::Client::new(),
        failovers: AtomicUsize::new(0),
    };

    let owner = person_named(&app, "owner@example.com", "Olive", "Owner").await;
    let joiners: Vec<Person> = join_all((0..JOINERS).map(|i| {
        let app = &app;
        async move { person_named(app, &format!("j{i}@example.com"), "Joiner", &format!("Number{i}")).await }
    }))
    .await;
    let k = group(&app, &owner, json!({"name": "Replicas", "billingPlan": "pro"})).await;
    let id = k["id"].as_str().unwrap().to_string();
    let code = k["referralCode"].as_str().unwrap().to_string();
    let bank = banking(&app, &owner, &id).await;
    let card_token = card(&app, &owner, &id).await["cardToken"].as_str().unwrap().to_string();

    // The load, in three streams at once; the chat stream brings the faults
    // halfway through while the others are mid-flight.
    let joined_ok = std::sync::Mutex::new(Vec::new());
    let people = async {
        for (i, p) in joiners.iter().enumerate() {
            let (status, _) = front
                .send(
                    Method::POST,
                    "/api/v2/ktties/join",
                    &p.token,
                    Some(json!({"referralCode": code})),
                    None,
                )
                .await;
            if status == 200 {
                joined_ok.lock().unwrap().push(p.id.clone());
                member_pays_in(&app, &bank, p, &id, &format!("{}.00", 40 + i), &format!("in-j{i}")).await;
            }
        }
    };
    let money = async {
        for i in 0..OWNER_DEPOSITS.max(SPENDS) {
            if i < OWNER_DEPOSITS {
                member_pays_in(&app, &bank, &owner, &id, &format!("{}.25", 30 + i), &format!("in-o{i}")).await;
            }
            if i < SPENDS {
                let raw = format!(
                    r#"{{"amount": {}.50, "cardToken": "{card_token}", "settlementDelayInSeconds": 0}}"#,
                    5 + i
                );
                let r = sandbox_raw(&app, "/v0/utils/generate-card-transaction", raw).await;
                assert_eq!(r.status(), 200);
            }
        }
    };
    let chat_ok = std::sync::Mutex::new(BTreeMap::new());
    let chat_and_faults = async {
        for i in 0..CHAT_MESSAGES {
            if i == CHAT_MESSAGES / 2 {
                kill(&mut apis[0].0);
                kill(&mut workers[0]);
                redis.stop();
                redis.restart();
            }
            let (status, message) = front
                .send(
                    Method::POST,
                    &format!("/api/v2/ktties/{id}/chat"),
                    &owner.token,
                    Some(json!({"text": format!("message {i}")})),
                    Some(&format!("chat-{i}")),
                )
                .await;
            if status == 201 {
                chat_ok
                    .lock()
                    .unwrap()
                    .insert(i, message["id"].as_str().unwrap().to_string());
            }
        }
    };
    futures::join!(people, money, chat_and_faults);
    let joined = joined_ok.into_inner().unwrap();
    let chatted = chat_ok.into_inner().unwrap();

    // Splits of every spend change through the surviving replica, once booked.
    let spends: Vec<(String, Decimal)> = settled(&app, "every spend booked", || async {
        let rows: Vec<(uuid::Uuid, Decimal)> = sqlx::query_as(
            "SELECT id, amount FROM transactions WHERE kind = 'cardPayment' AND status = 'posted' ORDER BY amount",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap();
        (rows.len() == SPENDS).then(|| rows.into_iter().map(|(t, a)| (t.to_string(), a)).collect())
    })
    .await;
    let mut splits_ok = BTreeMap::new();
    for (n, (txn, amount)) in spends.iter().enumerate() {
        let with = &joined[n % joined.len()];
        let mine = Decimal::new(200, 2);
        let body = json!({"mode": "exact", "shares": [
            {"userId": owner.id, "value": mine.to_string()},
            {"userId": with, "value": (amount - mine).to_string()},
        ]});
        let (status, _) = front
            .send(
                Method::PUT,
                &format!("/api/v2/transactions/{txn}/split"),
                &owner.token,
                Some(body),
                None,
            )
            .await;
        if status == 200 {
            splits_ok.insert(txn.clone(), (with.clone(), amount - mine));
        }
    }
    all_jobs_done(&app).await;

    // Every 2xx kept its effect.
    assert!(!joined.is_empty() && !chatted.is_empty() && !splits_ok.is_empty());
    assert!(
        front.failovers.load(Ordering::Relaxed) > 0,
        "requests met the killed replica and went to the other"
    );
    let listed: Vec<String> = members(&app, &owner.token, &id)
        .await
        .iter()
        .map(|m| m["userId"].as_str().unwrap().to_string())
        .collect();
    for who in &joined {
        assert!(listed.contains(who), "a 200 join kept: {who}");
    }
    let stored: Vec<(String, String)> = sqlx::query_as("SELECT id::text, text FROM chat_messages ORDER BY seq")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        stored.len(),
        CHAT_MESSAGES,
        "one message per key, none lost, none twice"
    );
    for (i, message) in &chatted {
        assert!(
            stored.contains(&(message.clone(), format!("message {i}"))),
            "chat {i} kept"
        );
    }
    for (txn, (with, theirs)) in &splits_ok {
        let split: Value = app
            .get_auth(&format!("/api/v3/transactions/{txn}/split"), &owner.token)
            .await
            .json()
            .await
            .unwrap();
        let share = split["shares"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["userId"] == with.as_str())
            .map(|s| dec(&s["amount"]));
        assert_eq!(share, Some(*theirs), "split of {txn} kept");
    }
    // Each bank movement booked once.
    let deposits = app
        .count("SELECT count(*) FROM transactions WHERE kind = 'deposit' AND status = 'posted'")
        .await;
    assert_eq!(deposits as usize, OWNER_DEPOSITS + joined.len());

    // The closure, through the surviving replica and workers.
    let closure = format!("/api/v2/ktties/{id}/closure");
    let (status, _) = front
        .send(Method::POST, &closure, &owner.token, Some(json!({})), None)
        .await;
    assert_eq!(status, 202);
    all_jobs_done(&app).await;
    let (status, plan) = front
        .send(
            Method::POST,
            &format!("{closure}/disburse"),
            &owner.token,
            None,
            Some("replicas"),
        )
        .await;
    assert_eq!(status, 202, "{plan}");
    settled(&app, "every payout to finish", || async {
        (app.count("SELECT count(*) FROM payouts WHERE status NOT IN ('completed', 'failed')")
            .await
            == 0)
            .then_some(())
    })
    .await;
    all_jobs_done(&app).await;
    let sandbox = sqlx::PgPool::connect(&format!("{}_sandbox", app.config.database_url))
        .await
        .unwrap();
    let transfers: Vec<(String, i64)> = sqlx::query_as(
        "SELECT reference, count(*) FROM movements \
         WHERE kind IN ('INTRABANK_TRANSFER_OUT', 'INTERBANK_TRANSFER_OUT') GROUP BY reference",
    )
    .fetch_all(&sandbox)
    .await
    .unwrap();
    let planned = plan["payouts"].as_array().unwrap().len();
    assert_eq!(transfers.len(), planned, "one transfer per payout");
    assert!(transfers.iter().all(|(_, n)| *n == 1), "{transfers:?}");
    sandbox.close().await;
    let sums = totals(&app, &owner.token, &id).await;
    assert_eq!(sums["totalBalance"], "0.00");
    let (status, _) = front
        .send(
            Method::POST,
            &format!("{closure}/finalize"),
            &owner.token,
            Some(json!({})),
            None,
        )
        .await;
    assert_eq!(status, 202);
    all_jobs_done(&app).await;
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE status = 'dead'").await, 0);
    app.eventually("the bank to agree with every figure we hold", || async {
        let (code, _) = verify_against_provider(&app).await;
        (code == 0).then_some(())
    })
    .await;

    for (mut child, _) in apis.into_iter().skip(1) {
        kill(&mut child);
    }
    for mut child in workers.into_iter().skip(1) {
        kill(&mut child);
    }
    app.stop().await;
}
