//! Uploading through signed URLs, as the app does: ask for a URL, PUT the file.

use super::TestApp;
use serde_json::{Value, json};

/// A small real PNG (rendered by ImageMagick).
pub fn tiny_png() -> Vec<u8> {
    let out = std::process::Command::new("convert")
        .args(["-size", "24x24", "xc:teal", "png:-"])
        .output()
        .expect("ImageMagick's convert is installed (.ci/run installs it)");
    assert!(out.status.success());
    out.stdout
}

/// A signed URL for `kind`: the response body.
pub async fn signed_url(app: &TestApp, token: &str, kind: &str, content_type: &str, length: Option<usize>) -> Value {
    let r = app
        .post_auth(
            "/api/v2/uploads/signed-url",
            token,
            json!({"kind": kind, "contentType": content_type, "contentLength": length}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// PUTs `bytes` to an upload URL (which names the public URL; the request goes
/// to this test's server at the same path).
pub async fn put(app: &TestApp, url: &Value, content_type: &str, bytes: Vec<u8>) -> reqwest::Response {
    let full = url["uploadUrl"].as_str().unwrap();
    let path = full.strip_prefix(&app.config.public_url).unwrap_or(full);
    app.client
        .put(app.url(path))
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// Uploads `bytes` as `kind` and returns its image key.
pub async fn uploaded(app: &TestApp, token: &str, kind: &str, content_type: &str, bytes: Vec<u8>) -> String {
    let url = signed_url(app, token, kind, content_type, Some(bytes.len())).await;
    let r = put(app, &url, content_type, bytes).await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    url["imageKey"].as_str().unwrap().to_string()
}
