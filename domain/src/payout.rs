//! Paying a closing ktti out: when a disbursement may start, where each payout
//! goes, how the bank's record of a transfer is tied back to its payout, and what
//! the ktti becomes when a round of payouts ends.

use crate::Money;
use crate::ids::UserId;
use crate::lifecycle::KttiStatus;
use uuid::Uuid;

/// A bank account as the member nominated it (checked by [`crate::bank_account`]
/// when nominated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankAccount {
    pub bsb: String,
    pub account_number: String,
    pub account_name: String,
}

/// Where one member's payout goes, decided with the plan so that every retry of
/// it goes where the first attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// An internal transfer to the member's personal ktti (its provider account).
    PersonalKtti { account_hay_id: String },
    /// A transfer to the bank account the member nominated.
    BankAccount(BankAccount),
}

impl Destination {
    /// An account the member nominated wins: they said where they want their
    /// money. Otherwise their personal ktti, once it has its bank account.
    pub fn choose(nominated: Option<BankAccount>, personal_account: Option<String>) -> Option<Destination> {
        match (nominated, personal_account) {
            (Some(account), _) => Some(Destination::BankAccount(account)),
            (None, Some(account_hay_id)) => Some(Destination::PersonalKtti { account_hay_id }),
            (None, None) => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Destination::PersonalKtti { .. } => "personalKtti",
            Destination::BankAccount(_) => "bankAccount",
        }
    }
}

/// What stops a disbursement from starting (DOMAIN.md: no unassigned deposits,
/// no open holds, and everyone paid must have somewhere to be paid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    UnassignedDeposits(Money),
    OpenHolds(i64),
    NoDestination(Vec<UserId>),
}

impl Blocked {
    pub fn code(&self) -> &'static str {
        match self {
            Blocked::UnassignedDeposits(_) => "unassigned_deposits",
            Blocked::OpenHolds(_) => "open_holds",
            Blocked::NoDestination(_) => "payout_account_needed",
        }
    }

    pub fn reason(&self) -> String {
        match self {
            Blocked::UnassignedDeposits(m) => {
                format!("{m} of deposits is not assigned to a member: assign it before paying out.")
            }
            Blocked::OpenHolds(n) => format!("{n} card payment(s) are still pending: they must settle first."),
            Blocked::NoDestination(users) => format!(
                "{} member(s) have no personal ktti and no payout account: they have been asked to nominate one.",
                users.len()
            ),
        }
    }
}

/// The checks before a plan is paid, in the order a person should fix them.
pub fn may_disburse(unassigned: Money, open_holds: i64) -> Result<(), Blocked> {
    if unassigned > Money::ZERO {
        return Err(Blocked::UnassignedDeposits(unassigned));
    }
    if open_holds > 0 {
        return Err(Blocked::OpenHolds(open_holds));
    }
    Ok(())
}

/// What a ktti in `disbursing` becomes once none of its payouts is still in
/// flight (pending, submitted or dead): `readyToClose` when nothing is left, or
/// `closing` to be paid out again (a refused payout, a late deposit). `None`
/// while payouts are in flight.
pub fn after_round(in_flight: i64, total: Money, available: Money) -> Option<KttiStatus> {
    if in_flight > 0 {
        None
    } else if total == Money::ZERO && available == Money::ZERO {
        Some(KttiStatus::ReadyToClose)
    } else {
        Some(KttiStatus::Closing)
    }
}

/// Not `KP`: deposit references start with that.
const REFERENCE_PREFIX: &str = "KPO";

/// The transfer's reference: the payout's idempotency key in 35 characters (all the
/// provider allows), so the bank's own record of the transfer names its payout.
pub fn reference(key: Uuid) -> String {
    format!("{REFERENCE_PREFIX}{}", key.simple())
}

/// The payout key a transfer's reference names, if it is one of ours.
pub fn key_of_reference(reference: &str) -> Option<Uuid> {
    let hex = reference.strip_prefix(REFERENCE_PREFIX)?;
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Uuid::parse_str(hex).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn account() -> BankAccount {
        BankAccount {
            bsb: "062000".into(),
            account_number: "12345678".into(),
            account_name: "Ann Smith".into(),
        }
    }

    #[test]
    fn a_nominated_account_wins_over_the_personal_ktti() {
        assert_eq!(
            Destination::choose(Some(account()), Some("acc".into())),
            Some(Destination::BankAccount(account()))
        );
        assert_eq!(
            Destination::choose(None, Some("acc".into())),
            Some(Destination::PersonalKtti {
                account_hay_id: "acc".into()
            })
        );
        assert_eq!(Destination::choose(None, None), None);
    }

    #[test]
    fn unassigned_money_blocks_before_holds() {
        let m = |s: &str| Money::parse_exact(s).unwrap();
        assert_eq!(may_disburse(m("0.00"), 0), Ok(()));
        assert_eq!(
            may_disburse(m("0.01"), 2).unwrap_err(),
            Blocked::UnassignedDeposits(m("0.01"))
        );
        assert_eq!(may_disburse(m("0.00"), 2).unwrap_err().code(), "open_holds");
    }

    #[test]
    fn a_round_ends_ready_only_at_zero() {
        let z = Money::ZERO;
        let one = Money::from_cents(1);
        assert_eq!(after_round(1, z, z), None);
        assert_eq!(after_round(0, z, z), Some(KttiStatus::ReadyToClose));
        assert_eq!(after_round(0, one, one), Some(KttiStatus::Closing));
        // Money reserved but not available (a card hold) is still money left.
        assert_eq!(after_round(0, one, z), Some(KttiStatus::Closing));
    }

    proptest! {
        #[test]
        fn references_fit_the_bank_and_name_their_payout(n in any::<u128>()) {
            let key = Uuid::from_u128(n);
            let r = reference(key);
            prop_assert!(r.len() <= 35);
            prop_assert_eq!(key_of_reference(&r), Some(key));
        }

        #[test]
        fn other_references_name_no_payout(s in ".{0,40}") {
            if let Some(key) = key_of_reference(&s) {
                prop_assert_eq!(reference(key).to_lowercase(), s.to_lowercase());
            }
        }
    }
}
