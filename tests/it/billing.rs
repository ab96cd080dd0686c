//! Billing: the plan and who may change it, and billing runs that charge each
//! ktti once per period however many run at once, never below zero, trying a
//! failed charge again on later runs, and recording free plans without a charge.

use crate::common::group::{self, Person, join, person_named};
use crate::common::totals::totals;
use crate::common::trip::{Trip, pays_in, trip};
use crate::common::{TestApp, problem};
use chrono::NaiveDate;
use kttipay_workers::billing::{RunReport, run_due};
use reqwest::Method;
use serde_json::{Value, json};

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// The ktti opened `days` ago: its first period has ended when `days` > 31.
async fn opened_days_ago(app: &TestApp, ktti: &str, days: i32) {
    sqlx::query("UPDATE ktties SET billing_anchor = current_date - $2 WHERE id = $1::uuid")
        .bind(ktti)
        .bind(days)
        .execute(&app.pool)
        .await
        .unwrap();
}

async fn run(app: &TestApp) -> RunReport {
    run_due(&app.pool, &app.config.app.billing_plans, today())
        .await
        .unwrap()
}

async fn history(app: &TestApp, token: &str, ktti: &str) -> Vec<Value> {
    let r = app
        .get_auth(&format!("/api/v2/ktties/{ktti}/billing/history"), token)
        .await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["items"].as_array().unwrap().clone()
}

async fn set_plan(app: &TestApp, who: &Person, ktti: &str, plan: &str) -> reqwest::Response {
    app.send(
        Method::PUT,
        &format!("/api/v2/ktties/{ktti}/billing/plan"),
        &who.token,
        Some(json!({"plan": plan})),
    )
    .await
}

