//! Member totals and the rules they keep after every step of every scenario:
//! `sum(net) + unassigned == totalBalance`, the same balance as the ktti's own,
//! totals equal to a recomputation from the transactions and splits themselves,
//! every split summing to its transaction, and every booked expense split.

use super::TestApp;
use rust_decimal::Decimal;
use serde_json::Value;
use std::str::FromStr;

pub fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("{v} is not a money string"))).unwrap()
}

/// Once every job has run: the ktti's member totals, checked.
pub async fn totals(app: &TestApp, token: &str, ktti: &str) -> Value {
    app.drain_all().await;
    let r = app
        .get_auth(&format!("/api/v2/ktties/{ktti}/member-totals"), token)
        .await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    let nets: Decimal = t["members"].as_array().unwrap().iter().map(|m| dec(&m["net"])).sum();
    assert_eq!(
        nets + dec(&t["unassigned"]),
        dec(&t["totalBalance"]),
        "sum(net) + unassigned == totalBalance: {t:#}"
    );
    for m in t["members"].as_array().unwrap() {
        assert_eq!(
            dec(&m["deposited"]) - dec(&m["spent"]) - dec(&m["paidOut"]),
            dec(&m["net"])
        );
    }
    let k = super::group::ktti(app, token, ktti).await;
    assert_eq!(k["totalBalance"], t["totalBalance"]);
    books_agree(app, ktti).await;
    t
}

/// The maintained totals against a recomputation from scratch, and the splits
/// against their transactions.
async fn books_agree(app: &TestApp, ktti: &str) {
    let ktti = uuid::Uuid::parse_str(ktti).unwrap();
    let drift: i64 = sqlx::query_scalar(
        "WITH recomputed AS ( \
             SELECT user_id, sum(dep) AS deposited, sum(spe) AS spent, sum(pay) AS paid_out FROM ( \
                 SELECT assignee_id AS user_id, amount AS dep, 0 AS spe, 0 AS pay FROM transactions \
                 WHERE ktti_id = $1 AND kind = 'deposit' AND status = 'posted' AND assignee_id IS NOT NULL \
                 UNION ALL \
                 SELECT s.user_id, 0, CASE WHEN t.kind = 'payout' THEN 0 WHEN t.direction = 'in' THEN -s.amount \
                        ELSE s.amount END, CASE WHEN t.kind = 'payout' THEN s.amount ELSE 0 END \
                 FROM split_shares s JOIN transactions t ON t.id = s.transaction_id WHERE t.ktti_id = $1) x \
             GROUP BY user_id) \
         SELECT count(*) FROM recomputed r FULL JOIN (SELECT * FROM member_totals WHERE ktti_id = $1) m \
             ON m.user_id = r.user_id \
         WHERE coalesce(r.deposited, 0) <> coalesce(m.deposited, 0) OR coalesce(r.spent, 0) <> coalesce(m.spent, 0) \
            OR coalesce(r.paid_out, 0) <> coalesce(m.paid_out, 0)",
    )
    .bind(ktti)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(drift, 0, "member totals drifted from their transactions");
    // Member totals carry a copy of each membership (for a one-table read): every
    // membership has its row, and every copy matches.
    let stale: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT * FROM ktti_members WHERE ktti_id = $1) m \
         FULL JOIN (SELECT * FROM member_totals WHERE ktti_id = $1) t ON t.user_id = m.user_id \
         WHERE m.user_id IS NULL OR t.user_id IS NULL OR t.role IS DISTINCT FROM m.role \
            OR t.status IS DISTINCT FROM m.status OR t.joined_at IS DISTINCT FROM m.joined_at",
    )
    .bind(ktti)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stale, 0, "member totals' copy of the memberships is stale");
    let unsplit: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM transactions t WHERE t.ktti_id = $1 AND t.status = 'posted' \
         AND t.kind IN ('cardPayment', 'refund', 'fee', 'transferOut') \
         AND NOT EXISTS (SELECT 1 FROM splits s WHERE s.transaction_id = t.id)",
    )
    .bind(ktti)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(unsplit, 0, "every booked expense, refund and fee has a split");
    let uneven: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM splits s JOIN transactions t ON t.id = s.transaction_id WHERE t.ktti_id = $1 \
         AND t.amount <> (SELECT coalesce(sum(amount), 0) FROM split_shares x WHERE x.transaction_id = s.transaction_id)",
    )
    .bind(ktti)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(uneven, 0, "every split sums to its transaction");
}

/// One member's row of the totals.
pub fn member<'a>(t: &'a Value, user: &str) -> &'a Value {
    t["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["userId"] == user)
        .unwrap_or_else(|| panic!("{user} has no row in {t:#}"))
}
