//! The closure the job queue exists for: a ktti of 50 members paid out while
//! the bank fails 30% of transfers and loses 10% of its answers after moving the
//! money, and a worker process is killed (SIGKILL) in the middle and another
//! started. Every member must receive exactly their planned amount, once; the
//! ktti ends at 0/0 and closes; and the bank's own records agree with ours.

use crate::common::bank::{faults, verify_against_provider};
use crate::common::fleet::{time_passes, worker_process};
use crate::common::group::{self, Person, banking, join, member_pays_in, person_named};
use crate::common::totals::{dec, totals};
use crate::common::{PASSWORD, TestApp};
use futures::future::join_all;
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const MEMBERS: usize = 50;

async fn payouts_unfinished(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM payouts WHERE status NOT IN ('completed', 'failed')")
        .await
}

#[tokio::test]
async fn fifty_members_are_paid_exactly_once_through_bank_faults_and_a_killed_worker() {
    // Fifty people join from one address (the test's).
    let app = TestApp::spawn_with(|vars| {
        vars.insert("KTTIPAY_JOINS_PER_HOUR".into(), "1000".into());
    })
    .await;
    let owner = person_named(&app, "owner@example.com", "Olive", "Owner").await;
    let k = group::group(&app, &owner, json!({"name": "Festival", "billingPlan": "pro"})).await;
    let id = k["id"].as_str().unwrap().to_string();
    let code = k["referralCode"].as_str().unwrap().to_string();
    let people: Vec<Person> = join_all((1..MEMBERS).map(|i| {
        let app = &app;
        async move { person_named(app, &format!("m{i}@example.com"), "Member", &format!("Number{i}")).await }
    }))
    .await;
    for p in &people {
        assert_eq!(join(&app, p, &code).await.status(), 200);
    }
    let mut everyone = vec![owner];
    everyone.extend(people);
    // Every fifth member is paid to a bank account, the rest to their personal ktti.
    for (i, p) in everyone.iter().enumerate().filter(|(i, _)| i % 5 == 4) {
        let r = app
            .send(
                Method::PUT,
                "/api/v2/settings/payout-account",
                &p.token,
                Some(json!({"bsb": "062000", "accountNumber": format!("7000{i:04}"), "accountName": format!("Member {i}"), "currentPassword": PASSWORD})),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    // Everyone but two pays in an amount of their own; a spend is split by all,
    // so those two owe the pot and everyone else's payout is scaled.
    let bank = banking(&app, &everyone[0], &id).await;
    for (i, p) in everyone.iter().enumerate().skip(2) {
        let amount = format!("{}.{:02}", 10 + i, (i * 37) % 100);
        member_pays_in(&app, &bank, p, &id, &amount, &format!("in-{i}")).await;
    }
    let card = group::card(&app, &everyone[0], &id).await;
    let raw = format!(
        r#"{{"amount": 100.00, "cardToken": "{}", "settlementDelayInSeconds": 0}}"#,
        card["cardToken"].as_str().unwrap()
    );
    let r = crate::common::pot::sandbox_raw(&app, "/v0/utils/generate-card-transaction", raw).await;
    assert_eq!(r.status(), 200);
    app.eventually("every deposit and the spend", || async {
        let n = app
            .count("SELECT count(*) FROM transactions WHERE status = 'posted'")
            .await;
        (n == (MEMBERS - 2 + 1) as i64).then_some(())
    })
    .await;
    let before = totals(&app, &everyone[0].token, &id).await;
    let owed: Decimal = before["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| dec(&m["net"]))
        .filter(|n| n.is_sign_negative())
        .sum();
    assert!(owed < Decimal::ZERO, "two members owe the pot");

    // The bank misbehaves; a second worker process joins, and is killed mid-run.
    faults(
        &app,
        json!({"transferErrorRate": 0.3, "transferDropResponseRate": 0.1, "latencyMs": 20}),
    )
    .await;
    let mut doomed = worker_process(&app, &[("KTTIPAY_WORKER_QUEUES", "banking")]);
    let closure = format!("/api/v2/ktties/{id}/closure");
    assert_eq!(
        app.post_auth(&closure, &everyone[0].token, json!({})).await.status(),
        202
    );
    app.drain_all().await;
    let r = app
        .client
        .post(app.url(&format!("{closure}/disburse")))
        .bearer_auth(&everyone[0].token)
        .header("Idempotency-Key", "chaos")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let plan: Value = r.json().await.unwrap();
    let planned: BTreeMap<String, Decimal> = plan["payouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["userId"].as_str().unwrap().to_string(), dec(&p["amount"])))
        .collect();
    assert_eq!(planned.len(), MEMBERS - 2);
    assert_eq!(planned.values().sum::<Decimal>(), dec(&plan["total"]));
    app.eventually("some payouts to finish while the extra worker runs", || async {
        (app.count("SELECT count(*) FROM payouts WHERE status = 'completed'")
            .await
            >= 5)
            .then_some(())
    })
    .await;
    doomed.kill().expect("SIGKILL");
    doomed.wait().unwrap();
    let mut replacement = worker_process(&app, &[("KTTIPAY_WORKER_QUEUES", "banking")]);
    // The killed process held claims on jobs it fetched: they lapse (the test
    // lets their time pass) and the sweeper hands them to the live workers.
    app.eventually("every payout to finish", || async {
        time_passes(&app).await;
        (payouts_unfinished(&app).await == 0).then_some(())
    })
    .await;
    faults(&app, json!({})).await;
    app.drain_all().await;
    replacement.kill().unwrap();
    replacement.wait().unwrap();

    // Every member got exactly their planned amount, once, at the bank.
    let done: Value = app
        .get_auth(&format!("{closure}/disbursements"), &everyone[1].token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(done["kttiStatus"], "readyToClose");
    let sandbox = sqlx::PgPool::connect(&format!("{}_sandbox", app.config.database_url))
        .await
        .unwrap();
    let sent: Vec<(String, i64, Decimal)> = sqlx::query_as(
        "SELECT reference, count(*), -sum(amount) FROM movements \
         WHERE kind IN ('INTRABANK_TRANSFER_OUT', 'INTERBANK_TRANSFER_OUT') GROUP BY reference",
    )
    .fetch_all(&sandbox)
    .await
    .unwrap();
    assert_eq!(sent.len(), MEMBERS - 2, "one transfer per payout");
    let by_reference: BTreeMap<String, (String, Decimal)> = done["payouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let key: String = p["payoutId"].as_str().unwrap().to_string();
            (key, (p["userId"].as_str().unwrap().to_string(), dec(&p["amount"])))
        })
        .collect();
    let keys: BTreeMap<String, String> = sqlx::query_as::<_, (String, String)>(
        "SELECT id::text, 'KPO' || replace(idempotency_key::text, '-', '') FROM payouts",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(id, reference)| (reference, id))
    .collect();
    for (reference, count, amount) in &sent {
        assert_eq!(*count, 1, "{reference} moved money once");
        let (user, planned_amount) = &by_reference[&keys[reference]];
        assert_eq!(amount, planned_amount, "{reference}");
        assert_eq!(&planned[user], amount);
    }
    let sums = totals(&app, &everyone[0].token, &id).await;
    assert_eq!(sums["totalBalance"], "0.00");
    for m in sums["members"].as_array().unwrap() {
        assert_eq!(
            dec(&m["paidOut"]),
            planned.get(m["userId"].as_str().unwrap()).copied().unwrap_or_default()
        );
    }
    assert_eq!(
        done["settleUp"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| dec(&s["amount"]))
            .sum::<Decimal>(),
        -owed
    );

    // It closes, and the bank agrees with every figure we hold.
    let r = app
        .post_auth(&format!("{closure}/finalize"), &everyone[0].token, json!({}))
        .await;
    assert_eq!(r.status(), 202);
    app.drain_all().await;
    app.eventually("every personal ktti to have heard of its payout", || async {
        let (code, _) = verify_against_provider(&app).await;
        (code == 0).then_some(())
    })
    .await;
    app.stop().await;
}
