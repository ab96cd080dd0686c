//! Deposit attribution on a group ktti, through the sandbox's NPP mock: in
//! DOMAIN.md's order (the member's personal ktti, a remembered sender account,
//! the deposit reference, an unambiguous name), otherwise unassigned with an
//! action item, and assigned later by an admin or claimed by the member.

use crate::common::group::{
    Person, Sender, actions, banking, decide, deposit, group, join, pay_in, person, person_named,
};
use crate::common::{TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn deposits_are_attributed_in_order_or_left_for_an_admin() {
    let app = TestApp::spawn().await;
    // Distinct verified names, for the name rule.
    let owner = person_named(&app, "pia@example.com", "Pia", "Lee").await;
    let sam = person_named(&app, "sam@example.com", "Sam", "Tran").await;
    // A profile name is anyone's to type: Sam calling himself after a stranger
    // must not win the stranger's transfers.
    let r = app
        .send(
            Method::PATCH,
            "/api/v2/settings/profile",
            &sam.token,
            Some(json!({"firstName": "J", "lastName": "Bloggs"})),
        )
        .await;
    assert!(r.status().is_success());
    let k = group(&app, &owner, json!({"name": "House"})).await;
    let id = k["id"].as_str().unwrap().to_string();
    assert_eq!(
        join(&app, &sam, k["referralCode"].as_str().unwrap()).await.status(),
        200
    );
    let bank = banking(&app, &owner, &id).await;
    let sams_reference = banking(&app, &sam, &id).await["depositReference"]
        .as_str()
        .unwrap()
        .to_string();
    let owners_personal: Value = app
        .get_auth("/api/v2/ktties/personal", &owner.token)
        .await
        .json()
        .await
        .unwrap();
    let personal_bank = banking(&app, &owner, owners_personal["id"].as_str().unwrap()).await;

    // 1. From the owner's own personal ktti (even with Sam's reference on it).
    let from_personal = Sender {
        name: "SOMEONE",
        bsb: personal_bank["bsb"].as_str().unwrap(),
        account: personal_bank["accountNumber"].as_str().unwrap(),
        reference: &sams_reference,
    };
    pay_in(&app, &bank, "10.01", "d1", &from_personal).await;
    assert_eq!(
        deposit(&app, &owner.token, &id, "10.01").await["assigneeId"],
        owner.id.as_str()
    );

    // 3. Sam's deposit reference, from an account nobody knows.
    let sams_bank = Sender {
        name: "S TRAN",
        bsb: "062-000",
        account: "55550001",
        reference: &format!("rent {}", sams_reference.to_lowercase()),
    };
    pay_in(&app, &bank, "10.02", "d2", &sams_bank).await;
    assert_eq!(
        deposit(&app, &owner.token, &id, "10.02").await["assigneeId"],
        sam.id.as_str()
    );

    // 4. An unambiguous name.
    let by_name = Sender {
        name: "LEE PIA",
        bsb: "062-000",
        account: "55550002",
        reference: "",
    };
    pay_in(&app, &bank, "10.03", "d3", &by_name).await;
    assert_eq!(
        deposit(&app, &owner.token, &id, "10.03").await["assigneeId"],
        owner.id.as_str()
    );

    // Nothing matches: unassigned, listed, and an action item for the owner.
    let stranger = Sender {
        name: "J BLOGGS",
        bsb: "062-000",
        account: "55550003",
        reference: "thanks",
    };
    pay_in(&app, &bank, "10.04", "d4", &stranger).await;
    let lost = deposit(&app, &owner.token, &id, "10.04").await;
    assert!(lost["assigneeId"].is_null());
    let unassigned: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}/unassigned-deposits"), &sam.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unassigned["total"], 1);
    let v3: Value = app
        .get_auth(&format!("/api/v3/ktties/{id}/unassigned-deposits?limit=10"), &sam.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v3["items"][0]["id"], lost["id"]);
    let item = actions(&app, &owner.token)
        .await
        .into_iter()
        .find(|a| a["type"] == "unassignedDeposit")
        .expect("the owner is asked");
    assert_eq!(item["transactionId"], lost["id"]);
    assert!(actions(&app, &sam.token).await.is_empty(), "members are not asked");

    // Sam may not give it to the owner, but may claim it; an outsider id is refused.
    let deposit_id = lost["id"].as_str().unwrap();
    let assign = |p: &Person, to: &str| {
        let (app, path, token, body) = (
            &app,
            format!("/api/v2/transactions/{deposit_id}/assignee"),
            p.token.clone(),
            json!({ "assigneeId": to }),
        );
        async move { app.send(Method::PUT, &path, &token, Some(body)).await }
    };
    problem(assign(&sam, &owner.id).await, 403, "role_forbidden").await;
    problem(
        assign(&owner, "00000000-0000-4000-8000-000000000000").await,
        422,
        "validation_failed",
    )
    .await;
    let r = assign(&sam, &sam.id).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["assigneeId"], sam.id.as_str());
    assert!(
        actions(&app, &owner.token)
            .await
            .iter()
            .all(|a| a["type"] != "unassignedDeposit"),
        "claiming resolves the item"
    );
    problem(
        decide(
            &app,
            &owner.token,
            item["uuid"].as_str().unwrap(),
            json!({"decision": "approve", "assigneeId": owner.id}),
        )
        .await,
        409,
        "action_already_decided",
    )
    .await;

    // 2. The claimed sender account is remembered: the next deposit from it is Sam's.
    pay_in(&app, &bank, "10.05", "d5", &stranger).await;
    assert_eq!(
        deposit(&app, &owner.token, &id, "10.05").await["assigneeId"],
        sam.id.as_str()
    );

    // An admin can assign through the action item too.
    let another = Sender {
        name: "X Y",
        bsb: "062-000",
        account: "55550004",
        reference: "",
    };
    pay_in(&app, &bank, "10.06", "d6", &another).await;
    let other = deposit(&app, &owner.token, &id, "10.06").await;
    let item = app
        .eventually("the item for the second unknown deposit", || async {
            actions(&app, &owner.token)
                .await
                .into_iter()
                .find(|a| a["transactionId"] == other["id"])
        })
        .await;
    problem(
        decide(
            &app,
            &owner.token,
            item["uuid"].as_str().unwrap(),
            json!({"decision": "approve"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        decide(
            &app,
            &owner.token,
            item["uuid"].as_str().unwrap(),
            json!({"decision": "approve", "assigneeId": owner.id})
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        deposit(&app, &owner.token, &id, "10.06").await["assigneeId"],
        owner.id.as_str()
    );

    // A removed member's deposit lands unassigned, nothing lost.
    assert_eq!(
        app.send(
            Method::DELETE,
            &format!("/api/v2/ktties/{id}/members/{}", sam.id),
            &owner.token,
            None
        )
        .await
        .status(),
        204
    );
    pay_in(&app, &bank, "10.07", "d7", &sams_bank).await;
    let orphan = deposit(&app, &owner.token, &id, "10.07").await;
    assert!(orphan["assigneeId"].is_null());
    let k: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}"), &owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(k["totalBalance"], "70.28");
    // Only deposits have assignees.
    app.drain_all().await;
    app.stop().await;
}

/// Who the ktti remembers a sender account for, straight from the database.
async fn remembered(app: &TestApp, account: &str) -> Option<String> {
    sqlx::query_scalar::<_, uuid::Uuid>("SELECT user_id FROM sender_accounts WHERE account_number = $1")
        .bind(account)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
        .map(|u| u.to_string())
}

async fn put_assignee(app: &TestApp, p: &Person, deposit: &str, to: &str) -> reqwest::Response {
    app.send(
        Method::PUT,
        &format!("/api/v2/transactions/{deposit}/assignee"),
        &p.token,
        Some(json!({ "assigneeId": to })),
    )
    .await
}

#[tokio::test]
async fn a_member_cannot_take_a_deposit_that_is_someone_elses() {
    let app = TestApp::spawn().await;
    let owner = person(&app, "owner@example.com").await;
    let sam = person(&app, "sam@example.com").await;
    let kim = person(&app, "kim@example.com").await;
    let k = group(&app, &owner, json!({"name": "Flat"})).await;
    let id = k["id"].as_str().unwrap().to_string();
    for p in [&sam, &kim] {
        assert_eq!(join(&app, p, k["referralCode"].as_str().unwrap()).await.status(), 200);
    }
    let bank = banking(&app, &owner, &id).await;
    let sams_bank = Sender {
        name: "UNKNOWN PERSON",
        bsb: "062-000",
        account: "77770001",
        reference: "",
    };
    pay_in(&app, &bank, "25.00", "c1", &sams_bank).await;
    let dep = deposit(&app, &owner.token, &id, "25.00").await;
    let dep_id = dep["id"].as_str().unwrap().to_string();
    assert!(dep["assigneeId"].is_null());

    // Sam claims the unassigned deposit: theirs, and the account is remembered.
    assert_eq!(put_assignee(&app, &sam, &dep_id, &sam.id).await.status(), 200);
    assert_eq!(remembered(&app, "77770001").await.as_deref(), Some(sam.id.as_str()));

    // Kim may not take it, for themselves or for anyone: nothing changes.
    problem(put_assignee(&app, &kim, &dep_id, &kim.id).await, 403, "role_forbidden").await;
    problem(
        put_assignee(&app, &kim, &dep_id, &owner.id).await,
        403,
        "role_forbidden",
    )
    .await;
    // Even Sam, once it is theirs, may not hand it on.
    problem(put_assignee(&app, &sam, &dep_id, &kim.id).await, 403, "role_forbidden").await;
    assert_eq!(
        deposit(&app, &owner.token, &id, "25.00").await["assigneeId"],
        sam.id.as_str()
    );
    assert_eq!(remembered(&app, "77770001").await.as_deref(), Some(sam.id.as_str()));

    // The owner reassigns it: it moves, and so does the remembered account.
    assert_eq!(put_assignee(&app, &owner, &dep_id, &kim.id).await.status(), 200);
    assert_eq!(remembered(&app, "77770001").await.as_deref(), Some(kim.id.as_str()));

    // Every change is in the additional info: who, from whom, to whom, when.
    let info: Value = app
        .get_auth(&format!("/api/v2/transactions/{dep_id}/additional-info"), &sam.token)
        .await
        .json()
        .await
        .unwrap();
    let history = info["assignments"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{info}");
    assert_eq!(history[0]["actorId"], sam.id.as_str());
    assert!(history[0].get("fromUserId").is_none_or(Value::is_null));
    assert_eq!(history[0]["toUserId"], sam.id.as_str());
    assert_eq!(history[0]["reason"], "claim");
    assert_eq!(history[1]["actorId"], owner.id.as_str());
    assert_eq!(history[1]["fromUserId"], sam.id.as_str());
    assert_eq!(history[1]["toUserId"], kim.id.as_str());
    assert_eq!(history[1]["reason"], "assign");
    assert!(history[1]["at"].is_string());

    // Kim is removed: the next deposit from that account lands unassigned. Sam
    // may claim the deposit, but not the account still remembered for Kim.
    let removed = app
        .send(
            Method::DELETE,
            &format!("/api/v2/ktties/{id}/members/{}", kim.id),
            &owner.token,
            None,
        )
        .await;
    assert_eq!(removed.status(), 204);
    pay_in(&app, &bank, "30.00", "c2", &sams_bank).await;
    let second = deposit(&app, &owner.token, &id, "30.00").await;
    assert!(second["assigneeId"].is_null());
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(put_assignee(&app, &sam, second_id, &sam.id).await.status(), 200);
    assert_eq!(remembered(&app, "77770001").await.as_deref(), Some(kim.id.as_str()));

    // An automatic attribution is recorded too, with the rule that decided it.
    let sams_reference = banking(&app, &sam, &id).await["depositReference"]
        .as_str()
        .unwrap()
        .to_string();
    let by_reference = Sender {
        name: "S",
        bsb: "062-000",
        account: "77770002",
        reference: &sams_reference,
    };
    pay_in(&app, &bank, "31.00", "c3", &by_reference).await;
    let third = deposit(&app, &owner.token, &id, "31.00").await;
    let info: Value = app
        .get_auth(
            &format!("/api/v2/transactions/{}/additional-info", third["id"].as_str().unwrap()),
            &owner.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["assignments"][0]["reason"], "depositReference");
    assert!(info["assignments"][0].get("actorId").is_none_or(Value::is_null));
    app.drain_all().await;
    app.stop().await;
}
