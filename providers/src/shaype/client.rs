//! A typed client for the Shaype operations we use, speaking the provider's own
//! paths and bodies so it can point at the real provider or at our sandbox.
//!
//! Calls time out instead of hanging. A call is retried here (briefly, with
//! backoff) only when repeating it cannot move money twice: reads, calls carrying
//! an idempotency key, and state changes that are idempotent by nature (block,
//! cancel). Anything longer-lived is the job system's retry, which reuses the
//! same idempotency key on every attempt.

use super::types::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

pub const SHAYPE_CONNECT_TIMEOUT_MS: u64 = 3_000;
pub const SHAYPE_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Extra attempts for a retryable call, after the first.
pub const SHAYPE_RETRIES: u32 = 2;
/// Backoff before retry n is `n * n * SHAYPE_RETRY_BASE_MS`.
pub const SHAYPE_RETRY_BASE_MS: u64 = 100;

/// Why a provider call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the money movement (a business answer, final).
    #[error("refused by the provider: {0:?}")]
    Refused(Outcome),
    /// The request was invalid or not allowed (4xx): retrying will not help.
    #[error("rejected by the provider ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("not found at the provider")]
    NotFound,
    /// Down, slow or erroring (5xx, timeout, connection): try again later.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
}

impl ProviderError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Unavailable(_))
    }

    /// Our stable error code for a refusal, as API clients see it.
    pub fn code(&self) -> &'static str {
        match self {
            ProviderError::Refused(outcome) => refusal_code(*outcome),
            ProviderError::Rejected { .. } => "provider_rejected",
            ProviderError::NotFound => "provider_not_found",
            ProviderError::Unavailable(_) => "provider_unavailable",
        }
    }
}

/// Maps the provider's refusal outcomes to our codes.
pub fn refusal_code(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::RefusedInsufficientFunds => "insufficient_funds",
        Outcome::RefusedLimitBreach => "limit_exceeded",
        Outcome::RefusedFraud => "refused_fraud",
        Outcome::RefusedCustomerPreference => "refused_by_preference",
        Outcome::RefusedAccountBlocked => "account_blocked",
        Outcome::RefusedRecipientAccountBlocked => "recipient_account_blocked",
        Outcome::RefusedAccountClosed => "account_closed",
        Outcome::RefusedRecipientAccountClosed => "recipient_account_closed",
        Outcome::RefusedInvalidPayId => "invalid_pay_id",
        Outcome::Accepted | Outcome::InternalError | Outcome::Unknown => "provider_refused",
    }
}

/// Whether a call may be repeated safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    Safe,
    Never,
}

#[derive(Clone)]
pub struct ShaypeClient {
    http: reqwest::Client,
    base_url: String,
    token: String,
}

impl ShaypeClient {
    pub fn new(base_url: &str, token: &str) -> Result<ShaypeClient, String> {
        Self::with_timeouts(base_url, token, SHAYPE_CONNECT_TIMEOUT_MS, SHAYPE_REQUEST_TIMEOUT_MS)
    }

