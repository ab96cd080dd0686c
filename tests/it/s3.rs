//! S3 storage against a real S3-compatible server that checks signatures
//! (`s3s-fs` from crates.io, which `.ci/run` installs): presigned upload URLs
//! bound to their content type and length, a tampered one refused, a file that
//! is not what its URL promised refused on first use, and receipts stored, read
//! by OCR and deleted through the bucket.

use crate::common::TestApp;
use crate::common::trip::{pays_in, spend, trip};
use crate::common::uploads::{signed_url, tiny_png};
use crate::common::{error_fields, problem};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const BUCKET: &str = "kttipay";
const ACCESS_KEY: &str = "kttipay-test-access";
const SECRET_KEY: &str = "kttipay-test-secret-key-0123456789";
/// How long s3s-fs may take to start listening.
const START_TIMEOUT_SECS: u64 = 15;

struct S3Server {
    _child: tokio::process::Child,
    endpoint: String,
    root: PathBuf,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A private s3s-fs on a free port, with the bucket as a folder of its root.
async fn s3_server() -> S3Server {
    let root = std::env::temp_dir().join(format!("kttipay-s3-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(root.join(BUCKET)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = std::env::var("S3S_FS").unwrap_or_else(|_| "s3s-fs".into());
    let child = tokio::process::Command::new(&bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(&root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{bin} is installed (.ci/run installs s3s-fs): {e}"));
    let deadline = Instant::now() + Duration::from_secs(START_TIMEOUT_SECS);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "s3s-fs did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    S3Server {
        _child: child,
        endpoint: format!("http://127.0.0.1:{port}"),
        root,
    }
}

#[tokio::test]
async fn uploads_and_receipts_go_through_a_bucket_that_checks_signatures() {
    let s3 = s3_server().await;
    let endpoint = s3.endpoint.clone();
    let app = TestApp::spawn_with(move |v| {
        v.insert("STORAGE_URL".into(), format!("s3://{BUCKET}"));
        v.insert("S3_ENDPOINT".into(), endpoint);
        v.insert("S3_ACCESS_KEY_ID".into(), ACCESS_KEY.into());
        v.insert("S3_SECRET_ACCESS_KEY".into(), SECRET_KEY.into());
    })
    .await;
    let t = trip(&app).await;
    let put = |url: String, content_type: &'static str, bytes: Vec<u8>| {
        let client = app.client.clone();
        async move {
            client
                .put(url)
                .header("content-type", content_type)
                .body(bytes)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    // A presigned PUT straight to the bucket, bound to its type and length.
    let png = tiny_png();
    let url = signed_url(&app, &t.pia.token, "avatar", "image/png", Some(png.len())).await;
    let presigned = url["uploadUrl"].as_str().unwrap().to_string();
    assert!(presigned.starts_with(&s3.endpoint), "{presigned}");
    assert_eq!(
        put(presigned.clone(), "image/jpeg", png.clone()).await,
        403,
        "another type"
    );
    let mut longer = png.clone();
    longer.push(0);
    assert_eq!(put(presigned.clone(), "image/png", longer).await, 403, "another length");
    let mut tampered = presigned.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        put(tampered, "image/png", png.clone()).await,
        403,
        "a tampered signature"
    );
    assert_eq!(put(presigned, "image/png", png.clone()).await, 200);
    let key = url["imageKey"].as_str().unwrap();
    assert_eq!(
        std::fs::read(s3.root.join(BUCKET).join(key)).unwrap(),
        png,
        "in the bucket"
    );
    let r = app
        .send(
            Method::PATCH,
            "/api/v2/settings/profile",
            &t.pia.token,
            Some(json!({"avatarKey": key})),
        )
        .await;
    assert_eq!(r.status(), 200);

    // The bucket cannot read a file: bytes that are not a PNG are refused when the
    // key is first used, and the file is deleted.
    let fake = vec![b'x'; png.len()];
    let url = signed_url(&app, &t.pia.token, "avatar", "image/png", Some(fake.len())).await;
    assert_eq!(
        put(url["uploadUrl"].as_str().unwrap().into(), "image/png", fake).await,
        200
    );
    let fake_key = url["imageKey"].as_str().unwrap();
    let r = app
        .send(
            Method::PATCH,
            "/api/v2/settings/profile",
            &t.pia.token,
            Some(json!({"avatarKey": fake_key})),
        )
        .await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(error_fields(&p), ["avatarKey"]);
    assert!(!s3.root.join(BUCKET).join(fake_key).exists());

    // A receipt uploaded to the API is stored in the bucket, read from it by the
    // OCR job, and deleted from it with the receipt.
    pays_in(&app, &t, &t.pia, "100.00", "in-pia").await;
    let paid = spend(&app, &t, "38.50").await;
    let txn = paid["id"].as_str().unwrap();
    let receipt = crate::receipts::render(crate::receipts::CAFE, &[], "png");
    assert_eq!(
        crate::receipts::upload(&app, &t.pia.token, txn, receipt, "image/png")
            .await
            .status(),
        202
    );
    app.drain_all().await;
    let read: Value = app
        .get_auth(&format!("/api/v2/transactions/{txn}/receipt"), &t.pia.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (read["status"].as_str(), read["total"].as_str()),
        (Some("processed"), Some("38.50")),
        "{read:#}"
    );
    let folder = s3.root.join(BUCKET).join("receipts").join(txn);
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 1);
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/v2/transactions/{txn}/receipt"),
            &t.pia.token,
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    app.drain_all().await;
    assert_eq!(
        std::fs::read_dir(&folder).map(|d| d.count()).unwrap_or(0),
        0,
        "deleted from the bucket"
    );
    app.stop().await;
}
