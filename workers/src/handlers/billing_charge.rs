//! Taking one billing charge from a ktti (DOMAIN.md, "Billing").
//!
//! Like a payout: under the charge's row lock, the fee is first reserved (ours,
//! so it never takes the ktti below zero: not enough money makes the charge
//! `failed`, tried again by later billing runs, and the owner is emailed); a
//! debit that may have reached the bank is looked up by its reference before
//! anything is sent again; the debit carries the charge's idempotency key; the
//! bank's answer or its webhook completes the charge, whichever comes first. The
//! fee is split by the ktti's default proportions, like any fee.

use super::bank_lookup;
use crate::{JobError, WorkerDeps};
use kttipay_db::billing::{self, ChargeRow};
use kttipay_db::ledger::{self, EntryMeta, PostError};
use kttipay_db::transactions::{self as txns, NewTransaction};
use kttipay_db::{PgConnection, jobs, ktties, splits};
use kttipay_domain::billing as rules;
use kttipay_domain::ids::{JobId, KttiId};
use kttipay_domain::ledger::{JournalEntry, LedgerError, Origin};
use kttipay_domain::lifecycle::{KttiStatus, TransactionKind, TransactionStatus};
use kttipay_jobs::kinds::{ChargeFee, SendBillingFailedEmail};
use kttipay_providers::shaype::types::CreateDebit;
use uuid::Uuid;

/// How the fee appears at the bank and to members.
const COUNTERPART_NAME: &str = "KttiPay";
/// The provider's channel for our fees.
const SERVICE_FEE_CHANNEL: &str = "SERVICE_FEE";

struct Started {
    charge: ChargeRow,
    account: String,
    /// An earlier attempt sent (or may have sent) this debit.
    sent_before: bool,
}

