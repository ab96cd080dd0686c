//! The double-entry ledger's rules.
//!
//! A ktti's money sits in two ledger accounts: **available** (free to spend) and
//! **reserved** (open card holds and payouts in flight). So
//! `totalBalance = available + reserved` and `availableBalance = available`. Money
//! that leaves or enters a ktti is booked against an **external** account for its
//! kind (deposits, merchants, fees, transfers), which goes negative as the ktti's
//! accounts go positive. Every journal entry's postings sum to zero, so the whole
//! ledger always sums to zero.
//!
//! Entries are only built by the constructors below, which cannot produce an
//! unbalanced entry; [`JournalEntry::from_postings`] checks hand-made ones.

use crate::ids::KttiId;
use crate::money::Money;
use std::collections::BTreeMap;

/// The outside world's side of a movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum External {
    /// Money paid in by bank transfer.
    Deposits,
    /// Card spending and merchant refunds.
    Merchants,
    /// Fees charged to ktties (billing, provider fees).
    Fees,
    /// Money sent out by bank transfer (payouts, transfers out).
    Transfers,
}

impl External {
    pub const ALL: [External; 4] = [
        External::Deposits,
        External::Merchants,
        External::Fees,
        External::Transfers,
    ];

    pub fn code(self) -> &'static str {
        match self {
            External::Deposits => "deposits",
            External::Merchants => "merchants",
            External::Fees => "fees",
            External::Transfers => "transfers",
        }
    }

    pub fn parse(code: &str) -> Option<External> {
        External::ALL.into_iter().find(|e| e.code() == code)
    }
}

/// A ledger account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Account {
    Available(KttiId),
    Reserved(KttiId),
    External(External),
}

impl Account {
    pub fn ktti(&self) -> Option<KttiId> {
        match self {
            Account::Available(k) | Account::Reserved(k) => Some(*k),
            Account::External(_) => None,
        }
    }

    /// The account's kind as stored: `available`, `reserved` or an external code.
    pub fn kind(&self) -> &'static str {
        match self {
            Account::Available(_) => "available",
            Account::Reserved(_) => "reserved",
            Account::External(e) => e.code(),
        }
    }

    /// The inverse of `(kind, ktti)` as stored.
    pub fn from_stored(kind: &str, ktti: Option<KttiId>) -> Option<Account> {
        match (kind, ktti) {
            ("available", Some(k)) => Some(Account::Available(k)),
            ("reserved", Some(k)) => Some(Account::Reserved(k)),
            (code, None) => External::parse(code).map(Account::External),
            _ => None,
        }
    }
}

/// One leg of an entry: a signed amount on one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posting {
    pub account: Account,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("an entry needs at least two postings")]
    TooFewPostings,
    #[error("a posting of zero moves nothing")]
    ZeroPosting,
    #[error("postings sum to {0}, not zero")]
    Unbalanced(Money),
    #[error("amounts must be positive")]
    NotPositive,
    #[error("amount out of range")]
    Overflow,
}

/// A balanced set of postings, booked together or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    postings: Vec<Posting>,
}

fn pos(amount: Money) -> Result<Money, LedgerError> {
    amount.positive().map_err(|_| LedgerError::NotPositive)
}

fn neg(amount: Money) -> Money {
    Money::ZERO
        .checked_sub(amount)
        .expect("negating a valid amount stays in range")
}

impl JournalEntry {
    /// Checks and wraps hand-made postings.
    pub fn from_postings(postings: Vec<Posting>) -> Result<JournalEntry, LedgerError> {
        if postings.len() < 2 {
            return Err(LedgerError::TooFewPostings);
        }
        if postings.iter().any(|p| p.amount == Money::ZERO) {
            return Err(LedgerError::ZeroPosting);
        }
        let sum = postings
            .iter()
            .try_fold(Money::ZERO, |acc, p| acc.checked_add(p.amount))
            .ok_or(LedgerError::Overflow)?;
        if sum != Money::ZERO {
            return Err(LedgerError::Unbalanced(sum));
        }
        Ok(JournalEntry { postings })
    }

