//! Paying a closing ktti out, exactly once, while the bank misbehaves: the plan
//! from the books, one payout per member to their personal ktti or nominated
//! account, lost answers found at the bank instead of paying again, refusals
//! shown and paid again in a new round, dead payouts retried by operators, and
//! the ktti closed for good once everything is out.

use crate::common::bank::{faults, verify_against_provider};
use crate::common::group::{self, Person, person};
use crate::common::totals::{dec, totals};
use crate::common::trip::{Trip, pays_in, spend, trip};
use crate::common::{PASSWORD, TestApp, problem};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};

fn path(t: &Trip, step: &str) -> String {
    format!("/api/v2/ktties/{}/closure{step}", t.id)
}

async fn close(app: &TestApp, t: &Trip) {
    let r = app.post_auth(&path(t, ""), &t.pia.token, json!({})).await;
    assert_eq!(r.status(), 202);
}

async fn disburse(app: &TestApp, t: &Trip, key: &str) -> reqwest::Response {
    app.client
        .post(app.url(&path(t, "/disburse")))
        .bearer_auth(&t.pia.token)
        .header("Idempotency-Key", key)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
}

async fn plan(app: &TestApp, token: &str, t: &Trip) -> Value {
    let r = app.get_auth(&path(t, "/disbursements"), token).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn payout_of<'a>(plan: &'a Value, who: &Person) -> &'a Value {
    plan["payouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["userId"] == who.id.as_str())
        .unwrap_or_else(|| panic!("no payout for {}: {plan:#}", who.email))
}

async fn status_of(app: &TestApp, t: &Trip) -> Value {
    group::ktti(app, &t.pia.token, &t.id).await["status"].clone()
}

async fn personal_total(app: &TestApp, who: &Person) -> Decimal {
    let k: Value = app
        .get_auth("/api/v2/ktties/personal", &who.token)
        .await
        .json()
        .await
        .unwrap();
    dec(&k["totalBalance"])
}

/// Nominates a bank account for `who`'s payouts.
async fn nominate(app: &TestApp, who: &Person, number: &str) {
    let r = app
        .send(
            Method::PUT,
            "/api/v2/settings/payout-account",
            &who.token,
            Some(json!({"bsb": "062-000", "accountNumber": number, "accountName": "Sam Tran", "currentPassword": PASSWORD})),
        )
        .await;
    assert_eq!(r.status(), 200);
}

/// Lets every job waiting out a retry backoff run now: the test decides when
/// time passes, instead of sleeping through it.
async fn skip_backoffs(app: &TestApp) {
    sqlx::query("UPDATE jobs SET run_at = now() WHERE status = 'pending' AND run_at > now()")
        .execute(&app.pool)
        .await
        .unwrap();
}

/// The trip with Pia 60, Sam 30, Kim 10 paid in and a 30.00 spend split three
/// ways (10 each): nets 50 / 20 / 0.
async fn trip_with_money(app: &TestApp) -> Trip {
    let t = trip(app).await;
    pays_in(app, &t, &t.pia, "60.00", "pia-1").await;
    pays_in(app, &t, &t.sam, "30.00", "sam-1").await;
    pays_in(app, &t, &t.kim, "10.00", "kim-1").await;
    spend(app, &t, "30.00").await;
    totals(app, &t.pia.token, &t.id).await;
    t
}

