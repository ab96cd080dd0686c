//! Receipts end to end: fixtures rendered by ImageMagick with known items (plain,
//! rotated and noisy), uploaded as multipart, read by Tesseract in the OCR job,
//! parsed, assigned to members as a `lineItems` split, edited and deleted; and
//! every bad upload refused or failed cleanly.

use crate::common::TestApp;
use crate::common::group::person;
use crate::common::totals::{dec, totals};
use crate::common::trip::{Trip, booked, pays_in, spend, trip};
use crate::common::uploads::uploaded;
use crate::common::{error_fields, problem};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::process::Command;

pub const CAFE: &[&str] = &[
    "CORNER CAFE",
    "14/03/2026",
    "Flat White      4.50",
    "Avocado Toast  18.00",
    "Pancakes       12.50",
    "SUBTOTAL       35.00",
    "Surcharge       3.50",
    "TOTAL          38.50",
    "GST             3.50",
];

/// `lines` rendered as a receipt by ImageMagick, with `extra` options (rotation,
/// noise), encoded as `ext` (`png`, `jpg`).
pub fn render(lines: &[&str], extra: &[&str], ext: &str) -> Vec<u8> {
    let out = std::env::temp_dir().join(format!("kttipay-receipt-{}.{ext}", uuid::Uuid::new_v4().simple()));
    let status = Command::new("convert")
        .args([
            "-background",
            "white",
            "-fill",
            "black",
            "-font",
            "DejaVu-Sans-Mono",
            "-pointsize",
            "40",
        ])
        .arg(format!("label:{}", lines.join("\\n")))
        .args(["-bordercolor", "white", "-border", "60"])
        .args(extra)
        .arg(&out)
        .status()
        .expect("ImageMagick's convert is installed (.ci/run installs it)");
    assert!(status.success());
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    bytes
}

