//! Schema fuzzing: schemathesis drives the real app from its own OpenAPI document,
//! with every check on (no 5xx, responses that match the document's schemas,
//! status codes, headers and content types, 405 with `Allow`, nothing accepted
//! that the schema forbids, nothing refused that it allows), as a
//! KYC-verified user with real ids (a group ktti, a transaction, an action item),
//! so requests get past authentication and lookups into the handlers.
//!
//! Ignored by the plain test command because it needs schemathesis (PyPI);
//! `.ci/run` installs it and runs `cargo test --test it schema_fuzz -- --ignored`.
//! Set `SCHEMATHESIS` to the executable (default: `schemathesis` on `PATH`) and
//! `SCHEMATHESIS_MAX_EXAMPLES` to fuzz longer than CI does. Its settings, and the
//! few operations allowed a 422 for schema-valid values (with the reason each),
//! are in `tests/it/schemathesis.toml`.

use crate::common::group::{group, person_of};
use crate::common::pot::{deposit, pot};
use crate::common::{PASSWORD, TestApp};
use serde_json::{Value, json};
use std::process::Command;

/// Test cases per operation in CI: bounded so the gate fits the CI budget; every
/// operation still gets its examples, coverage cases and this many fuzzed ones.
const CI_MAX_EXAMPLES: u32 = 25;

/// Every phase, the stateful one included: it follows the document's links
/// (a ktti created, then its id used by every operation that takes one; and
/// the links schemathesis infers from response fields) through sequences of calls.
const STATEFUL: &str = "examples,coverage,fuzzing,stateful";
const STATELESS: &str = "examples,coverage,fuzzing";

/// Runs schemathesis over the operations `filter` selects, authenticated by
/// `token`; panics with its report when a check fails. It runs on a blocking
/// thread: the app serves it from this test's runtime meanwhile.
async fn schemathesis(app: &TestApp, token: &str, ids: &[(&str, String)], filter: &[&str], phases: &str) {
    let base = app.base.clone();
    let db_name = app.db_name.clone();
    let token = token.to_string();
    let ids: Vec<(String, String)> = ids.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let filter: Vec<String> = filter.iter().map(|f| f.to_string()).collect();
    let phases = phases.to_string();
    tokio::task::spawn_blocking(move || run_schemathesis(&base, &db_name, &token, &ids, &filter, &phases))
        .await
        .unwrap();
}

fn run_schemathesis(base: &str, db_name: &str, token: &str, ids: &[(String, String)], filter: &[String], phases: &str) {
    let exe = std::env::var("SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into());
    let examples = std::env::var("SCHEMATHESIS_MAX_EXAMPLES").unwrap_or_else(|_| CI_MAX_EXAMPLES.to_string());
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/schemathesis.toml");
    let dir = std::env::temp_dir().join(format!("kttipay-schemathesis-{db_name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(&exe)
        .current_dir(&dir)
        .arg("--config-file")
        .arg(config)
        .envs(ids.iter().map(|(name, value)| (format!("KTTIPAY_FUZZ_{name}"), value)))
        .arg("run")
        .arg(format!("{base}/api/openapi.json"))
        .args(["--url", base])
        .args(["--checks", "all"])
        .args(["--mode", "all"])
        .args(["--phases", phases])
        .args(["--max-examples", &examples])
        // One worker: with several, hypothesis (on Python 3.11) can fail inside its
        // own source inspection from two threads at once, a runtime error of the tool.
        .args(["--workers", "1"])
        .args(["--seed", "20261202"])
        .args(["--generation-database", "none"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(filter)
        .args(["--no-color", "--output-truncate", "false"])
        .output()
        .unwrap_or_else(|e| panic!("{exe} could not start ({e}): install schemathesis from PyPI or run .ci/run"));
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // `-- --nocapture` shows what ran (phases, links followed) when it passes.
    println!("{report}");
    assert!(out.status.success(), "schemathesis found problems:\n{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs schemathesis from PyPI; .ci/run installs it and runs this"]
async fn schemathesis_finds_nothing_the_document_does_not_allow() {
    let app = TestApp::spawn().await;
    // A verified user with a deposit on their personal ktti, who also owns a group.
    let me = pot(&app, "fuzz@example.com").await;
    deposit(&app, &me, "25.00", "fuzz-deposit-1").await;
    let txn = app
        .eventually("the deposit", || async {
            let page: Value = app
                .get_auth(&format!("/api/v2/ktties/{}/transactions", me.id), &me.token)
                .await
                .json()
                .await
                .ok()?;
            page["items"][0]["id"].as_str().map(str::to_owned)
        })
        .await;
    let tokens = app.login("fuzz@example.com", PASSWORD).await;
    let owner = person_of(&app, "fuzz@example.com", &tokens).await;
    let ktti = group(&app, &owner, json!({ "name": "Fuzzed" })).await;
    let ktti_id = ktti["id"].as_str().unwrap().to_string();
    // Named as `tests/it/schemathesis.toml` reads them from the environment.
    let ids = [
        ("KTTI_ID", ktti_id),
        ("TRANSACTION_ID", txn),
        ("USER_ID", owner.id.clone()),
        ("ACTION_ID", uuid::Uuid::now_v7().to_string()),
        ("JOB_ID", uuid::Uuid::now_v7().to_string()),
    ];
    // Everything but logout, which would end the session every other request
    // uses (it gets a session of its own below), and the chat stream, which by
    // design never ends (tests/it/chat.rs drives it).
    schemathesis(
        &app,
        &owner.token,
        &ids,
        &[
            "--exclude-operation-id",
            "logout",
            "--exclude-operation-id",
            "streamChat",
        ],
        STATEFUL,
    )
    .await;
    let own = app.login(&owner.email, PASSWORD).await;
    // Alone, logout has no links to follow: no stateful phase.
    schemathesis(
        &app,
        &own.access_token,
        &ids,
        &["--include-operation-id", "logout"],
        STATELESS,
    )
    .await;
    // What the fuzzed requests caused must have run cleanly: no job failing.
    app.drain().await;
    let failing: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT kind, status, last_error FROM jobs WHERE last_error IS NOT NULL")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(failing.is_empty(), "jobs failed after fuzzing: {failing:#?}");
    app.stop().await;
}
