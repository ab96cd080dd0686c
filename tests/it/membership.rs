//! Membership end to end: invitations (also to addresses with no account yet),
//! joining by referral code with and without approval, leaving and removal with
//! cards opened and cancelled at the bank, action items decided once, and
//! DOMAIN.md's roles table over HTTP.

use crate::common::group::{Person, actions, card, decide, group, join, members, person, person_of};
use crate::common::{TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};

fn status_of<'a>(list: &'a [Value], user: &str) -> Option<&'a str> {
    list.iter()
        .find(|m| m["userId"] == user)
        .and_then(|m| m["status"].as_str())
}

#[tokio::test]
async fn invitations_reach_people_with_and_without_accounts() {
    let app = TestApp::spawn().await;
    let owner = person(&app, "host@example.com").await;
    let bob = person(&app, "bob@example.com").await;
    let k = group(
        &app,
        &owner,
        json!({"name": "Flat 4", "invitees": ["bob@example.com", "carol@example.com"],
               "splitProportions": [{"userId": bob.id, "value": "2"}]}),
    )
    .await;
    let id = k["id"].as_str().unwrap().to_string();
    app.drain().await;
    for to in ["bob@example.com", "carol@example.com"] {
        let mails = app.smtp.messages_to(to);
        assert!(
            mails.iter().any(|m| m.data.contains("Flat 4")),
            "invitation email to {to}"
        );
    }
    let listed = members(&app, &owner.token, &id).await;
    assert_eq!(listed.iter().filter(|m| m["status"] == "invited").count(), 2);

    // Bob has an action item, and accepts through the route.
    let bobs = actions(&app, &bob.token).await;
    assert_eq!((bobs.len(), bobs[0]["type"].as_str()), (1, Some("invitation")));
    let r = app
        .post_auth(
            &format!("/api/v2/ktties/{id}/invitations/accept"),
            &bob.token,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["role"], "member");
    assert!(
        actions(&app, &bob.token).await.is_empty(),
        "the item closes with the invitation"
    );
    let bobs_card = card(&app, &bob, &id).await;
    assert_eq!(bobs_card["status"], "active");
    let weight: String = sqlx::query_scalar(
        "SELECT split_proportion::text FROM ktti_members WHERE ktti_id = $1::uuid AND user_id = $2::uuid",
    )
    .bind(&id)
    .bind(&bob.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(weight, "2.00");
    problem(
        app.post_auth(
            &format!("/api/v2/ktties/{id}/invitations/accept"),
            &bob.token,
            json!({}),
        )
        .await,
        404,
        "invitation_not_found",
    )
    .await;

    // Carol signs up later: her invitation is waiting for her as an action item.
    let carol_tokens = app.signed_up("carol@example.com").await;
    let carol = person_of(&app, "carol@example.com", &carol_tokens).await;
    let items = actions(&app, &carol.token).await;
    assert_eq!((items.len(), items[0]["type"].as_str()), (1, Some("invitation")));
    // She must verify her identity before she can hold a card.
    problem(
        decide(
            &app,
            &carol.token,
            items[0]["uuid"].as_str().unwrap(),
            json!({"decision": "approve"}),
        )
        .await,
        409,
        "kyc_required",
    )
    .await;
    // She declines instead; declining twice is a conflict.
    let r = decide(
        &app,
        &carol.token,
        items[0]["uuid"].as_str().unwrap(),
        json!({"decision": "reject"}),
    )
    .await;
    assert_eq!(r.status(), 204);
    problem(
        decide(
            &app,
            &carol.token,
            items[0]["uuid"].as_str().unwrap(),
            json!({"decision": "reject"}),
        )
        .await,
        409,
        "action_already_decided",
    )
    .await;
    let listed = members(&app, &owner.token, &id).await;
    assert_eq!(listed.iter().filter(|m| m["status"] == "invited").count(), 0);

    // An invitation lapses after its time.
    let dan = person(&app, "dan@example.com").await;
    let invite_dan = || {
        app.client
            .post(app.url(&format!("/api/v2/ktties/{id}/invitations")))
            .bearer_auth(&owner.token)
            .header("Idempotency-Key", "invite-dan")
            .json(&json!({"email": "DAN@example.com"}))
            .send()
    };
    let r = invite_dan().await.unwrap();
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.unwrap();
    let r = invite_dan().await.unwrap();
    assert_eq!(r.status(), 201, "a replay under the same key answers as the first time");
    assert_eq!(r.json::<Value>().await.unwrap()["id"], first["id"]);
    problem(
        app.post_auth(
            &format!("/api/v2/ktties/{id}/invitations"),
            &owner.token,
            json!({"email": "dan@example.com"}),
        )
        .await,
        409,
        "already_invited",
    )
    .await;
    problem(
        app.post_auth(
            &format!("/api/v2/ktties/{id}/invitations"),
            &owner.token,
            json!({"email": "bob@example.com"}),
        )
        .await,
        409,
        "already_member",
    )
    .await;
    problem(
        app.post_auth(
            &format!("/api/v2/ktties/{id}/invitations"),
            &owner.token,
            json!({"email": "nope"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(actions(&app, &dan.token).await.len(), 1);
    sqlx::query("UPDATE invitations SET expires_at = now() - interval '1 second' WHERE email = 'dan@example.com'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(
        actions(&app, &dan.token).await.is_empty(),
        "a lapsed invitation asks nothing"
    );
    problem(
        app.post_auth(
            &format!("/api/v2/ktties/{id}/invitations/accept"),
            &dan.token,
            json!({}),
        )
        .await,
        409,
        "invitation_expired",
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM invitations WHERE email = 'dan@example.com' AND status = 'expired'")
            .await,
        1
    );
    assert_eq!(status_of(&members(&app, &owner.token, &id).await, &dan.id), None);
    app.stop().await;
}

#[tokio::test]
async fn joining_by_code_with_approval_leaving_and_removal_reach_the_bank() {
    let app = TestApp::spawn_with(|v| {
        v.insert("KTTIPAY_JOINS_PER_HOUR".into(), "5".into());
    })
    .await;
    let owner = person(&app, "own@example.com").await;
    let k = group(&app, &owner, json!({"name": "Ski"})).await;
    let id = k["id"].as_str().unwrap().to_string();
    let code = k["referralCode"].as_str().unwrap().to_lowercase();

    let eve = person(&app, "eve@example.com").await;
    let r = join(&app, &eve, &code).await;
    assert_eq!(r.status(), 200, "codes are typed case-blind");
    problem(join(&app, &eve, &code).await, 409, "already_member").await;
    card(&app, &eve, &id).await;

    // With approval required, a join waits for an owner or admin.
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v3/ktties/{id}"),
            &owner.token,
            Some(json!({"settings": {"approvalRequiredToJoin": true}})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let fay = person(&app, "fay@example.com").await;
    assert_eq!(join(&app, &fay, &code).await.status(), 202);
    assert_eq!(status_of(&members(&app, &owner.token, &id).await, &fay.id), None);
    let item = actions(&app, &owner.token)
        .await
        .into_iter()
        .find(|a| a["type"] == "joinApproval")
        .expect("the owner decides");
    assert!(actions(&app, &eve.token).await.is_empty(), "members do not decide");
    problem(
        decide(
            &app,
            &eve.token,
            item["uuid"].as_str().unwrap(),
            json!({"decision": "approve"}),
        )
        .await,
        404,
        "action_not_found",
    )
    .await;
    problem(
        decide(
            &app,
            &owner.token,
            item["uuid"].as_str().unwrap(),
            json!({"decision": "maybe"}),
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
            json!({"decision": "approve"})
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        status_of(&members(&app, &owner.token, &id).await, &fay.id),
        Some("active")
    );
    card(&app, &fay, &id).await;

    // Guessing codes is rate limited: 5 an hour here, per user and per address,
    // and every test client shares 127.0.0.1 (eve has joined twice, fay once).
    let guesser = eve;
    problem(
        join(&app, &guesser, "AAAAAAAAAAAA").await,
        404,
        "referral_code_not_found",
    )
    .await;
    problem(
        join(&app, &guesser, "AAAAAAAAAAAB").await,
        404,
        "referral_code_not_found",
    )
    .await;
    let limited = join(&app, &guesser, "AAAAAAAAAAAC").await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));

    // Leaving cancels the card at the bank; the owner cannot leave.
    let fays_card: String = card(&app, &fay, &id).await["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.post_auth(&format!("/api/v2/ktties/{id}/leave"), &fay.token, json!({}))
            .await
            .status(),
        204
    );
    problem(
        app.post_auth(&format!("/api/v2/ktties/{id}/leave"), &owner.token, json!({}))
            .await,
        403,
        "owner_cannot_leave",
    )
    .await;
    app.drain_all().await;
    let status: String = sqlx::query_scalar("SELECT status FROM cards WHERE id = $1::uuid")
        .bind(&fays_card)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "cancelled");
    let at_bank: String = app.card_at_bank(&fays_card, "status").await;
    assert_eq!(at_bank, "INACTIVE");
    // Fay no longer sees the ktti.
    problem(
        app.get_auth(&format!("/api/v2/ktties/{id}"), &fay.token).await,
        404,
        "ktti_not_found",
    )
    .await;

    // Removal: the owner removes a member; the member list keeps the history.
    let eve_id = guesser.id.clone();
    assert_eq!(
        app.send(
            Method::DELETE,
            &format!("/api/v2/ktties/{id}/members/{eve_id}"),
            &owner.token,
            None
        )
        .await
        .status(),
        204
    );
    let listed = members(&app, &owner.token, &id).await;
    assert_eq!(status_of(&listed, &eve_id), Some("removed"));
    assert_eq!(status_of(&listed, &fay.id), Some("left"));
    problem(
        app.send(
            Method::DELETE,
            &format!("/api/v2/ktties/{id}/members/{eve_id}"),
            &owner.token,
            None,
        )
        .await,
        404,
        "member_not_found",
    )
    .await;
    app.stop().await;
}

/// Owner, admin and member of one group ktti (made by invitation and promotion).
async fn three_roles(app: &TestApp) -> (String, Person, Person, Person) {
    let owner = person(app, "o@example.com").await;
    let admin = person(app, "a@example.com").await;
    let member = person(app, "m@example.com").await;
    let k = group(app, &owner, json!({"name": "Roles"})).await;
    let id = k["id"].as_str().unwrap().to_string();
    let code = k["referralCode"].as_str().unwrap().to_string();
    for p in [&admin, &member] {
        assert_eq!(join(app, p, &code).await.status(), 200);
    }
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v2/ktties/{id}/members/{}", admin.id),
            &owner.token,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    (id, owner, admin, member)
}

#[tokio::test]
async fn the_roles_table_holds_over_http() {
    let app = TestApp::spawn().await;
    let (id, owner, admin, member) = three_roles(&app).await;
    let put_member = |actor: &Person, target: &Person, body: Value| {
        let (app, path, token) = (
            &app,
            format!("/api/v2/ktties/{id}/members/{}", target.id),
            actor.token.clone(),
        );
        async move { app.send(Method::PUT, &path, &token, Some(body)).await }
    };

    // Everyone sees the ktti and its members.
    for p in [&owner, &admin, &member] {
        assert_eq!(
            app.get_auth(&format!("/api/v2/ktties/{id}/members"), &p.token)
                .await
                .status(),
            200
        );
    }
    // Edit the ktti: owner yes, admin yes, member no.
    for (p, want) in [(&owner, 200), (&admin, 200), (&member, 403)] {
        let r = app
            .send(
                Method::PATCH,
                &format!("/api/v2/ktties/{id}"),
                &p.token,
                Some(json!({"purpose": "test"})),
            )
            .await;
        assert_eq!(r.status(), want, "edit by {}", p.email);
    }
    // Invite and rotate the code: owner yes, admin yes, member only if allowed.
    for (p, want) in [(&owner, 201), (&admin, 201), (&member, 403)] {
        let r = app
            .post_auth(
                &format!("/api/v2/ktties/{id}/invitations"),
                &p.token,
                json!({"email": format!("x{}", p.email)}),
            )
            .await;
        assert_eq!(r.status(), want, "invite by {}", p.email);
    }
    problem(
        app.send(
            Method::PATCH,
            &format!("/api/v3/ktties/{id}"),
            &member.token,
            Some(json!({"rotateReferralCode": true})),
        )
        .await,
        403,
        "role_forbidden",
    )
    .await;
    app.send(
        Method::PATCH,
        &format!("/api/v3/ktties/{id}"),
        &owner.token,
        Some(json!({"settings": {"membersCanInvite": true}})),
    )
    .await;
    assert_eq!(
        app.post_auth(
            &format!("/api/v2/ktties/{id}/invitations"),
            &member.token,
            json!({"email": "friend@example.com"})
        )
        .await
        .status(),
        201
    );
    assert_eq!(
        app.send(
            Method::PATCH,
            &format!("/api/v3/ktties/{id}"),
            &member.token,
            Some(json!({"rotateReferralCode": true}))
        )
        .await
        .status(),
        200
    );
    // Settings stay owner/admin even when members may invite.
    problem(
        app.send(
            Method::PATCH,
            &format!("/api/v3/ktties/{id}"),
            &member.token,
            Some(json!({"settings": {"membersCanSpend": false}})),
        )
        .await,
        403,
        "role_forbidden",
    )
    .await;

    // Change members: owner any, admin not the owner, member none.
    problem(
        put_member(&member, &admin, json!({"canSpend": false})).await,
        403,
        "role_forbidden",
    )
    .await;
    problem(
        put_member(&member, &member, json!({"canSpend": true})).await,
        403,
        "role_forbidden",
    )
    .await;
    let own = put_member(&member, &member, json!({"nickname": "Emm"})).await;
    assert_eq!(own.status(), 200, "anyone names themselves");
    problem(
        put_member(&admin, &owner, json!({"nickname": "boss"})).await,
        403,
        "role_forbidden",
    )
    .await;
    problem(
        put_member(&admin, &member, json!({"role": "owner"})).await,
        403,
        "role_forbidden",
    )
    .await;
    let r = put_member(&admin, &member, json!({"canSpend": false, "nickname": "Mo"})).await;
    assert_eq!(r.status(), 200);
    let changed: Value = r.json().await.unwrap();
    assert_eq!(
        (changed["canSpend"].as_bool(), changed["nickname"].as_str()),
        (Some(false), Some("Mo"))
    );
    let k: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}"), &member.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(k["canSpend"], false, "the member may no longer spend");
    app.drain_all().await;
    let frozen: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}/card"), &member.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        frozen["status"], "frozen",
        "the bank freezes the card of a member who may not spend"
    );
    assert_eq!(
        put_member(&owner, &member, json!({"canSpend": true})).await.status(),
        200
    );
    // Turning members' spending off for the ktti freezes member cards only.
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v3/ktties/{id}"),
            &owner.token,
            Some(json!({"settings": {"membersCanSpend": false}})),
        )
        .await;
    assert_eq!(r.status(), 200);
    app.drain_all().await;
    let card_of = |p: &Person| {
        let (app, path, token) = (&app, format!("/api/v2/ktties/{id}/card"), p.token.clone());
        async move { app.get_auth(&path, &token).await.json::<Value>().await.unwrap()["status"].clone() }
    };
    assert_eq!(card_of(&member).await, "frozen");
    assert_eq!(card_of(&admin).await, "active");
    app.send(
        Method::PATCH,
        &format!("/api/v3/ktties/{id}"),
        &owner.token,
        Some(json!({"settings": {"membersCanSpend": true}})),
    )
    .await;
    app.drain_all().await;
    assert_eq!(
        card_of(&member).await,
        "active",
        "and thaws them when it is turned back on"
    );
    problem(
        put_member(&owner, &member, json!({"role": "boss"})).await,
        422,
        "validation_failed",
    )
    .await;
    problem(
        put_member(&owner, &owner, json!({"role": "member"})).await,
        409,
        "owner_role_fixed",
    )
    .await;

    // Admin requests: a member asks, the owner or an admin decides.
    problem(
        app.post_auth(&format!("/api/v2/ktties/{id}/admin-requests"), &admin.token, json!({}))
            .await,
        409,
        "already_admin",
    )
    .await;
    assert_eq!(
        app.post_auth(
            &format!("/api/v2/ktties/{id}/admin-requests"),
            &member.token,
            json!({"message": "I book things"})
        )
        .await
        .status(),
        202
    );
    problem(
        app.post_auth(&format!("/api/v2/ktties/{id}/admin-requests"), &member.token, json!({}))
            .await,
        409,
        "already_requested",
    )
    .await;
    let item = actions(&app, &admin.token)
        .await
        .into_iter()
        .find(|a| a["type"] == "adminRequest")
        .expect("admins see it");
    assert_eq!(item["payload"]["message"], "I book things");
    // Both deciders at once: exactly one wins, the other sees it decided.
    let uuid = item["uuid"].as_str().unwrap().to_string();
    let (a, b) = tokio::join!(
        decide(&app, &owner.token, &uuid, json!({"decision": "approve"})),
        decide(&app, &admin.token, &uuid, json!({"decision": "approve"}))
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [204, 409]);
    let listed = members(&app, &owner.token, &id).await;
    let role = listed.iter().find(|m| m["userId"] == member.id.as_str()).unwrap()["role"].clone();
    assert_eq!(role, "admin");

    // Handing over: the owner makes the admin owner and becomes an admin; then may leave.
    let r = put_member(&owner, &admin, json!({"role": "owner"})).await;
    assert_eq!(r.status(), 200);
    let k: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}"), &owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(k["role"], "admin");
    assert_eq!(
        app.post_auth(&format!("/api/v2/ktties/{id}/leave"), &owner.token, json!({}))
            .await
            .status(),
        204
    );
    // Removing: the new owner cannot be removed by an admin (the former member).
    problem(
        app.send(
            Method::DELETE,
            &format!("/api/v2/ktties/{id}/members/{}", admin.id),
            &member.token,
            None,
        )
        .await,
        403,
        "role_forbidden",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn the_plans_member_limit_holds_when_people_join_at_once() {
    let app = TestApp::spawn_with(|v| {
        v.insert("KTTIPAY_BILLING_PLANS".into(), "tiny:Tiny:0.00:month:3".into());
    })
    .await;
    let owner = person(&app, "lim@example.com").await;
    let k = group(&app, &owner, json!({"name": "Tiny"})).await;
    let code = k["referralCode"].as_str().unwrap().to_string();
    let mut joiners = Vec::new();
    for i in 0..4 {
        joiners.push(person(&app, &format!("j{i}@example.com")).await);
    }
    let answers = futures::future::join_all(joiners.iter().map(|p| join(&app, p, &code))).await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 200, 409, 409],
        "the owner and two joiners fill the plan"
    );
    for r in answers.into_iter().filter(|r| r.status() == 409) {
        problem(r, 409, "member_limit_reached").await;
    }
    let active = members(&app, &owner.token, k["id"].as_str().unwrap())
        .await
        .iter()
        .filter(|m| m["status"] == "active")
        .count();
    assert_eq!(active, 3);
    app.stop().await;
}

