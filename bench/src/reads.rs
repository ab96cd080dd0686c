//! Authenticated reads against the cheapest route that still reaches PostgreSQL
//! (`/health/ready`, one round trip each to PostgreSQL and Redis), the read
//! rate's cost of growth (a ktti's first page at 1,000 and at 100,000
//! transactions), and the server's peak resident memory meanwhile.

use crate::http::wrk;
use crate::setup::Pot;
use crate::{Args, money, rss, splits};

/// Transactions on the small ktti of the cost-of-growth pair.
pub const FEW_TRANSACTIONS: i64 = 1_000;

pub struct Reads {
    /// (req/s, p99 ms) per route.
    pub ready: (f64, f64),
    pub me: (f64, f64),
    pub few: (f64, f64),
    pub many: (f64, f64),
    pub totals: (f64, f64),
    /// Peak server RSS over all of them, MiB (when the pid is known).
    pub peak_mib: Option<f64>,
}

pub async fn run(args: &Args, pool: &sqlx::PgPool, small: &Pot, owner: &Pot) -> anyhow::Result<Reads> {
    money::plant_transactions(pool, small.ktti, FEW_TRANSACTIONS).await?;
    // 100 members and 100,000 transactions, the member-totals ktti.
    let planted = splits::plant(args, pool, owner).await?;
    let first_page = |ktti: uuid::Uuid| format!("/api/v3/ktties/{ktti}/transactions?limit=50");
    let peak = rss::Peak::start(args.server_pid);
    let ready = wrk(&args.base, "/health/ready", None, None)?;
    let me = wrk(&args.base, "/api/v2/users/me", Some(&owner.access), None)?;
    let few = wrk(&args.base, &first_page(small.ktti), Some(&small.access), None)?;
    let many = wrk(&args.base, &first_page(planted.ktti), Some(&owner.access), None)?;
    let totals = wrk(
        &args.base,
        &format!("/api/v2/ktties/{}/member-totals", planted.ktti),
        Some(&owner.access),
        None,
    )?;
    Ok(Reads {
        ready,
        me,
        few,
        many,
        totals,
        peak_mib: peak.map(rss::Peak::stop),
    })
}
