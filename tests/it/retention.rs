//! The retention sweep: expired idempotency keys and long-finished jobs go;
//! fresh keys, recent jobs and dead jobs (operators retry those) stay.

use crate::common::TestApp;

#[tokio::test]
async fn the_sweep_forgets_old_keys_and_finished_jobs_only() {
    let app = TestApp::spawn_with(|v| {
        v.insert("KTTIPAY_PURGE_INTERVAL_SECS".into(), "1".into());
        v.insert("KTTIPAY_IDEMPOTENCY_KEY_TTL_HOURS".into(), "24".into());
        v.insert("KTTIPAY_JOB_RETENTION_DAYS".into(), "7".into());
    })
    .await;
    let insert_key = |key: &'static str, age_hours: i32| {
        sqlx::query(
            "INSERT INTO idempotency_keys (scope, key, request_hash, response_status, response_body, created_at) \
             VALUES ('test', $1, '\\x00', 201, '{}', now() - make_interval(hours => $2))",
        )
        .bind(key)
        .bind(age_hours)
        .execute(&app.pool)
    };
    insert_key("old", 25).await.unwrap();
    insert_key("fresh", 1).await.unwrap();
    let insert_job = |status: &'static str, age_days: i32| {
        sqlx::query(
            "INSERT INTO jobs (id, kind, queue, payload, status, max_attempts, completed_at, updated_at) \
             VALUES (gen_random_uuid(), 'noop.v1', 'default', '{}', $1, 1, \
                     now() - make_interval(days => $2), now() - make_interval(days => $2))",
        )
        .bind(status)
        .bind(age_days)
        .execute(&app.pool)
    };
    insert_job("done", 8).await.unwrap();
    insert_job("done", 1).await.unwrap();
    insert_job("dead", 30).await.unwrap();
    app.expect_dead_jobs();

    app.eventually("the sweep to run", || async {
        let old = app
            .count("SELECT count(*) FROM idempotency_keys WHERE key = 'old'")
            .await;
        let old_jobs = app
            .count("SELECT count(*) FROM jobs WHERE status = 'done' AND completed_at < now() - interval '7 days'")
            .await;
        (old == 0 && old_jobs == 0).then_some(())
    })
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM idempotency_keys WHERE key = 'fresh'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE status = 'dead'").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE status = 'done' AND completed_at > now() - interval '2 days'")
            .await,
        1
    );
    app.stop().await;
}
