//! Signed upload URLs: one upload each, of the type and size asked for, before
//! they expire, checked by the bytes; and image keys accepted only from their
//! uploader.

use crate::common::group::person;
use crate::common::uploads::{put, signed_url, tiny_png, uploaded};
use crate::common::{TestApp, error_fields, problem};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn an_upload_url_takes_one_file_of_its_type_and_size_in_time() {
    let app = TestApp::spawn().await;
    let ann = person(&app, "ann@example.com").await;
    let png = tiny_png();

    let url = signed_url(&app, &ann.token, "avatar", "image/png", Some(png.len())).await;
    assert_eq!(
        (url["method"].as_str(), url["maxBytes"].as_u64()),
        (Some("PUT"), Some(png.len() as u64))
    );
    assert!(
        url["uploadUrl"]
            .as_str()
            .unwrap()
            .starts_with("http://kttipay.test/api/v2/uploads/")
    );
    // Another content type, more bytes than asked for, bytes that are not a PNG.
    problem(
        put(&app, &url, "image/jpeg", png.clone()).await,
        415,
        "content_type_mismatch",
    )
    .await;
    let mut longer = png.clone();
    longer.push(0);
    problem(put(&app, &url, "image/png", longer).await, 413, "payload_too_large").await;
    let p = problem(
        put(&app, &url, "image/png", vec![b'x'; png.len()]).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&p), ["file"]);
    // A tampered signature, then the real one, then the same URL again.
    let mut forged = url.clone();
    let tampered = url["uploadUrl"].as_str().unwrap().replace("signature=", "signature=00");
    forged["uploadUrl"] = Value::String(tampered);
    problem(
        put(&app, &forged, "image/png", png.clone()).await,
        403,
        "invalid_signature",
    )
    .await;
    assert_eq!(put(&app, &url, "image/png", png.clone()).await.status(), 204);
    problem(put(&app, &url, "image/png", png.clone()).await, 409, "upload_used").await;
    let stored = format!("{}/objects/{}", app.config.data_dir, url["imageKey"].as_str().unwrap());
    assert_eq!(std::fs::read(stored).unwrap(), png);

    // An expired URL.
    let late = signed_url(&app, &ann.token, "chat", "image/png", None).await;
    sqlx::query("UPDATE uploads SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    problem(put(&app, &late, "image/png", png.clone()).await, 403, "upload_expired").await;

    // Bad requests for a URL.
    for (body, field) in [
        (
            json!({"kind": "avatar", "contentType": "application/pdf"}),
            "contentType",
        ),
        (
            json!({"kind": "avatar", "contentType": "image/png", "contentLength": 6_000_000}),
            "contentLength",
        ),
    ] {
        let r = app.post_auth("/api/v2/uploads/signed-url", &ann.token, body).await;
        let p = problem(r, 422, "validation_failed").await;
        assert_eq!(error_fields(&p), [field]);
    }
    app.stop().await;
}

#[tokio::test]
async fn image_keys_are_accepted_only_from_their_uploader() {
    let app = TestApp::spawn().await;
    let ann = person(&app, "ann@example.com").await;
    let bob = person(&app, "bob@example.com").await;
    let anns = uploaded(&app, &ann.token, "avatar", "image/png", tiny_png()).await;
    let patch = |token: String, key: String| {
        let app = &app;
        async move {
            app.send(
                Method::PATCH,
                "/api/v2/settings/profile",
                &token,
                Some(json!({"avatarKey": key})),
            )
            .await
        }
    };
    let p = problem(patch(bob.token.clone(), anns.clone()).await, 422, "validation_failed").await;
    assert_eq!(error_fields(&p), ["avatarKey"], "another user's upload");
    let p = problem(
        patch(ann.token.clone(), "uploads/avatar/made-up.png".into()).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&p), ["avatarKey"], "no such upload");
    let not_yet = signed_url(&app, &ann.token, "avatar", "image/png", None).await;
    let p = problem(
        patch(ann.token.clone(), not_yet["imageKey"].as_str().unwrap().into()).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&p), ["avatarKey"], "nothing uploaded to it yet");
    assert_eq!(patch(ann.token.clone(), anns.clone()).await.status(), 200);

    // A ktti image must be one, and the caller's.
    let r = app
        .post_auth("/api/v3/ktties", &ann.token, json!({"name": "Trip", "imageKey": anns}))
        .await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(error_fields(&p), ["imageKey"], "an avatar is not a ktti image");
    let image = uploaded(&app, &ann.token, "kttiImage", "image/png", tiny_png()).await;
    let r = app
        .post_auth("/api/v3/ktties", &bob.token, json!({"name": "Trip", "imageKey": image}))
        .await;
    problem(r, 422, "validation_failed").await;
    let r = app
        .post_auth("/api/v3/ktties", &ann.token, json!({"name": "Trip", "imageKey": image}))
        .await;
    assert_eq!(r.status(), 201);
    app.stop().await;
}