#[tokio::test]
async fn a_request_from_someone_who_has_left_closes_when_decided() {
    let app = TestApp::spawn().await;
    let owner = person(&app, "boss@example.com").await;
    let k = group(&app, &owner, json!({"name": "Club"})).await;
    let id = k["id"].as_str().unwrap().to_string();
    let kim = person(&app, "kim@example.com").await;
    assert_eq!(
        join(&app, &kim, k["referralCode"].as_str().unwrap()).await.status(),
        200
    );
    assert_eq!(
        app.post_auth(&format!("/api/v2/ktties/{id}/admin-requests"), &kim.token, json!({}))
            .await
            .status(),
        202
    );
    assert_eq!(
        app.post_auth(&format!("/api/v2/ktties/{id}/leave"), &kim.token, json!({}))
            .await
            .status(),
        204
    );
    let item = actions(&app, &owner.token).await.pop().expect("the request is waiting");
    problem(
        decide(
            &app,
            &owner.token,
            item["uuid"].as_str().unwrap(),
            json!({"decision": "approve"}),
        )
        .await,
        409,
        "member_gone",
    )
    .await;
    assert!(actions(&app, &owner.token).await.is_empty(), "and it no longer asks");
    app.stop().await;
}

/// Invites `email` to a new group ktti of a new owner.
async fn invite_to_new_ktti(app: &TestApp, email: &str) {
    let owner = person(app, "host@example.com").await;
    let k = group(app, &owner, json!({"name": "Casa"})).await;
    let path = format!("/api/v2/ktties/{}/invitations", k["id"].as_str().unwrap());
    let r = app.post_auth(&path, &owner.token, json!({ "email": email })).await;
    assert_eq!(r.status(), 201);
    app.drain().await;
}

#[tokio::test]
async fn an_international_address_is_mailed_or_fails_once_for_good() {
    // A server that takes UTF-8 (as real providers do) gets it.
    let app = TestApp::spawn().await;
    invite_to_new_ktti(&app, "ñandú@example.com").await;
    assert_eq!(app.smtp.messages_to("ñandú@example.com").len(), 1);
    app.stop().await;

    // One that cannot: the client cannot even hand it over, so the job ends dead
    // after one attempt instead of retrying for an hour.
    let app = TestApp::spawn().await;
    app.smtp.plain(true);
    invite_to_new_ktti(&app, "józef@example.com").await;
    let (status, attempts, error): (String, i32, Option<String>) =
        sqlx::query_as("SELECT status, attempts, last_error FROM jobs WHERE kind = 'email.invitation.v1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("dead", 1), "{error:?}");
    assert!(error.unwrap().contains("SMTPUTF8"));
    app.expect_dead_jobs();
    app.stop().await;
}
