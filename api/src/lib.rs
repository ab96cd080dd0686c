//! The HTTP API, the app's only door (poem + poem-openapi).
//!
//! - [`routes`]: one `#[OpenApi]` struct per tag of API.md; handlers stay thin:
//!   validate with `domain` rules, run SQL from `db` in one transaction, enqueue jobs
//!   into the outbox in that same transaction.
//! - [`auth`]: tokens, passwords, sessions, rate limits, social sign-in.
//! - [`error`]: problem+json errors with stable codes; [`json`]: the request-body
//!   extractor that tells 400 from 422.
//! - [`idempotency`]: `Idempotency-Key` replays; [`cursor`]: opaque paging cursors.
//! - [`chat_hub`]: one PostgreSQL LISTEN per process fanning chat events out to
//!   the open chat streams of every replica.
//! - [`membership`]: inviting, admitting and departing members, shared by routes.
//! - [`quota`]: per-user and per-ktti limits (429 daily, 409 standing caps).
//! - [`observe`]: request ids, HTTP metrics, last-resort error conversion.
//! - [`document`]: the published OpenAPI document, narrowed per operation.
//! - [`patterns`]: request fields' text rules as the document's regular expressions.
//! - [`ops`]: `/health/*`, `/metrics`, the document and docs page;
//!   [`ops_dashboard`]: the operators' HTML dashboard at `/ops/`; [`openapi`] and
//!   [`app`] assemble it all.

pub mod amount;
pub mod auth;
pub mod chat_hub;
pub mod cursor;
pub mod document;
pub mod error;
pub mod idempotency;
pub mod json;
pub mod membership;
pub mod observe;
pub mod ops;
pub mod ops_dashboard;
pub mod patterns;
pub mod quota;
pub mod raw_json;
pub mod routes;
pub mod state;
pub mod states;
pub mod views;

use ops::OpsApi;
use poem::middleware::CatchPanic;
use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::OpenApiService;
use routes::ktties::{BankingApi, PersonalKttiApi};
use routes::transactions::TransactionsApi;
use routes::{
    actions::ActionsApi,
    admin::AdminApi,
    auth::AuthApi,
    billing::BillingApi,
    chat::ChatApi,
    closure::ClosureApi,
    core::CoreApi,
    deposits::DepositsApi,
    devices::DevicesApi,
    disbursements::DisbursementsApi,
    groups::KttiApi,
    invitations::InvitationsApi,
    kyc::KycApi,
    members::MembershipApi,
    moments::MomentsApi,
    notifications::NotificationsApi,
    payout_account::PayoutAccountApi,
    provider::{ProviderApi, ProviderMessagesApi},
    receipts::ReceiptsApi,
    settings::SettingsApi,
    splits::SplitsApi,
    uploads::UploadsApi,
    users::UserApi,
};
pub use state::{ApiConfig, AppState, SocialProvider};

/// Every API struct, grouped (poem-openapi implements its trait for tuples of up to
/// 16, and tuples of tuples): users, ktties, money and operations. One list, used
/// as both the type and the value, so an API cannot be added to one and not the
/// other.
macro_rules! all_apis {
    () => {
        (
            (
                AuthApi,
                UserApi,
                DevicesApi,
                KycApi,
                SettingsApi,
                PayoutAccountApi,
                CoreApi,
                UploadsApi,
            ),
            (
                PersonalKttiApi,
                KttiApi,
                MembershipApi,
                InvitationsApi,
                ActionsApi,
                BankingApi,
                ClosureApi,
                DisbursementsApi,
                BillingApi,
            ),
            (NotificationsApi, ChatApi, MomentsApi),
            (TransactionsApi, DepositsApi, SplitsApi, ReceiptsApi),
            (AdminApi, ProviderApi, ProviderMessagesApi, OpsApi),
        )
    };
}
type Apis = all_apis!();

/// The OpenAPI service: every documented route.
pub fn openapi(public_url: &str) -> OpenApiService<Apis, ()> {
    OpenApiService::new(all_apis!(), "KttiPay API", env!("CARGO_PKG_VERSION"))
        .description(
            "Shared money pots (\"ktties\"). Money is a string with two decimals; errors are \
             application/problem+json with a stable `code`.",
        )
        .server(public_url.trim_end_matches('/').to_string())
}

/// The OpenAPI document as JSON (what `kttipay openapi` prints).
pub fn openapi_json() -> String {
    let plans = kttipay_domain::billing::parse_plans(kttipay_domain::billing::DEFAULT_PLANS).unwrap_or_default();
    let codes: Vec<&str> = plans.iter().map(|p| p.code.as_str()).collect();
    document::refine(&openapi("http://127.0.0.1:8080").spec(), &codes)
}

/// The whole HTTP app.
pub fn app(state: AppState) -> impl Endpoint {
    let service = openapi(&state.config.public_url);
    let plan_codes: Vec<&str> = state.config.app.billing_plans.iter().map(|p| p.code.as_str()).collect();
    let published = ops::Published {
        spec: document::refine(&service.spec(), &plan_codes).into(),
        docs_html: service.swagger_ui_html().into(),
    };
    let routes = Route::new()
        .nest("/ops", ops_dashboard::routes())
        .nest("/", service)
        .data(published)
        .data(state);
    wrap(routes)
}

/// The outermost layers: panics become 500 problems, and every response gets a
/// request id, metrics and, for errors, the problem+json format.
pub fn wrap<E: Endpoint + 'static>(endpoint: E) -> impl Endpoint {
    endpoint
        .with(CatchPanic::new().with_handler(observe::panic_response))
        .around(observe::observe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::test::TestClient;
    use poem::{get, handler, http::StatusCode};

    #[handler]
    fn boom() -> &'static str {
        panic!("secret internal detail")
    }

    #[tokio::test]
    async fn a_panic_is_a_500_problem_without_internals() {
        let client = TestClient::new(wrap(Route::new().at("/boom", get(boom))));
        let resp = client.get("/boom").send().await;
        resp.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
        resp.assert_content_type("application/problem+json");
        let body = resp.0.into_body().into_string().await.unwrap();
        assert!(body.contains("\"code\":\"internal_error\""), "{body}");
        assert!(!body.contains("secret"), "{body}");
    }
}