    pub fn with_timeouts(
        base_url: &str,
        token: &str,
        connect_ms: u64,
        request_ms: u64,
    ) -> Result<ShaypeClient, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(connect_ms))
            .timeout(Duration::from_millis(request_ms))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(ShaypeClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            token: token.to_string(),
        })
    }

    async fn call<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        retry: Retry,
    ) -> Result<R, ProviderError> {
        let url = format!("{}{path}", self.base_url);
        let mut attempt = 0;
        loop {
            let mut req = self.http.request(method.clone(), &url).bearer_auth(&self.token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let result = match req.send().await {
                Ok(resp) => read(resp).await,
                Err(e) => Err(ProviderError::Unavailable(e.to_string())),
            };
            match result {
                Err(e) if e.is_transient() && retry == Retry::Safe && attempt < SHAYPE_RETRIES => {
                    attempt += 1;
                    let backoff = SHAYPE_RETRY_BASE_MS * u64::from(attempt * attempt);
                    tracing::debug!(path, attempt, error = %e, "retrying provider call");
                    tokio::time::sleep(Duration::from_millis(backoff)).await;
                }
                other => return other,
            }
        }
    }

    async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, ProviderError> {
        self.call::<(), R>(reqwest::Method::GET, path, None, Retry::Safe).await
    }

    async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        retry: Retry,
    ) -> Result<R, ProviderError> {
        self.call(reqwest::Method::POST, path, Some(body), retry).await
    }

    pub async fn create_customer(&self, body: &CreateCustomer) -> Result<HayCustomer, ProviderError> {
        self.post("/v0/customers/create", body, Retry::Safe).await
    }

    pub async fn get_customer(&self, id: &str) -> Result<HayCustomer, ProviderError> {
        self.get(&format!("/v0/customers/{id}")).await
    }

    pub async fn block_customer(&self, id: &str) -> Result<HayCustomer, ProviderError> {
        self.post(
            &format!("/v0/customers/{id}/block"),
            &serde_json::json!({"reason": "OPERATIONAL"}),
            Retry::Safe,
        )
        .await
    }

    pub async fn unblock_customer(&self, id: &str) -> Result<HayCustomer, ProviderError> {
        self.post(
            &format!("/v0/customers/{id}/unblock"),
            &serde_json::json!({}),
            Retry::Safe,
        )
        .await
    }

    /// Not retried here: the case carries no idempotency key.
    pub async fn create_identity_case(&self, body: &UserConsent) -> Result<CreateCaseResponse, ProviderError> {
        self.post("/v1/kyc/identity-verification/cases", body, Retry::Never)
            .await
    }

    pub async fn create_group(&self, body: &CreateGroup) -> Result<HayGroup, ProviderError> {
        self.post("/v0/groups/create", body, Retry::Safe).await
    }

    pub async fn add_customers_to_group(
        &self,
        group: &str,
        body: &AddCustomersToGroup,
    ) -> Result<HayJointAccount, ProviderError> {
        self.post(&format!("/v0/groups/{group}/addCustomers"), body, Retry::Safe)
            .await
    }

    pub async fn remove_customer_from_group(
        &self,
        group: &str,
        body: &RemoveCustomerFromGroup,
    ) -> Result<HayJointAccount, ProviderError> {
        self.post(&format!("/v0/groups/{group}/removeCustomer"), body, Retry::Safe)
            .await
    }

    pub async fn create_account(&self, body: &CreateAccount) -> Result<HayAccount, ProviderError> {
        self.post("/v1/accounts", body, Retry::Safe).await
    }

    pub async fn get_account(&self, id: &str) -> Result<HayAccount, ProviderError> {
        self.get(&format!("/v0/accounts/{id}")).await
    }

    pub async fn close_account(&self, id: &str, body: &CloseAccount) -> Result<CloseAccountResponse, ProviderError> {
        self.post(&format!("/v0/accounts/{id}/close"), body, Retry::Safe).await
    }

    pub async fn create_card(&self, body: &CreateCard) -> Result<HayCard, ProviderError> {
        self.post("/v0/cards/create", body, Retry::Safe).await
    }

    pub async fn get_card(&self, id: &str) -> Result<HayCard, ProviderError> {
        self.get(&format!("/v0/cards/{id}")).await
    }

    /// Virtual to physical; the card keeps its number and is posted to the
    /// delivery address it was created with.
    pub async fn convert_card(&self, id: &str) -> Result<HayCard, ProviderError> {
        self.post(&format!("/v0/cards/{id}/convert"), &serde_json::json!({}), Retry::Safe)
            .await
    }

    /// Blocks a card, with why (the spec's optional `note`, kept by the issuer).
    pub async fn block_card(&self, id: &str, note: &str) -> Result<HayCard, ProviderError> {
        self.post(
            &format!("/v0/cards/{id}/block"),
            &CardNote { note: note.into() },
            Retry::Safe,
        )
        .await
    }

    /// Unblocks a card; the spec requires a `note` saying why.
    pub async fn unblock_card(&self, id: &str, note: &str) -> Result<HayCard, ProviderError> {
        self.post(
            &format!("/v0/cards/{id}/unblock"),
            &CardNote { note: note.into() },
            Retry::Safe,
        )
        .await
    }

    /// Replaces a customer's address (`PATCH /v0/customers/{id}`; the spec
    /// replaces the address as a whole). Cards are posted to it.
    pub async fn update_customer_address(&self, id: &str, address: &Address) -> Result<HayCustomer, ProviderError> {
        let body = UpdateCustomer {
            address: Some(address.clone()),
        };
        self.call(
            reqwest::Method::PATCH,
            &format!("/v0/customers/{id}"),
            Some(&body),
            Retry::Safe,
        )
        .await
    }

    pub async fn cancel_card(&self, id: &str) -> Result<HayCard, ProviderError> {
        self.post(&format!("/v0/cards/{id}/cancel"), &serde_json::json!({}), Retry::Safe)
            .await
    }

    /// A transfer out. `Ok` only for `ACCEPTED`; refusals are [`ProviderError::Refused`].
    pub async fn transfer(&self, account: &str, body: &TransferOut) -> Result<TransactionOutcome, ProviderError> {
        let outcome: TransactionOutcome = self
            .post(&format!("/v1/accounts/{account}/transfer"), body, Retry::Safe)
            .await?;
        accepted(outcome)
    }

    /// A debit from an account (our fees).
    pub async fn debit(&self, body: &CreateDebit) -> Result<TransactionOutcome, ProviderError> {
        let outcome: TransactionOutcome = self.post("/v1/transactions/debit", body, Retry::Safe).await?;
        accepted(outcome)
    }

    pub async fn search_transactions(
        &self,
        body: &SearchTransactions,
    ) -> Result<Vec<FinancialTransaction>, ProviderError> {
        // A search changes nothing: safe to repeat.
        self.post("/v0/transactions/search", body, Retry::Safe).await
    }

    pub async fn generate_npp_inbound(&self, body: &GenerateNppInbound) -> Result<GenericMessage, ProviderError> {
        self.post("/v0/utils/generate-npp-inbound", body, Retry::Safe).await
    }

    /// Not retried: a mock hold carries no idempotency key.
    pub async fn generate_auth_hold(&self, body: &GenerateAuthHold) -> Result<GenericMessage, ProviderError> {
        self.post("/v0/utils/generate-auth-hold", body, Retry::Never).await
    }

    pub async fn generate_card_transaction(
        &self,
        body: &GenerateCardTransaction,
    ) -> Result<GenericMessage, ProviderError> {
        self.post("/v0/utils/generate-card-transaction", body, Retry::Never)
            .await
    }
}

