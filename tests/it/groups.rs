//! Group ktties end to end: creation and setup at the bank, visibility, updates,
//! and the core configuration the apps read first.

use crate::common::group::{active, group, members, person};
use crate::common::{TestApp, error_fields, problem};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn a_group_ktti_is_set_up_at_the_bank_and_seen_only_by_members() {
    let app = TestApp::spawn().await;
    let owner = person(&app, "owner@example.com").await;

    // Unverified people cannot open a bank account.
    let newcomer = app.user("new@example.com").await;
    problem(
        app.post_auth("/api/v2/ktties", &newcomer.access_token, json!({"name": "Trip"}))
            .await,
        409,
        "kyc_required",
    )
    .await;

    // Bad values: every field named, nothing created.
    let bad = json!({"name": " ", "targetAmount": "0.00", "endDate": "2001-01-01", "imageKey": "a b"});
    let body = problem(
        app.post_auth("/api/v2/ktties", &owner.token, bad).await,
        422,
        "validation_failed",
    )
    .await;
    let fields = error_fields(&body);
    assert_eq!(fields, ["name", "targetAmount", "endDate", "imageKey"]);
    let bad_plan =
        json!({"name": "Trip", "billingPlan": "platinum", "invitees": ["not-an-email", "owner@example.com"]});
    let body = problem(
        app.post_auth("/api/v3/ktties", &owner.token, bad_plan).await,
        422,
        "validation_failed",
    )
    .await;
    let fields = error_fields(&body);
    assert_eq!(fields, ["billingPlan", "invitees[0]", "invitees[1]"]);
    let crowd: Vec<String> = (0..51).map(|i| format!("p{i}@example.com")).collect();
    let body = problem(
        app.post_auth(
            "/api/v3/ktties",
            &owner.token,
            json!({"name": "Crowd", "invitees": crowd}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        error_fields(&body),
        ["invitees"],
        "more than 50 are refused before any lookup"
    );
    let body = problem(
        app.post_auth("/api/v3/ktties", &owner.token, json!({"billingPlan": "free"}))
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "name");
    // A personal ktti has no one to invite.
    let personal: Value = app
        .get_auth("/api/v2/ktties/personal", &owner.token)
        .await
        .json()
        .await
        .unwrap();
    problem(
        app.post_auth(
            &format!("/api/v2/ktties/{}/invitations", personal["id"].as_str().unwrap()),
            &owner.token,
            json!({"email": "friend@example.com"}),
        )
        .await,
        409,
        "personal_ktti",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM ktties WHERE kind = 'group'").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM invitations").await, 0);

    // Created (idempotently), pending until the bank has opened group, account and card.
    let create = |key: &'static str| {
        app.client
            .post(app.url("/api/v2/ktties"))
            .bearer_auth(&owner.token)
            .header("Idempotency-Key", key)
            .json(&json!({"name": "Bali 2027", "description": "Villa and scooters", "targetAmount": "3000.00", "endDate": "2099-06-30"}))
            .send()
    };
    let first = create("bali-1").await.unwrap();
    assert_eq!(first.status(), 201);
    let created: Value = first.json().await.unwrap();
    assert_eq!(
        (
            created["type"].as_str(),
            created["role"].as_str(),
            created["targetAmount"].as_str()
        ),
        (Some("group"), Some("owner"), Some("3000.00"))
    );
    let again: Value = create("bali-1").await.unwrap().json().await.unwrap();
    assert_eq!(again["id"], created["id"], "a replay returns the same ktti");
    assert_eq!(app.count("SELECT count(*) FROM ktties WHERE kind = 'group'").await, 1);
    let id = created["id"].as_str().unwrap().to_string();
    let k = active(&app, &owner.token, &id).await;
    assert_eq!(k["referralCode"].as_str().unwrap().len(), 12);
    assert_eq!(
        (k["memberCount"].as_i64(), k["canSpend"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(k["billingPlan"], "free");
    let banking: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}/banking"), &owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(banking["accountName"], "Bali 2027");
    let card: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}/card"), &owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(card["type"], "virtual");
    // At the bank: a group holds the account.
    let group_id: String = sqlx::query_scalar("SELECT provider_group_id FROM ktties WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let sandbox = sqlx::PgPool::connect(&format!("{}_sandbox", app.config.database_url))
        .await
        .unwrap();
    let holder: String = sqlx::query_scalar("SELECT holder_id::text FROM accounts WHERE id = $1::uuid")
        .bind(banking["providerAccountId"].as_str().unwrap())
        .fetch_one(&sandbox)
        .await
        .unwrap();
    assert_eq!(holder, group_id);
    sandbox.close().await;

    // Lists and filters.
    let list = |q: &'static str| {
        let app = &app;
        let token = owner.token.clone();
        async move {
            let v: Value = app
                .get_auth(&format!("/api/v2/ktties?{q}"), &token)
                .await
                .json()
                .await
                .unwrap();
            v["total"].as_i64().unwrap()
        }
    };
    assert_eq!(list("").await, 2);
    assert_eq!(list("type=group").await, 1);
    assert_eq!(list("type=personal").await, 1);
    assert_eq!(list("q=bali").await, 1);
    assert_eq!(list("role=member").await, 0);

    // Updates: v2 fields; v3 settings and a new referral code.
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v2/ktties/{id}"),
            &owner.token,
            Some(json!({"name": "Bali 2028", "description": ""})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let renamed: Value = r.json().await.unwrap();
    assert_eq!(
        (renamed["name"].as_str(), renamed["description"].as_str()),
        (Some("Bali 2028"), None)
    );
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v3/ktties/{id}"),
            &owner.token,
            Some(json!({"settings": {"membersCanInvite": true, "approvalRequiredToJoin": true}, "rotateReferralCode": true})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    assert_ne!(rotated["referralCode"], k["referralCode"]);
    assert_eq!(rotated["settings"]["membersCanInvite"], true);
    assert_eq!(rotated["settings"]["approvalRequiredToJoin"], true);
    assert_eq!(rotated["settings"]["membersCanSpend"], true);
    problem(
        app.send(
            Method::PATCH,
            &format!("/api/v2/ktties/{id}"),
            &owner.token,
            Some(json!({"endDate": "yesterday"})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;

    // Everyone else: 404 on every route with the ktti's id, and nothing changes.
    let stranger = person(&app, "stranger@example.com").await;
    for (method, path, body) in [
        (Method::GET, format!("/api/v2/ktties/{id}"), None),
        (
            Method::PATCH,
            format!("/api/v2/ktties/{id}"),
            Some(json!({"name": "Mine"})),
        ),
        (
            Method::PATCH,
            format!("/api/v3/ktties/{id}"),
            Some(json!({"rotateReferralCode": true})),
        ),
        (Method::GET, format!("/api/v2/ktties/{id}/members"), None),
        (
            Method::POST,
            format!("/api/v2/ktties/{id}/invitations"),
            Some(json!({"email": "x@example.com"})),
        ),
        (Method::POST, format!("/api/v2/ktties/{id}/leave"), Some(json!({}))),
        (
            Method::PUT,
            format!("/api/v2/ktties/{id}/members/{}", owner.id),
            Some(json!({"role": "member"})),
        ),
        (
            Method::DELETE,
            format!("/api/v2/ktties/{id}/members/{}", owner.id),
            None,
        ),
        (
            Method::POST,
            format!("/api/v2/ktties/{id}/admin-requests"),
            Some(json!({})),
        ),
        (Method::GET, format!("/api/v2/ktties/{id}/unassigned-deposits"), None),
        (Method::GET, format!("/api/v3/ktties/{id}/unassigned-deposits"), None),
        (Method::GET, format!("/api/v2/ktties/{id}/banking"), None),
    ] {
        let r = app.send(method.clone(), &path, &stranger.token, body).await;
        assert_eq!(r.status(), 404, "{method} {path}");
    }
    // And without a token: 401.
    let r = app
        .client
        .get(app.url(&format!("/api/v2/ktties/{id}/members")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let still: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}"), &owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (still["name"].as_str(), still["referralCode"].as_str()),
        (Some("Bali 2028"), rotated["referralCode"].as_str())
    );
    app.stop().await;
}

#[tokio::test]
async fn a_permanent_bank_refusal_is_shown_on_the_ktti() {
    let app = TestApp::spawn().await;
    let owner = person(&app, "refused@example.com").await;
    // We point at a customer the bank does not know: the group is refused for good.
    sqlx::query("UPDATE users SET provider_customer_id = gen_random_uuid()::text WHERE email = 'refused@example.com'")
        .execute(&app.pool)
        .await
        .unwrap();
    let r = app
        .post_auth("/api/v2/ktties", &owner.token, json!({"name": "Doomed"}))
        .await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    app.drain_all().await;
    let k: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}"), &owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(k["status"], "pendingSetup");
    assert!(k["setupError"].as_str().unwrap().contains("refused"), "{k}");
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'ktti.setup.v1' AND status = 'dead'")
            .await,
        1
    );
    app.expect_dead_jobs();
    app.stop().await;
}

#[tokio::test]
async fn core_config_is_public_and_comes_from_configuration() {
    let app = TestApp::spawn_with(|v| {
        v.insert(
            "KTTIPAY_BILLING_PLANS".into(),
            "basic:Basic:0.00:month:3;team:Team:12.50:year:40".into(),
        );
        v.insert("KTTIPAY_FEATURE_FLAGS".into(), "groupKtties,betaChat".into());
        v.insert("KTTIPAY_MIN_APP_VERSION_IOS".into(), "2.3.0".into());
    })
    .await;
    let r = app.client.get(app.url("/api/v2/core/config")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["minAppVersions"]["ios"], "2.3.0");
    assert_eq!(c["featureFlags"], json!(["groupKtties", "betaChat"]));
    assert_eq!(
        c["billingPlans"][1],
        json!({"code": "team", "name": "Team", "price": "12.50", "interval": "year", "memberLimit": 40})
    );
    assert_eq!(c["limits"]["referralCodeChars"], 12);
    assert!(c["support"]["email"].is_string());

    // The plan's member limit holds: three members on basic, invitees counted.
    let owner = person(&app, "plan@example.com").await;
    let too_many =
        json!({"name": "Big", "billingPlan": "basic", "invitees": ["a@example.com", "b@example.com", "c@example.com"]});
    let body = problem(
        app.post_auth("/api/v3/ktties", &owner.token, too_many).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "invitees");
    let k = group(&app, &owner, json!({"name": "Small", "billingPlan": "basic"})).await;
    assert_eq!(k["billingPlan"], "basic");
    let ids: Vec<String> = members(&app, &owner.token, k["id"].as_str().unwrap())
        .await
        .iter()
        .map(|m| m["userId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, std::slice::from_ref(&owner.id));
    app.stop().await;
}

#[tokio::test]
async fn a_bank_outage_during_setup_is_retried_until_the_ktti_is_active() {
    let app = TestApp::spawn().await;
    let owner = person(&app, "patient@example.com").await;
    let faults = |body: Value| app.sandbox(Method::PUT, "/sandbox/faults", Some(body));
    assert_eq!(faults(json!({"errorRate": 1.0})).await.status(), 200);
    let r = app
        .post_auth("/api/v2/ktties", &owner.token, json!({"name": "Later"}))
        .await;
    assert_eq!(r.status(), 201, "creating does not wait for the bank");
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    app.eventually("the setup to fail twice and wait", || async {
        let (status, attempts): (String, i32) = sqlx::query_as(
            "SELECT status, attempts FROM jobs WHERE kind = 'ktti.setup.v1' AND payload->>'kttiId' = $1",
        )
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .ok()?;
        (status == "pending" && attempts >= 2).then_some(())
    })
    .await;
    let k: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}"), &owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (k["status"].as_str(), k["setupError"].as_str()),
        (Some("pendingSetup"), None)
    );
    faults(json!({})).await;
    active(&app, &owner.token, &id).await;
    app.stop().await;
}
