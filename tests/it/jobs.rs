//! The job pipeline: outbox -> relay -> Redis -> workers -> outcome in PostgreSQL.

use crate::common::redis_server::PrivateRedis;
use crate::common::{TestApp, registration};
use kttipay::Roles;
use kttipay_jobs::kinds::{EmailTemplate, Noop, SendEmail};
use kttipay_workers::execute::{Outcome, execute};
use serde_json::{Value, json};
use std::sync::Arc;

fn noop(fail_times: u32) -> Noop {
    Noop {
        fail_times,
        sleep_ms: 0,
    }
}

#[tokio::test]
async fn a_transient_failure_is_retried_with_backoff_and_succeeds() {
    let app = TestApp::spawn().await;
    app.smtp.fail_transiently(1);
    assert_eq!(
        app.post("/api/v2/registration", registration("mo@example.com"))
            .await
            .status(),
        201
    );
    app.drain_all().await;
    let (attempts, status, error): (i32, String, Option<String>) =
        sqlx::query_as("SELECT attempts, status, last_error FROM jobs")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((attempts, status.as_str()), (2, "done"));
    assert!(error.unwrap().contains("451"), "the failed attempt's error is kept");
    assert_eq!(app.smtp.messages_to("mo@example.com").len(), 1);

    // A kind with a short backoff, failing twice of three attempts.
    let id = app.enqueue(&noop(2)).await;
    app.drain_all().await;
    let job = app.job(id).await;
    assert_eq!((job.status.as_str(), job.attempts), ("done", 3));
    app.stop().await;
}

