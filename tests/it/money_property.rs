//! Random sequences of deposits, card payments, holds, reversals, refunds and fees,
//! and what the bank forces through (settlements above their hold, second
//! clearings, bank fees that overdraw), with authorisation webhooks at times held
//! back so settlements overtake their holds, run through the sandbox provider:
//! once every webhook is delivered and applied, our balances equal the
//! provider's, to the cent, no event disagreed with ours on the way, and the
//! journal balances; every expense, refund and fee is split and the owner's
//! member totals add up to the pot.

use crate::common::TestApp;
use crate::common::pot::{pot, sandbox_raw};
use reqwest::Method;
use serde_json::Value;

/// A small deterministic generator, so a failing sequence can be replayed by seed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// An amount from 0.01 to `max_cents` / 100, as the provider's JSON number text.
    fn amount(&mut self, max_cents: u64) -> String {
        let cents = 1 + self.next() % max_cents;
        format!("{}.{:02}", cents / 100, cents % 100)
    }
}

async fn run_sequence(seed: u64, operations: usize) {
    let app = TestApp::spawn().await;
    let p = pot(&app, &format!("prop{seed}@example.com")).await;
    let (id, bsb, number, account, token) = (&p.id, &p.bsb, &p.account, &p.provider_account, &p.card_token);
    let mut rng = XorShift(seed);
    let post = |path: &'static str, raw: String| sandbox_raw(&app, path, raw);
    // Authorised holds not yet reversed, so a later step can reverse one.
    let mut open_holds: Vec<String> = Vec::new();
    let mut settled_holds: Vec<String> = Vec::new();
    let mut withholding = false;
    for op in 0..operations {
        match rng.next() % 11 {
            0 | 1 => {
                let raw = format!(
                    r#"{{"amount": {}, "description": "in", "idempotencyKey": "npp-{seed}-{op}", "receiverAccountNumber": "{number}", "receiverBsb": "{bsb}", "receiverName": "P", "senderAccountNumber": "111111111", "senderBsb": "062000", "senderName": "P"}}"#,
                    rng.amount(20_000)
                );
                assert_eq!(post("/v0/utils/generate-npp-inbound", raw).await.status(), 200);
            }
            2 => {
                let raw = format!(
                    r#"{{"amount": {}, "cardToken": "{token}", "settlementDelayInSeconds": 0}}"#,
                    rng.amount(8_000)
                );
                assert_eq!(post("/v0/utils/generate-card-transaction", raw).await.status(), 200);
            }
            3 => {
                let raw = format!(r#"{{"amount": {}, "cardToken": "{token}"}}"#, rng.amount(3_000));
                let r = post("/v0/utils/generate-auth-hold", raw).await;
                assert_eq!(r.status(), 200);
                let said: Value = r.json().await.unwrap();
                if let Some(hold) = said["message"].as_str().and_then(|m| m.strip_prefix("hold ")) {
                    open_holds.push(hold.split_whitespace().next().unwrap().to_string());
                }
            }
            5 if !open_holds.is_empty() => {
                let hold = open_holds.swap_remove((rng.next() % open_holds.len() as u64) as usize);
                let raw = format!(r#"{{"holdId": "{hold}"}}"#);
                assert_eq!(post("/sandbox/utils/reverse-hold", raw).await.status(), 204);
            }
            6 if !open_holds.is_empty() => {
                // Settled now, for up to half as much again as it held.
                let hold = open_holds.swap_remove((rng.next() % open_holds.len() as u64) as usize);
                let raw = format!(r#"{{"holdId": "{hold}", "amount": {}}}"#, rng.amount(4_500));
                assert_eq!(post("/sandbox/utils/settle-hold", raw).await.status(), 200);
                settled_holds.push(hold);
            }
            7 if !settled_holds.is_empty() => {
                let hold = &settled_holds[(rng.next() % settled_holds.len() as u64) as usize];
                let raw = format!(r#"{{"holdId": "{hold}", "amount": {}}}"#, rng.amount(1_000));
                assert_eq!(post("/sandbox/utils/settle-hold", raw).await.status(), 200);
            }
            8 => {
                let raw = format!(r#"{{"accountId": "{account}", "amount": {}}}"#, rng.amount(6_000));
                assert_eq!(post("/sandbox/utils/bank-fee", raw).await.status(), 200);
            }
            9 => {
                withholding = !withholding;
                let faults = serde_json::json!({ "withholdAuthorisations": withholding });
                assert_eq!(
                    app.sandbox(Method::PUT, "/sandbox/faults", Some(faults)).await.status(),
                    200
                );
                if !withholding {
                    app.sandbox(Method::POST, "/sandbox/utils/release-webhooks", None).await;
                }
            }
            4 => {
                let view: Value = app
                    .sandbox(Method::GET, &format!("/sandbox/accounts/{account}"), None)
                    .await
                    .json()
                    .await
                    .unwrap();
                let payments: Vec<Value> = view["movements"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|m| m["type"] == "CARD_PRESENT_PAYMENT")
                    .cloned()
                    .collect();
                if let Some(m) = payments.get((rng.next() % (payments.len() as u64).max(1)) as usize) {
                    // Half of a payment at most, so repeated refunds mostly fit.
                    let paid: u64 = m["amount"]
                        .to_string()
                        .trim_start_matches('-')
                        .replace('.', "")
                        .parse()
                        .unwrap();
                    if paid >= 2 {
                        let amount = rng.amount(paid / 2);
                        let raw = format!(
                            r#"{{"transactionId": "{}", "amount": {amount}}}"#,
                            m["id"].as_str().unwrap()
                        );
                        let status = post("/sandbox/utils/refund", raw).await.status().as_u16();
                        assert!(status == 200 || status == 422, "refund answered {status}");
                    }
                }
            }
            _ => {
                let raw = format!(
                    r#"{{"accountHayId": "{account}", "amount": {}, "counterpartName": "KttiPay", "description": "fee", "idempotencyKey": "fee-{seed}-{op}", "transactionChannel": "SERVICE_FEE"}}"#,
                    rng.amount(500)
                );
                assert_eq!(post("/v1/transactions/debit", raw).await.status(), 200);
            }
        }
    }

    // Whatever was held back goes now; then every webhook delivered, every job applied.
    app.sandbox(Method::PUT, "/sandbox/faults", Some(serde_json::json!({})))
        .await;
    app.sandbox(Method::POST, "/sandbox/utils/release-webhooks", None).await;
    let sandbox_db = format!("{}_sandbox", app.config.database_url);
    let sandbox = sqlx::PgPool::connect(&sandbox_db).await.unwrap();
    app.eventually("the sandbox to deliver every webhook", || async {
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhooks WHERE delivered_at IS NULL \
             OR EXISTS (SELECT 1 FROM holds WHERE status = 'OPEN' AND settle_at IS NOT NULL)",
        )
        .fetch_one(&sandbox)
        .await
        .ok()?;
        (left == 0).then_some(())
    })
    .await;
    sandbox.close().await;
    app.drain_all().await;

    let view: Value = app
        .sandbox(Method::GET, &format!("/sandbox/accounts/{account}"), None)
        .await
        .json()
        .await
        .unwrap();
    let ours: Value = app
        .get_auth(&format!("/api/v2/ktties/{id}"), &p.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        ours["totalBalance"].as_str().unwrap(),
        view["balance"].to_string(),
        "seed {seed}: total"
    );
    assert_eq!(
        ours["availableBalance"].as_str().unwrap(),
        view["available"].to_string(),
        "seed {seed}: available"
    );
    // Every expense, refund and fee was split; the owner's totals equal the pot.
    let t = crate::common::totals::totals(&app, &p.token, id).await;
    assert_eq!(
        t["members"][0]["net"], t["totalBalance"],
        "seed {seed}: a personal ktti is its owner's"
    );
    let mut conn = app.pool.acquire().await.unwrap();
    let report = kttipay_db::ledger::verify(&mut conn).await.unwrap();
    assert!(report.is_sound(), "seed {seed}: {report:?}");
    assert!(report.entries_checked > 0);
    let kinds = app
        .count("SELECT count(DISTINCT kind || status) FROM transactions")
        .await;
    assert!(
        kinds >= 4,
        "seed {seed}: the sequence should mix kinds of movement, saw {kinds}"
    );
    let unapplied = app
        .count("SELECT count(*) FROM provider_events WHERE status NOT IN ('applied')")
        .await;
    assert_eq!(unapplied, 0, "seed {seed}: every event applied");
    let open = app
        .count("SELECT count(*) FROM balance_mismatches WHERE resolved_at IS NULL")
        .await;
    assert_eq!(open, 0, "seed {seed}: no difference from the bank is left open");
    drop(conn);
    app.stop().await;
}

#[tokio::test]
async fn random_money_movements_keep_our_books_equal_to_the_providers() {
    for seed in [0x9E37_79B9_7F4A_7C15, 0xDEAD_BEEF_CAFE_F00D] {
        run_sequence(seed, 40).await;
    }
}
