//! Every lifecycle state KttiPay stores, as an enum with its wire name (the same
//! text in PostgreSQL, JSON and the OpenAPI document) and, where a state moves,
//! the moves DOMAIN.md allows. The `db` crate decodes columns into these at its
//! boundary, so the rest of the code matches on variants, never on strings, and a
//! new state (closure, billing) is added in one place.

use std::fmt;

/// A stored text that names no state of its type: the database and the code
/// disagree, which is a bug, never user input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState {
    pub of: &'static str,
    pub value: String,
}

impl fmt::Display for UnknownState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a {}", self.value, self.of)
    }
}

impl std::error::Error for UnknownState {}

/// Declares a state enum with its wire names, `ALL`, `as_str`, `FromStr`,
/// `TryFrom<String>` (what `db` decodes with) and `Display`.
macro_rules! states {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every state, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::lifecycle::UnknownState;
            fn from_str(s: &str) -> Result<Self, $crate::lifecycle::UnknownState> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err($crate::lifecycle::UnknownState { of: stringify!($name), value: s.to_string() }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::lifecycle::UnknownState;
            fn try_from(s: String) -> Result<Self, $crate::lifecycle::UnknownState> {
                s.parse()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use states;

states! {
    /// A personal ktti (one per verified user) or a group one.
    KttiKind { Personal = "personal", Group = "group" }
}

states! {
    /// Where a ktti is in its life (DOMAIN.md, "Ktti lifecycle").
    KttiStatus {
        /// Created; the bank account and cards are being set up by job.
        PendingSetup = "pendingSetup",
        Active = "active",
        /// Closure asked for: cards frozen, deposits still land.
        Closing = "closing",
        /// Payouts submitted.
        Disbursing = "disbursing",
        /// Every payout completed and both balances are zero.
        ReadyToClose = "readyToClose",
        /// Final and read-only.
        Closed = "closed",
    }
}

impl KttiStatus {
    /// The moves DOMAIN.md allows. Cancelling a closure goes back to active; a late
    /// deposit after `readyToClose` goes back to `closing` to be paid out, as does
    /// a round of payouts that ended with money left (a refusal, a late deposit).
    pub fn can_become(self, next: KttiStatus) -> bool {
        use KttiStatus::*;
        matches!(
            (self, next),
            (PendingSetup, Active)
                | (Active, Closing)
                | (Closing, Active)
                | (Closing, Disbursing)
                | (Disbursing, ReadyToClose)
                | (Disbursing, Closing)
                | (ReadyToClose, Closing)
                | (ReadyToClose, Closed)
        )
    }

    /// New members may join (before closure starts).
    pub fn takes_members(self) -> bool {
        matches!(self, KttiStatus::PendingSetup | KttiStatus::Active)
    }

    /// Its cards may spend: before closure starts. From `closing` on they are
    /// frozen, so the balance stays put while it is paid out.
    pub fn cards_may_spend(self) -> bool {
        matches!(self, KttiStatus::PendingSetup | KttiStatus::Active)
    }

    /// Anything may still change; a closed ktti is read-only.
    pub fn is_writable(self) -> bool {
        self != KttiStatus::Closed
    }
}

states! {
    /// A person's standing in one ktti.
    MembershipStatus {
        Invited = "invited",
        Active = "active",
        Rejected = "rejected",
        Expired = "expired",
        Left = "left",
        Removed = "removed",
    }
}

impl MembershipStatus {
    /// An invitation is answered or lapses; a member leaves or is removed; anyone
    /// who is not active may (re)join, a removed member only with approval (that
    /// rule lives in the join flow, [`crate::membership`]).
    pub fn can_become(self, next: MembershipStatus) -> bool {
        use MembershipStatus::*;
        match (self, next) {
            (Active, Left | Removed) => true,
            (Invited, Rejected | Expired) => true,
            (from, Active) => from != Active,
            _ => false,
        }
    }

    /// Ways a membership ends.
    pub fn is_departure(self) -> bool {
        matches!(self, MembershipStatus::Left | MembershipStatus::Removed)
    }
}

states! {
    /// A user's identity verification at the bank.
    KycStatus {
        NotStarted = "notStarted",
        Pending = "pending",
        Verified = "verified",
        Rejected = "rejected",
    }
}

impl KycStatus {
    /// Submitting starts or retries verification; the bank decides a pending one.
    /// Verified is final.
    pub fn can_become(self, next: KycStatus) -> bool {
        use KycStatus::*;
        matches!(
            (self, next),
            (NotStarted | Rejected, Pending) | (Pending, Verified | Rejected)
        )
    }
}

states! {
    /// What moved the money.
    TransactionKind {
        Deposit = "deposit",
        CardPayment = "cardPayment",
        Refund = "refund",
        Fee = "fee",
        Payout = "payout",
        TransferOut = "transferOut",
    }
}

states! {
    /// Money into the ktti or out of it.
    Direction { In = "in", Out = "out" }
}

impl TransactionKind {
    /// Deposits and refunds bring money in; everything else takes it out.
    pub fn direction(self) -> Direction {
        match self {
            TransactionKind::Deposit | TransactionKind::Refund => Direction::In,
            _ => Direction::Out,
        }
    }
}

states! {
    /// A transaction's standing: a card hold is pending until it settles (posted),
    /// is released or expires (reversed); a refused payment is declined.
    TransactionStatus {
        Pending = "pending",
        Posted = "posted",
        Reversed = "reversed",
        Declined = "declined",
    }
}

impl TransactionStatus {
    pub fn can_become(self, next: TransactionStatus) -> bool {
        use TransactionStatus::*;
        matches!((self, next), (Pending, Posted | Reversed))
    }
}

states! {
    /// A member's card on a ktti, as our side last set it at the bank.
    CardStatus {
        Active = "active",
        /// Frozen while the member may not spend (or the ktti is closing).
        Frozen = "frozen",
        /// Gone for good (the member left or was removed).
        Cancelled = "cancelled",
    }
}

impl CardStatus {
    pub fn can_become(self, next: CardStatus) -> bool {
        use CardStatus::*;
        matches!(
            (self, next),
            (Active, Frozen) | (Frozen, Active) | (Active | Frozen, Cancelled)
        )
    }
}

states! {
    CardType { Virtual = "virtual", Physical = "physical" }
}

states! {
    /// A physical card order: none yet, ordered (address at the bank), shipped.
    CardOrderStatus { None = "none", Ordered = "ordered", Shipped = "shipped" }
}

states! {
    /// What an action item asks of its addressee.
    ActionKind {
        AdminRequest = "adminRequest",
        JoinApproval = "joinApproval",
        Invitation = "invitation",
        UnassignedDeposit = "unassignedDeposit",
        NegativeBalance = "negativeBalance",
        /// The bank refused a payout: the owner sees why and decides what next.
        PayoutFailed = "payoutFailed",
        /// Money moved after payouts started (a settlement, a refund, a deposit).
        LateMovement = "lateMovement",
        /// A member has nowhere to be paid: no personal ktti, no nominated account.
        PayoutAccountNeeded = "payoutAccountNeeded",
    }
}

states! {
    /// One payout of a closing ktti (DOMAIN.md, "Closure").
    PayoutStatus {
        /// Planned, not sent yet.
        Pending = "pending",
        /// Reserved and sent to the bank, perhaps more than once (same key).
        Submitted = "submitted",
        /// The bank moved it.
        Completed = "completed",
        /// The bank refused it: nothing moved, the money is available again.
        Failed = "failed",
        /// Out of attempts with the outcome unknown: an operator retries it.
        Dead = "dead",
    }
}

impl PayoutStatus {
    /// Finished for good: nothing more will happen to it.
    pub fn is_final(self) -> bool {
        matches!(self, PayoutStatus::Completed | PayoutStatus::Failed)
    }
}

states! {
    ActionStatus {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
        /// Settled by something else happening (the deposit was assigned).
        Resolved = "resolved",
        /// No longer relevant (the requester left, the ktti closed).
        Cancelled = "cancelled",
    }
}

impl ActionStatus {
    /// Only a pending item is decided, once.
    pub fn can_become(self, next: ActionStatus) -> bool {
        self == ActionStatus::Pending && next != ActionStatus::Pending
    }
}

states! {
    InvitationStatus {
        Pending = "pending",
        Accepted = "accepted",
        Rejected = "rejected",
        Expired = "expired",
        Revoked = "revoked",
    }
}

states! {
    /// How a transaction's amount is divided between members (DOMAIN.md, splits).
    SplitMode {
        /// Everyone listed pays the same, to the cent.
        Equal = "equal",
        /// In proportion to weights (`"1"`, `"2.5"`); the default split is this.
        Shares = "shares",
        /// Percentages summing to exactly 100.
        Percentages = "percentages",
        /// Amounts summing to exactly the transaction's.
        Exact = "exact",
        /// From a receipt's line items, with tax and rounding spread in proportion.
        LineItems = "lineItems",
    }
}

states! {
    /// Who made a split: the money flow when it booked the transaction (the
    /// default proportions, or a refund reversing its expense), or a person.
    SplitOrigin {
        Default = "default",
        Refund = "refund",
        Manual = "manual",
        /// A payout: the one member paid.
        Payout = "payout",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every wire name parses back to its state, so `db` can decode what it wrote.
    #[test]
    fn wire_names_round_trip() {
        fn check<T: Copy + PartialEq + fmt::Debug + std::str::FromStr + fmt::Display>(all: &[T]) {
            for s in all {
                assert_eq!(s.to_string().parse::<T>().ok(), Some(*s));
            }
        }
        check(KttiKind::ALL);
        check(KttiStatus::ALL);
        check(MembershipStatus::ALL);
        check(KycStatus::ALL);
        check(TransactionKind::ALL);
        check(TransactionStatus::ALL);
        check(Direction::ALL);
        check(CardStatus::ALL);
        check(CardType::ALL);
        check(CardOrderStatus::ALL);
        check(ActionKind::ALL);
        check(ActionStatus::ALL);
        check(InvitationStatus::ALL);
        check(SplitMode::ALL);
        check(SplitOrigin::ALL);
        check(PayoutStatus::ALL);
        let err = "open".parse::<KttiStatus>().unwrap_err();
        assert_eq!(err.to_string(), "\"open\" is not a KttiStatus");
    }

    #[test]
    fn a_ktti_moves_only_forward_except_cancel_and_late_deposits() {
        use KttiStatus::*;
        let allowed: Vec<(KttiStatus, KttiStatus)> = pairs(KttiStatus::ALL)
            .into_iter()
            .filter(|(a, b)| a.can_become(*b))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (PendingSetup, Active),
                (Active, Closing),
                (Closing, Active),
                (Closing, Disbursing),
                (Disbursing, Closing),
                (Disbursing, ReadyToClose),
                (ReadyToClose, Closing),
                (ReadyToClose, Closed),
            ]
        );
        assert!(!Closed.can_become(Active) && !Closed.is_writable());
        assert!(PendingSetup.takes_members() && Active.takes_members() && !Closing.takes_members());
    }

    #[test]
    fn memberships_cards_kyc_actions_and_holds_move_as_documented() {
        use MembershipStatus as M;
        assert!(M::Active.can_become(M::Removed) && M::Active.can_become(M::Left));
        assert!(M::Removed.can_become(M::Active) && M::Invited.can_become(M::Active));
        assert!(!M::Left.can_become(M::Removed) && !M::Active.can_become(M::Active));
        assert!(M::Removed.is_departure() && !M::Expired.is_departure());

        assert!(CardStatus::Frozen.can_become(CardStatus::Active));
        assert!(!CardStatus::Cancelled.can_become(CardStatus::Active));

        assert!(KycStatus::Rejected.can_become(KycStatus::Pending));
        assert!(!KycStatus::Verified.can_become(KycStatus::Pending));

        assert!(ActionStatus::Pending.can_become(ActionStatus::Approved));
        assert!(!ActionStatus::Approved.can_become(ActionStatus::Rejected));

        assert!(TransactionStatus::Pending.can_become(TransactionStatus::Posted));
        assert!(!TransactionStatus::Posted.can_become(TransactionStatus::Reversed));
    }

    fn pairs<T: Copy>(all: &[T]) -> Vec<(T, T)> {
        all.iter().flat_map(|a| all.iter().map(move |b| (*a, *b))).collect()
    }
}
