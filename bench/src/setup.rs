//! Bench users: registered through the API (the verification token is planted,
//! as the bench has no mailbox), and, for money runs, verified by the sandbox with
//! an active personal ktti.

use crate::Args;
use anyhow::{Context, bail};
use kttipay_domain::secret;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "benchmark password";
/// Longest the bench waits for the sandbox to verify a user and open their ktti.
const VERIFY_TIMEOUT_SECS: u64 = 60;

/// Registers `email` through the API and returns an access token. The
/// verification token is planted in the database (the bench has no mailbox).
pub async fn sign_up(args: &Args, pool: &sqlx::PgPool, email: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::new();
    let reg = json!({"email": email, "firstName": "Bench", "lastName": "Mark",
                     "phone": "0400000000", "dateOfBirth": "1990-01-01"});
    http.post(format!("{}/api/v2/registration", args.base))
        .json(&reg)
        .send()
        .await?
        .error_for_status()?;
    let token = format!("benchmark-verification-{email}");
    sqlx::query(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, job_id, expires_at) \
         SELECT $1, id, 'verifyEmail', gen_random_uuid(), now() + interval '1 hour' FROM users WHERE email = $2",
    )
    .bind(secret::hash(&token))
    .bind(email)
    .execute(pool)
    .await?;
    http.post(format!("{}/api/v2/registration/password", args.base))
        .json(&json!({"token": token, "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?;
    let tokens: serde_json::Value = http
        .post(format!("{}/api/v2/auth/login", args.base))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(tokens["accessToken"].as_str().context("accessToken")?.to_string())
}

/// A verified user's active personal ktti, with what a depositor needs.
pub struct Pot {
    pub access: String,
    pub ktti: uuid::Uuid,
    pub bsb: String,
    pub account: String,
}

/// Signs `email` up, submits KYC and waits for the sandbox to open the ktti.
pub async fn verified_pot(args: &Args, pool: &sqlx::PgPool, email: impl AsRef<str>) -> anyhow::Result<Pot> {
    let email = email.as_ref();
    let access = sign_up(args, pool, email).await?;
    let http = reqwest::Client::new();
    let kyc = json!({
        "firstName": "Bench", "lastName": "Mark", "dateOfBirth": "1990-01-01",
        "address": {"line1": "1 Bench St", "suburb": "Sydney", "state": "NSW", "postcode": "2000", "country": "AU"},
        "idDocumentType": "passport", "idDocumentNumber": "PB1234567",
    });
    http.post(format!("{}/api/v2/users/me/kyc", args.base))
        .bearer_auth(&access)
        .json(&kyc)
        .send()
        .await?
        .error_for_status()?;
    let deadline = Instant::now() + Duration::from_secs(VERIFY_TIMEOUT_SECS);
    let ktti = loop {
        let r = http
            .get(format!("{}/api/v2/ktties/personal", args.base))
            .bearer_auth(&access)
            .send()
            .await?;
        if r.status().is_success() {
            let k: Value = r.json().await?;
            if k["status"] == "active" {
                break k["id"].as_str().context("ktti id")?.parse()?;
            }
        }
        if Instant::now() > deadline {
            bail!("{email}'s personal ktti never became active");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let banking: Value = http
        .get(format!("{}/api/v2/ktties/{ktti}/banking", args.base))
        .bearer_auth(&access)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(Pot {
        access,
        ktti,
        bsb: banking["bsb"].as_str().context("bsb")?.into(),
        account: banking["accountNumber"].as_str().context("accountNumber")?.into(),
    })
}