async fn debits_at_bank(app: &TestApp) -> Vec<(String, rust_decimal::Decimal)> {
    let sandbox = sqlx::PgPool::connect(&format!("{}_sandbox", app.config.database_url))
        .await
        .unwrap();
    sqlx::query_as("SELECT reference, -amount FROM movements WHERE kind = 'GENERAL_DEBIT' ORDER BY created_at")
        .fetch_all(&sandbox)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_owner_alone_changes_the_plan_from_the_next_period() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    let plan_path = format!("/api/v2/ktties/{}/billing/plan", t.id);
    // Any member reads it; an outsider sees nothing.
    let view: Value = app.get_auth(&plan_path, &t.kim.token).await.json().await.unwrap();
    assert_eq!(view["plan"]["code"], "free");
    assert_eq!(view["changeApplies"], "nextPeriod");
    assert_eq!(view["nextPlan"], Value::Null);
    let first_bill = view["nextBillingDate"].as_str().unwrap().to_string();
    let outsider = group::person(&app, "out@example.com").await;
    problem(app.get_auth(&plan_path, &outsider.token).await, 404, "ktti_not_found").await;
    problem(set_plan(&app, &outsider, &t.id, "plus").await, 404, "ktti_not_found").await;
    // An admin may close the ktti, but not change what it pays.
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v2/ktties/{}/members/{}", t.id, t.sam.id),
            &t.pia.token,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    problem(set_plan(&app, &t.sam, &t.id, "plus").await, 403, "role_forbidden").await;
    problem(set_plan(&app, &t.kim, &t.id, "plus").await, 403, "role_forbidden").await;
    let p = problem(set_plan(&app, &t.pia, &t.id, "gold").await, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "plan");
    // The owner upgrades: charged from the next period, more members at once.
    let r = set_plan(&app, &t.pia, &t.id, "plus").await;
    assert_eq!(r.status(), 200);
    let view: Value = r.json().await.unwrap();
    assert_eq!(
        (&view["plan"]["code"], &view["nextPlan"]["code"]),
        (&json!("free"), &json!("plus"))
    );
    assert_eq!(view["nextBillingDate"], first_bill.as_str());
    let code = group::ktti(&app, &t.pia.token, &t.id).await["referralCode"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 0..3 {
        let p = person_named(&app, &format!("j{i}@example.com"), "Jo", &format!("Number{i}")).await;
        assert_eq!(
            join(&app, &p, &code).await.status(),
            200,
            "the free plan's 5 would stop the 6th"
        );
    }
    // Six members do not fit the free plan any more.
    let p = problem(set_plan(&app, &t.pia, &t.id, "free").await, 409, "too_many_members").await;
    assert!(p["detail"].as_str().unwrap().contains('6'), "{p}");
    app.drain_all().await;
    app.stop().await;
}

async fn plus_trip_with_money(app: &TestApp) -> Trip {
    let t = trip(app).await;
    assert_eq!(set_plan(app, &t.pia, &t.id, "plus").await.status(), 200);
    pays_in(app, &t, &t.pia, "30.00", "pia-1").await;
    pays_in(app, &t, &t.sam, "30.00", "sam-1").await;
    // Both deposits are 30.00, so waiting for "a deposit of 30.00" is not enough.
    app.eventually("both deposits booked", || async {
        (group::ktti(app, &t.pia.token, &t.id).await["totalBalance"] == "60.00").then_some(())
    })
    .await;
    // The plus plan takes effect once the free period in progress ends.
    sqlx::query("UPDATE ktties SET billing_plan = next_billing_plan, next_billing_plan = NULL WHERE id = $1::uuid")
        .bind(&t.id)
        .execute(&app.pool)
        .await
        .unwrap();
    t
}

#[tokio::test]
async fn runs_firing_at_once_charge_each_period_once_and_split_the_fee() {
    let app = TestApp::spawn().await;
    let t = plus_trip_with_money(&app).await;
    opened_days_ago(&app, &t.id, 40).await;
    let before = group::ktti(&app, &t.pia.token, &t.id).await["nextBillingDate"].clone();
    assert_eq!(before, Value::Null, "the ktti view does not carry billing");

    // Three runs at once, then another: one charge for the period.
    let (a, b, c) = tokio::join!(run(&app), run(&app), run(&app));
    assert_eq!(a.charges + b.charges + c.charges, 1);
    assert_eq!(run(&app).await, RunReport::default());
    app.drain_all().await;
    let items = history(&app, &t.kim.token, &t.id).await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        (&items[0]["status"], &items[0]["amount"]),
        (&json!("charged"), &json!("4.99"))
    );
    assert_eq!(items[0]["attempts"].as_array().unwrap().len(), 1);
    let debits = debits_at_bank(&app).await;
    assert_eq!(debits.len(), 1, "one debit at the bank");
    assert!(debits[0].0.starts_with("KPB"));
    // The fee is a posted transaction, split by the default proportions.
    let sums = totals(&app, &t.pia.token, &t.id).await;
    assert_eq!(sums["totalBalance"], "55.01");
    let spent: Vec<&str> = sums["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["spent"].as_str().unwrap())
        .collect();
    let mut spent = spent.clone();
    spent.sort_unstable();
    assert_eq!(spent, ["1.66", "1.66", "1.67"]);
    // The next period is not due yet.
    let view: Value = app
        .get_auth(&format!("/api/v2/ktties/{}/billing/plan", t.id), &t.pia.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        view["nextBillingDate"].as_str().unwrap() > today().to_string().as_str(),
        "{view}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_charge_without_money_fails_tells_the_owner_and_is_taken_on_a_later_run() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    assert_eq!(set_plan(&app, &t.pia, &t.id, "plus").await.status(), 200);
    sqlx::query("UPDATE ktties SET billing_plan = 'plus', next_billing_plan = NULL WHERE id = $1::uuid")
        .bind(&t.id)
        .execute(&app.pool)
        .await
        .unwrap();
    pays_in(&app, &t, &t.kim, "3.00", "kim-1").await;
    opened_days_ago(&app, &t.id, 40).await;
    assert_eq!(run(&app).await.charges, 1);
    app.drain_all().await;
    let items = history(&app, &t.pia.token, &t.id).await;
    assert_eq!(
        (&items[0]["status"], &items[0]["reason"]),
        (&json!("failed"), &json!("insufficient_funds"))
    );
    // Never below zero, nothing at the bank, and the owner is told.
    let k = group::ktti(&app, &t.pia.token, &t.id).await;
    assert_eq!(
        (&k["totalBalance"], &k["availableBalance"]),
        (&json!("3.00"), &json!("3.00"))
    );
    assert!(debits_at_bank(&app).await.is_empty());
    let mail = app.smtp.messages_to("pia@example.com");
    assert!(
        mail.iter()
            .any(|m| m.data.contains("could not charge") && m.data.contains("4.99")),
        "{mail:?}"
    );
    // A run in the same moment does not retry it; once money arrives, the next does.
    pays_in(&app, &t, &t.sam, "10.00", "sam-1").await;
    let report = run(&app).await;
    assert_eq!(report.retried, 1);
    app.drain_all().await;
    let items = history(&app, &t.pia.token, &t.id).await;
    assert_eq!(items[0]["status"], "charged");
    let outcomes: Vec<&str> = items[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["failed", "charged"]);
    assert_eq!(debits_at_bank(&app).await.len(), 1);
    // The owner heard of both in the app; the failure's email is its own.
    let told: Vec<(String, bool)> =
        sqlx::query_as("SELECT event, email FROM notifications WHERE category = 'billing' ORDER BY created_at")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        told.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(),
        ["billingFailed", "billingCharged"]
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM jobs WHERE kind = 'notification.email.v1' \
                   AND payload->>'notificationId' IN (SELECT id::text FROM notifications WHERE event = 'billingFailed')"
        )
        .await,
        0,
        "the failure is not emailed twice"
    );
    totals(&app, &t.pia.token, &t.id).await;
    app.stop().await;
}