#[tokio::test]
async fn exhausted_and_permanent_failures_end_dead_and_operators_can_retry() {
    let app = TestApp::spawn().await;
    let admin = app.admin("ops@example.com").await;

    let id = app.enqueue(&noop(10)).await;
    app.drain_all().await;
    let job = app.job(id).await;
    assert_eq!((job.status.as_str(), job.attempts, job.max_attempts), ("dead", 3, 3));
    assert_eq!(job.last_error.as_deref(), Some("planned failure 3 of 10"));

    // The mail server refuses for good: dead after one attempt, no pointless retries.
    app.smtp.fail_permanently(true);
    assert_eq!(
        app.post("/api/v2/registration", registration("nia@example.com"))
            .await
            .status(),
        201
    );
    app.drain_all().await;
    let (email_job, attempts, error): (uuid::Uuid, i32, String) =
        sqlx::query_as("SELECT id, attempts, last_error FROM jobs WHERE kind = 'email.v1' AND status = 'dead'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(attempts, 1);
    assert!(error.contains("550"), "{error}");

    let overview: Value = app
        .get_auth("/api/v2/admin/jobs", &admin.access_token)
        .await
        .json()
        .await
        .unwrap();
    let email = overview["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "email")
        .unwrap();
    let default = overview["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "default")
        .unwrap();
    assert_eq!((email["dead"].as_i64(), default["dead"].as_i64()), (Some(1), Some(1)));

    // The operator fixes the mail server and retries the dead email.
    app.smtp.fail_permanently(false);
    let r = app
        .post_auth(
            &format!("/api/v2/admin/jobs/{email_job}/retry"),
            &admin.access_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let view: Value = r.json().await.unwrap();
    assert_eq!(
        (view["status"].as_str(), view["attempts"].as_i64()),
        (Some("pending"), Some(0))
    );
    app.drain_all().await;
    assert_eq!(app.job(email_job).await.status, "done");
    assert_eq!(app.smtp.messages_to("nia@example.com").len(), 1);

    // Done jobs are not retryable; unknown ones do not exist.
    let r = app
        .post_auth(
            &format!("/api/v2/admin/jobs/{email_job}/retry"),
            &admin.access_token,
            json!({}),
        )
        .await;
    crate::common::problem(r, 409, "job_not_retryable").await;
    let r = app
        .post_auth(
            &format!("/api/v2/admin/jobs/{}/retry", uuid::Uuid::new_v4()),
            &admin.access_token,
            json!({}),
        )
        .await;
    crate::common::problem(r, 404, "job_not_found").await;
    app.expect_dead_jobs();
    app.stop().await;
}

#[tokio::test]
async fn registration_works_while_redis_is_down_and_the_email_follows_when_it_returns() {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let app = TestApp::spawn_with(|v| {
        v.insert("REDIS_URL".into(), url);
    })
    .await;
    assert_eq!(
        app.client.get(app.url("/health/ready")).send().await.unwrap().status(),
        200
    );

    redis.stop();
    assert_eq!(
        app.post("/api/v2/registration", registration("ola@example.com"))
            .await
            .status(),
        201
    );
    let ready = app.client.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"], json!({"postgres": "up", "redis": "down"}));
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE status = 'pending'").await,
        1,
        "the outbox holds the job"
    );

    redis.restart();
    app.drain().await;
    assert_eq!(app.smtp.messages_to("ola@example.com").len(), 1);
    assert_eq!(
        app.client.get(app.url("/health/ready")).send().await.unwrap().status(),
        200
    );
    app.stop().await;
}

/// Our Redis keeps nothing on disk: a restart loses every message it held. The
/// relay notices the new server run and dispatches those jobs again at once,
/// instead of leaving them `queued` until their ten-minute lease lapses.
#[tokio::test]
async fn messages_a_restarted_redis_lost_are_dispatched_again_at_once() {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    // The relay runs here, no workers: the message waits in Redis.
    let app = TestApp::spawn_roles(
        |v| {
            v.insert("REDIS_URL".into(), url);
        },
        |_| Roles {
            api: true,
            relay: true,
            worker_queues: vec![],
            sandbox: true,
        },
    )
    .await;
    let id = app.enqueue(&noop(0)).await;
    let queued = app.wait_for_job(id, |j| j.status == "queued").await;
    assert_eq!(queued.attempts, 0);

    redis.stop();
    redis.restart();
    // Workers arrive after the restart: only a message pushed again can reach them.
    let mut config = app.config.clone();
    config.shaype_base_url = Some(app.shaype_base_url.clone());
    let workers = kttipay::start(
        &config,
        Roles {
            api: false,
            relay: false,
            worker_queues: kttipay_jobs::Queue::ALL.to_vec(),
            sandbox: false,
        },
    )
    .await
    .unwrap();
    let done = app.wait_for_job(id, |j| j.status == "done").await;
    assert_eq!(done.attempts, 1, "it ran once");
    workers.shutdown().await;
    app.stop().await;
}

/// Connections the Redis at `url` has accepted since it started.
async fn connections_received(url: &str) -> u64 {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO").arg("stats").query_async(&mut conn).await.unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn readiness_checks_share_one_redis_connection_and_survive_a_restart() {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let app = TestApp::spawn_with(|v| {
        v.insert("REDIS_URL".into(), url.clone());
    })
    .await;
    let ready = || async { app.client.get(app.url("/health/ready")).send().await.unwrap().status() };
    assert_eq!(ready().await, 200);
    let before = connections_received(&url).await;
    let checks = futures::future::join_all((0..200).map(|_| ready())).await;
    assert!(checks.iter().all(|s| *s == 200));
    // Our own INFO connection is one of them; the checks opened none.
    let opened = connections_received(&url).await - before;
    assert!(opened <= 1, "200 readiness checks opened {opened} Redis connections");
    // After a restart the shared connection is broken: the very next check opens
    // a new one and answers 200.
    redis.restart();
    assert_eq!(ready().await, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_job_dispatched_twice_runs_once() {
    // Workers only: the test plays a relay that pushed and crashed before marking,
    // then a second relay that pushed the same job again.
    let app = TestApp::spawn_roles(
        |_| {},
        |c| Roles {
            api: true,
            relay: false,
            worker_queues: c.worker_queues.clone(),
            sandbox: true,
        },
    )
    .await;
    assert_eq!(
        app.post("/api/v2/registration", registration("pip@example.com"))
            .await
            .status(),
        201
    );
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM jobs")
        .fetch_one(&app.pool)
        .await
        .unwrap();

    // Two workers race on the same job.
    let mailer = kttipay_providers::email::SmtpMailer::new(&app.smtp.url, "t@kttipay.test").unwrap();
    let deps = kttipay_workers::WorkerDeps {
        banking: kttipay_providers::shaype::client::ShaypeClient::new(
            &app.shaype_base_url,
            &app.config.shaype_api_token,
        )
        .unwrap(),
        pool: app.pool.clone(),
        sms: Arc::new(kttipay_providers::sms::LogSms),
        mailer: Arc::new(mailer),
        public_url: "http://kttipay.test".into(),
        storage: kttipay_providers::storage::Storage::open(&app.config.storage_url, &app.config.s3).unwrap(),
        billing_plans: Arc::new(app.config.app.billing_plans.clone()),
        pusher: kttipay_providers::push::Pusher::Log,
        digest_window_secs: 3_600,
        books: kttipay_workers::books::Books::new(app.pool.clone()),
    };
    let (a, b) = tokio::join!(execute(&deps, id), execute(&deps, id));
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(outcomes, [Outcome::Done, Outcome::Skipped]);
    // A late duplicate finds it done.
    assert_eq!(execute(&deps, id).await.unwrap(), Outcome::Skipped);

    // And through Redis: the same id pushed twice in one batch.
    assert_eq!(
        app.post("/api/v2/registration", registration("quin@example.com"))
            .await
            .status(),
        201
    );
    let second: uuid::Uuid = sqlx::query_scalar("SELECT id FROM jobs WHERE status = 'pending'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let conn = apalis_redis::connect(app.config.redis_url.as_str()).await.unwrap();
    let mut storage = kttipay_workers::redis_queue::storage(conn, &app.config.queue_prefix, kttipay_jobs::Queue::Email);
    use apalis::prelude::TaskSink;
    let dispatch = kttipay_jobs::Dispatch::new(second);
    storage.push_bulk(vec![dispatch.clone(), dispatch]).await.unwrap();
    let job = app.wait_for_job(second, |j| j.status == "done").await;
    assert_eq!(job.attempts, 1);

    assert_eq!(app.smtp.messages_to("pip@example.com").len(), 1);
    assert_eq!(app.smtp.messages_to("quin@example.com").len(), 1);
    assert_eq!(app.count("SELECT count(*) FROM sent_emails").await, 2);
    app.stop().await;
}

#[tokio::test]
async fn lapsed_leases_are_taken_back() {
    let app = TestApp::spawn().await;
    let lost_message = app.enqueue(&noop(0)).await;
    let crashed_worker = app.enqueue(&noop(0)).await;
    let out_of_attempts = app.enqueue(&noop(0)).await;
    app.drain().await;
    // Rewind them as if Redis lost a message, and as if workers died mid-attempt.
    sqlx::query(
        "UPDATE jobs SET status = CASE WHEN id = $1 THEN 'queued' ELSE 'running' END, \
         attempts = CASE WHEN id = $3 THEN max_attempts ELSE 1 END, \
         lease_until = now() - interval '1 second', completed_at = NULL WHERE id IN ($1, $2, $3)",
    )
    .bind(lost_message)
    .bind(crashed_worker)
    .bind(out_of_attempts)
    .execute(&app.pool)
    .await
    .unwrap();
    app.wait_for_job(lost_message, |j| j.status == "done").await;
    let retried = app.wait_for_job(crashed_worker, |j| j.status == "done").await;
    assert_eq!(retried.attempts, 2, "the lost attempt counts");
    let dead = app.wait_for_job(out_of_attempts, |j| j.status == "dead").await;
    assert_eq!(
        dead.last_error.as_deref(),
        Some("worker stopped before finishing the attempt")
    );
    app.expect_dead_jobs();
    app.stop().await;
}

#[tokio::test]
async fn a_burst_of_20000_jobs_drains_through_a_bounded_redis_queue() {
    let app = TestApp::spawn_with(|v| {
        v.insert("KTTIPAY_RELAY_MAX_QUEUE_DEPTH".into(), "1000".into());
        v.insert("KTTIPAY_WORKER_CONCURRENCY".into(), "32".into());
    })
    .await;
    sqlx::query(
        "INSERT INTO jobs (id, kind, queue, payload, max_attempts) \
         SELECT gen_random_uuid(), 'noop.v1', 'default', '{}', 3 FROM generate_series(1, 20000)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    // While it drains, Redis never holds more than the configured depth of
    // messages waiting for a worker (sampled from Redis itself).
    let conn = apalis_redis::connect(app.config.redis_url.as_str()).await.unwrap();
    let mut storage =
        kttipay_workers::redis_queue::storage(conn, &app.config.queue_prefix, kttipay_jobs::Queue::Default);
    let mut deepest = 0;
    loop {
        let waiting = kttipay_workers::redis_queue::waiting(&mut storage).await.unwrap();
        deepest = deepest.max(waiting);
        if app.count("SELECT count(*) FROM jobs WHERE status <> 'done'").await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(deepest <= 1000, "Redis held {deepest} jobs at once");
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE status = 'done' AND attempts = 1")
            .await,
        20000
    );

    // Redis keeps nothing of finished jobs once the relay's sweep has run: only the
    // worker registry remains.
    let client = redis::Client::open(app.config.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(crate::common::DRAIN_TIMEOUT_SECS);
    loop {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", app.config.queue_prefix))
            .query_async(&mut conn)
            .await
            .unwrap();
        let leftovers: Vec<_> = keys.iter().filter(|k| !k.contains(":workers")).collect();
        if leftovers.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "Redis still holds {leftovers:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn shutdown_lets_a_running_job_finish() {
    let mut app = TestApp::spawn().await;
    let id = app
        .enqueue(&Noop {
            fail_times: 0,
            sleep_ms: 700,
        })
        .await;
    app.wait_for_job(id, |j| j.status == "running").await;
    app.halt().await;
    assert_eq!(app.job(id).await.status, "done");
    app.stop().await;
}

#[tokio::test]
async fn emails_for_users_who_finished_registering_are_skipped() {
    let app = TestApp::spawn().await;
    app.signed_up("ray@example.com").await;
    let user: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let stale = app
        .enqueue(&SendEmail {
            user_id: kttipay_domain::ids::UserId(user),
            template: EmailTemplate::VerifyEmail,
        })
        .await;
    app.drain().await;
    assert_eq!(app.job(stale).await.status, "done");
    assert_eq!(
        app.smtp.messages_to("ray@example.com").len(),
        1,
        "no second verification email"
    );
    app.stop().await;
}

#[tokio::test]
async fn idle_workers_pick_up_a_burst_promptly() {
    // End-to-end guard of the idle wake-up path. The apalis-core 1.0 interval bug
    // it once suffered (see workers::wake) showed in release builds after a quiet
    // spell; the timer contract itself is unit-tested in workers::wake.
    let app = TestApp::spawn_with(|v| {
        v.insert("KTTIPAY_WORKER_POLL_MS".into(), "50".into());
    })
    .await;
    // A quiet spell many poll ticks long (the scenario, not a synchronisation).
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let started = std::time::Instant::now();
    sqlx::query(
        "INSERT INTO jobs (id, kind, queue, payload, max_attempts) \
         SELECT gen_random_uuid(), 'noop.v1', 'default', '{}', 3 FROM generate_series(1, 1000)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    app.drain().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    app.stop().await;
}
