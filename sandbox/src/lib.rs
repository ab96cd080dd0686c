//! A Shaype-compatible banking provider simulator for development and tests.
//!
//! It serves the subset of `specs/shaype-b2b-operations.openapi.json` our client
//! uses, with the same paths and bodies, keeps its own state in its own PostgreSQL
//! database (so it survives restarts), and reports changes to our API as signed
//! `NotificationDto` webhooks, retried until acknowledged.
//!
//! - [`bank`]: the simulated bank (SQL and rules: idempotency, funds, holds).
//! - [`spec`]: the provider's OpenAPI document, enforced on every request body.
//! - [`routes`]: the provider's paths, the `/v0/utils` mocks, and `/sandbox/*`
//!   (faults, the provider-side account view, refunds).
//! - [`events`] and [`background`]: webhooks, KYC decisions and delayed settlements.
//! - [`state`]: settings and fault injection.
//! - [`fcm`]: a stand-in for FCM HTTP v1 and Google's token endpoint (tests and
//!   benchmarks).

pub mod background;
pub mod bank;
pub mod error;
pub mod events;
pub mod fcm;
pub mod routes;
pub mod spec;
pub mod state;

use anyhow::Context;
use error::SandboxError;
use poem::http::StatusCode;
use poem::listener::TcpAcceptor;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, post, put};
pub use state::{Faults, SandboxConfig, SandboxState};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connections the sandbox keeps to its database.
pub const SANDBOX_DB_CONNECTIONS: u32 = 8;

/// The sandbox's routes.
pub fn app(state: SandboxState) -> impl Endpoint {
    use routes::{accounts as a, admin as s, money as m, parties as p};
    Route::new()
        .at("/v0/customers/create", post(p::create_customer))
        .at("/v0/customers/:id", get(p::get_customer).patch(p::update_customer))
        .at("/v0/customers/:id/block", post(p::block_customer))
        .at("/v0/customers/:id/unblock", post(p::unblock_customer))
        .at("/v1/kyc/identity-verification/cases", post(p::create_case))
        .at("/v0/groups/create", post(p::create_group))
        .at("/v0/groups/:id/addCustomers", post(p::add_customers))
        .at("/v0/groups/:id/removeCustomer", post(p::remove_customer))
        .at("/v1/accounts", post(a::create_account))
        .at("/v0/accounts/:id", get(a::get_account))
        .at("/v0/accounts/:id/close", post(a::close_account))
        .at("/v1/accounts/:id/transfer", post(m::transfer))
        .at("/v0/cards/create", post(a::create_card))
        .at("/v0/cards/:id", get(a::get_card))
        .at("/v0/cards/:id/convert", post(a::convert_card))
        .at("/v0/cards/:id/block", post(a::block_card))
        .at("/v0/cards/:id/unblock", post(a::unblock_card))
        .at("/v0/cards/:id/cancel", post(a::cancel_card))
        .at("/v1/transactions/debit", post(m::debit))
        .at("/v0/transactions/search", post(m::search))
        .at("/v0/utils/generate-npp-inbound", post(m::npp_inbound))
        .at("/v0/utils/generate-auth-hold", post(m::auth_hold))
        .at("/v0/utils/generate-card-transaction", post(m::card_transaction))
        .at("/sandbox/faults", put(s::put_faults).get(s::get_faults))
        .at("/sandbox/accounts/:id", get(s::account_view))
        .at("/sandbox/utils/refund", post(s::refund))
        .at("/sandbox/utils/reverse-hold", post(s::reverse_hold))
        .at("/sandbox/utils/expire-holds", post(s::expire_holds))
        .at("/sandbox/utils/settle-hold", post(s::settle_hold))
        .at("/sandbox/utils/bank-fee", post(s::bank_fee))
        .at("/sandbox/utils/release-webhooks", post(s::release_webhooks))
        .around(guard)
        // Outermost, so the guard sees the state too.
        .data(state)
}

/// Latency and outage injection, bearer-token check on the provider's paths, and errors in
/// the provider's shape for requests that never reached a handler.
async fn guard<E: Endpoint>(next: Arc<E>, req: Request) -> poem::Result<Response> {
    let state = req.data::<SandboxState>().cloned().expect("state attached");
    let latency = state.faults().latency_ms;
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let path = req.uri().path();
    let operation = !path.starts_with("/sandbox/") && !path.starts_with("/v0/utils/");
    if operation && Faults::roll(state.faults().error_rate) {
        return Ok(poem::error::ResponseError::as_response(&SandboxError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "injected outage",
        )));
    }
    let token = &state.config.api_token;
    if !token.is_empty() && !req.uri().path().starts_with("/sandbox/") {
        let presented = req.header("Authorization").and_then(|h| h.strip_prefix("Bearer "));
        if presented != Some(token.as_str()) {
            return Ok(poem::error::ResponseError::as_response(&SandboxError::new(
                StatusCode::UNAUTHORIZED,
                "invalid token",
            )));
        }
    }
    // Every body sent to an operation the provider's spec describes must fit it.
    let mut req = req;
    if !req.uri().path().starts_with("/sandbox/") && req.method() != poem::http::Method::GET {
        let raw = req.take_body().into_vec().await?;
        let problems = spec::spec().check(req.method(), req.uri().path(), &raw);
        if !problems.is_empty() {
            tracing::warn!(
                path = req.uri().path(),
                ?problems,
                "request does not fit the provider's spec"
            );
            return Ok(poem::error::ResponseError::as_response(&SandboxError::new(
                StatusCode::BAD_REQUEST,
                format!("request does not match the specification: {}", problems.join("; ")),
            )));
        }
        req.set_body(raw);
    }
    match next.call(req).await {
        Ok(resp) => Ok(resp.into_response()),
        Err(err) => {
            if let Some(e) = err.downcast_ref::<SandboxError>() {
                return Ok(poem::error::ResponseError::as_response(e));
            }
            let e = SandboxError::new(err.status(), err.to_string());
            Ok(poem::error::ResponseError::as_response(&e))
        }
    }
}

/// A running sandbox.
pub struct RunningSandbox {
    pub addr: SocketAddr,
    pub state: SandboxState,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl RunningSandbox {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Waits until the server or its background loop ends.
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {
            self.shutdown.cancel();
        }
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// Creates and migrates the sandbox database, then serves on `addr` (port 0 picks one).
pub async fn start(config: SandboxConfig, addr: SocketAddr) -> anyhow::Result<RunningSandbox> {
    kttipay_db::create_database_if_missing(&config.database_url)
        .await
        .context("creating the sandbox database")?;
    let pool = kttipay_db::connect(&config.database_url, SANDBOX_DB_CONNECTIONS)
        .await
        .context("connecting to the sandbox database")?;
    MIGRATOR.run(&pool).await.context("migrating the sandbox database")?;
    let state = SandboxState(Arc::new(state::Inner {
        pool,
        config,
        faults: RwLock::new(Faults::default()),
    }));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the sandbox to {addr}"))?;
    let addr = listener.local_addr()?;
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let server = app(state.clone());
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let served = poem::Server::new_with_acceptor(acceptor)
            .name("kttipay-sandbox")
            .run_with_graceful_shutdown(server, stop.cancelled_owned(), Some(std::time::Duration::from_secs(5)))
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "sandbox server failed");
        }
    });
    tasks.spawn(background::run(state.clone(), shutdown.clone()));
    tracing::info!(%addr, "sandbox provider listening");
    Ok(RunningSandbox {
        addr,
        state,
        shutdown,
        tasks,
    })
}
