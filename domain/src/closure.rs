//! The disbursement plan of a closing ktti: what each member is paid back, and who
//! still owes whom.
//!
//! Members with a positive `net` are paid it. When some members are negative (they
//! spent more than they paid in), the money in the account is less than what the
//! positives are owed, so the positives are scaled down pro rata, in whole cents by
//! largest remainder, to sum to exactly the available balance. What each positive
//! member is then short of is exactly what the negative members owe: those debts are
//! matched into "who owes whom" suggestions, settled between the members outside
//! KttiPay.

use crate::Money;
use crate::ids::UserId;
use crate::split::{Rotation, allocate};

/// One member's payout in the plan (members paid nothing are left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPayout {
    pub user: UserId,
    pub amount: Money,
}

/// `from` should pay `to` `amount`, outside KttiPay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleUp {
    pub from: UserId,
    pub to: UserId,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Ordered by member id; sums to exactly the available balance.
    pub payouts: Vec<PlannedPayout>,
    /// Largest debts first; sums to exactly the negative members' debts.
    pub settle_ups: Vec<SettleUp>,
}

impl Plan {
    pub fn total(&self) -> Money {
        Money::from_cents(self.payouts.iter().map(|p| p.amount.cents()).sum())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The members' nets do not add up to the money available: paying them out
    /// would leave money behind or overdraw. Operators must look before anyone is paid.
    #[error("members' totals add up to {nets}, but {available} is available")]
    BooksDisagree { nets: Money, available: Money },
}

/// The plan for paying out `available` to members with these nets. `rotation`
/// (from the ktti's id) decides who gets the odd cent when scaling ties.
pub fn plan(nets: &[(UserId, Money)], available: Money, rotation: Rotation) -> Result<Plan, PlanError> {
    let mut members = nets.to_vec();
    members.sort_by_key(|(u, _)| *u);
    let sum: i64 = members.iter().map(|(_, n)| n.cents()).sum();
    if sum != available.cents() || available.cents() < 0 {
        return Err(PlanError::BooksDisagree {
            nets: Money::from_cents(sum),
            available,
        });
    }
    let owed: Vec<i128> = members.iter().map(|(_, n)| i128::from(n.cents().max(0))).collect();
    // Nobody is owed anything only when every net is zero or below; with the sum
    // equal to `available` (not negative), that means every net is zero.
    let paid = allocate(available.cents(), &owed, rotation).unwrap_or_else(|| vec![0; members.len()]);
    let payouts = members
        .iter()
        .zip(&paid)
        .filter(|(_, p)| **p > 0)
        .map(|((user, _), p)| PlannedPayout {
            user: *user,
            amount: Money::from_cents(*p),
        })
        .collect();
    let mut short: Vec<(UserId, i64)> = members
        .iter()
        .zip(&paid)
        .map(|((u, n), p)| (*u, n.cents().max(0) - p))
        .filter(|(_, s)| *s > 0)
        .collect();
    let mut debts: Vec<(UserId, i64)> = members
        .iter()
        .filter(|(_, n)| n.cents() < 0)
        .map(|(u, n)| (*u, -n.cents()))
        .collect();
    Ok(Plan {
        payouts,
        settle_ups: match_debts(&mut debts, &mut short),
    })
}

/// Pairs the largest debt with the largest shortfall until both are spent: at most
/// one transfer fewer than the members involved, and deterministic (ties by id).
fn match_debts(debts: &mut [(UserId, i64)], short: &mut [(UserId, i64)]) -> Vec<SettleUp> {
    let largest_first = |a: &(UserId, i64), b: &(UserId, i64)| b.1.cmp(&a.1).then(a.0.cmp(&b.0));
    debts.sort_by(largest_first);
    short.sort_by(largest_first);
    let mut out = Vec::new();
    let (mut d, mut s) = (0, 0);
    while d < debts.len() && s < short.len() {
        let amount = debts[d].1.min(short[s].1);
        out.push(SettleUp {
            from: debts[d].0,
            to: short[s].0,
            amount: Money::from_cents(amount),
        });
        debts[d].1 -= amount;
        short[s].1 -= amount;
        if debts[d].1 == 0 {
            d += 1;
        }
        if short[s].1 == 0 {
            s += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn user(n: u128) -> UserId {
        UserId(Uuid::from_u128(n))
    }

    fn m(cents: i64) -> Money {
        Money::from_cents(cents)
    }

    #[test]
    fn everyone_in_credit_is_paid_their_net() {
        let p = plan(&[(user(1), m(5_000)), (user(2), m(2_550))], m(7_550), Rotation(0)).unwrap();
        assert_eq!(
            p.payouts,
            vec![
                PlannedPayout {
                    user: user(1),
                    amount: m(5_000)
                },
                PlannedPayout {
                    user: user(2),
                    amount: m(2_550)
                },
            ]
        );
        assert!(p.settle_ups.is_empty());
    }

    #[test]
    fn a_member_in_debt_shrinks_the_others_payouts_and_owes_them_the_difference() {
        // Ann paid in 100 and spent 40 (net 60); Bo paid 100 and spent 40 (60); Cy
        // paid 0 and spent 20 (-20). The account holds 100.
        let nets = [(user(1), m(6_000)), (user(2), m(6_000)), (user(3), m(-2_000))];
        let p = plan(&nets, m(10_000), Rotation(0)).unwrap();
        assert_eq!(p.total(), m(10_000));
        assert_eq!(
            p.payouts.iter().map(|x| x.amount).collect::<Vec<_>>(),
            vec![m(5_000), m(5_000)]
        );
        assert_eq!(
            p.settle_ups,
            vec![
                SettleUp {
                    from: user(3),
                    to: user(1),
                    amount: m(1_000)
                },
                SettleUp {
                    from: user(3),
                    to: user(2),
                    amount: m(1_000)
                },
            ]
        );
    }

    #[test]
    fn books_that_disagree_with_the_bank_are_refused() {
        let err = plan(&[(user(1), m(100))], m(99), Rotation(0)).unwrap_err();
        assert_eq!(
            err,
            PlanError::BooksDisagree {
                nets: m(100),
                available: m(99)
            }
        );
    }

    #[test]
    fn an_empty_account_plans_nothing_but_debts() {
        let p = plan(&[(user(1), m(300)), (user(2), m(-300))], m(0), Rotation(0)).unwrap();
        assert!(p.payouts.is_empty());
        assert_eq!(
            p.settle_ups,
            vec![SettleUp {
                from: user(2),
                to: user(1),
                amount: m(300)
            }]
        );
        let p = plan(&[(user(1), m(0))], m(0), Rotation(0)).unwrap();
        assert_eq!(
            p,
            Plan {
                payouts: vec![],
                settle_ups: vec![]
            }
        );
    }

    fn nets() -> impl Strategy<Value = Vec<i64>> {
        prop::collection::vec(-1_000_000i64..5_000_000, 1..200)
    }

    proptest! {
        #[test]
        fn plans_pay_exactly_what_is_there_and_settle_every_debt(raw in nets(), rot in any::<u64>()) {
            let members: Vec<(UserId, Money)> = raw.iter().enumerate().map(|(i, c)| (user(i as u128 + 1), m(*c))).collect();
            let sum: i64 = raw.iter().sum();
            prop_assume!(sum >= 0);
            let p = plan(&members, m(sum), Rotation(rot)).unwrap();
            // Exactly the available balance, nobody paid more than their net, nobody
            // in debt paid anything.
            prop_assert_eq!(p.total(), m(sum));
            for pay in &p.payouts {
                let net = members.iter().find(|(u, _)| *u == pay.user).unwrap().1;
                prop_assert!(pay.amount.cents() > 0 && pay.amount <= net);
            }
            // Every debt is settled in full, and every shortfall made good.
            for (u, net) in &members {
                let paid_out: i64 = p.payouts.iter().filter(|x| x.user == *u).map(|x| x.amount.cents()).sum();
                let owes: i64 = p.settle_ups.iter().filter(|s| s.from == *u).map(|s| s.amount.cents()).sum();
                let gets: i64 = p.settle_ups.iter().filter(|s| s.to == *u).map(|s| s.amount.cents()).sum();
                prop_assert!(owes == 0 || gets == 0);
                prop_assert_eq!(paid_out + gets - owes, net.cents(), "member {:?} ends square", u);
            }
            // At most one suggestion fewer than the members involved.
            let involved = members.iter().filter(|(u, _)| p.settle_ups.iter().any(|s| s.from == *u || s.to == *u)).count();
            prop_assert!(p.settle_ups.is_empty() || p.settle_ups.len() < involved);
        }
    }
}