    fn pair(from: Account, to: Account, amount: Money) -> Result<JournalEntry, LedgerError> {
        let amount = pos(amount)?;
        JournalEntry::from_postings(vec![
            Posting {
                account: from,
                amount: neg(amount),
            },
            Posting { account: to, amount },
        ])
    }

    /// Money paid into the ktti.
    pub fn deposit(ktti: KttiId, amount: Money) -> Result<JournalEntry, LedgerError> {
        Self::pair(Account::External(External::Deposits), Account::Available(ktti), amount)
    }

    /// A card authorisation: available drops, total does not.
    pub fn hold(ktti: KttiId, amount: Money) -> Result<JournalEntry, LedgerError> {
        Self::pair(Account::Available(ktti), Account::Reserved(ktti), amount)
    }

    /// A hold released without spending (reversal or expiry).
    pub fn release(ktti: KttiId, amount: Money) -> Result<JournalEntry, LedgerError> {
        Self::pair(Account::Reserved(ktti), Account::Available(ktti), amount)
    }

    /// Settlement of a hold of `held` for `settled`. A smaller settlement returns
    /// the difference to available; a larger one (tips, currency moves) takes the
    /// extra from available.
    pub fn settle(ktti: KttiId, held: Money, settled: Money) -> Result<JournalEntry, LedgerError> {
        let (held, settled) = (pos(held)?, pos(settled)?);
        let mut postings = vec![
            Posting {
                account: Account::Reserved(ktti),
                amount: neg(held),
            },
            Posting {
                account: Account::External(External::Merchants),
                amount: settled,
            },
        ];
        let difference = held.checked_sub(settled).ok_or(LedgerError::Overflow)?;
        if difference != Money::ZERO {
            postings.push(Posting {
                account: Account::Available(ktti),
                amount: difference,
            });
        }
        JournalEntry::from_postings(postings)
    }

    /// A card payment that arrived settled with no hold before it.
    pub fn spend(ktti: KttiId, amount: Money) -> Result<JournalEntry, LedgerError> {
        Self::pair(Account::Available(ktti), Account::External(External::Merchants), amount)
    }

    /// A merchant refund back into the ktti.
    pub fn refund(ktti: KttiId, amount: Money) -> Result<JournalEntry, LedgerError> {
        Self::pair(Account::External(External::Merchants), Account::Available(ktti), amount)
    }

    /// A fee charged to the ktti.
    pub fn fee(ktti: KttiId, amount: Money) -> Result<JournalEntry, LedgerError> {
        Self::pair(Account::Available(ktti), Account::External(External::Fees), amount)
    }

    /// A transfer out submitted to the provider: reserved until it completes.
    pub fn transfer_out_started(ktti: KttiId, amount: Money) -> Result<JournalEntry, LedgerError> {
        Self::pair(Account::Available(ktti), Account::Reserved(ktti), amount)
    }

    /// The provider confirmed the transfer out: the money has left.
    pub fn transfer_out_completed(ktti: KttiId, amount: Money) -> Result<JournalEntry, LedgerError> {
        Self::pair(Account::Reserved(ktti), Account::External(External::Transfers), amount)
    }

    /// The provider refused or returned the transfer: the money is free again.
    pub fn transfer_out_failed(ktti: KttiId, amount: Money) -> Result<JournalEntry, LedgerError> {
        Self::pair(Account::Reserved(ktti), Account::Available(ktti), amount)
    }

    /// Our fee, reserved before the debit was sent, taken by the bank.
    pub fn fee_charged(ktti: KttiId, amount: Money) -> Result<JournalEntry, LedgerError> {
        Self::pair(Account::Reserved(ktti), Account::External(External::Fees), amount)
    }

    pub fn postings(&self) -> &[Posting] {
        &self.postings
    }

    /// How the entry changes each ktti's balances.
    pub fn ktti_deltas(&self) -> BTreeMap<KttiId, Balances> {
        let mut deltas: BTreeMap<KttiId, Balances> = BTreeMap::new();
        for p in &self.postings {
            match p.account {
                Account::Available(k) => {
                    let d = deltas.entry(k).or_default();
                    d.available = d.available.checked_add(p.amount).expect("in range");
                }
                Account::Reserved(k) => {
                    let d = deltas.entry(k).or_default();
                    d.reserved = d.reserved.checked_add(p.amount).expect("in range");
                }
                Account::External(_) => {}
            }
        }
        deltas
    }
}