#[tokio::test]
async fn a_free_plan_is_recorded_without_a_charge() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    pays_in(&app, &t, &t.kim, "3.00", "kim-1").await;
    opened_days_ago(&app, &t.id, 70).await;
    // Two periods have ended: one run catches up with both, the next has nothing.
    assert_eq!(run(&app).await.free, 2);
    assert_eq!(run(&app).await, RunReport::default());
    app.drain_all().await;
    let items = history(&app, &t.pia.token, &t.id).await;
    assert_eq!(items.len(), 2);
    for i in &items {
        assert_eq!((&i["status"], &i["amount"]), (&json!("free"), &json!("0.00")));
    }
    assert!(debits_at_bank(&app).await.is_empty());
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'billing.charge.v1'")
            .await,
        0
    );
    let k = group::ktti(&app, &t.pia.token, &t.id).await;
    assert_eq!(k["totalBalance"], "3.00");
    app.stop().await;
}

#[tokio::test]
async fn two_worker_processes_on_their_schedule_charge_once() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("KTTIPAY_BILLING_INTERVAL_SECS".into(), "1".into());
    })
    .await;
    let t = plus_trip_with_money(&app).await;
    let mut other = crate::common::fleet::worker_process(
        &app,
        &[
            ("KTTIPAY_BILLING_INTERVAL_SECS", "1"),
            ("KTTIPAY_WORKER_QUEUES", "banking"),
        ],
    );
    opened_days_ago(&app, &t.id, 40).await;
    app.eventually("the period's charge", || async {
        let items = history(&app, &t.pia.token, &t.id).await;
        (items.first().map(|i| i["status"] == "charged") == Some(true)).then_some(())
    })
    .await;
    // A few more ticks of both schedulers change nothing.
    let ticks_later = std::time::Instant::now() + std::time::Duration::from_millis(2_500);
    app.eventually("two more ticks", || async {
        (std::time::Instant::now() > ticks_later).then_some(())
    })
    .await;
    other.kill().unwrap();
    other.wait().unwrap();
    assert_eq!(app.count("SELECT count(*) FROM billing_charges").await, 1);
    assert_eq!(debits_at_bank(&app).await.len(), 1);
    app.drain_all().await;
    app.stop().await;
}

#[tokio::test]
async fn a_plan_change_waits_for_the_period_in_progress_to_end() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    pays_in(&app, &t, &t.kim, "20.00", "kim-1").await;
    opened_days_ago(&app, &t.id, 70).await;
    // Upgraded during the first period: that period is still free, the next is plus.
    assert_eq!(set_plan(&app, &t.pia, &t.id, "plus").await.status(), 200);
    let report = run(&app).await;
    assert_eq!((report.free, report.charges), (1, 1));
    app.drain_all().await;
    let items = history(&app, &t.pia.token, &t.id).await;
    let got: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|i| {
            (
                i["plan"].as_str().unwrap(),
                i["amount"].as_str().unwrap(),
                i["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("plus", "4.99", "charged"), ("free", "0.00", "free")]);
    let view: Value = app
        .get_auth(&format!("/api/v2/ktties/{}/billing/plan", t.id), &t.pia.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&view["plan"]["code"], &view["nextPlan"]),
        (&json!("plus"), &Value::Null)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_debit_whose_answer_is_lost_is_found_at_the_bank_and_charged_once() {
    let app = TestApp::spawn().await;
    let t = plus_trip_with_money(&app).await;
    opened_days_ago(&app, &t.id, 40).await;
    // The debit goes through and its answer is lost; its webhook is held back, so
    // only the bank's own record can tell the job it happened.
    crate::common::bank::faults(&app, json!({"transferDropResponseRate": 1.0, "webhookErrorRate": 1.0})).await;
    assert_eq!(run(&app).await.charges, 1);
    app.eventually("the charge found at the bank", || async {
        app.drain().await;
        sqlx::query("UPDATE jobs SET run_at = now() WHERE status = 'pending' AND run_at > now()")
            .execute(&app.pool)
            .await
            .unwrap();
        let items = history(&app, &t.pia.token, &t.id).await;
        (items[0]["status"] == "charged").then_some(())
    })
    .await;
    assert_eq!(
        debits_at_bank(&app).await.len(),
        1,
        "the debit was sent and found, never sent again"
    );
    // The webhook arrives late and books nothing twice.
    crate::common::bank::faults(&app, json!({})).await;
    app.eventually("the late webhook applied", || async {
        let n = app
            .count(
                "SELECT count(*) FROM provider_events WHERE status = 'applied' AND body::text LIKE '%GENERAL_DEBIT%'",
            )
            .await;
        (n == 1).then_some(())
    })
    .await;
    app.eventually("the balance after the fee", || async {
        (group::ktti(&app, &t.pia.token, &t.id).await["totalBalance"] == "55.01").then_some(())
    })
    .await;
    totals(&app, &t.pia.token, &t.id).await;
    app.stop().await;
}
