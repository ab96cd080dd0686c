//! Finding a movement we started at the bank by its reference, when the answer
//! to the call that started it was lost: the bank's own record decides whether
//! it happened, never a second call.

use crate::WorkerDeps;
use chrono::{DateTime, Duration, Utc};
use kttipay_providers::shaype::client::ProviderError;
use kttipay_providers::shaype::types::SearchTransactions;

/// How far around the first attempt the bank is searched (clocks differ; the
/// bank may date a movement by when it queued it).
pub const BANK_SEARCH_MARGIN_MINUTES: i64 = 60;

/// The bank's id of the movement on `account` carrying `reference`, made since
/// shortly before `first_attempt`, if the bank has one.
pub async fn by_reference(
    deps: &WorkerDeps,
    account: &str,
    first_attempt: DateTime<Utc>,
    reference: &str,
) -> Result<Option<String>, ProviderError> {
    let margin = Duration::minutes(BANK_SEARCH_MARGIN_MINUTES);
    let found = deps
        .banking
        .search_transactions(&SearchTransactions {
            account_id: Some(account.to_string()),
            from_date_time_utc: (first_attempt - margin).to_rfc3339(),
            to_date_time_utc: (Utc::now() + margin).to_rfc3339(),
        })
        .await?;
    Ok(found
        .into_iter()
        .find(|t| t.reference.as_deref() == Some(reference))
        .map(|t| t.transaction_hay_id))
}