/// Who made a movement happen, which decides whether it may overdraw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Something we initiate (payouts, our fees): never takes available below zero.
    Ours,
    /// Something the bank reports it has done (a settlement above its hold, a bank
    /// fee, a transfer out): booked as reported, even below zero, because the bank
    /// is the source of truth for its own movements.
    Bank,
}

/// A ktti's balances as the ledger keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Balances {
    pub available: Money,
    pub reserved: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BalanceError {
    #[error("not enough available funds")]
    InsufficientFunds,
    #[error("more released than reserved")]
    ReservedBelowZero,
}

impl Balances {
    /// Posted money in the account: `totalBalance`.
    pub fn total(&self) -> Money {
        self.available.checked_add(self.reserved).expect("in range")
    }

    /// Applies a delta of ours, refusing any result with a negative available or
    /// reserved balance (the database enforces the same).
    pub fn apply(&self, delta: &Balances) -> Result<Balances, BalanceError> {
        self.apply_from(delta, Origin::Ours)
    }

    /// Applies a delta. Reserved never goes below zero; available may, but only
    /// for a movement the bank reports, and never further for one of ours.
    pub fn apply_from(&self, delta: &Balances, origin: Origin) -> Result<Balances, BalanceError> {
        let available = self
            .available
            .checked_add(delta.available)
            .ok_or(BalanceError::InsufficientFunds)?;
        let reserved = self
            .reserved
            .checked_add(delta.reserved)
            .ok_or(BalanceError::ReservedBelowZero)?;
        if available < Money::ZERO && available < self.available && origin == Origin::Ours {
            return Err(BalanceError::InsufficientFunds);
        }
        if reserved < Money::ZERO {
            return Err(BalanceError::ReservedBelowZero);
        }
        Ok(Balances { available, reserved })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(s: &str) -> Money {
        s.parse().unwrap()
    }

    fn sum(e: &JournalEntry) -> Money {
        e.postings()
            .iter()
            .fold(Money::ZERO, |a, p| a.checked_add(p.amount).unwrap())
    }

    #[test]
    fn hand_made_entries_must_balance() {
        let k = KttiId::new();
        let one = |acc, amt: &str| Posting {
            account: acc,
            amount: m(amt),
        };
        assert_eq!(
            JournalEntry::from_postings(vec![one(Account::Available(k), "1.00")]),
            Err(LedgerError::TooFewPostings)
        );
        assert_eq!(
            JournalEntry::from_postings(vec![
                one(Account::Available(k), "1.00"),
                one(Account::Reserved(k), "-0.99")
            ]),
            Err(LedgerError::Unbalanced(m("0.01")))
        );
        assert_eq!(
            JournalEntry::from_postings(vec![one(Account::Available(k), "0"), one(Account::Reserved(k), "0")]),
            Err(LedgerError::ZeroPosting)
        );
        assert_eq!(JournalEntry::deposit(k, Money::ZERO), Err(LedgerError::NotPositive));
    }

    #[test]
    fn card_spend_lifecycle() {
        let k = KttiId::new();
        let mut b = Balances::default();
        for e in [
            JournalEntry::deposit(k, m("100.00")).unwrap(),
            JournalEntry::hold(k, m("30.00")).unwrap(),
        ] {
            b = b.apply(&e.ktti_deltas()[&k]).unwrap();
        }
        assert_eq!(
            (b.available, b.reserved, b.total()),
            (m("70.00"), m("30.00"), m("100.00"))
        );
        // Partial settlement gives the rest back.
        let settle = JournalEntry::settle(k, m("30.00"), m("25.50")).unwrap();
        assert_eq!(sum(&settle), Money::ZERO);
        b = b.apply(&settle.ktti_deltas()[&k]).unwrap();
        assert_eq!(
            (b.available, b.reserved, b.total()),
            (m("74.50"), m("0.00"), m("74.50"))
        );
        // A hold beyond available is refused.
        let greedy = JournalEntry::hold(k, m("74.51")).unwrap();
        assert_eq!(b.apply(&greedy.ktti_deltas()[&k]), Err(BalanceError::InsufficientFunds));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Deposit(i64),
        Hold(i64),
        Settle(usize, i64),
        Release(usize),
        Refund(i64),
        Fee(i64),
        Transfer(i64, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        let cents = 1i64..50_000;
        prop_oneof![
            cents.clone().prop_map(Op::Deposit),
            cents.clone().prop_map(Op::Hold),
            (any::<usize>(), cents.clone()).prop_map(|(i, c)| Op::Settle(i, c)),
            any::<usize>().prop_map(Op::Release),
            cents.clone().prop_map(Op::Refund),
            cents.clone().prop_map(Op::Fee),
            (cents, any::<bool>()).prop_map(|(c, ok)| Op::Transfer(c, ok)),
        ]
    }

    proptest! {
        /// Random movements: every entry balances, refused ones change nothing,
        /// available and reserved never go negative, total = available + reserved,
        /// and the whole ledger (ktti plus external accounts) sums to zero.
        #[test]
        fn random_movements_keep_the_books(ops in proptest::collection::vec(op(), 1..80)) {
            let k = KttiId::new();
            let mut b = Balances::default();
            let mut open_holds: Vec<Money> = Vec::new();
            let mut external = Money::ZERO;
            for op in ops {
                let entries: Vec<JournalEntry> = match op {
                    Op::Deposit(c) => vec![JournalEntry::deposit(k, Money::from_cents(c)).unwrap()],
                    Op::Hold(c) => vec![JournalEntry::hold(k, Money::from_cents(c)).unwrap()],
                    Op::Settle(i, c) if !open_holds.is_empty() => {
                        let held = open_holds[i % open_holds.len()];
                        vec![JournalEntry::settle(k, held, Money::from_cents(c)).unwrap()]
                    }
                    Op::Release(i) if !open_holds.is_empty() => {
                        vec![JournalEntry::release(k, open_holds[i % open_holds.len()]).unwrap()]
                    }
                    Op::Refund(c) => vec![JournalEntry::refund(k, Money::from_cents(c)).unwrap()],
                    Op::Fee(c) => vec![JournalEntry::fee(k, Money::from_cents(c)).unwrap()],
                    Op::Transfer(c, ok) => {
                        let a = Money::from_cents(c);
                        let end = if ok { JournalEntry::transfer_out_completed(k, a) } else { JournalEntry::transfer_out_failed(k, a) };
                        vec![JournalEntry::transfer_out_started(k, a).unwrap(), end.unwrap()]
                    }
                    _ => vec![],
                };
                if entries.is_empty() {
                    continue; // a settle or release with no open hold
                }
                // Entries of one operation apply together or not at all.
                let mut next = b;
                let mut ok = true;
                for e in &entries {
                    prop_assert_eq!(sum(e), Money::ZERO);
                    match next.apply(&e.ktti_deltas().get(&k).copied().unwrap_or_default()) {
                        Ok(n) => next = n,
                        Err(_) => { ok = false; break; }
                    }
                }
                if !ok { continue; }
                for e in &entries {
                    for p in e.postings() {
                        if p.account.ktti().is_none() { external = external.checked_add(p.amount).unwrap(); }
                    }
                }
                match op {
                    Op::Hold(c) => open_holds.push(Money::from_cents(c)),
                    Op::Settle(i, _) | Op::Release(i) => { let n = open_holds.len(); open_holds.remove(i % n); }
                    _ => {}
                }
                b = next;
                prop_assert!(b.available >= Money::ZERO && b.reserved >= Money::ZERO);
                prop_assert_eq!(b.total(), b.available.checked_add(b.reserved).unwrap());
                prop_assert_eq!(b.total().checked_add(external).unwrap(), Money::ZERO);
                let held: Money = open_holds.iter().fold(Money::ZERO, |a, h| a.checked_add(*h).unwrap());
                prop_assert_eq!(b.reserved, held);
            }
        }
    }
}
