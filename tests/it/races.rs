//! Races around cards and membership: a removed member cannot walk back in with
//! the referral code, and their old card is cancelled at the bank even when they
//! are back before the removal reached it; card state changes for one card run
//! one at a time, so a block is never undone by an older job.

use crate::common::TestApp;
use crate::common::bank::faults;
use crate::common::group::{actions, card, decide, group, join, person};
use reqwest::Method;
use serde_json::{Value, json};

/// A card's status at the bank, by our card id.
async fn at_bank(app: &TestApp, card: &str) -> String {
    app.card_at_bank(card, "status").await
}

#[tokio::test]
async fn a_removed_member_needs_approval_to_return_and_loses_the_old_card() {
    let app = TestApp::spawn().await;
    let owner = person(&app, "owner@example.com").await;
    let rex = person(&app, "rex@example.com").await;
    let k = group(&app, &owner, json!({"name": "Shared car"})).await;
    let id = k["id"].as_str().unwrap().to_string();
    let code = k["referralCode"].as_str().unwrap().to_string();
    assert_eq!(join(&app, &rex, &code).await.status(), 200);
    let old = card(&app, &rex, &id).await;
    let old_card = old["id"].as_str().unwrap().to_string();
    app.drain_all().await;

    // The bank is down while Rex is removed: the removal cannot reach it yet.
    faults(&app, json!({"errorRate": 1.0})).await;
    let removed = app
        .send(
            Method::DELETE,
            &format!("/api/v2/ktties/{id}/members/{}", rex.id),
            &owner.token,
            None,
        )
        .await;
    assert_eq!(removed.status(), 204);

    // Rex tries the code again: the ktti does not ask for approval, but a removed
    // member needs it all the same.
    assert_eq!(join(&app, &rex, &code).await.status(), 202);
    let item = actions(&app, &owner.token)
        .await
        .into_iter()
        .find(|a| a["type"] == "joinApproval")
        .expect("the owner decides");
    assert_eq!(item["payload"]["previouslyRemoved"], true);
    // Approved the way the documented client does it: no body at all.
    let approved = app
        .client
        .post(app.url(&format!("/api/v2/actions/{}", item["uuid"].as_str().unwrap())))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 204);
    let again = decide(
        &app,
        &owner.token,
        item["uuid"].as_str().unwrap(),
        json!({"decision": "reject"}),
    )
    .await;
    assert_eq!(again.status(), 409, "decided once");

    // The bank comes back: the old card is cancelled there, and Rex holds a new one.
    faults(&app, json!({})).await;
    app.drain_all().await;
    assert_eq!(at_bank(&app, &old_card).await, "INACTIVE", "cancelled at the bank");
    let new = card(&app, &rex, &id).await;
    assert_ne!(new["id"], old["id"], "a fresh card for the new membership");
    assert_eq!(new["status"], "active");
    let live = app
        .count("SELECT count(*) FROM cards WHERE status <> 'cancelled' AND user_id IN (SELECT id FROM users WHERE email = 'rex@example.com') AND ktti_id IN (SELECT id FROM ktties WHERE kind = 'group')")
        .await;
    assert_eq!(live, 1);
    app.stop().await;
}

#[tokio::test]
async fn card_changes_for_one_card_are_serialised_and_the_latest_rights_win() {
    let app = TestApp::spawn().await;
    let owner = person(&app, "owner2@example.com").await;
    let mia = person(&app, "mia@example.com").await;
    let k = group(&app, &owner, json!({"name": "Holiday"})).await;
    let id = k["id"].as_str().unwrap().to_string();
    assert_eq!(
        join(&app, &mia, k["referralCode"].as_str().unwrap()).await.status(),
        200
    );
    let mias = card(&app, &mia, &id).await;
    app.drain_all().await;
    let path = format!("/api/v2/ktties/{id}/members/{}", mia.id);
    let set = |can: bool| app.send(Method::PUT, &path, &owner.token, Some(json!({"canSpend": can})));

    // Flip Mia's right to spend back and forth, fast, ending frozen: every flip
    // enqueues a sync, and several run at once on the workers.
    for i in 0..10 {
        assert_eq!(set(i % 2 == 1).await.status(), 200);
    }
    assert_eq!(set(false).await.status(), 200);
    app.drain_all().await;
    let ours: String = sqlx::query_scalar("SELECT status FROM cards WHERE id = $1::uuid")
        .bind(mias["id"].as_str().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(ours, "frozen");
    let provider_card: String = sqlx::query_scalar("SELECT provider_card_id FROM cards WHERE id = $1::uuid")
        .bind(mias["id"].as_str().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let mias_card = mias["id"].as_str().unwrap();
    assert_eq!(
        at_bank(&app, mias_card).await,
        "BLOCKED",
        "the bank agrees: the last word was freeze"
    );
    // The bank's spec requires a note to unblock: the sandbox holds us to it.
    let bare = app
        .sandbox(
            Method::POST,
            &format!("/v0/cards/{provider_card}/unblock"),
            Some(json!({})),
        )
        .await;
    assert_eq!(bare.status(), 400);
    let error: Value = bare.json().await.unwrap();
    assert_eq!(error["status"], "400");
    assert!(
        error["message"].as_str().unwrap().contains("note is required"),
        "{error}"
    );
    assert_eq!(at_bank(&app, mias_card).await, "BLOCKED", "nothing changed");
    app.stop().await;
}
