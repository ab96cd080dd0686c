//! Our books against the bank's (`kttipay admin verify-ledger --against-provider`):
//! every ktti's total and available balances compared with what the provider
//! reports for its account now. The bank is the source of truth for what it
//! reports, so any difference is ours to explain; each is recorded for operators.

use kttipay_db::mismatches::{self, BankBalances};
use kttipay_db::{PgPool, ledger};
use kttipay_domain::Money;
use kttipay_domain::ids::KttiId;
use kttipay_domain::ledger::Balances;
use kttipay_providers::shaype::client::ShaypeClient;

#[derive(Debug, Clone)]
pub struct ProviderDifference {
    pub ktti: KttiId,
    pub account: String,
    pub ours: Balances,
    pub bank: BankBalances,
}

#[derive(Debug, Default)]
pub struct ProviderReport {
    pub accounts_checked: usize,
    pub differences: Vec<ProviderDifference>,
}

/// Compares every ktti that has a provider account with the provider's figures.
pub async fn against_provider(pool: &PgPool, bank: &ShaypeClient) -> anyhow::Result<ProviderReport> {
    let mut report = ProviderReport::default();
    for (ktti, account) in mismatches::accounts(pool).await? {
        let theirs = bank
            .get_account(&account)
            .await
            .map_err(|e| anyhow::anyhow!("reading account {account} at the provider: {e}"))?;
        let money = |d: Option<rust_decimal::Decimal>| d.and_then(|d| Money::new(d).ok());
        let bank_balances = BankBalances {
            total: money(theirs.total_balance),
            available: money(theirs.available_balance),
        };
        let ours = ledger::balances(pool, ktti).await?.unwrap_or_default();
        report.accounts_checked += 1;
        if !bank_balances.agree_with(&ours) {
            mismatches::record(pool, ktti, &account, None, &ours, &bank_balances).await?;
            report.differences.push(ProviderDifference {
                ktti,
                account,
                ours,
                bank: bank_balances,
            });
        }
    }
    Ok(report)
}