/// A minimal PDF of `pages` pages, the first showing `text` in Helvetica, with a
/// correct cross-reference table.
fn pdf(pages: usize, text: &[&str]) -> Vec<u8> {
    let mut content = String::from("BT /F1 20 Tf 60 760 Td 24 TL\n");
    for line in text {
        content.push_str(&format!("({line}) Tj T*\n"));
    }
    content.push_str("ET");
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 5 + i)).collect();
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        format!("<< /Type /Pages /Kids [{}] /Count {pages} >>", kids.join(" ")),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
    ];
    for i in 0..pages {
        let contents = if i == 0 { " /Contents 4 0 R" } else { "" };
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>{contents} >>"
        ));
    }
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// Uploads `bytes` as the `file` field, declared as `declared` (which the server
/// must not trust).
pub async fn upload(app: &TestApp, token: &str, txn: &str, bytes: Vec<u8>, declared: &str) -> reqwest::Response {
    let boundary = "kttipay-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"receipt\"\r\nContent-Type: {declared}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    app.client
        .post(app.url(&format!("/api/v2/transactions/{txn}/receipt")))
        .bearer_auth(token)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn receipt(app: &TestApp, token: &str, txn: &str) -> Value {
    app.drain_all().await;
    let r = app
        .get_auth(&format!("/api/v2/transactions/{txn}/receipt"), token)
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn item<'a>(r: &'a Value, description: &str) -> &'a Value {
    r["lineItems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["description"] == description)
        .unwrap_or_else(|| panic!("no item {description} in {r:#}"))
}

fn share(split: &Value, user: &str) -> Decimal {
    split["shares"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["userId"] == user)
        .map_or(Decimal::ZERO, |s| dec(&s["amount"]))
}

async fn cafe(app: &TestApp) -> (Trip, String) {
    let t = trip(app).await;
    pays_in(app, &t, &t.pia, "100.00", "in-pia").await;
    let paid = spend(app, &t, "38.50").await;
    (t, paid["id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_receipt_is_read_by_ocr_and_its_items_split_the_payment() {
    let app = TestApp::spawn().await;
    let (t, txn) = cafe(&app).await;
    let (pia, sam, kim) = (t.pia.id.as_str(), t.sam.id.as_str(), t.kim.id.as_str());

    // Declared as a GIF: the server goes by the bytes, which are a PNG.
    let r = upload(&app, &t.sam.token, &txn, render(CAFE, &[], "png"), "image/gif").await;
    assert_eq!(r.status(), 202);
    let accepted: Value = r.json().await.unwrap();
    assert_eq!(
        (accepted["status"].as_str(), accepted["contentType"].as_str()),
        (Some("uploaded"), Some("image/png"))
    );
    let read = receipt(&app, &t.kim.token, &txn).await;
    assert_eq!(read["status"], "processed", "{read:#}");
    let info: Value = app
        .get_auth(&format!("/api/v2/transactions/{txn}/additional-info"), &t.kim.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["receiptStatus"], "processed");
    assert_eq!(read["merchant"], "CORNER CAFE");
    assert_eq!(read["date"], "2026-03-14");
    assert_eq!(
        (read["subtotal"].as_str(), read["total"].as_str(), read["tax"].as_str()),
        (Some("35.00"), Some("38.50"), Some("3.50"))
    );
    let amounts: Vec<(&str, &str)> = read["lineItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["description"].as_str().unwrap(), i["amount"].as_str().unwrap()))
        .collect();
    assert_eq!(
        amounts,
        [
            ("Flat White", "4.50"),
            ("Avocado Toast", "18.00"),
            ("Pancakes", "12.50")
        ]
    );

    // Items to members: the 3.50 surcharge follows the items, in proportion.
    let id = |d: &str| item(&read, d)["id"].clone();
    let body = json!({"mode": "lineItems", "lineItems": [
        {"lineItemId": id("Flat White"), "userIds": [sam]},
        {"lineItemId": id("Avocado Toast"), "userIds": [pia]},
        {"lineItemId": id("Pancakes"), "userIds": [kim, sam]},
    ]});
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v3/transactions/{txn}/split"),
            &t.kim.token,
            Some(body),
        )
        .await;
    assert_eq!(r.status(), 200);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["mode"], "lineItems");
    // 18.00 of 35.00 is Pia's: 19.80 of 38.50; Sam 4.50 + 6.25, Kim 6.25, scaled.
    assert_eq!(share(&s, pia), "19.80".parse::<Decimal>().unwrap());
    let (sam_part, kim_part) = (share(&s, sam), share(&s, kim));
    assert_eq!(sam_part + kim_part, "18.70".parse::<Decimal>().unwrap());
    assert!(
        ["11.82", "11.83"].contains(&sam_part.to_string().as_str()),
        "{sam_part}"
    );
    let read = receipt(&app, &t.pia.token, &txn).await;
    assert_eq!(item(&read, "Pancakes")["userIds"].as_array().unwrap().len(), 2);
    totals(&app, &t.pia.token, &t.id).await;

    // A member outside the split cannot move its money by editing the items.
    let lou = person(&app, "lou@example.com").await;
    let k = crate::common::group::ktti(&app, &t.pia.token, &t.id).await;
    let code = k["referralCode"].as_str().unwrap();
    assert_eq!(crate::common::group::join(&app, &lou, code).await.status(), 200);
    let r = app
        .send(
            Method::PATCH,
            &format!(
                "/api/v2/transactions/{txn}/receipt/line-items/{}",
                id("Pancakes").as_str().unwrap()
            ),
            &lou.token,
            Some(json!({"amount": "1.00"})),
        )
        .await;
    problem(r, 403, "role_forbidden").await;

    // A corrected price re-splits from the items.
    let pancakes = id("Pancakes");
    let r = app
        .send(
            Method::PATCH,
            &format!(
                "/api/v2/transactions/{txn}/receipt/line-items/{}",
                pancakes.as_str().unwrap()
            ),
            &t.sam.token,
            Some(json!({"amount": "16.00", "description": "Pancakes (large)"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let s: Value = app
        .get_auth(&format!("/api/v3/transactions/{txn}/split"), &t.pia.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["mode"], "lineItems");
    assert_eq!(
        share(&s, pia),
        "18.00".parse::<Decimal>().unwrap(),
        "18 of 38.50 in items: exactly 18.00"
    );
    totals(&app, &t.pia.token, &t.id).await;

    // Kim did not upload it and does not run the ktti: she may not delete it.
    let path = format!("/api/v2/transactions/{txn}/receipt");
    problem(
        app.send(Method::DELETE, &path, &t.kim.token, None).await,
        403,
        "role_forbidden",
    )
    .await;
    assert_eq!(app.send(Method::DELETE, &path, &t.sam.token, None).await.status(), 204);
    problem(app.get_auth(&path, &t.pia.token).await, 404, "receipt_not_found").await;
    let s: Value = app
        .get_auth(&format!("/api/v3/transactions/{txn}/split"), &t.pia.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (s["mode"].as_str(), s["origin"].as_str()),
        (Some("shares"), Some("default")),
        "back to the default"
    );
    totals(&app, &t.pia.token, &t.id).await;
    let left = std::fs::read_dir(format!("{}/objects/receipts/{txn}", app.config.data_dir))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "the stored file went with it");
    app.stop().await;
}

#[tokio::test]
async fn rotated_noisy_and_pdf_receipts_are_read() {
    let app = TestApp::spawn().await;
    let (t, txn) = cafe(&app).await;
    let skewed = render(
        CAFE,
        &[
            "-background",
            "white",
            "-rotate",
            "3",
            "-attenuate",
            "0.6",
            "+noise",
            "Gaussian",
        ],
        "jpg",
    );
    assert_eq!(
        upload(&app, &t.pia.token, &txn, skewed, "image/jpeg").await.status(),
        202
    );
    let read = receipt(&app, &t.pia.token, &txn).await;
    assert_eq!(
        (read["status"].as_str(), read["total"].as_str()),
        (Some("processed"), Some("38.50")),
        "{read:#}"
    );
    assert_eq!(read["contentType"], "image/jpeg");

    // A new upload replaces the old one; a PDF is rendered and read. This one
    // comes through a signed upload URL, by its key, which only its uploader may
    // use, once.
    let lines = ["HARDWARE BARN", "Screws 9.50", "Glue 29.00", "TOTAL 38.50"];
    let key = uploaded(&app, &t.pia.token, "receipt", "application/pdf", pdf(1, &lines)).await;
    let by_key = |token: String| {
        let (app, path, key) = (&app, format!("/api/v2/transactions/{txn}/receipt"), key.clone());
        async move { app.post_auth(&path, &token, json!({"imageKey": key})).await }
    };
    let p = problem(by_key(t.sam.token.clone()).await, 422, "validation_failed").await;
    assert_eq!(error_fields(&p), ["imageKey"], "Sam did not upload it");
    assert_eq!(by_key(t.pia.token.clone()).await.status(), 202);
    let read = receipt(&app, &t.pia.token, &txn).await;
    assert_eq!(
        (read["status"].as_str(), read["total"].as_str()),
        (Some("processed"), Some("38.50")),
        "{read:#}"
    );
    assert_eq!(read["merchant"], "HARDWARE BARN");
    assert_eq!(read["lineItems"].as_array().unwrap().len(), 2);
    let files = std::fs::read_dir(format!("{}/objects/receipts/{txn}", app.config.data_dir))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(files, 0, "the replaced upload's file is deleted");
    let p = problem(by_key(t.pia.token.clone()).await, 422, "validation_failed").await;
    assert_eq!(error_fields(&p), ["imageKey"], "a file is one receipt's");
    app.stop().await;
}

#[tokio::test]
async fn bad_receipts_are_refused_or_fail_cleanly() {
    let app = TestApp::spawn().await;
    let (t, txn) = cafe(&app).await;
    let token = &t.pia.token;
    let field = |p: &Value| error_fields(p).iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let p = problem(
        upload(&app, token, &txn, b"just some text".to_vec(), "image/png").await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(field(&p), ["file"], "not an image, whatever it says it is");
    let p = problem(
        upload(&app, token, &txn, Vec::new(), "image/png").await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(field(&p), ["file"], "empty");
    let big = vec![0xFFu8; 10 * 1024 * 1024 + 128 * 1024];
    problem(
        upload(&app, token, &txn, big, "image/jpeg").await,
        413,
        "payload_too_large",
    )
    .await;
    // A PNG whose header claims 50,000 x 50,000 pixels: a bomb, refused unread.
    let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bomb.extend_from_slice(&50_000u32.to_be_bytes());
    bomb.extend_from_slice(&50_000u32.to_be_bytes());
    bomb.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0, 0]);
    let p = problem(
        upload(&app, token, &txn, bomb, "image/png").await,
        422,
        "validation_failed",
    )
    .await;
    assert!(
        p["errors"][0]["message"].as_str().unwrap().contains("50000x50000"),
        "{p}"
    );
    assert_eq!(app.count("SELECT count(*) FROM receipts").await, 0, "nothing stored");

    // A 500-page PDF, and a PDF that is not one: taken, then failed with a reason.
    assert_eq!(
        upload(&app, token, &txn, pdf(500, &["TOTAL 1.00"]), "application/pdf")
            .await
            .status(),
        202
    );
    let read = receipt(&app, token, &txn).await;
    assert_eq!(read["status"], "failed");
    assert!(
        read["failureReason"].as_str().unwrap().contains("500 pages"),
        "{read:#}"
    );
    let junk = b"%PDF-1.4\nnothing else of a PDF here".to_vec();
    assert_eq!(upload(&app, token, &txn, junk, "application/pdf").await.status(), 202);
    let read = receipt(&app, token, &txn).await;
    assert_eq!(read["status"], "failed", "{read:#}");

    // Deposits take no receipt; outsiders see nothing.
    let deposit = booked(&app, &t, "deposit", "100.00").await;
    let p = problem(
        upload(
            &app,
            token,
            deposit["id"].as_str().unwrap(),
            render(CAFE, &[], "png"),
            "image/png",
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(field(&p), ["transactionId"]);
    let outsider = person(&app, "out@example.com").await;
    let path = format!("/api/v2/transactions/{txn}/receipt");
    assert_eq!(app.get_auth(&path, &outsider.token).await.status(), 404);
    assert_eq!(
        upload(&app, &outsider.token, &txn, render(CAFE, &[], "png"), "image/png")
            .await
            .status(),
        404
    );
    assert_eq!(
        app.send(Method::DELETE, &path, &outsider.token, None).await.status(),
        404
    );
    let r = app
        .send(
            Method::PATCH,
            &format!("{path}/line-items/{}", uuid::Uuid::now_v7()),
            &outsider.token,
            Some(json!({"amount": "1.00"})),
        )
        .await;
    assert_eq!(r.status(), 404);

    // A line item of another transaction's receipt cannot split this one.
    assert_eq!(
        upload(&app, token, &txn, render(CAFE, &[], "png"), "image/png")
            .await
            .status(),
        202
    );
    let read = receipt(&app, token, &txn).await;
    let other = spend(&app, &t, "5.00").await;
    let body =
        json!({"mode": "lineItems", "lineItems": [{"lineItemId": read["lineItems"][0]["id"], "userIds": [t.pia.id]}]});
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v3/transactions/{}/split", other["id"].as_str().unwrap()),
            token,
            Some(body),
        )
        .await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(field(&p), ["lineItems[0].lineItemId"]);
    // An outsider naming the receipt's real items learns nothing but 404.
    let body =
        json!({"mode": "lineItems", "lineItems": [{"lineItemId": read["lineItems"][0]["id"], "userIds": [t.pia.id]}]});
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v3/transactions/{txn}/split"),
            &outsider.token,
            Some(body),
        )
        .await;
    assert_eq!(r.status(), 404);
    let bogus =
        json!({"mode": "lineItems", "lineItems": [{"lineItemId": uuid::Uuid::now_v7(), "userIds": [t.pia.id]}]});
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v3/transactions/{txn}/split"),
            &outsider.token,
            Some(bogus),
        )
        .await;
    assert_eq!(r.status(), 404);
    totals(&app, token, &t.id).await;
    app.stop().await;
}