pub async fn charge(deps: &WorkerDeps, _id: JobId, job: ChargeFee) -> Result<(), JobError> {
    let id = job.charge_id;
    let Some(Started {
        charge,
        account,
        sent_before,
    }) = start_attempt(deps, id).await?
    else {
        return Ok(());
    };
    let reference = rules::reference(charge.idempotency_key);
    if sent_before {
        match bank_lookup::by_reference(deps, &account, charge.created_at, &reference).await {
            Ok(Some(found)) => return done(deps, id, Some(&found)).await,
            Ok(None) => {}
            Err(e) => return Err(JobError::Transient(e.to_string())),
        }
    }
    let body = CreateDebit {
        account_hay_id: account,
        amount: charge.amount().as_decimal(),
        counterpart_name: COUNTERPART_NAME.into(),
        description: format!(
            "KttiPay {} plan, {} to {}",
            charge.plan_code, charge.period_start, charge.period_end
        ),
        idempotency_key: charge.idempotency_key.to_string(),
        transaction_channel: SERVICE_FEE_CHANNEL.into(),
        reference: Some(reference),
    };
    match deps.banking.debit(&body).await {
        Ok(outcome) => done(deps, id, outcome.transaction_id.as_deref()).await,
        Err(e) if e.is_transient() => Err(JobError::Transient(e.to_string())),
        Err(e) => {
            let mut tx = deps.pool.begin().await?;
            failed(&mut tx, id, e.code()).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}

/// Reserves the fee (the first time for this key) and counts the attempt.
/// `None` when there is nothing to send: the charge is not pending, or it just
/// failed for want of money.
async fn start_attempt(deps: &WorkerDeps, id: Uuid) -> Result<Option<Started>, JobError> {
    let mut tx = deps.pool.begin().await?;
    let Some(c) = billing::lock(&mut tx, id).await? else {
        return Err(JobError::Permanent(format!("no billing charge {id}")));
    };
    if c.status != "pending" {
        return Ok(None);
    }
    let ktti = KttiId(c.ktti_id);
    let k = ktties::find_plain(&mut *tx, ktti)
        .await?
        .ok_or_else(|| JobError::Permanent(format!("charge {id}: its ktti is gone")))?;
    // A ktti paying out or closed is not charged: its money is its members'.
    if k.status != KttiStatus::Active {
        failed(&mut tx, id, "ktti_not_active").await?;
        tx.commit().await?;
        return Ok(None);
    }
    let account = k
        .provider_account_id
        .ok_or_else(|| JobError::Permanent(format!("charge {id}: the ktti has no bank account")))?;
    let sent_before = c.transaction_id.is_some();
    let transaction = match c.transaction_id {
        Some(t) => t,
        None => {
            let reserve = EntryMeta {
                ktti: Some(ktti),
                kind: "feeReserved",
                source_key: Some(&format!("billing:{id}:{}:reserved", c.idempotency_key)),
                description: None,
                origin: Origin::Ours,
            };
            match ledger::post(
                &mut tx,
                &entry(JournalEntry::transfer_out_started(ktti, c.amount()))?,
                &reserve,
            )
            .await
            {
                Ok(_) => {}
                Err(PostError::InsufficientFunds) => {
                    failed(&mut tx, id, "insufficient_funds").await?;
                    tx.commit().await?;
                    return Ok(None);
                }
                Err(e) => return Err(JobError::Transient(e.to_string())),
            }
            let description = format!("KttiPay {} plan", c.plan_code);
            let reference = rules::reference(c.idempotency_key);
            txns::insert(
                &mut tx,
                &NewTransaction {
                    ktti: Some(ktti),
                    amount: c.amount(),
                    description: Some(&description),
                    counterparty_name: Some(COUNTERPART_NAME),
                    reference: Some(&reference),
                    ..NewTransaction::new(TransactionKind::Fee, TransactionStatus::Pending)
                },
            )
            .await?
            .ok_or_else(|| JobError::Permanent(format!("charge {id}: its transaction exists already")))?
        }
    };
    billing::start_attempt(&mut tx, id, transaction).await?;
    tx.commit().await?;
    Ok(Some(Started {
        charge: c,
        account,
        sent_before,
    }))
}

fn entry(e: Result<JournalEntry, LedgerError>) -> Result<JournalEntry, JobError> {
    e.map_err(|e| JobError::Permanent(format!("cannot build the entry: {e}")))
}

async fn done(deps: &WorkerDeps, id: Uuid, provider_transaction: Option<&str>) -> Result<(), JobError> {
    let mut tx = deps.pool.begin().await?;
    complete(&mut tx, id, provider_transaction).await?;
    tx.commit().await?;
    Ok(())
}

/// The bank took the fee: booked out of reserved, the fee posted and split by
/// the default proportions. Called by the job and by the debit's webhook; the
/// second finds it charged.
pub async fn complete(conn: &mut PgConnection, id: Uuid, provider_transaction: Option<&str>) -> Result<(), JobError> {
    let Some(c) = billing::lock(conn, id).await? else {
        return Err(JobError::Permanent(format!("no billing charge {id}")));
    };
    if c.status == "charged" {
        return Ok(());
    }
    let transaction = match (c.status.as_str(), c.transaction_id) {
        ("pending", Some(t)) => t,
        _ => {
            return Err(JobError::Permanent(format!(
                "the bank reports charge {id} taken while it is {} (nothing reserved)",
                c.status
            )));
        }
    };
    let ktti = KttiId(c.ktti_id);
    let meta = EntryMeta {
        ktti: Some(ktti),
        kind: "feeCharged",
        source_key: Some(&format!("billing:{id}:{}:charged", c.idempotency_key)),
        description: None,
        origin: Origin::Bank,
    };
    ledger::post(conn, &entry(JournalEntry::fee_charged(ktti, c.amount()))?, &meta)
        .await
        .map_err(|e| JobError::Transient(e.to_string()))?;
    txns::post_initiated(conn, transaction, provider_transaction).await?;
    splits::split_by_default(conn, ktti, transaction, c.amount()).await?;
    billing::charged(conn, id, provider_transaction).await?;
    super::tell::billing(conn, ktti, Some(transaction), c.amount(), true).await?;
    metrics::counter!("kttipay_billing_charges_total", "outcome" => "charged").increment(1);
    Ok(())
}

/// Not charged this time (`reason`): the reserved fee is released, the attempt
/// recorded, the owner emailed; a later run tries again with a new key.
async fn failed(conn: &mut PgConnection, id: Uuid, reason: &str) -> Result<(), JobError> {
    let Some(c) = billing::lock(conn, id).await? else {
        return Err(JobError::Permanent(format!("no billing charge {id}")));
    };
    if c.status != "pending" {
        return Ok(());
    }
    let ktti = KttiId(c.ktti_id);
    if let Some(transaction) = c.transaction_id {
        let meta = EntryMeta {
            ktti: Some(ktti),
            kind: "feeReleased",
            source_key: Some(&format!("billing:{id}:{}:released", c.idempotency_key)),
            description: None,
            origin: Origin::Bank,
        };
        ledger::post(
            conn,
            &entry(JournalEntry::transfer_out_failed(ktti, c.amount()))?,
            &meta,
        )
        .await
        .map_err(|e| JobError::Transient(e.to_string()))?;
        txns::decline(conn, transaction, reason).await?;
    }
    billing::failed(conn, id, reason).await?;
    super::tell::billing(conn, ktti, c.transaction_id, c.amount(), false).await?;
    jobs::enqueue(conn, &SendBillingFailedEmail { charge_id: id }).await?;
    metrics::counter!("kttipay_billing_charges_total", "outcome" => "failed").increment(1);
    tracing::warn!(charge = %id, %ktti, reason, "a billing charge failed; later runs try again");
    Ok(())
}