#[tokio::test]
async fn a_closure_pays_everyone_their_net_once_and_the_ktti_closes_for_good() {
    let app = TestApp::spawn().await;
    let t = trip_with_money(&app).await;
    nominate(&app, &t.sam, "11223344").await;
    let (pia_before, kim_before) = (personal_total(&app, &t.pia).await, personal_total(&app, &t.kim).await);

    // Not before the closure starts; a member may not, an outsider sees nothing.
    problem(disburse(&app, &t, "d-0").await, 409, "not_closing").await;
    close(&app, &t).await;
    problem(
        app.post_auth(&path(&t, "/disburse"), &t.sam.token, json!({})).await,
        403,
        "role_forbidden",
    )
    .await;
    let outsider = person(&app, "out@example.com").await;
    for step in ["/disburse", "/finalize"] {
        problem(
            app.post_auth(&path(&t, step), &outsider.token, json!({})).await,
            404,
            "ktti_not_found",
        )
        .await;
    }
    problem(
        app.get_auth(&path(&t, "/disbursements"), &outsider.token).await,
        404,
        "ktti_not_found",
    )
    .await;
    problem(
        app.get_auth(&path(&t, "/disbursements"), &t.kim.token).await,
        404,
        "disbursement_not_found",
    )
    .await;
    problem(
        app.post_auth(&path(&t, "/finalize"), &t.pia.token, json!({})).await,
        409,
        "not_ready_to_close",
    )
    .await;

    // The owner disburses: the plan, stored, with every payout pending.
    let r = disburse(&app, &t, "d-1").await;
    assert_eq!(r.status(), 202);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["kttiStatus"], "disbursing");
    assert_eq!((&first["round"], &first["total"]), (&json!(1), &json!("70.00")));
    assert_eq!(payout_of(&first, &t.pia)["amount"], "50.00");
    assert_eq!(payout_of(&first, &t.sam)["amount"], "20.00");
    assert_eq!(payout_of(&first, &t.sam)["destination"], "bankAccount");
    assert_eq!(payout_of(&first, &t.pia)["destination"], "personalKtti");
    assert_eq!(
        first["payouts"].as_array().unwrap().len(),
        2,
        "Kim is square: {first:#}"
    );
    assert_eq!(first["settleUp"], json!([]));
    // A replay answers with the same plan; a second disburse is refused; the
    // closure can no longer be cancelled.
    let again: Value = disburse(&app, &t, "d-1").await.json().await.unwrap();
    assert_eq!(again["payouts"].as_array().unwrap().len(), 2);
    assert_eq!(again["rounds"].as_array().unwrap().len(), 1);
    problem(disburse(&app, &t, "d-2").await, 409, "payouts_in_flight").await;
    // Who bears what is fixed once payouts start: a split change could move
    // money between members already paid.
    let spend_id: String = sqlx::query_scalar("SELECT id::text FROM transactions WHERE kind = 'cardPayment'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    problem(
        app.send(
            Method::PUT,
            &format!("/api/v2/transactions/{spend_id}/split"),
            &t.pia.token,
            Some(json!({"mode": "equal", "shares": [{"userId": t.kim.id}]})),
        )
        .await,
        409,
        "payouts_started",
    )
    .await;
    problem(
        app.post_auth(&path(&t, "/cancel"), &t.pia.token, json!({})).await,
        409,
        "payouts_started",
    )
    .await;

    // The jobs pay: Pia into her personal ktti, Sam to his account at the bank.
    app.drain_all().await;
    let done = plan(&app, &t.kim.token, &t).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(done["kttiStatus"], "readyToClose");
    for who in [&t.pia, &t.sam] {
        let p = payout_of(&done, who);
        assert_eq!((&p["status"], &p["attempts"]), (&json!("completed"), &json!(1)));
    }
    // Each paid member hears of it once, with what they got; every member heard
    // the ktti was closing.
    for who in [&t.pia, &t.sam] {
        let user: uuid::Uuid = who.id.parse().unwrap();
        let paid: Vec<(Option<rust_decimal::Decimal>,)> =
            sqlx::query_as("SELECT share FROM notifications WHERE event = 'payoutPaid' AND user_id = $1")
                .bind(user)
                .fetch_all(&app.pool)
                .await
                .unwrap();
        assert_eq!(paid.len(), 1);
        assert_eq!(
            paid[0].0.map(|d| d.to_string()),
            payout_of(&done, who)["amount"].as_str().map(str::to_string)
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM notifications WHERE event = 'closureStarted'")
            .await,
        3
    );
    let sums = totals(&app, &t.pia.token, &t.id).await;
    assert_eq!(sums["totalBalance"], "0.00");
    for m in sums["members"].as_array().unwrap() {
        assert_eq!(m["net"], "0.00", "{m}");
    }
    let pia = sums["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["userId"] == t.pia.id.as_str())
        .unwrap();
    assert_eq!(pia["paidOut"], "50.00");
    assert_eq!(personal_total(&app, &t.pia).await - pia_before, Decimal::new(5000, 2));
    assert_eq!(personal_total(&app, &t.kim).await, kim_before);
    let sent: Vec<(String, Decimal)> = sqlx::query_as(
        "SELECT counterpart_account, -amount FROM movements WHERE kind = 'INTERBANK_TRANSFER_OUT' ORDER BY created_at",
    )
    .fetch_all(&sandbox_pool(&app).await)
    .await
    .unwrap();
    assert_eq!(sent, [("11223344".to_string(), Decimal::new(2000, 2))]);
    // Each payout shows as a posted transaction of the ktti.
    let page: Value = app
        .get_auth(
            &format!("/api/v2/ktties/{}/transactions?type=payout", t.id),
            &t.sam.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["posted", "posted"]);

    // Finalised by the owner (a member may not): closed for good, its account
    // closed at the bank, read-only.
    problem(
        app.post_auth(&path(&t, "/finalize"), &t.sam.token, json!({})).await,
        403,
        "role_forbidden",
    )
    .await;
    let r = app.post_auth(&path(&t, "/finalize"), &t.pia.token, json!({})).await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "closed");
    app.drain_all().await;
    let at_bank: Value = app
        .sandbox(
            Method::GET,
            &format!("/sandbox/accounts/{}", t.bank["providerAccountId"].as_str().unwrap()),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(at_bank["status"], "CLOSED", "{at_bank:#}");
    for step in ["/finalize", "", "/cancel"] {
        let r = app.post_auth(&path(&t, step), &t.pia.token, json!({})).await;
        problem(r, 409, "ktti_closed").await;
    }
    // Read-only: every change the owner might try is refused, and reads work.
    let k = format!("/api/v2/ktties/{}", t.id);
    let payout_txn = payout_of(&done, &t.pia)["transactionId"].as_str().unwrap().to_string();
    let spend_txn: String = sqlx::query_scalar("SELECT id::text FROM transactions WHERE kind = 'cardPayment'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let kims_deposit: String =
        sqlx::query_scalar("SELECT id::text FROM transactions WHERE kind = 'deposit' AND amount = 10.00")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let writes = [
        (Method::PATCH, k.clone(), json!({"name": "Renamed"})),
        (
            Method::POST,
            format!("{k}/invitations"),
            json!({"email": "new@example.com"}),
        ),
        (
            Method::PUT,
            format!("{k}/members/{}", t.kim.id),
            json!({"canSpend": false}),
        ),
        (Method::DELETE, format!("{k}/members/{}", t.kim.id), Value::Null),
        (
            Method::PUT,
            format!("{k}/split-proportions"),
            json!({"proportions": [{"userId": t.pia.id, "value": "1"}]}),
        ),
        (
            Method::POST,
            format!("{k}/card/physical"),
            json!({"address": {"line1": "1 Main St", "suburb": "Carlton", "state": "VIC", "postcode": "3053", "country": "AU"}}),
        ),
        (
            Method::PUT,
            format!("/api/v2/transactions/{spend_txn}/split"),
            json!({"mode": "equal", "shares": [{"userId": t.pia.id}]}),
        ),
        (
            Method::PUT,
            format!("/api/v2/transactions/{kims_deposit}/assignee"),
            json!({"assigneeId": t.pia.id}),
        ),
        (
            Method::PUT,
            format!("/api/v2/transactions/{payout_txn}/additional-info"),
            json!({"note": "late"}),
        ),
    ];
    for (method, at, body) in writes {
        let body = (!body.is_null()).then_some(body);
        let r = app.send(method.clone(), &at, &t.pia.token, body).await;
        let p = problem(r, 409, "ktti_closed").await;
        assert!(p["detail"].is_string(), "{method} {at}");
    }
    let r = app.post_auth(&format!("{k}/leave"), &t.kim.token, json!({})).await;
    problem(r, 409, "ktti_closed").await;
    assert_eq!(group::ktti(&app, &t.kim.token, &t.id).await["status"], "closed");
    problem(disburse(&app, &t, "d-3").await, 409, "ktti_closed").await;
    let (code, out) = verify_against_provider(&app).await;
    assert_eq!(code, 0, "{out}");
    app.stop().await;
}

async fn sandbox_pool(app: &TestApp) -> sqlx::PgPool {
    let url = format!("{}_sandbox", app.config.database_url);
    sqlx::PgPool::connect(&url).await.unwrap()
}

#[tokio::test]
async fn nothing_is_paid_while_deposits_are_unassigned_or_payments_held() {
    let app = TestApp::spawn().await;
    let t = trip_with_money(&app).await;
    close(&app, &t).await;
    // A deposit nobody can be matched to.
    let stranger = group::Sender {
        name: "NOBODY KNOWN",
        bsb: "083000",
        account: "55555555",
        reference: "gift",
    };
    group::pay_in(&app, &t.bank, "5.00", "stranger-1", &stranger).await;
    let gift = group::deposit(&app, &t.pia.token, &t.id, "5.00").await;
    let p = problem(disburse(&app, &t, "u-1").await, 409, "unassigned_deposits").await;
    assert!(p["detail"].as_str().unwrap().contains("5.00"), "{p}");
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v2/transactions/{}/assignee", gift["id"].as_str().unwrap()),
            &t.pia.token,
            Some(json!({"assigneeId": t.kim.id})),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    // A card hold placed before the cards froze is still open.
    sqlx::query("UPDATE transactions SET status = 'pending' WHERE kind = 'cardPayment'")
        .execute(&app.pool)
        .await
        .unwrap();
    problem(disburse(&app, &t, "u-2").await, 409, "open_holds").await;
    sqlx::query("UPDATE transactions SET status = 'posted' WHERE kind = 'cardPayment'")
        .execute(&app.pool)
        .await
        .unwrap();
    // Refusals changed nothing.
    assert_eq!(status_of(&app, &t).await, "closing");
    assert_eq!(app.count("SELECT count(*) FROM disbursements").await, 0);
    // The same key after the blocker is gone pays.
    let r = disburse(&app, &t, "u-1").await;
    assert_eq!(r.status(), 202);
    app.drain_all().await;
    assert_eq!(status_of(&app, &t).await, "readyToClose");
    app.stop().await;
}

#[tokio::test]
async fn two_disbursements_at_once_make_one_plan() {
    let app = TestApp::spawn().await;
    let t = trip_with_money(&app).await;
    close(&app, &t).await;
    let (a, b) = tokio::join!(disburse(&app, &t, "a"), disburse(&app, &t, "b"));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 409]);
    app.drain_all().await;
    assert_eq!(app.count("SELECT count(*) FROM payouts").await, 2);
    assert_eq!(
        app.count("SELECT count(*) FROM payouts WHERE status = 'completed'")
            .await,
        2
    );
    app.stop().await;
}

