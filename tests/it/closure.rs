//! Closing a ktti: who may start and cancel a closure, what each state refuses,
//! cards frozen at the bank while it closes (and thawed when it is cancelled), and
//! deposits that still land.

use crate::common::group::{self, card, person};
use crate::common::pot::sandbox_raw;
use crate::common::totals::totals;
use crate::common::trip::{pays_in, trip};
use crate::common::{TestApp, problem};
use serde_json::{Value, json};

async fn status_of(app: &TestApp, token: &str, ktti: &str) -> Value {
    group::ktti(app, token, ktti).await["status"].clone()
}

#[tokio::test]
async fn a_closure_freezes_every_card_lets_deposits_land_and_can_be_cancelled() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    let sams_card = card(&app, &t.sam, &t.id).await;
    pays_in(&app, &t, &t.sam, "40.00", "sam-1").await;
    let closure = format!("/api/v2/ktties/{}/closure", t.id);
    let cancel = format!("{closure}/cancel");

    // A member may not, an outsider sees nothing, cancelling nothing is refused;
    // none of it changes anything.
    problem(
        app.post_auth(&closure, &t.sam.token, json!({})).await,
        403,
        "role_forbidden",
    )
    .await;
    let outsider = person(&app, "out@example.com").await;
    problem(
        app.post_auth(&closure, &outsider.token, json!({})).await,
        404,
        "ktti_not_found",
    )
    .await;
    problem(
        app.post_auth(&cancel, &outsider.token, json!({})).await,
        404,
        "ktti_not_found",
    )
    .await;
    problem(
        app.post_auth(&cancel, &t.pia.token, json!({})).await,
        409,
        "not_closing",
    )
    .await;
    assert_eq!(status_of(&app, &t.pia.token, &t.id).await, "active");

    // The owner starts it: closing at once, every card frozen at the bank by job.
    let r = app.post_auth(&closure, &t.pia.token, json!({})).await;
    assert_eq!(r.status(), 202);
    let k: Value = r.json().await.unwrap();
    assert_eq!(k["status"], "closing");
    problem(
        app.post_auth(&closure, &t.pia.token, json!({})).await,
        409,
        "ktti_not_active",
    )
    .await;
    app.drain_all().await;
    for c in [&t.card_token, sams_card["cardToken"].as_str().unwrap()] {
        let id: String = sqlx::query_scalar("SELECT id::text FROM cards WHERE card_token = $1")
            .bind(c)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        let at_bank: String = app.card_at_bank(&id, "status").await;
        assert_eq!(at_bank, "BLOCKED", "card {c}");
    }
    // The bank declines the frozen card, and nobody new joins.
    let raw = format!(r#"{{"amount": 5.00, "cardToken": "{}"}}"#, t.card_token);
    assert_eq!(
        sandbox_raw(&app, "/v0/utils/generate-auth-hold", raw).await.status(),
        200
    );
    app.eventually("the declined payment", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM transactions WHERE status = 'declined'")
            .fetch_one(&app.pool)
            .await
            .ok()?;
        (n == 1).then_some(())
    })
    .await;
    let k = group::ktti(&app, &t.pia.token, &t.id).await;
    let newcomer = group::person_named(&app, "late@example.com", "Lee", "Late").await;
    problem(
        group::join(&app, &newcomer, k["referralCode"].as_str().unwrap()).await,
        409,
        "ktti_not_open",
    )
    .await;
    // A deposit still lands, and the books still add up.
    pays_in(&app, &t, &t.kim, "25.00", "kim-1").await;
    let sums = totals(&app, &t.pia.token, &t.id).await;
    assert_eq!(sums["totalBalance"], "65.00");

    // A member may not cancel; the owner may: active again, cards thawed.
    problem(
        app.post_auth(&cancel, &t.kim.token, json!({})).await,
        403,
        "role_forbidden",
    )
    .await;
    let r = app.post_auth(&cancel, &t.pia.token, json!({})).await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "active");
    app.drain_all().await;
    let id: String = sqlx::query_scalar("SELECT id::text FROM cards WHERE card_token = $1")
        .bind(&t.card_token)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let at_bank: String = app.card_at_bank(&id, "status").await;
    assert_eq!(at_bank, "ACTIVE");
    app.stop().await;
}

#[tokio::test]
async fn two_owners_racing_to_close_make_one_closure() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    // Kim becomes an admin, then both start the closure at once.
    let r = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v2/ktties/{}/members/{}", t.id, t.kim.id),
            &t.pia.token,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let closure = format!("/api/v2/ktties/{}/closure", t.id);
    let (a, b) = tokio::join!(
        app.post_auth(&closure, &t.pia.token, json!({})),
        app.post_auth(&closure, &t.kim.token, json!({}))
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 409]);
    assert_eq!(status_of(&app, &t.pia.token, &t.id).await, "closing");
    app.drain_all().await;
    app.stop().await;
}
