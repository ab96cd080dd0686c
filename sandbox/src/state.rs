//! The sandbox's shared state and settings.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

#[derive(Clone)]
pub struct SandboxConfig {
    /// The sandbox's own database (created if missing).
    pub database_url: String,
    /// Where webhooks go: our API's base URL.
    pub webhook_base_url: String,
    /// Shared with our API (`SHAYPE_WEBHOOK_SECRET`).
    pub webhook_secret: String,
    /// Bearer token callers must present (`SHAYPE_API_TOKEN`); empty accepts any.
    pub api_token: String,
    /// How long KYC takes to decide after a customer is created.
    pub kyc_delay: Duration,
    /// How often the background loop delivers webhooks and runs due work.
    pub tick: Duration,
    /// The BSB of every account this bank opens.
    pub bsb: String,
}
/// Secrets (and the database URL, which may carry a password) print as `***`.
impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("database_url", &"***")
            .field("webhook_base_url", &self.webhook_base_url)
            .field("webhook_secret", &"***")
            .field("api_token", &"***")
            .field("kyc_delay", &self.kyc_delay)
            .field("tick", &self.tick)
            .field("bsb", &self.bsb)
            .finish()
    }
}

/// Run-time fault injection (`PUT /sandbox/faults`). Rates are 0..=1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Every operation of the provider's API (not the `/v0/utils` mocks, not
    /// `/sandbox/*`) answers 503 without doing anything: the bank is down.
    pub error_rate: f64,
    /// Transfers and debits fail with 500 before doing anything.
    pub transfer_error_rate: f64,
    /// Transfers and debits execute, then answer 500 as if the response was lost.
    pub transfer_drop_response_rate: f64,
    /// Transfers to these account numbers are refused as if the receiving bank
    /// turned them away (`REFUSED_RECIPIENT_ACCOUNT_BLOCKED`).
    pub refuse_recipient_accounts: Vec<String>,
    /// Added to every request.
    pub latency_ms: u64,
    /// Webhook deliveries fail before leaving (and are retried later).
    pub webhook_error_rate: f64,
    /// Authorisation (hold) webhooks are kept back until
    /// `POST /sandbox/utils/release-webhooks`, so our API sees what follows a
    /// hold (its settlement or release) before the hold itself.
    pub withhold_authorisations: bool,
}

impl Faults {
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("errorRate", self.error_rate),
            ("transferErrorRate", self.transfer_error_rate),
            ("transferDropResponseRate", self.transfer_drop_response_rate),
            ("webhookErrorRate", self.webhook_error_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if self.latency_ms > 60_000 {
            return Err("latencyMs must be at most 60000".into());
        }
        Ok(())
    }

    /// True with probability `rate`.
    pub fn roll(rate: f64) -> bool {
        // A rate, not money: the only float in the sandbox.
        #[allow(clippy::float_arithmetic)]
        let hit = rate > 0.0 && rand::random::<f64>() < rate;
        hit
    }
}

#[derive(Clone)]
pub struct SandboxState(pub Arc<Inner>);

pub struct Inner {
    pub pool: PgPool,
    pub config: SandboxConfig,
    pub faults: RwLock<Faults>,
}

impl std::ops::Deref for SandboxState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl SandboxState {
    pub fn faults(&self) -> Faults {
        self.faults.read().expect("faults lock").clone()
    }
}