#[tokio::test]
async fn a_refused_account_is_shown_to_the_owner_and_paid_again_in_a_new_round() {
    let app = TestApp::spawn().await;
    let t = trip_with_money(&app).await;
    nominate(&app, &t.sam, "40404040").await;
    faults(&app, json!({"refuseRecipientAccounts": ["40404040"]})).await;
    close(&app, &t).await;
    assert_eq!(disburse(&app, &t, "r-1").await.status(), 202);
    app.drain_all().await;

    // Sam's payout was refused (money back in the pot); Pia's completed.
    let after = plan(&app, &t.pia.token, &t).await;
    assert_eq!(after["status"], "needsAttention");
    let sam = payout_of(&after, &t.sam);
    assert_eq!(
        (&sam["status"], &sam["lastError"]),
        (&json!("failed"), &json!("recipient_account_blocked"))
    );
    assert_eq!(payout_of(&after, &t.pia)["status"], "completed");
    assert_eq!(after["kttiStatus"], "closing");
    let k = group::ktti(&app, &t.pia.token, &t.id).await;
    assert_eq!(
        (&k["totalBalance"], &k["availableBalance"]),
        (&json!("20.00"), &json!("20.00"))
    );
    let items = group::actions(&app, &t.pia.token).await;
    let item = items
        .iter()
        .find(|a| a["type"] == "payoutFailed")
        .expect("the owner is told");
    assert_eq!(item["payload"]["reason"], "recipient_account_blocked");
    assert_eq!(item["payload"]["amount"], "20.00");
    let declined: Value = app
        .get_auth(
            &format!("/api/v2/ktties/{}/transactions?type=payout&status=declined", t.id),
            &t.pia.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(declined["items"].as_array().unwrap().len(), 1);
    totals(&app, &t.pia.token, &t.id).await;

    // Sam drops the account; a second round pays him into his personal ktti.
    let r = app
        .send(Method::DELETE, "/api/v2/settings/payout-account", &t.sam.token, None)
        .await;
    assert_eq!(r.status(), 204);
    let r = disburse(&app, &t, "r-2").await;
    assert_eq!(r.status(), 202);
    let second: Value = r.json().await.unwrap();
    assert_eq!((&second["round"], &second["total"]), (&json!(2), &json!("20.00")));
    assert_eq!(second["rounds"].as_array().unwrap().len(), 2);
    app.drain_all().await;
    let done = plan(&app, &t.pia.token, &t).await;
    assert_eq!(
        (&done["status"], &done["kttiStatus"]),
        (&json!("completed"), &json!("readyToClose"))
    );
    totals(&app, &t.pia.token, &t.id).await;
    app.stop().await;
}

#[tokio::test]
async fn a_lost_answer_is_found_at_the_bank_and_a_failing_bank_is_retried_with_the_same_key() {
    let app = TestApp::spawn().await;
    let t = trip_with_money(&app).await;
    let pia_before = personal_total(&app, &t.pia).await;
    close(&app, &t).await;
    // Every transfer executes and then loses its answer, and its webhook is held
    // back: the retry must find the transfer at the bank rather than send it again.
    faults(&app, json!({"transferDropResponseRate": 1.0, "webhookErrorRate": 1.0})).await;
    assert_eq!(disburse(&app, &t, "l-1").await.status(), 202);
    app.drain().await;
    skip_backoffs(&app).await;
    app.drain_all().await;
    // The webhooks arrive late and change nothing here; Pia's personal ktti
    // hears of the money it received.
    faults(&app, json!({})).await;
    app.eventually("Pia's personal ktti to show the payout", || async {
        (personal_total(&app, &t.pia).await - pia_before == Decimal::new(5000, 2)).then_some(())
    })
    .await;
    app.eventually("Sam's too", || async {
        (personal_total(&app, &t.sam).await == Decimal::new(2000, 2)).then_some(())
    })
    .await;
    app.drain_all().await;
    let done = plan(&app, &t.pia.token, &t).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    for who in [&t.pia, &t.sam] {
        assert_eq!(payout_of(&done, who)["attempts"], 2);
    }
    let sent: i64 = sqlx::query_scalar("SELECT count(*) FROM movements WHERE kind = 'INTRABANK_TRANSFER_OUT'")
        .fetch_one(&sandbox_pool(&app).await)
        .await
        .unwrap();
    assert_eq!(sent, 2, "each payout moved money once");
    assert_eq!(status_of(&app, &t).await, "readyToClose");
    let (code, out) = verify_against_provider(&app).await;
    assert_eq!(code, 0, "{out}");
    app.stop().await;
}

#[tokio::test]
async fn a_dead_payout_stays_visible_and_an_operator_retry_completes_it() {
    let app = TestApp::spawn().await;
    app.expect_dead_jobs();
    let t = trip_with_money(&app).await;
    close(&app, &t).await;
    faults(&app, json!({"transferErrorRate": 1.0})).await;
    assert_eq!(disburse(&app, &t, "x-1").await.status(), 202);
    // Every attempt fails: each retry is let run at once, until none are left.
    app.eventually("both payouts dead", || async {
        app.drain().await;
        skip_backoffs(&app).await;
        (app.count("SELECT count(*) FROM payouts WHERE status = 'dead'").await == 2).then_some(())
    })
    .await;
    let stuck = plan(&app, &t.pia.token, &t).await;
    assert_eq!(stuck["status"], "needsAttention");
    for who in [&t.pia, &t.sam] {
        let p = payout_of(&stuck, who);
        assert_eq!(
            (&p["status"], &p["lastError"], &p["attempts"]),
            (&json!("dead"), &json!("provider_unavailable"), &json!(12))
        );
    }
    // The money stays reserved (the bank might yet have moved it), so nothing
    // else can spend it, and the ktti cannot close or be paid out again.
    let k = group::ktti(&app, &t.pia.token, &t.id).await;
    assert_eq!(
        (&k["totalBalance"], &k["availableBalance"]),
        (&json!("70.00"), &json!("0.00"))
    );
    problem(disburse(&app, &t, "x-2").await, 409, "payouts_in_flight").await;

    // The bank is back; an operator retries the dead jobs.
    faults(&app, json!({})).await;
    let ops = app.admin("ops@example.com").await;
    let dead: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM jobs WHERE status = 'dead' AND kind = 'payout.submit.v1'")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(dead.len(), 2);
    for job in dead {
        let r = app
            .post_auth(&format!("/api/v2/admin/jobs/{job}/retry"), &ops.access_token, json!({}))
            .await;
        assert!(r.status().is_success(), "{}", r.status());
    }
    app.drain_all().await;
    let done = plan(&app, &t.pia.token, &t).await;
    assert_eq!(
        (&done["status"], &done["kttiStatus"]),
        (&json!("completed"), &json!("readyToClose"))
    );
    totals(&app, &t.pia.token, &t.id).await;
    app.stop().await;
}

#[tokio::test]
async fn money_arriving_after_everything_was_paid_goes_back_to_closing_and_is_paid_out() {
    let app = TestApp::spawn().await;
    let t = trip_with_money(&app).await;
    close(&app, &t).await;
    assert_eq!(disburse(&app, &t, "m-1").await.status(), 202);
    app.drain_all().await;
    assert_eq!(status_of(&app, &t).await, "readyToClose");
    // Kim pays in late: booked, shown to the owner, and the ktti reopens for payout.
    pays_in(&app, &t, &t.kim, "7.00", "kim-late").await;
    app.drain_all().await;
    assert_eq!(status_of(&app, &t).await, "closing");
    let items = group::actions(&app, &t.pia.token).await;
    assert!(items.iter().any(|a| a["type"] == "lateMovement"), "{items:#?}");
    problem(
        app.post_auth(&path(&t, "/finalize"), &t.pia.token, json!({})).await,
        409,
        "not_ready_to_close",
    )
    .await;
    let r = disburse(&app, &t, "m-2").await;
    assert_eq!(r.status(), 202);
    let second: Value = r.json().await.unwrap();
    assert_eq!(payout_of(&second, &t.kim)["amount"], "7.00");
    app.drain_all().await;
    assert_eq!(status_of(&app, &t).await, "readyToClose");
    let r = app.post_auth(&path(&t, "/finalize"), &t.pia.token, json!({})).await;
    assert_eq!(r.status(), 202);
    app.drain_all().await;
    app.stop().await;
}

#[tokio::test]
async fn members_owing_the_pot_scale_the_payouts_and_are_told_whom_to_settle_with() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    // Pia 50, Sam 10, Kim 0 in; a 60.00 spend split three ways: nets 30 / -10 / -20.
    pays_in(&app, &t, &t.pia, "50.00", "p").await;
    pays_in(&app, &t, &t.sam, "10.00", "s").await;
    spend(&app, &t, "60.00").await;
    totals(&app, &t.pia.token, &t.id).await;
    let r = app.post_auth(&path(&t, ""), &t.pia.token, json!({})).await;
    assert_eq!(r.status(), 202);
    // Nothing is left in the pot: Pia is paid nothing, and told who owes her.
    let r = disburse(&app, &t, "n-1").await;
    assert_eq!(r.status(), 202);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["payouts"], json!([]));
    assert_eq!(p["total"], "0.00");
    let settle: Vec<(String, String, String)> = p["settleUp"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["fromUserId"].as_str().unwrap().to_string(),
                s["toUserId"].as_str().unwrap().to_string(),
                s["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        settle,
        [
            (t.kim.id.clone(), t.pia.id.clone(), "20.00".to_string()),
            (t.sam.id.clone(), t.pia.id.clone(), "10.00".to_string()),
        ]
    );
    assert_eq!(p["kttiStatus"], "readyToClose");
    app.drain_all().await;
    app.stop().await;
}