fn accepted(outcome: TransactionOutcome) -> Result<TransactionOutcome, ProviderError> {
    match outcome.outcome {
        Outcome::Accepted => Ok(outcome),
        Outcome::InternalError => Err(ProviderError::Unavailable("provider internal error".into())),
        other => Err(ProviderError::Refused(other)),
    }
}

async fn read<R: DeserializeOwned>(resp: reqwest::Response) -> Result<R, ProviderError> {
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| ProviderError::Rejected {
            status: status.as_u16(),
            message: format!("unreadable response: {e}"),
        });
    }
    let error: ErrorResponse = serde_json::from_slice(&bytes).unwrap_or_default();
    let message = error.message.or(error.details).unwrap_or_else(|| status.to_string());
    Err(match status.as_u16() {
        404 => ProviderError::NotFound,
        408 | 429 => ProviderError::Unavailable(message),
        s if s >= 500 => ProviderError::Unavailable(message),
        s => ProviderError::Rejected { status: s, message },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::http::StatusCode;
    use poem::web::{Data, Json, Path};
    use poem::{EndpointExt, IntoResponse, Route, handler, post};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Answers with the scripted status for the first calls, then 200.
    #[derive(Clone)]
    struct Script {
        calls: Arc<AtomicU32>,
        failures: u32,
        fail_status: u16,
    }

    #[handler]
    async fn account(script: Data<&Script>, Path(id): Path<String>) -> poem::Response {
        let n = script.calls.fetch_add(1, Ordering::SeqCst);
        if n < script.failures {
            let status = StatusCode::from_u16(script.fail_status).unwrap();
            return Json(serde_json::json!({"message": "nope"}))
                .with_status(status)
                .into_response();
        }
        Json(serde_json::json!({"accountHayId": id, "totalBalance": 10.05, "customData": {}})).into_response()
    }

    #[handler]
    async fn transfer(script: Data<&Script>) -> Json<serde_json::Value> {
        script.calls.fetch_add(1, Ordering::SeqCst);
        Json(serde_json::json!({"outcome": "REFUSED_INSUFFICIENT_FUNDS", "transactionId": "t1"}))
    }

    #[handler]
    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "{}"
    }

    async fn serve(failures: u32, fail_status: u16) -> (ShaypeClient, Arc<AtomicU32>) {
        let calls = Arc::new(AtomicU32::new(0));
        let script = Script {
            calls: calls.clone(),
            failures,
            fail_status,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Route::new()
            .at("/v0/accounts/:id", poem::get(account))
            .at("/v1/accounts/:id/transfer", post(transfer))
            .at("/v1/kyc/identity-verification/cases", post(account_case))
            .at("/v0/cards/:id", poem::get(slow))
            .data(script);
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
        (ShaypeClient::with_timeouts(&base, "token", 1_000, 300).unwrap(), calls)
    }

    #[handler]
    async fn account_case(script: Data<&Script>) -> poem::Response {
        script.calls.fetch_add(1, Ordering::SeqCst);
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    }

    #[tokio::test]
    async fn transient_failures_of_safe_calls_are_retried() {
        let (client, calls) = serve(2, 503).await;
        let found = client.get_account("acc-1").await.unwrap();
        assert_eq!(found.total_balance.unwrap().to_string(), "10.05");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retries_are_bounded() {
        let (client, calls) = serve(10, 502).await;
        assert!(client.get_account("acc-1").await.unwrap_err().is_transient());
        assert_eq!(calls.load(Ordering::SeqCst), 1 + SHAYPE_RETRIES);
    }

    #[tokio::test]
    async fn client_errors_are_final_and_not_retried() {
        let (client, calls) = serve(1, 422).await;
        let err = client.get_account("acc-1").await.unwrap_err();
        assert_eq!(
            err,
            ProviderError::Rejected {
                status: 422,
                message: "nope".into()
            }
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let (client, _) = serve(1, 404).await;
        assert_eq!(client.get_account("x").await.unwrap_err(), ProviderError::NotFound);
    }

    #[tokio::test]
    async fn calls_without_an_idempotency_key_are_never_repeated() {
        let (client, calls) = serve(0, 200).await;
        let consent = UserConsent {
            consent_obtained: None,
            consent_obtained_at: None,
            user_ip: None,
            user_location_country: "AU".into(),
            user_location_state: None,
        };
        assert!(client.create_identity_case(&consent).await.unwrap_err().is_transient());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn refusals_map_to_our_codes() {
        let (client, _) = serve(0, 200).await;
        let body = TransferOut {
            amount: "5.00".parse().unwrap(),
            description: "payout".into(),
            idempotency_key: Some("k".into()),
            sender_customer_hay_id: "c".into(),
            transfer_type: "ACCOUNT".into(),
            account_transfer: None,
            internal_transfer: None,
            reference: None,
        };
        let err = client.transfer("acc-1", &body).await.unwrap_err();
        assert_eq!(err, ProviderError::Refused(Outcome::RefusedInsufficientFunds));
        assert_eq!(err.code(), "insufficient_funds");
        assert!(!err.is_transient());
    }

    #[tokio::test]
    async fn a_slow_provider_times_out_instead_of_hanging() {
        let (client, _) = serve(0, 200).await;
        let started = std::time::Instant::now();
        let err = client.get_card("card-1").await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        // Three attempts of 300 ms plus backoff, far below the handler's 5 s.
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }
}
