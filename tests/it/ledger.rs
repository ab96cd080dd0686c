//! The ledger against real PostgreSQL: balances kept by postings, replays booked
//! once, refusals leaving nothing behind, and the database's own guards.

use crate::common::TestApp;
use kttipay_db::ktties::{self, KttiKind};
use kttipay_db::ledger::{self, EntryMeta, PostError, Posted};
use kttipay_db::users::{self, NewUser};
use kttipay_domain::Money;
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::ledger::{Balances, JournalEntry, Origin};

fn m(s: &str) -> Money {
    s.parse().unwrap()
}

async fn new_ktti(app: &TestApp) -> KttiId {
    let mut tx = app.pool.begin().await.unwrap();
    let owner = UserId::new();
    let email = format!("{}@example.com", owner.0.simple());
    users::insert(
        &mut tx,
        &NewUser {
            id: owner,
            email: &email,
            first_name: "A",
            last_name: "B",
            phone: "+61400000000",
            date_of_birth: None,
            email_verified: true,
        },
    )
    .await
    .unwrap();
    let ktti = KttiId::new();
    ktties::create(&mut tx, ktti, KttiKind::Personal, "Mine", owner)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    ktti
}

async fn post(app: &TestApp, entry: JournalEntry, key: &str) -> Result<Posted, PostError> {
    let mut tx = app.pool.begin().await.unwrap();
    let meta = EntryMeta {
        ktti: None,
        kind: "test",
        source_key: Some(key),
        description: None,
        origin: Origin::Ours,
    };
    let result = ledger::post(&mut tx, &entry, &meta).await;
    tx.commit().await.unwrap();
    result
}

async fn balances(app: &TestApp, k: KttiId) -> Balances {
    ledger::balances(&app.pool, k).await.unwrap().unwrap()
}

async fn sound(app: &TestApp) -> ledger::LedgerReport {
    let mut conn = app.pool.acquire().await.unwrap();
    ledger::verify(&mut conn).await.unwrap()
}

#[tokio::test]
async fn postings_keep_balances_and_a_replayed_cause_moves_nothing() {
    let app = TestApp::spawn().await;
    let k = new_ktti(&app).await;
    assert!(matches!(
        post(&app, JournalEntry::deposit(k, m("100.00")).unwrap(), "dep-1").await,
        Ok(Posted::Booked(_))
    ));
    assert_eq!(
        post(&app, JournalEntry::deposit(k, m("100.00")).unwrap(), "dep-1")
            .await
            .unwrap(),
        Posted::AlreadyBooked
    );
    post(&app, JournalEntry::hold(k, m("40.00")).unwrap(), "hold-1")
        .await
        .unwrap();
    post(
        &app,
        JournalEntry::settle(k, m("40.00"), m("35.55")).unwrap(),
        "settle-1",
    )
    .await
    .unwrap();
    post(&app, JournalEntry::fee(k, m("0.45")).unwrap(), "fee-1")
        .await
        .unwrap();
    let b = balances(&app, k).await;
    assert_eq!(
        (b.available, b.reserved, b.total()),
        (m("64.00"), m("0.00"), m("64.00"))
    );
    let report = sound(&app).await;
    assert!(report.is_sound(), "{report:?}");
    assert_eq!(report.entries_checked, 4);
    app.stop().await;
}

