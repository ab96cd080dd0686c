//! Paying one member out of a closing ktti (DOMAIN.md, "Closure").
//!
//! Each attempt: (1) under the payout's row lock, reserve its amount the first
//! time (ours, so it can never overdraw) and count the attempt; (2) if an earlier
//! attempt may have reached the bank, ask the bank for a transfer with the
//! payout's reference before sending anything; (3) send the transfer with the
//! payout's one idempotency key. The bank's answer, or its webhook for the
//! transfer, whichever comes first, completes the payout ([`complete`]); the
//! other finds it completed and does nothing. A refusal releases the money and
//! tells the owner ([`refused`]). Whatever is unknown is retried with the same
//! key, never as a new transfer; out of attempts, the payout is `dead` with its
//! money still reserved until an operator retries it.

use super::money_event::book;
use crate::{JobError, WorkerDeps};
use kttipay_db::actions::{self, Audience, Kind, NewAction};
use kttipay_db::ledger::{self, EntryMeta, PostError};
use kttipay_db::payouts::{self, PayoutRow};
use kttipay_db::splits::{self, NewSplit};
use kttipay_db::transactions::{self as txns, NewTransaction};
use kttipay_db::{PgConnection, ktties, users};
use kttipay_domain::ids::{JobId, KttiId, PayoutId, UserId};
use kttipay_domain::ledger::{JournalEntry, Origin};
use kttipay_domain::lifecycle::{KttiStatus, PayoutStatus, SplitMode, SplitOrigin, TransactionKind, TransactionStatus};
use kttipay_domain::payout;
use kttipay_domain::split::Share;
use kttipay_jobs::kinds::SubmitPayout;
use kttipay_providers::shaype::client::ProviderError;
use kttipay_providers::shaype::types::{AccountTransfer, InternalTransfer, TransferOut};

/// The bank's limit on a transfer's description.
const DESCRIPTION_MAX_CHARS: usize = 255;
/// The bank's limit on names in a transfer.
const NAME_MAX_CHARS: usize = 140;