#[tokio::test]
async fn a_member_with_nowhere_to_be_paid_is_asked_for_an_account_first() {
    let app = TestApp::spawn().await;
    let t = trip_with_money(&app).await;
    // Sam's personal ktti is gone from our side (closed): he has nowhere to be paid.
    sqlx::query("UPDATE ktties SET status = 'closed' WHERE kind = 'personal' AND owner_id = $1::uuid")
        .bind(&t.sam.id)
        .execute(&app.pool)
        .await
        .unwrap();
    close(&app, &t).await;
    let p = problem(disburse(&app, &t, "a-1").await, 409, "payout_account_needed").await;
    assert!(p["detail"].as_str().unwrap().contains("1 member"), "{p}");
    assert_eq!(app.count("SELECT count(*) FROM payouts").await, 0);
    let sams = group::actions(&app, &t.sam.token).await;
    let item = sams
        .iter()
        .find(|a| a["type"] == "payoutAccountNeeded")
        .expect("Sam is asked");
    // He acknowledges it, as a member.
    let r = group::decide(
        &app,
        &t.sam.token,
        item["uuid"].as_str().unwrap(),
        json!({"decision": "approve"}),
    )
    .await;
    assert!(r.status().is_success(), "{}", r.status());
    nominate(&app, &t.sam, "11223344").await;
    assert_eq!(disburse(&app, &t, "a-2").await.status(), 202);
    app.drain_all().await;
    assert_eq!(status_of(&app, &t).await, "readyToClose");
    app.stop().await;
}