#[tokio::test]
async fn a_refused_posting_leaves_nothing_and_the_transaction_usable() {
    let app = TestApp::spawn().await;
    let k = new_ktti(&app).await;
    post(&app, JournalEntry::deposit(k, m("10.00")).unwrap(), "dep")
        .await
        .unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    let meta = |key| EntryMeta {
        ktti: Some(k),
        kind: "hold",
        source_key: Some(key),
        description: None,
        origin: Origin::Ours,
    };
    let refused = ledger::post(&mut tx, &JournalEntry::hold(k, m("10.01")).unwrap(), &meta("too-much")).await;
    assert!(matches!(refused, Err(PostError::InsufficientFunds)));
    // Same transaction, still usable: a smaller hold books.
    ledger::post(&mut tx, &JournalEntry::hold(k, m("10.00")).unwrap(), &meta("all-of-it"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let b = balances(&app, k).await;
    assert_eq!((b.available, b.reserved), (m("0.00"), m("10.00")));
    assert_eq!(
        app.count("SELECT count(*) FROM journal_entries").await,
        2,
        "the refused entry left no trace"
    );
    // The refused cause can still be booked later, once funds allow.
    post(&app, JournalEntry::release(k, m("10.00")).unwrap(), "release")
        .await
        .unwrap();
    assert!(matches!(
        post(&app, JournalEntry::hold(k, m("10.00")).unwrap(), "too-much").await,
        Ok(Posted::Booked(_))
    ));
    assert!(sound(&app).await.is_sound());
    app.stop().await;
}

#[tokio::test]
async fn the_database_refuses_unbalanced_edited_and_deleted_entries() {
    let app = TestApp::spawn().await;
    let k = new_ktti(&app).await;
    post(&app, JournalEntry::deposit(k, m("5.00")).unwrap(), "dep")
        .await
        .unwrap();

    // Bypassing the code: an entry whose postings do not sum to zero.
    let mut tx = app.pool.begin().await.unwrap();
    let id = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO journal_entries (id, kind) VALUES ($1, 'forged')")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("INSERT INTO postings (entry_id, seq, account_kind, ktti_id, amount) VALUES ($1, 0, 'available', $2, 1.00), ($1, 1, 'deposits', NULL, -0.99)")
        .bind(id)
        .bind(k.0)
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = tx.commit().await.unwrap_err().to_string();
    assert!(err.contains("unbalanced"), "{err}");

    // A one-legged "entry" is refused too, and so is a posting slipped into an old entry.
    let mut tx = app.pool.begin().await.unwrap();
    let id = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO journal_entries (id, kind) VALUES ($1, 'forged')")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert!(tx.commit().await.unwrap_err().to_string().contains("unbalanced"));
    let old: uuid::Uuid = sqlx::query_scalar("SELECT id FROM journal_entries")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO postings (entry_id, seq, account_kind, ktti_id, amount) VALUES ($1, 9, 'available', $2, 1.00)",
    )
    .bind(old)
    .bind(k.0)
    .execute(&mut *tx)
    .await
    .unwrap();
    assert!(tx.commit().await.unwrap_err().to_string().contains("unbalanced"));

    for sql in [
        "UPDATE postings SET amount = amount * 2",
        "DELETE FROM postings",
        "DELETE FROM journal_entries",
    ] {
        let err = sqlx::query(sql).execute(&app.pool).await.unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    // Available below zero is refused by the database itself (only a booking
    // the bank reported may take it there, through `ledger::post`).
    let err = sqlx::query("UPDATE ktti_balances SET available = -1")
        .execute(&app.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("would be overdrawn"), "{err}");
    let err = sqlx::query("UPDATE ktti_balances SET reserved = -1")
        .execute(&app.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("check constraint"), "{err}");
    assert!(sound(&app).await.is_sound());
    app.stop().await;
}

#[tokio::test]
async fn fifty_parallel_holds_never_overdraw() {
    let app = TestApp::spawn_with(|v| {
        v.insert("KTTIPAY_DB_MAX_CONNECTIONS".into(), "20".into());
    })
    .await;
    let k = new_ktti(&app).await;
    post(&app, JournalEntry::deposit(k, m("100.00")).unwrap(), "dep")
        .await
        .unwrap();
    let holds = futures::future::join_all((0..50).map(|i| {
        let app = &app;
        async move { post(app, JournalEntry::hold(k, m("7.00")).unwrap(), &format!("hold-{i}")).await }
    }))
    .await;
    let booked = holds.iter().filter(|r| matches!(r, Ok(Posted::Booked(_)))).count();
    let refused = holds
        .iter()
        .filter(|r| matches!(r, Err(PostError::InsufficientFunds)))
        .count();
    assert_eq!((booked, refused), (14, 36), "100.00 covers fourteen holds of 7.00");
    let b = balances(&app, k).await;
    assert_eq!(
        (b.available, b.reserved, b.total()),
        (m("2.00"), m("98.00"), m("100.00"))
    );
    assert!(sound(&app).await.is_sound());
    app.stop().await;
}

#[tokio::test]
async fn verify_ledger_finds_a_tampered_balance() {
    let app = TestApp::spawn().await;
    let k = new_ktti(&app).await;
    post(&app, JournalEntry::deposit(k, m("20.00")).unwrap(), "dep")
        .await
        .unwrap();
    let cli = |url: String| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_kttipay"))
                .args(["admin", "verify-ledger"])
                .env("DATABASE_URL", url)
                .output()
                .unwrap()
        })
    };
    let out = cli(app.config.database_url.clone()).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("the ledger is sound"));

    sqlx::query("UPDATE ktti_balances SET available = available + 1")
        .execute(&app.pool)
        .await
        .unwrap();
    let report = sound(&app).await;
    assert_eq!(report.differences.len(), 1);
    assert_eq!(report.differences[0].kept.available, m("21.00"));
    assert_eq!(report.differences[0].recomputed.available, m("20.00"));
    let out = cli(app.config.database_url.clone()).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("DIFFERENCE ktti {k}")));
    app.stop().await;
}

#[tokio::test]
async fn the_bank_may_take_available_below_zero_but_we_never_do() {
    let app = TestApp::spawn().await;
    let k = new_ktti(&app).await;
    let book = |entry: JournalEntry, key: &'static str, origin: Origin| {
        let app = &app;
        async move {
            let mut tx = app.pool.begin().await.unwrap();
            let meta = EntryMeta {
                ktti: Some(k),
                kind: "test",
                source_key: Some(key),
                description: None,
                origin,
            };
            let result = ledger::post(&mut tx, &entry, &meta).await;
            tx.commit().await.unwrap();
            result
        }
    };
    book(JournalEntry::deposit(k, m("10.00")).unwrap(), "dep", Origin::Bank)
        .await
        .unwrap();
    // Ours: refused, at zero and below.
    let ours = book(JournalEntry::fee(k, m("10.01")).unwrap(), "our-fee", Origin::Ours).await;
    assert!(matches!(ours, Err(PostError::InsufficientFunds)));
    // The bank's: booked as reported.
    book(JournalEntry::fee(k, m("12.00")).unwrap(), "bank-fee", Origin::Bank)
        .await
        .unwrap();
    assert_eq!(balances(&app, k).await.available, m("-2.00"));
    // Below zero, ours still may not go further, but may bring it back up.
    let further = book(JournalEntry::fee(k, m("0.01")).unwrap(), "our-fee-2", Origin::Ours).await;
    assert!(matches!(further, Err(PostError::InsufficientFunds)));
    book(JournalEntry::deposit(k, m("5.00")).unwrap(), "dep-2", Origin::Ours)
        .await
        .unwrap();
    assert_eq!(balances(&app, k).await.available, m("3.00"));
    // The database itself refuses it, whatever the application says.
    let raw = sqlx::query("UPDATE ktti_balances SET available = -1 WHERE ktti_id = $1")
        .bind(k.0)
        .execute(&app.pool)
        .await;
    assert!(raw.is_err(), "a plain update may not overdraw");
    let report = sound(&app).await;
    assert!(report.is_sound(), "{report:?}");
    app.stop().await;
}
