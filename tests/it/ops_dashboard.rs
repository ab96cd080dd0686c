//! The operators' dashboard in a real headless browser: an operator signs in,
//! sees a dead payout, retries it and sees it complete. And the doors around it:
//! a customer cannot sign in, a form posted from another site or without a
//! session does nothing, and the JSON API filters, pages and bulk-retries.

use crate::common::bank::faults;
use crate::common::browser::Browser;
use crate::common::trip::{pays_in, spend, trip};
use crate::common::{PASSWORD, TestApp};
use serde_json::{Value, json};

/// Lets every retry waiting out a backoff run now (the test moves time).
async fn skip_backoffs(app: &TestApp) {
    sqlx::query("UPDATE jobs SET run_at = now() WHERE status = 'pending' AND run_at > now()")
        .execute(&app.pool)
        .await
        .unwrap();
}

/// A closing trip whose two payouts died while the bank was down.
async fn dead_payouts(app: &TestApp) -> crate::common::trip::Trip {
    let t = trip(app).await;
    pays_in(app, &t, &t.pia, "60.00", "pia-1").await;
    pays_in(app, &t, &t.sam, "30.00", "sam-1").await;
    spend(app, &t, "30.00").await;
    let closure = format!("/api/v2/ktties/{}/closure", t.id);
    assert_eq!(app.post_auth(&closure, &t.pia.token, json!({})).await.status(), 202);
    app.drain_all().await;
    faults(app, json!({"transferErrorRate": 1.0})).await;
    let r = app
        .post_auth(&format!("{closure}/disburse"), &t.pia.token, json!({}))
        .await;
    assert_eq!(r.status(), 202);
    // Every attempt fails; each retry is let run at once until both are dead.
    app.eventually("both payouts dead", || async {
        app.drain().await;
        skip_backoffs(app).await;
        (app.count("SELECT count(*) FROM payouts WHERE status = 'dead'").await == 2).then_some(())
    })
    .await;
    faults(app, json!({})).await;
    t
}

#[tokio::test]
async fn an_operator_signs_in_sees_a_dead_payout_retries_it_and_sees_it_complete() {
    let app = TestApp::spawn().await;
    app.expect_dead_jobs();
    let t = dead_payouts(&app).await;
    app.admin("ops@example.com").await;
    let browser = Browser::start().await;
    browser.go(&app.url("/ops/")).await;
    // A customer's password is not enough.
    browser.type_into("#email", &t.pia.email).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#sign-in").await;
    browser.wait_for_text("not an operator").await;
    browser.type_into("#email", "ops@example.com").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#sign-in").await;
    browser.wait_for_text("Payouts of closing ktties").await;

    // The queues and the payouts at a glance: both dead, with why.
    let banking = browser.text("#queues").await;
    assert!(banking.contains("banking"), "{banking}");
    let payouts = browser.text("#payouts").await;
    assert_eq!(payouts.matches("dead").count(), 2, "{payouts}");
    assert!(
        payouts.contains("provider_unavailable") && payouts.contains("Trip"),
        "{payouts}"
    );
    // The job list filtered to dead payout jobs shows what each carries.
    browser.go(&app.url("/ops/?status=dead&kind=payout.submit.v1")).await;
    let listed = browser.text("#jobs").await;
    assert_eq!(listed.matches("payout.submit.v1").count(), 2, "{listed}");
    assert!(listed.contains("payoutId"), "{listed}");
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/target")).unwrap();
    std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/ops-dashboard.png"),
        browser.screenshot().await,
    )
    .unwrap();

    // Retry one from the payouts table, the other by bulk retry.
    browser.go(&app.url("/ops/")).await;
    browser.click("#payouts button.retry").await;
    browser.wait_for_text("will run again").await;
    browser.type_into("#bulk input[name=kind]", "payout.submit.v1").await;
    browser.type_into("#bulk input[name=error_contains]", "injected").await;
    browser.click("#bulk button").await;
    browser.wait_for_text("1 dead payout.submit.v1 job(s)").await;
    app.drain_all().await;
    browser.go(&app.url("/ops/")).await;
    let payouts = browser.text("#payouts").await;
    assert_eq!(payouts.matches("completed").count(), 2, "{payouts}");
    assert!(payouts.contains("readyToClose"), "{payouts}");
    browser.quit().await;
    app.stop().await;
}

#[tokio::test]
async fn the_dashboard_refuses_strangers_and_other_sites_and_the_api_filters_and_bulk_retries() {
    let app = TestApp::spawn().await;
    app.expect_dead_jobs();
    let t = dead_payouts(&app).await;
    let ops = app.admin("ops@example.com").await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Without a session: the sign-in page, and a retry does nothing.
    let page = no_redirects.get(app.url("/ops/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Sign in"));
    let job: uuid::Uuid = sqlx::query_scalar("SELECT id FROM jobs WHERE status = 'dead' LIMIT 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let r = no_redirects
        .post(app.url(&format!("/ops/jobs/{job}/retry")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A sign-in posted from another site is refused; from here it sets a
    // strict, HTTP-only cookie.
    let form = format!("email=ops%40example.com&password={}", PASSWORD.replace(' ', "+"));
    let r = no_redirects
        .post(app.url("/ops/login"))
        .header("Origin", "https://evil.example")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = no_redirects
        .post(app.url("/ops/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/ops"));
    let session = cookie.split(';').next().unwrap().to_string();
    // Even signed in, a retry posted from another site does nothing.
    let r = no_redirects
        .post(app.url(&format!("/ops/jobs/{job}/retry")))
        .header("Cookie", &session)
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE status = 'dead'").await, 2);

    // The JSON API: filtered, paged, with the ktti each job is about.
    let page: Value = app
        .get_auth("/api/v2/admin/jobs?status=dead&limit=1", &ops.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["kttiId"], t.id.as_str());
    assert_eq!(page["items"][0]["kind"], "payout.submit.v1");
    let cursor = page["nextCursor"].as_str().unwrap_or_else(|| panic!("{page:#}"));
    let next: Value = app
        .get_auth(
            &format!("/api/v2/admin/jobs?status=dead&limit=1&before={cursor}"),
            &ops.access_token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["items"].as_array().unwrap().len(), 1);
    assert_ne!(next["items"][0]["id"], page["items"][0]["id"]);
    assert_eq!(next["nextCursor"], Value::Null);
    let banking = page["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "banking")
        .unwrap()
        .clone();
    assert_eq!(banking["dead"], 2);
    // A customer is not an operator.
    let r = app.get_auth("/api/v2/admin/jobs", &t.pia.token).await;
    assert_eq!(r.status(), 404);
    let r = app
        .post_auth(
            "/api/v2/admin/jobs/retry-dead",
            &t.pia.token,
            json!({"kind": "payout.submit.v1"}),
        )
        .await;
    assert_eq!(r.status(), 404);
    // Bulk retry by kind and error: both payouts run again and complete.
    let r = app
        .post_auth(
            "/api/v2/admin/jobs/retry-dead",
            &ops.access_token,
            json!({"kind": "payout.submit.v1", "errorContains": "no such error"}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["retried"], 0);
    let r = app
        .post_auth(
            "/api/v2/admin/jobs/retry-dead",
            &ops.access_token,
            json!({"kind": "payout.submit.v1", "errorContains": "injected transfer fault"}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["retried"], 2);
    app.drain_all().await;
    assert_eq!(
        app.count("SELECT count(*) FROM payouts WHERE status = 'completed'")
            .await,
        2
    );
    app.stop().await;
}
