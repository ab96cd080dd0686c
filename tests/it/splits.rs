//! Splits made by the money flow (card spends, refunds, fees) and changed by
//! people, the default proportions, and member totals: after every step,
//! `sum(net) + unassigned == totalBalance`, the totals equal a recomputation from
//! the transactions, and every split sums to its transaction.

use crate::common::group::{Sender, deposit, join, pay_in, person};
use crate::common::pot::sandbox_raw;
use crate::common::totals::{dec, member, totals};
use crate::common::trip::{booked, pays_in, spend, trip};
use crate::common::{TestApp, error_fields, problem};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};

async fn split_of(app: &TestApp, token: &str, txn: &Value) -> Value {
    let r = app
        .get_auth(
            &format!("/api/v3/transactions/{}/split", txn["id"].as_str().unwrap()),
            token,
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn share(split: &Value, user: &str) -> Decimal {
    split["shares"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["userId"] == user)
        .map_or(Decimal::ZERO, |s| dec(&s["amount"]))
}

fn shares_sum(split: &Value) -> Decimal {
    split["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| dec(&s["amount"]))
        .sum()
}

async fn put_split(app: &TestApp, token: &str, txn: &Value, body: Value) -> reqwest::Response {
    app.send(
        Method::PUT,
        &format!("/api/v2/transactions/{}/split", txn["id"].as_str().unwrap()),
        token,
        Some(body),
    )
    .await
}

fn m(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[tokio::test]
async fn splits_follow_the_money_and_member_totals_add_up_after_every_step() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    let (pia, sam, kim) = (&t.pia.id, &t.sam.id, &t.kim.id);

    pays_in(&app, &t, &t.pia, "100.00", "in-pia").await;
    pays_in(&app, &t, &t.sam, "50.00", "in-sam").await;
    let stranger = Sender {
        name: "NOBODY WE KNOW",
        bsb: "033000",
        account: "11112222",
        reference: "lunch",
    };
    pay_in(&app, &t.bank, "30.00", "in-stranger", &stranger).await;
    let unassigned = deposit(&app, &t.pia.token, &t.id, "30.00").await;
    let tt = totals(&app, &t.pia.token, &t.id).await;
    assert_eq!(dec(&member(&tt, pia)["deposited"]), m("100.00"));
    assert_eq!(dec(&member(&tt, sam)["deposited"]), m("50.00"));
    assert_eq!(dec(&tt["unassigned"]), m("30.00"));
    assert_eq!(dec(&tt["totalBalance"]), m("180.00"));
    let v2 = split_of(&app, &t.pia.token, &unassigned).await;
    assert_eq!(
        (v2["mode"].clone(), v2["shares"].clone()),
        (Value::Null, json!([])),
        "a deposit has no split"
    );

    // A settled card spend is an expense split by default at once, to the cent.
    let dinner = spend(&app, &t, "10.00").await;
    let s = split_of(&app, &t.kim.token, &dinner).await;
    assert_eq!(
        (s["mode"].as_str(), s["origin"].as_str()),
        (Some("shares"), Some("default"))
    );
    assert_eq!(shares_sum(&s), m("10.00"));
    let mut parts: Vec<Decimal> = [pia, sam, kim].iter().map(|u| share(&s, u)).collect();
    parts.sort();
    assert_eq!(parts, [m("3.33"), m("3.33"), m("3.34")]);
    assert_eq!(s["history"].as_array().unwrap().len(), 1);
    assert_eq!(s["history"][0]["changedBy"], Value::Null, "made by the money flow");
    let tt = totals(&app, &t.pia.token, &t.id).await;
    for u in [pia, sam, kim] {
        assert_eq!(dec(&member(&tt, u)["spent"]), share(&s, u));
    }

    // Refunds in two parts give back exactly what each paid, pro rata.
    let payment = dinner["providerTransactionId"].as_str().unwrap();
    for (amount, key) in [("4.00", "first"), ("6.00", "rest")] {
        let r = app
            .sandbox(
                Method::POST,
                "/sandbox/utils/refund",
                Some(json!({"transactionId": payment, "amount": amount.parse::<f64>().unwrap()})),
            )
            .await;
        assert_eq!(r.status(), 200, "{key}");
        let refund = booked(&app, &t, "refund", amount).await;
        let rs = split_of(&app, &t.pia.token, &refund).await;
        assert_eq!(rs["origin"], "refund");
        assert_eq!(rs["refundOf"], dinner["id"]);
        assert_eq!(shares_sum(&rs), m(amount));
        totals(&app, &t.pia.token, &t.id).await;
    }
    let tt = totals(&app, &t.pia.token, &t.id).await;
    for u in [pia, sam, kim] {
        assert_eq!(
            dec(&member(&tt, u)["spent"]),
            Decimal::ZERO,
            "fully refunded: nobody paid anything"
        );
    }

    // A bank fee is shared by the default proportions.
    let r = sandbox_raw(
        &app,
        "/sandbox/utils/bank-fee",
        format!(
            r#"{{"accountId": "{}", "amount": 3.00, "description": "Account fee"}}"#,
            t.bank["providerAccountId"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let fee = booked(&app, &t, "fee", "3.00").await;
    let fs = split_of(&app, &t.sam.token, &fee).await;
    assert_eq!([share(&fs, pia), share(&fs, sam), share(&fs, kim)], [m("1.00"); 3]);
    totals(&app, &t.pia.token, &t.id).await;

    // Sam claims the stranger's transfer: unassigned moves into his deposits.
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v2/transactions/{}/assignee", unassigned["id"].as_str().unwrap()),
            &t.sam.token,
            Some(json!({"assigneeId": sam})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let tt = totals(&app, &t.pia.token, &t.id).await;
    assert_eq!(dec(&tt["unassigned"]), Decimal::ZERO);
    assert_eq!(dec(&member(&tt, sam)["deposited"]), m("80.00"));

    // Default proportions: a member may not change them; the owner may.
    let path = format!("/api/v2/ktties/{}/split-proportions", t.id);
    let body = json!({"proportions": [{"userId": sam, "value": "2"}]});
    let r = app.send(Method::PUT, &path, &t.kim.token, Some(body.clone())).await;
    problem(r, 403, "role_forbidden").await;
    let r = app.send(Method::PUT, &path, &t.pia.token, Some(body)).await;
    assert_eq!(r.status(), 200);
    let p: Value = app.get_auth(&path, &t.kim.token).await.json().await.unwrap();
    let percent = |u: &str| {
        p["proportions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["userId"] == u)
            .unwrap()["percent"]
            .clone()
    };
    assert_eq!([percent(pia), percent(sam), percent(kim)], ["25.00", "50.00", "25.00"]);
    let taxi = spend(&app, &t, "8.00").await;
    let ts = split_of(&app, &t.pia.token, &taxi).await;
    assert_eq!(
        [share(&ts, pia), share(&ts, sam), share(&ts, kim)],
        [m("2.00"), m("4.00"), m("2.00")]
    );
    totals(&app, &t.pia.token, &t.id).await;

    // Kim owes the pot (she spent and paid nothing in): she cannot walk away.
    let leave = format!("/api/v2/ktties/{}/leave", t.id);
    let r = app.send(Method::POST, &leave, &t.kim.token, None).await;
    problem(r, 409, "negative_balance").await;
    pays_in(&app, &t, &t.kim, "5.00", "in-kim").await;
    let r = app.send(Method::POST, &leave, &t.kim.token, None).await;
    assert_eq!(r.status(), 204);
    // She keeps her row; the next spend is Pia's and Sam's alone, 1:2.
    let tt = totals(&app, &t.pia.token, &t.id).await;
    assert_eq!(member(&tt, kim)["status"], "left");
    let snacks = spend(&app, &t, "3.00").await;
    let ss = split_of(&app, &t.pia.token, &snacks).await;
    assert_eq!(
        [share(&ss, pia), share(&ss, sam), share(&ss, kim)],
        [m("1.00"), m("2.00"), m("0")]
    );
    totals(&app, &t.pia.token, &t.id).await;

    // A newcomer starts at the average weight (1.5 between Pia's 1 and Sam's 2).
    let lou = person(&app, "lou@example.com").await;
    let code = app
        .get_auth(&format!("/api/v2/ktties/{}", t.id), &t.pia.token)
        .await
        .json::<Value>()
        .await
        .unwrap()["referralCode"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(join(&app, &lou, &code).await.status(), 200);
    let p: Value = app.get_auth(&path, &lou.token).await.json().await.unwrap();
    let lous = p["proportions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["userId"] == lou.id.as_str())
        .unwrap();
    assert_eq!(lous["value"], "1.5");
    totals(&app, &lou.token, &t.id).await;
    app.stop().await;
}

#[tokio::test]
async fn changing_a_split_is_checked_recorded_and_refused_when_stale() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    let (pia, sam, kim) = (t.pia.id.as_str(), t.sam.id.as_str(), t.kim.id.as_str());
    pays_in(&app, &t, &t.pia, "100.00", "in-pia").await;
    let lunch = spend(&app, &t, "9.00").await;
    let deposit_txn = booked(&app, &t, "deposit", "100.00").await;

    // Kim is in the split: she may change it; the change is recorded.
    let r = put_split(
        &app,
        &t.kim.token,
        &lunch,
        json!({"mode": "exact", "shares": [{"userId": pia, "value": "5.00"}, {"userId": sam, "value": "4.00"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let s: Value = r.json().await.unwrap();
    assert_eq!(
        (s["mode"].as_str(), s["origin"].as_str(), s["version"].as_i64()),
        (Some("exact"), Some("manual"), Some(2))
    );
    assert_eq!(
        [share(&s, pia), share(&s, sam), share(&s, kim)],
        [m("5.00"), m("4.00"), m("0")]
    );
    let change = &s["history"][1];
    assert_eq!(change["changedBy"], kim);
    assert_eq!(change["before"]["mode"], "shares");
    assert_eq!(change["after"]["shares"].as_array().unwrap().len(), 2);
    let tt = totals(&app, &t.pia.token, &t.id).await;
    assert_eq!(dec(&member(&tt, kim)["spent"]), Decimal::ZERO);
    let info: Value = app
        .get_auth(
            &format!("/api/v2/transactions/{}/additional-info", lunch["id"].as_str().unwrap()),
            &t.sam.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["split"]["mode"], "exact", "the additional info carries the split");

    // Now she is not in it: a member cannot move costs between two others.
    let equal = json!({"mode": "equal", "shares": [{"userId": pia}, {"userId": sam}, {"userId": kim}]});
    problem(
        put_split(&app, &t.kim.token, &lunch, equal.clone()).await,
        403,
        "role_forbidden",
    )
    .await;

    // Bad input: 422 naming the field, and nothing changes.
    let outsider = person(&app, "out@example.com").await;
    let cases = [
        (
            json!({"mode": "exact", "shares": [{"userId": pia, "value": "4.00"}]}),
            "shares",
        ),
        (
            json!({"mode": "exact", "shares": [{"userId": pia, "value": "-1.00"}]}),
            "shares[0].value",
        ),
        (
            json!({"mode": "percentages", "shares": [{"userId": pia, "value": "101"}, {"userId": sam, "value": "1"}]}),
            "shares[0].value",
        ),
        (
            json!({"mode": "percentages", "shares": [{"userId": pia, "value": "60"}, {"userId": sam, "value": "50"}]}),
            "shares",
        ),
        (
            json!({"mode": "equal", "shares": [{"userId": outsider.id}]}),
            "shares[0].userId",
        ),
        (
            json!({"mode": "equal", "shares": [{"userId": pia, "value": "1"}]}),
            "shares[0].value",
        ),
        (
            json!({"mode": "shares", "shares": [{"userId": pia, "value": "1.5.5"}]}),
            "shares[0].value",
        ),
        (
            json!({"mode": "equal", "shares": [{"userId": pia}, {"userId": pia}]}),
            "shares[1].userId",
        ),
        (json!({"mode": "lineItems", "shares": [{"userId": pia}]}), "mode"),
    ];
    for (body, field) in cases {
        let r = put_split(&app, &t.pia.token, &lunch, body.clone()).await;
        let p = problem(r, 422, "validation_failed").await;
        assert_eq!(error_fields(&p), [field], "{body}");
    }
    let p = problem(
        put_split(&app, &t.pia.token, &deposit_txn, equal.clone()).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&p), ["transactionId"], "a deposit has no split");
    assert_eq!(
        split_of(&app, &t.pia.token, &lunch).await["version"],
        2,
        "nothing changed"
    );

    // An outsider sees none of it.
    let lunch_id = lunch["id"].as_str().unwrap();
    for path in [
        format!("/api/v2/transactions/{lunch_id}/split"),
        format!("/api/v3/transactions/{lunch_id}/split"),
        format!("/api/v2/ktties/{}/split-proportions", t.id),
        format!("/api/v2/ktties/{}/member-totals", t.id),
    ] {
        assert_eq!(app.get_auth(&path, &outsider.token).await.status(), 404, "{path}");
    }
    assert_eq!(
        put_split(&app, &outsider.token, &lunch, equal.clone()).await.status(),
        404
    );
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v2/ktties/{}/split-proportions", t.id),
            &outsider.token,
            Some(json!({"proportions": [{"userId": outsider.id, "value": "1"}]})),
        )
        .await;
    assert_eq!(r.status(), 404);

    // Two changes from the same version: one wins whole, the other is 409.
    let a = json!({"mode": "exact", "version": 2, "shares": [{"userId": pia, "value": "9.00"}]});
    let b = json!({"mode": "equal", "version": 2, "shares": [{"userId": sam}, {"userId": kim}]});
    let (ra, rb) = tokio::join!(
        put_split(&app, &t.pia.token, &lunch, a),
        put_split(&app, &t.pia.token, &lunch, b)
    );
    let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let loser = if ra.status() == 409 { ra } else { rb };
    problem(loser, 409, "split_changed").await;
    let now = split_of(&app, &t.pia.token, &lunch).await;
    assert_eq!(now["version"], 3);
    let whole = [share(&now, pia), share(&now, sam), share(&now, kim)];
    assert!(
        whole == [m("9.00"), m("0"), m("0")] || whole == [m("0"), m("4.50"), m("4.50")],
        "one request's split, never a mix: {whole:?}"
    );
    totals(&app, &t.pia.token, &t.id).await;

    // A removed member is out of the ktti's splits.
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/v2/ktties/{}/members/{sam}", t.id),
            &t.pia.token,
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let p = problem(
        put_split(&app, &t.pia.token, &lunch, equal).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&p), ["shares[1].userId"]);
    totals(&app, &t.pia.token, &t.id).await;

    // A payment not yet settled has no split to change.
    let raw = format!(r#"{{"amount": 2.00, "cardToken": "{}"}}"#, t.card_token);
    assert_eq!(
        sandbox_raw(&app, "/v0/utils/generate-auth-hold", raw).await.status(),
        200
    );
    let pending = booked(&app, &t, "cardPayment&status=pending", "2.00").await;
    assert_eq!(split_of(&app, &t.pia.token, &pending).await["mode"], Value::Null);
    let r = put_split(
        &app,
        &t.pia.token,
        &pending,
        json!({"mode": "equal", "shares": [{"userId": pia}]}),
    )
    .await;
    problem(r, 409, "not_settled").await;
    app.stop().await;
}