pub async fn submit(deps: &WorkerDeps, _id: JobId, job: SubmitPayout) -> Result<(), JobError> {
    let id = job.payout_id;
    let Some((p, earlier_attempts)) = start_attempt(deps, id).await? else {
        return Ok(());
    };
    let ktti = ktties::find_plain(&deps.pool, KttiId(p.ktti_id))
        .await?
        .ok_or_else(|| JobError::Permanent(format!("payout {id}: its ktti is gone")))?;
    let account = ktti
        .provider_account_id
        .clone()
        .ok_or_else(|| JobError::Permanent(format!("payout {id}: the ktti has no bank account")))?;
    let reference = payout::reference(p.idempotency_key);
    if earlier_attempts > 0 {
        // An earlier attempt may have moved the money and lost the answer (or the
        // worker died before recording it): the bank's own record decides.
        match find_at_bank(deps, &account, &p, &reference).await {
            Ok(Some(found)) => return finish_done(deps, id, Some(&found)).await,
            Ok(None) => {}
            Err(e) => return unknown(deps, id, e).await,
        }
    }
    let owner = users::find(&deps.pool, UserId(ktti.owner_id))
        .await?
        .ok_or_else(|| JobError::Permanent(format!("payout {id}: the ktti's owner is gone")))?;
    let sender = owner
        .provider_customer_id
        .clone()
        .ok_or_else(|| JobError::Permanent(format!("payout {id}: the ktti's owner has no bank customer")))?;
    let body = transfer(&p, &ktti.name, sender, reference);
    match deps.banking.transfer(&account, &body).await {
        Ok(outcome) => finish_done(deps, id, outcome.transaction_id.as_deref()).await,
        Err(e) if e.is_transient() => unknown(deps, id, e).await,
        // The bank refused or rejected it: nothing moved, and the same key would
        // only get the same answer.
        Err(e) => {
            let mut tx = deps.pool.begin().await?;
            refused(&mut tx, id, e.code()).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}

/// The job for this payout is out of attempts: the payout is `dead` (its money
/// stays reserved: the bank may yet have moved it) until an operator retries.
pub async fn dead(deps: &WorkerDeps, job: SubmitPayout, error: &str) -> Result<(), sqlx::Error> {
    let mut tx = deps.pool.begin().await?;
    if let Some(p) = payouts::lock(&mut tx, job.payout_id).await?
        && !p.status.is_final()
    {
        let code = p.last_error.as_deref().unwrap_or("provider_unavailable");
        payouts::finish(&mut tx, job.payout_id, PayoutStatus::Dead, None, Some(code)).await?;
        metrics::counter!("kttipay_payouts_total", "outcome" => "dead").increment(1);
        tracing::error!(payout = %job.payout_id, ktti = %p.ktti_id, %error, "payout is dead: an operator must retry it");
    }
    tx.commit().await
}

/// Counts a new attempt, reserving the money and showing the payout as a pending
/// transaction the first time. `None` when the payout is finished already;
/// otherwise the payout and how many attempts came before this one.
async fn start_attempt(deps: &WorkerDeps, id: PayoutId) -> Result<Option<(PayoutRow, i32)>, JobError> {
    let mut tx = deps.pool.begin().await?;
    let Some(p) = payouts::lock(&mut tx, id).await? else {
        return Err(JobError::Permanent(format!("no payout {id}")));
    };
    if p.status.is_final() {
        return Ok(None);
    }
    let ktti = KttiId(p.ktti_id);
    let transaction = match p.transaction_id {
        Some(t) => t,
        None => {
            let reserve = JournalEntry::transfer_out_started(ktti, p.amount())
                .map_err(|e| JobError::Permanent(format!("payout {id}: {e}")))?;
            let meta = EntryMeta {
                ktti: Some(ktti),
                kind: "payoutStarted",
                source_key: Some(&format!("payout:{id}:reserved")),
                description: None,
                origin: Origin::Ours,
            };
            match ledger::post(&mut tx, &reserve, &meta).await {
                Ok(_) => {}
                // What we initiate never overdraws: the money is not there (a
                // bank fee since the plan), so nothing is sent.
                Err(PostError::InsufficientFunds) => {
                    refused(&mut tx, id, "insufficient_funds").await?;
                    tx.commit().await?;
                    return Ok(None);
                }
                Err(e) => return Err(JobError::Transient(e.to_string())),
            }
            let description = format!("Payout to {}", p.to_name);
            txns::insert(
                &mut tx,
                &NewTransaction {
                    ktti: Some(ktti),
                    amount: p.amount(),
                    description: Some(&description),
                    counterparty_name: Some(&p.to_name),
                    counterparty_bsb: p.to_bsb.as_deref(),
                    counterparty_account: p.to_account_number.as_deref(),
                    reference: Some(&payout::reference(p.idempotency_key)),
                    ..NewTransaction::new(TransactionKind::Payout, TransactionStatus::Pending)
                },
            )
            .await?
            .ok_or_else(|| JobError::Permanent(format!("payout {id}: its transaction exists already")))?
        }
    };
    payouts::start_attempt(&mut tx, id, transaction).await?;
    tx.commit().await?;
    let earlier = p.attempts;
    Ok(Some((p, earlier)))
}

fn transfer(p: &PayoutRow, ktti_name: &str, sender: String, reference: String) -> TransferOut {
    let sender_name = truncate(&format!("KttiPay {ktti_name}"), NAME_MAX_CHARS);
    let recipient_name = truncate(&p.to_name, NAME_MAX_CHARS);
    let (transfer_type, account_transfer, internal_transfer) =
        match (&p.to_account_hay_id, &p.to_bsb, &p.to_account_number) {
            (Some(account), _, _) => (
                "INTERNAL",
                None,
                Some(InternalTransfer {
                    recipient_account_hay_id: account.clone(),
                    recipient_name,
                    sender_name,
                }),
            ),
            (None, Some(bsb), Some(number)) => (
                "ACCOUNT",
                Some(AccountTransfer {
                    bsb: bsb.clone(),
                    account_number: number.clone(),
                    recipient_name,
                    reference: Some(reference.clone()),
                    sender_name: Some(sender_name),
                }),
                None,
            ),
            // The table's checks make every payout one of the two.
            (None, _, _) => ("ACCOUNT", None, None),
        };
    TransferOut {
        amount: p.amount().as_decimal(),
        description: truncate(&format!("KttiPay payout: {ktti_name}"), DESCRIPTION_MAX_CHARS),
        idempotency_key: Some(p.idempotency_key.to_string()),
        sender_customer_hay_id: sender,
        transfer_type: transfer_type.into(),
        account_transfer,
        internal_transfer,
        reference: Some(reference),
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

async fn find_at_bank(
    deps: &WorkerDeps,
    account: &str,
    p: &PayoutRow,
    reference: &str,
) -> Result<Option<String>, ProviderError> {
    super::bank_lookup::by_reference(deps, account, p.submitted_at.unwrap_or(p.created_at), reference).await
}

/// The outcome is unknown (the bank down, the answer lost): noted, and the job
/// retries with the same key.
async fn unknown(deps: &WorkerDeps, id: PayoutId, e: ProviderError) -> Result<(), JobError> {
    let mut conn = deps.pool.acquire().await?;
    payouts::note_error(&mut conn, id, e.code()).await?;
    Err(JobError::Transient(e.to_string()))
}

async fn finish_done(deps: &WorkerDeps, id: PayoutId, provider_transaction: Option<&str>) -> Result<(), JobError> {
    let mut tx = deps.pool.begin().await?;
    complete(&mut tx, id, provider_transaction).await?;
    tx.commit().await?;
    Ok(())
}

/// The bank moved the payout: booked out of reserved, the transaction posted,
/// split to the member paid (their `paidOut`), and the round ended if it was
/// the last. Called by the job and by the transfer's webhook; the second finds
/// it completed.
pub async fn complete(
    conn: &mut PgConnection,
    id: PayoutId,
    provider_transaction: Option<&str>,
) -> Result<(), JobError> {
    let Some(p) = payouts::lock(conn, id).await? else {
        return Err(JobError::Permanent(format!("no payout {id}")));
    };
    match p.status {
        PayoutStatus::Completed => {
            // Completed from an answer without the bank's id: the webhook brings it.
            if p.provider_transaction_id.is_none()
                && let Some(bank_id) = provider_transaction
            {
                payouts::finish(conn, id, PayoutStatus::Completed, Some(bank_id), None).await?;
                if let Some(t) = p.transaction_id {
                    txns::post_initiated(conn, t, Some(bank_id)).await?;
                }
            }
            return Ok(());
        }
        PayoutStatus::Failed => {
            // Refused, then reported done: the bank contradicts itself. Nothing is
            // booked twice; an operator must look (the webhook's job dies).
            return Err(JobError::Permanent(format!(
                "the bank reports payout {id} done after refusing it"
            )));
        }
        PayoutStatus::Pending => {
            return Err(JobError::Permanent(format!(
                "the bank reports payout {id} done before it was sent"
            )));
        }
        PayoutStatus::Submitted | PayoutStatus::Dead => {}
    }
    let ktti = KttiId(p.ktti_id);
    let amount = p.amount();
    book(
        conn,
        ktti,
        "payoutCompleted",
        &format!("payout:{id}:paid"),
        JournalEntry::transfer_out_completed(ktti, amount),
    )
    .await?;
    let transaction = p
        .transaction_id
        .ok_or_else(|| JobError::Permanent(format!("payout {id} was sent without its transaction")))?;
    txns::post_initiated(conn, transaction, provider_transaction).await?;
    let share = [Share {
        user: UserId(p.user_id),
        value: Some(amount.as_decimal()),
        amount,
    }];
    splits::write(
        conn,
        &NewSplit {
            transaction,
            ktti,
            mode: SplitMode::Exact,
            origin: SplitOrigin::Payout,
            actor: None,
            shares: &share,
        },
    )
    .await?;
    payouts::finish(conn, id, PayoutStatus::Completed, provider_transaction, None).await?;
    super::tell::payout_paid(conn, ktti, transaction, UserId(p.user_id), amount).await?;
    metrics::counter!("kttipay_payouts_total", "outcome" => "completed").increment(1);
    end_round_if_done(conn, ktti).await
}

/// The bank refused the payout (`code` says why): the reserved money is
/// available again, the transaction shows as declined, the owner has an action
/// item, operators an alert; the round may end (with money left: `closing`).
pub async fn refused(conn: &mut PgConnection, id: PayoutId, code: &str) -> Result<(), JobError> {
    let Some(p) = payouts::lock(conn, id).await? else {
        return Err(JobError::Permanent(format!("no payout {id}")));
    };
    if p.status.is_final() {
        return Ok(());
    }
    let ktti = KttiId(p.ktti_id);
    if let Some(transaction) = p.transaction_id {
        book(
            conn,
            ktti,
            "payoutRefused",
            &format!("payout:{id}:released"),
            JournalEntry::transfer_out_failed(ktti, p.amount()),
        )
        .await?;
        txns::decline(conn, transaction, code).await?;
    }
    payouts::finish(conn, id, PayoutStatus::Failed, None, Some(code)).await?;
    let plain = ktties::find_plain(&mut *conn, ktti)
        .await?
        .ok_or_else(|| JobError::Permanent(format!("payout {id}: its ktti is gone")))?;
    actions::create(
        conn,
        &NewAction {
            kind: Kind::PayoutFailed,
            ktti,
            audience: Audience::User(UserId(plain.owner_id)),
            subject: Some(UserId(p.user_id)),
            invitation: None,
            transaction: p.transaction_id,
            payload: serde_json::json!({
                "payoutId": id.to_string(),
                "amount": p.amount().to_string(),
                "reason": code,
                "destination": p.destination,
            }),
        },
    )
    .await?;
    metrics::counter!("kttipay_payouts_total", "outcome" => "failed").increment(1);
    tracing::error!(payout = %id, %ktti, reason = code, "the bank refused a payout");
    end_round_if_done(conn, ktti).await
}

/// Once no payout of the ktti is in flight, the round is over: `readyToClose`
/// when nothing is left, back to `closing` (to disburse again) otherwise.
pub async fn end_round_if_done(conn: &mut PgConnection, ktti: KttiId) -> Result<(), JobError> {
    let (status, _) = ktties::lock_status(conn, ktti).await?;
    if status != KttiStatus::Disbursing {
        return Ok(());
    }
    let in_flight = payouts::in_flight(&mut *conn, ktti).await?;
    let Some(b) = ledger::balances(&mut *conn, ktti).await? else {
        return Ok(());
    };
    if let Some(next) = payout::after_round(in_flight, b.total(), b.available) {
        ktties::transition(conn, ktti, KttiStatus::Disbursing, next).await?;
        tracing::info!(%ktti, %next, left = %b.total(), "a round of payouts ended");
    }
    Ok(())
}
