//! The sandbox provider driven through our real Shaype client, with a local
//! receiver that checks every webhook's signature.

use kttipay_providers::shaype::client::{ProviderError, ShaypeClient};
use kttipay_providers::shaype::types::*;
use kttipay_providers::shaype::webhook::{self, NotificationDto, NotificationType, TransactionType};
use kttipay_sandbox::{RunningSandbox, SandboxConfig};
use poem::web::Data;
use poem::{EndpointExt, IntoResponse, Request, Route, handler, post};
use rust_decimal::Decimal;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "sandbox-test-webhook-secret";
const TOKEN: &str = "sandbox-test-token";

#[derive(Default)]
struct Inbox {
    received: Mutex<Vec<NotificationDto>>,
    /// Answer 503 to this many deliveries first.
    fail_first: AtomicU32,
    deliveries: AtomicU32,
}

#[handler]
async fn receive(inbox: Data<&Arc<Inbox>>, req: &Request, body: Vec<u8>) -> poem::Response {
    inbox.deliveries.fetch_add(1, Ordering::SeqCst);
    let ts = req.header(webhook::TIMESTAMP_HEADER);
    let sig = req.header(webhook::SIGNATURE_HEADER);
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        webhook::verify(SECRET.as_bytes(), ts, sig, &body, now),
        Ok(()),
        "every webhook is signed"
    );
    if inbox.fail_first.load(Ordering::SeqCst) > 0 {
        inbox.fail_first.fetch_sub(1, Ordering::SeqCst);
        return poem::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    inbox
        .received
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    poem::http::StatusCode::NO_CONTENT.into_response()
}

struct Bank {
    sandbox: Option<RunningSandbox>,
    client: ShaypeClient,
    inbox: Arc<Inbox>,
    base: String,
    db_name: String,
}

fn pg() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

