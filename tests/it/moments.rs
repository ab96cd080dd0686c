//! Moments: members post text with photos; the author edits; managers hide;
//! strangers see nothing; bad input stores nothing.

use crate::common::group::person;
use crate::common::trip::trip;
use crate::common::uploads::{tiny_png, uploaded};
use crate::common::{TestApp, problem};
use serde_json::{Value, json};

async fn patch(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.client
        .patch(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn feed(app: &TestApp, token: &str, ktti: &str) -> Vec<Value> {
    let page: Value = app
        .get_auth(&format!("/api/v2/ktties/{ktti}/moments"), token)
        .await
        .json()
        .await
        .unwrap();
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn members_post_authors_edit_and_managers_hide() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    let photos = [
        uploaded(&app, &t.sam.token, "moment", "image/png", tiny_png()).await,
        uploaded(&app, &t.sam.token, "moment", "image/png", tiny_png()).await,
    ];
    let moments = format!("/api/v2/ktties/{}/moments", t.id);
    let r = app
        .post_auth(
            &moments,
            &t.sam.token,
            json!({ "text": "Sunset at the beach", "imageKeys": photos }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["imageKeys"].as_array().unwrap().len(), 2);
    let later = app
        .post_auth(&moments, &t.kim.token, json!({ "text": "Breakfast" }))
        .await;
    assert_eq!(later.status(), 201);
    let texts: Vec<Value> = feed(&app, &t.pia.token, &t.id)
        .await
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(
        texts,
        [json!("Breakfast"), json!("Sunset at the beach")],
        "newest first"
    );

    let one = format!("{moments}/{}", m["id"].as_str().unwrap());
    // Only the author edits its words; not even the owner.
    problem(
        patch(&app, &t.pia.token, &one, json!({ "text": "mine now" })).await,
        403,
        "role_forbidden",
    )
    .await;
    problem(
        patch(&app, &t.kim.token, &one, json!({ "text": "mine now" })).await,
        403,
        "role_forbidden",
    )
    .await;
    let edited = patch(
        &app,
        &t.sam.token,
        &one,
        json!({ "text": "Sunset!", "imageKeys": [photos[0]] }),
    )
    .await;
    assert_eq!(edited.status(), 200);
    let edited: Value = edited.json().await.unwrap();
    assert_eq!(
        (edited["text"].as_str(), edited["imageKeys"].as_array().unwrap().len()),
        (Some("Sunset!"), 1)
    );

    // Only managers hide; a hidden moment is listed for them and its author only.
    problem(
        patch(&app, &t.kim.token, &one, json!({ "hidden": true })).await,
        403,
        "role_forbidden",
    )
    .await;
    problem(
        patch(&app, &t.sam.token, &one, json!({ "hidden": true })).await,
        403,
        "role_forbidden",
    )
    .await;
    assert_eq!(
        patch(&app, &t.pia.token, &one, json!({ "hidden": true }))
            .await
            .status(),
        200
    );
    assert_eq!(feed(&app, &t.kim.token, &t.id).await.len(), 1);
    let for_sam = feed(&app, &t.sam.token, &t.id).await;
    assert_eq!(for_sam.len(), 2);
    assert!(for_sam.iter().any(|m| m["hidden"] == true));
    problem(
        patch(&app, &t.kim.token, &one, json!({ "text": "x" })).await,
        404,
        "moment_not_found",
    )
    .await;
    assert_eq!(
        patch(&app, &t.pia.token, &one, json!({ "hidden": false }))
            .await
            .status(),
        200
    );
    assert_eq!(feed(&app, &t.kim.token, &t.id).await.len(), 2);

    // Paging.
    let page: Value = app
        .get_auth(&format!("{moments}?limit=1"), &t.kim.token)
        .await
        .json()
        .await
        .unwrap();
    let next: Value = app
        .get_auth(
            &format!("{moments}?limit=1&cursor={}", page["nextCursor"].as_str().unwrap()),
            &t.kim.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["items"][0]["text"], "Sunset!");
    app.stop().await;
}

#[tokio::test]
async fn bad_moments_and_strangers_change_nothing() {
    let app = TestApp::spawn().await;
    let t = trip(&app).await;
    let outsider = person(&app, "out@example.com").await;
    let moments = format!("/api/v2/ktties/{}/moments", t.id);
    let sams = uploaded(&app, &t.sam.token, "moment", "image/png", tiny_png()).await;
    let chat_kind = uploaded(&app, &t.pia.token, "chat", "image/png", tiny_png()).await;
    let mine = uploaded(&app, &t.pia.token, "moment", "image/png", tiny_png()).await;
    let eleven: Vec<String> = (0..11).map(|i| format!("key-{i}")).collect();
    for body in [
        json!({ "text": "" }),
        json!({ "text": "   " }),
        json!({ "text": "x".repeat(2_001) }),
        json!({ "text": "a", "imageKeys": [sams] }),
        json!({ "text": "a", "imageKeys": [chat_kind] }),
        json!({ "text": "a", "imageKeys": [mine, mine] }),
        json!({ "text": "a", "imageKeys": eleven }),
    ] {
        let r = app.post_auth(&moments, &t.pia.token, body.clone()).await;
        assert_eq!(r.status(), 422, "{body}");
    }
    problem(
        app.post_auth(&moments, &outsider.token, json!({ "text": "hi" })).await,
        404,
        "ktti_not_found",
    )
    .await;
    problem(app.get_auth(&moments, &outsider.token).await, 404, "ktti_not_found").await;
    assert_eq!(app.count("SELECT count(*) FROM moments").await, 0);

    // A moment of this ktti cannot be reached through another.
    let r = app
        .post_auth(&moments, &t.pia.token, json!({ "text": "ok", "imageKeys": [mine] }))
        .await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let other = crate::common::group::group(&app, &outsider, json!({"name": "Other"})).await;
    let elsewhere = format!("/api/v2/ktties/{}/moments/{id}", other["id"].as_str().unwrap());
    problem(
        patch(&app, &outsider.token, &elsewhere, json!({ "hidden": true })).await,
        404,
        "moment_not_found",
    )
    .await;
    problem(
        patch(
            &app,
            &outsider.token,
            &format!("{moments}/{id}"),
            json!({ "hidden": true }),
        )
        .await,
        404,
        "ktti_not_found",
    )
    .await;
    app.stop().await;
}
