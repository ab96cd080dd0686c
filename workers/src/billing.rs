//! The scheduled billing run, in every worker process (apalis-cron): records the
//! period that has ended for each active group ktti, once, and queues its charge;
//! and queues again the charges that failed before this run began.
//!
//! Several replicas fire at the same moment on purpose (the ticks are aligned to
//! the interval). Exactly once per (ktti, period) is the charge row's unique key:
//! the run whose insert lands records the period and queues the charge, in the
//! same transaction; a run whose insert meets that row does nothing for it. A
//! failed charge goes back to `pending` under its row lock, so one run claims it.

use crate::WorkerDeps;
use apalis::prelude::*;
use apalis_cron::timezone::Utc as CronUtc;
use apalis_cron::{CronScheduler, Schedule, Tick};
use chrono::{NaiveDate, Utc};
use kttipay_db::billing::{self, NewCharge};
use kttipay_db::{PgPool, jobs};
use kttipay_domain::billing::{Plan, due_period, find};
use kttipay_domain::ids::KttiId;
use kttipay_jobs::kinds::ChargeFee;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// Ktties looked at per transaction.
pub const BILLING_BATCH_SIZE: i64 = 500;
/// Failed charges queued again per transaction.
pub const BILLING_RETRY_BATCH_SIZE: i64 = 500;
/// Pause before restarting a billing scheduler that stopped on an error.
pub const BILLING_RESTART_DELAY_MS: u64 = 1_000;

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunReport {
    /// Periods recorded with a charge queued.
    pub charges: usize,
    /// Periods recorded on a free plan (nothing to charge).
    pub free: usize,
    /// Failed charges queued again.
    pub retried: usize,
}

/// One billing run as of `today`.
pub async fn run_due(pool: &PgPool, plans: &[Plan], today: NaiveDate) -> Result<RunReport, sqlx::Error> {
    let started = Utc::now();
    let mut report = RunReport::default();
    let Some(default_plan) = plans.first() else {
        return Ok(report);
    };
    // Keyset paging by where each ktti's next period starts: a ktti whose period
    // was just recorded moves forward in that order, so it comes round again in
    // this run if more of its periods have ended (a run catches up after an
    // outage), and a ktti not due is passed over, never blocking the ones after.
    let mut after = None;
    loop {
        let mut tx = pool.begin().await?;
        let batch = billing::candidates(&mut tx, today, after, BILLING_BATCH_SIZE).await?;
        let Some(last) = batch.last() else {
            break;
        };
        after = Some((last.billing_anchor_or_through(), last.ktti_id));
        for k in &batch {
            let plan = k
                .billing_plan
                .as_deref()
                .and_then(|c| find(plans, c))
                .unwrap_or(default_plan);
            let Some(anchor) = k.billing_anchor else {
                continue;
            };
            let Some(period) = due_period(anchor, k.billed_through, plan.months(), today) else {
                continue;
            };
            let charge = NewCharge {
                ktti: KttiId(k.ktti_id),
                period_start: period.start,
                period_end: period.end,
                plan_code: &plan.code,
                amount: plan.price,
            };
            let Some(id) = billing::record_period(&mut tx, &charge).await? else {
                continue; // another run recorded it
            };
            if plan.is_free() {
                report.free += 1;
            } else {
                jobs::enqueue(&mut tx, &ChargeFee { charge_id: id }).await?;
                report.charges += 1;
            }
        }
        tx.commit().await?;
    }
    loop {
        let mut tx = pool.begin().await?;
        let again = billing::retry_failed(&mut tx, started, BILLING_RETRY_BATCH_SIZE).await?;
        for id in &again {
            jobs::enqueue(&mut tx, &ChargeFee { charge_id: *id }).await?;
        }
        tx.commit().await?;
        report.retried += again.len();
        if (again.len() as i64) < BILLING_RETRY_BATCH_SIZE {
            break;
        }
    }
    if report != RunReport::default() {
        tracing::info!(?report, %today, "billing run");
    }
    metrics::counter!("kttipay_billing_periods_total", "plan" => "paid").increment(report.charges as u64);
    metrics::counter!("kttipay_billing_periods_total", "plan" => "free").increment(report.free as u64);
    Ok(report)
}

/// Fires every `interval`, on multiples of it since the epoch, so every replica
/// fires at the same instants (and the charge rows decide between them).
#[derive(Debug, Clone, Copy)]
pub struct Every(pub Duration);

impl Schedule<CronUtc> for Every {
    fn next_tick(&mut self, _: &CronUtc) -> Option<Tick<CronUtc>> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        let step = self.0.as_secs().max(1);
        Some(Tick::new((now / step + 1) * step))
    }
}

/// Runs billing on its schedule until `shutdown`.
pub async fn run_billing_schedule(deps: WorkerDeps, interval: Duration, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let worker = WorkerBuilder::new(format!("billing-{}", uuid::Uuid::new_v4().simple()))
            .backend(CronScheduler::new(Every(interval)))
            .data(deps.clone())
            .build(tick);
        let stop = shutdown.clone();
        let result = worker
            .run_until(async move {
                stop.cancelled().await;
                Ok::<(), std::io::Error>(())
            })
            .await;
        if shutdown.is_cancelled() {
            return;
        }
        tracing::warn!(error = ?result.err(), "billing scheduler stopped; restarting");
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(BILLING_RESTART_DELAY_MS)) => {}
        }
    }
}

/// One tick: a billing run as of today (UTC). A failed run is logged; the next
/// tick runs again and catches up, since nothing is recorded twice.
async fn tick(_tick: Tick<CronUtc>, deps: Data<WorkerDeps>) -> Result<(), BoxDynError> {
    if let Err(e) = run_due(&deps.pool, &deps.billing_plans, Utc::now().date_naive()).await {
        tracing::error!(error = %e, "billing run failed; the next tick tries again");
    }
    Ok(())
}