impl Bank {
    async fn open() -> Bank {
        let inbox = Arc::new(Inbox::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let webhook_base = format!("http://{}", listener.local_addr().unwrap());
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
        let app = Route::new().at(webhook_base_path(), post(receive)).data(inbox.clone());
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
        let db_name = format!("kttipay_test_{}_sandbox", uuid::Uuid::new_v4().simple());
        let config = SandboxConfig {
            database_url: format!("{}/{db_name}", pg()),
            webhook_base_url: webhook_base,
            webhook_secret: SECRET.into(),
            api_token: TOKEN.into(),
            kyc_delay: Duration::from_millis(50),
            tick: Duration::from_millis(20),
            bsb: "802985".into(),
        };
        let sandbox = kttipay_sandbox::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let base = sandbox.base_url();
        let client = ShaypeClient::new(&base, TOKEN).unwrap();
        Bank {
            sandbox: Some(sandbox),
            client,
            inbox,
            base,
            db_name,
        }
    }

    async fn close(mut self) {
        if let Some(s) = self.sandbox.take() {
            s.shutdown().await;
        }
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&format!("{}/postgres", pg()))
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.db_name
        )))
        .execute(&mut conn)
        .await
        .unwrap();
    }

    /// Waits until the inbox holds a notification matching `pick`.
    async fn webhook(&self, pick: impl Fn(&NotificationDto) -> bool) -> NotificationDto {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(n) = self.inbox.received.lock().unwrap().iter().find(|n| pick(n)) {
                return n.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no such webhook; got {:#?}",
                self.inbox.received.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn view(&self, account: &str) -> serde_json::Value {
        reqwest::get(format!("{}/sandbox/accounts/{account}", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// An active customer with an account and a virtual card.
    async fn customer_with_card(&self, name: &str) -> (HayCustomer, HayAccount, HayCard) {
        let customer = self.client.create_customer(&new_customer(name, "Lee")).await.unwrap();
        let id = customer.customer_hay_id.clone();
        self.webhook(|n| n.customer_hay_id == id && n.kind == NotificationType::OnboardingPassed)
            .await;
        let account = self
            .client
            .create_account(&CreateAccount {
                idempotency_key: format!("acc-{name}"),
                account_holder_id: id.clone(),
                account_holder_type: AccountHolderType::Customer,
                product_id: "kttipay-personal".into(),
                custom_data: Default::default(),
            })
            .await
            .unwrap();
        let card = self
            .client
            .create_card(&CreateCard {
                idempotency_key: format!("card-{name}"),
                account_id: account.account_hay_id.clone(),
                customer_hay_id: id,
                card_type: CardType::Virtual,
                delivery_address: address(),
                email: format!("{name}@example.com"),
                first_name: name.into(),
                last_name: "Lee".into(),
                phone_number: PhoneNumber::from_e164("+61400000000"),
                pin: "4821".into(),
            })
            .await
            .unwrap();
        (customer, account, card)
    }

    async fn deposit(&self, account: &HayAccount, amount: &str, key: &str) {
        self.client
            .generate_npp_inbound(&GenerateNppInbound {
                amount: d(amount),
                description: "top up".into(),
                idempotency_key: key.into(),
                receiver_account_number: account.account_number.clone().unwrap(),
                receiver_bsb: account.bsb.clone().unwrap(),
                receiver_name: "Ann Lee".into(),
                reference: Some("KP-REF".into()),
                sender_account_number: "123456789".into(),
                sender_bsb: "062000".into(),
                sender_name: "ANN LEE".into(),
            })
            .await
            .unwrap();
    }
}

fn webhook_base_path() -> &'static str {
    "/api/hay/v0/communications/notification"
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn address() -> Address {
    Address {
        line1: "1 George St".into(),
        line2: None,
        town_or_city: "Sydney".into(),
        administrative_region: "NSW".into(),
        postcode: "2000".into(),
        country_code_iso: "AU".into(),
    }
}

fn new_customer(first: &str, last: &str) -> CreateCustomer {
    CreateCustomer {
        idempotency_key: format!("cus-{first}-{last}"),
        email: format!("{first}@example.com"),
        phone_number: PhoneNumber::from_e164("+61400000000"),
        customer_details: CustomerDetails {
            first_name: first.into(),
            last_name: last.into(),
            date_of_birth: "1990-01-01".into(),
        },
        address: address(),
        customer_tier: "STANDARD".into(),
        external_customer_id: None,
        identity_document_type: Some(IdentityDocumentType::DrivingLicense),
        identity_document_number: Some("12345678".into()),
        identity_verification_case_id: None,
    }
}

fn txn(n: &NotificationDto) -> &kttipay_providers::shaype::webhook::TransactionEvent {
    n.transaction_event.as_ref().expect("a transaction event")
}

#[tokio::test]
async fn kyc_passes_after_a_delay_and_fails_for_the_test_identity() {
    let bank = Bank::open().await;
    let ann = bank.client.create_customer(&new_customer("Ann", "Lee")).await.unwrap();
    assert_eq!(ann.status, Some(CustomerStatus::PendingApproval));
    let again = bank.client.create_customer(&new_customer("Ann", "Lee")).await.unwrap();
    assert_eq!(
        again.customer_hay_id, ann.customer_hay_id,
        "same idempotency key, same customer"
    );
    let id = ann.customer_hay_id.clone();
    bank.webhook(|n| n.customer_hay_id == id && n.kind == NotificationType::OnboardingPassed)
        .await;
    let status = bank
        .webhook(|n| n.customer_hay_id == id && n.kind == NotificationType::CustomerStatusUpdated)
        .await;
    assert_eq!(
        status.customer_status_updated_event.unwrap().customer_status.as_deref(),
        Some("ACTIVE")
    );
    assert_eq!(
        bank.client.get_customer(&id).await.unwrap().status,
        Some(CustomerStatus::Active)
    );

    let bob = bank
        .client
        .create_customer(&new_customer("Bob", "Rejected"))
        .await
        .unwrap();
    let id = bob.customer_hay_id.clone();
    let failed = bank
        .webhook(|n| n.customer_hay_id == id && n.kind == NotificationType::OnboardingFailed)
        .await;
    assert!(failed.onboarding_failed_event.is_some());
    assert_eq!(
        bank.client.get_customer(&id).await.unwrap().status,
        Some(CustomerStatus::Rejected)
    );
    // A rejected customer cannot hold an account.
    let refused = bank
        .client
        .create_account(&CreateAccount {
            idempotency_key: "acc-bob".into(),
            account_holder_id: id,
            account_holder_type: AccountHolderType::Customer,
            product_id: "p".into(),
            custom_data: Default::default(),
        })
        .await;
    assert!(
        matches!(refused, Err(ProviderError::Rejected { status: 422, .. })),
        "{refused:?}"
    );
    bank.close().await;
}

#[tokio::test]
async fn deposit_hold_settle_refund_with_exact_amounts_and_events() {
    let bank = Bank::open().await;
    let (_, account, card) = bank.customer_with_card("cara").await;
    let acc = account.account_hay_id.clone();
    bank.deposit(&account, "100.10", "npp-1").await;
    bank.deposit(&account, "100.10", "npp-1").await; // the same payment again
    let dep = bank
        .webhook(|n| txn_type(n) == Some(TransactionType::InterbankTransferIn))
        .await;
    let dep = txn(&dep);
    assert_eq!(dep.currency_amount.as_ref().unwrap().amount, d("100.10"));
    let sender = dep
        .counterpart_details
        .as_ref()
        .unwrap()
        .basic_account_number
        .as_ref()
        .unwrap();
    assert_eq!(
        (sender.branch_number.as_deref(), sender.account_number.as_deref()),
        (Some("062000"), Some("123456789"))
    );
    assert_eq!(dep.reference.as_deref(), Some("KP-REF"));

    let token = card.card_token.clone().unwrap();
    bank.client
        .generate_card_transaction(&GenerateCardTransaction {
            amount: d("40.05"),
            card_token: token.clone(),
            settlement_delay_in_seconds: 0,
        })
        .await
        .unwrap();
    let hold = bank
        .webhook(|n| txn_type(n) == Some(TransactionType::CardTransaction))
        .await;
    assert_eq!(txn(&hold).is_pending, Some(true));
    let settled = bank
        .webhook(|n| txn_type(n) == Some(TransactionType::CardTransactionSettled))
        .await;
    let settled = txn(&settled);
    assert_eq!(
        settled.hold_hay_id,
        txn(&hold).hold_hay_id,
        "the settlement names its hold"
    );
    let payment = settled.transaction_hay_id.clone().unwrap();

    // A hold beyond available is declined: an event, and no money moves.
    bank.client
        .generate_auth_hold(&GenerateAuthHold {
            amount: d("60.06"),
            card_token: token,
        })
        .await
        .unwrap();
    let declined = bank
        .webhook(|n| {
            n.transaction_event.as_ref().and_then(|t| t.outcome.as_deref()) == Some("REFUSED_NOT_ENOUGH_FUNDS")
        })
        .await;
    assert_eq!(txn(&declined).currency_amount.as_ref().unwrap().amount, d("60.06"));

    let refund = reqwest::Client::new()
        .post(format!("{}/sandbox/utils/refund", bank.base))
        .json(&serde_json::json!({"transactionId": payment, "amount": 10.00}))
        .send()
        .await
        .unwrap();
    assert_eq!(refund.status(), 200);
    bank.webhook(|n| txn_type(n) == Some(TransactionType::CardTransactionRefund))
        .await;
    let too_much = reqwest::Client::new()
        .post(format!("{}/sandbox/utils/refund", bank.base))
        .json(&serde_json::json!({"transactionId": payment, "amount": 30.06}))
        .send()
        .await
        .unwrap();
    assert_eq!(too_much.status(), 422);

    let view = bank.view(&acc).await;
    // 100.10 - 40.05 + 10.00
    assert_eq!(view["balance"].to_string(), "70.05");
    assert_eq!(view["held"].to_string(), "0.00");
    let kinds: Vec<&str> = view["movements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "INTERBANK_TRANSFER_IN",
            "CARD_PRESENT_PAYMENT",
            "CARD_TRANSACTION_REFUND"
        ]
    );
    bank.close().await;
}

fn txn_type(n: &NotificationDto) -> Option<TransactionType> {
    n.transaction_event.as_ref().and_then(|t| t.transaction_type)
}

fn transfer(amount: &str, key: &str) -> TransferOut {
    TransferOut {
        amount: d(amount),
        description: "payout".into(),
        idempotency_key: Some(key.into()),
        sender_customer_hay_id: "x".into(),
        transfer_type: "ACCOUNT".into(),
        account_transfer: Some(AccountTransfer {
            bsb: "062000".into(),
            account_number: "987654321".into(),
            recipient_name: "Ann Lee".into(),
            reference: None,
            sender_name: None,
        }),
        internal_transfer: None,
        reference: None,
    }
}

#[tokio::test]
async fn transfers_move_money_once_per_key_even_when_the_response_is_lost() {
    let bank = Bank::open().await;
    let (_, account, _) = bank.customer_with_card("dan").await;
    let acc = account.account_hay_id.clone();
    bank.deposit(&account, "50.00", "npp-dan").await;
    bank.webhook(|n| txn_type(n) == Some(TransactionType::InterbankTransferIn))
        .await;

    let first = bank
        .client
        .transfer(&acc, &transfer("20.00", "payout-1"))
        .await
        .unwrap();
    let again = bank
        .client
        .transfer(&acc, &transfer("20.00", "payout-1"))
        .await
        .unwrap();
    assert_eq!(first, again);
    let refused = bank
        .client
        .transfer(&acc, &transfer("30.01", "payout-2"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "insufficient_funds");

    // The bank executes, then the response is lost: the client sees a failure...
    let faults = reqwest::Client::new().put(format!("{}/sandbox/faults", bank.base));
    let r = faults
        .json(&serde_json::json!({"transferDropResponseRate": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let lost = bank
        .client
        .transfer(&acc, &transfer("10.00", "payout-3"))
        .await
        .unwrap_err();
    assert!(lost.is_transient());
    // ...and its retry with the same key finds the first outcome.
    reqwest::Client::new()
        .put(format!("{}/sandbox/faults", bank.base))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let retried = bank
        .client
        .transfer(&acc, &transfer("10.00", "payout-3"))
        .await
        .unwrap();
    assert_eq!(retried.outcome, Outcome::Accepted);

    let view = bank.view(&acc).await;
    assert_eq!(view["balance"].to_string(), "20.00", "50 - 20 - 10, each once");
    let outs = view["movements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == "INTERBANK_TRANSFER_OUT")
        .count();
    assert_eq!(outs, 2);
    let bad = reqwest::Client::new()
        .put(format!("{}/sandbox/faults", bank.base))
        .json(&serde_json::json!({"transferErrorRate": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    bank.close().await;
}

#[tokio::test]
async fn webhooks_are_retried_until_acknowledged() {
    let bank = Bank::open().await;
    bank.inbox.fail_first.store(3, Ordering::SeqCst);
    let eve = bank.client.create_customer(&new_customer("Eve", "Lee")).await.unwrap();
    let id = eve.customer_hay_id.clone();
    bank.webhook(|n| n.customer_hay_id == id && n.kind == NotificationType::OnboardingPassed)
        .await;
    assert!(
        bank.inbox.deliveries.load(Ordering::SeqCst) >= 5,
        "three refusals, then both events"
    );
    bank.close().await;
}

#[tokio::test]
async fn parallel_holds_never_exceed_the_balance_and_bad_tokens_are_refused() {
    let bank = Bank::open().await;
    let (_, account, card) = bank.customer_with_card("fay").await;
    bank.deposit(&account, "100.00", "npp-fay").await;
    bank.webhook(|n| txn_type(n) == Some(TransactionType::InterbankTransferIn))
        .await;
    let token = card.card_token.clone().unwrap();
    let hold = GenerateAuthHold {
        amount: d("7.00"),
        card_token: token,
    };
    let results = futures::future::join_all((0..50).map(|_| bank.client.generate_auth_hold(&hold))).await;
    assert!(results.iter().all(|r| r.is_ok()));
    let view = bank.view(&account.account_hay_id).await;
    assert_eq!(
        (view["balance"].to_string(), view["held"].to_string()),
        ("100.00".into(), "98.00".into())
    );

    let intruder = ShaypeClient::new(&bank.base, "wrong-token").unwrap();
    let err = intruder.get_account(&account.account_hay_id).await.unwrap_err();
    assert!(matches!(err, ProviderError::Rejected { status: 401, .. }), "{err:?}");
    bank.close().await;
}
