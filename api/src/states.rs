//! The lifecycle states of `kttipay_domain::lifecycle` as OpenAPI enums, so the
//! document lists every value and the app's generated client knows them. Each
//! mirror converts both ways with its domain type; a unit test keeps the wire
//! names equal to the domain's (which are also the database's).

use kttipay_domain::lifecycle as domain;
use kttipay_domain::membership::Role as DomainRole;

/// Declares an OpenAPI enum mirroring a domain state, variant for variant.
macro_rules! mirror {
    ($(#[$meta:meta])* $name:ident = $domain:ty { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(poem_openapi::Enum, serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
        #[oai(rename_all = "camelCase")]
        #[serde(rename_all = "camelCase")]
        pub enum $name {
            $($variant),+
        }

        impl From<$domain> for $name {
            fn from(d: $domain) -> Self {
                match d {
                    $(<$domain>::$variant => $name::$variant),+
                }
            }
        }

        impl From<$name> for $domain {
            fn from(a: $name) -> Self {
                match a {
                    $($name::$variant => <$domain>::$variant),+
                }
            }
        }
    };
}

mirror! {
    /// A personal ktti (one per verified user) or a group one.
    KttiKind = domain::KttiKind { Personal, Group }
}
mirror! {
    /// Where a ktti is in its life.
    KttiStatus = domain::KttiStatus { PendingSetup, Active, Closing, Disbursing, ReadyToClose, Closed }
}
mirror! {
    /// A person's standing in a ktti.
    MembershipStatus = domain::MembershipStatus { Invited, Active, Rejected, Expired, Left, Removed }
}
mirror! {
    /// Identity verification at the bank.
    KycStatus = domain::KycStatus { NotStarted, Pending, Verified, Rejected }
}
mirror! {
    TransactionKind = domain::TransactionKind { Deposit, CardPayment, Refund, Fee, Payout, TransferOut }
}
mirror! {
    /// `pending`: a card hold not yet settled; `reversed`: released or expired.
    TransactionStatus = domain::TransactionStatus { Pending, Posted, Reversed, Declined }
}
mirror! {
    /// Money into the ktti or out of it.
    Direction = domain::Direction { In, Out }
}
mirror! {
    CardStatus = domain::CardStatus { Active, Frozen, Cancelled }
}
mirror! {
    CardType = domain::CardType { Virtual, Physical }
}
mirror! {
    /// A physical card order: none yet, ordered, shipped.
    CardOrderStatus = domain::CardOrderStatus { None, Ordered, Shipped }
}
mirror! {
    /// What an action item asks of its addressee.
    ActionKind = domain::ActionKind {
        AdminRequest, JoinApproval, Invitation, UnassignedDeposit, NegativeBalance, PayoutFailed, LateMovement,
        PayoutAccountNeeded
    }
}
mirror! {
    ActionStatus = domain::ActionStatus { Pending, Approved, Rejected, Resolved, Cancelled }
}
mirror! {
    InvitationStatus = domain::InvitationStatus { Pending, Accepted, Rejected, Expired, Revoked }
}
mirror! {
    /// How a split divides its transaction.
    SplitMode = domain::SplitMode { Equal, Shares, Percentages, Exact, LineItems }
}
mirror! {
    /// Who made a split: the money flow (`default`, `refund`, `payout`) or a person (`manual`).
    SplitOrigin = domain::SplitOrigin { Default, Refund, Manual, Payout }
}
mirror! {
    /// One payout of a closing ktti: `pending` (planned), `submitted` (sent to the
    /// bank), `completed`, `failed` (refused: nothing moved), `dead` (out of
    /// attempts, waiting for an operator).
    PayoutStatus = domain::PayoutStatus { Pending, Submitted, Completed, Failed, Dead }
}
mirror! {
    /// A member's role in a ktti.
    Role = DomainRole { Owner, Admin, Member }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::types::ToJSON;

    /// The document's value for each state is the domain's (and the database's).
    fn same_names<D, A>(all: &[D], as_str: fn(D) -> &'static str)
    where
        D: Copy + Into<A>,
        A: ToJSON,
    {
        for d in all {
            let api: A = (*d).into();
            assert_eq!(api.to_json(), Some(serde_json::Value::from(as_str(*d))));
        }
    }

    #[test]
    fn wire_names_match_the_domain() {
        same_names::<_, KttiKind>(domain::KttiKind::ALL, domain::KttiKind::as_str);
        same_names::<_, KttiStatus>(domain::KttiStatus::ALL, domain::KttiStatus::as_str);
        same_names::<_, MembershipStatus>(domain::MembershipStatus::ALL, domain::MembershipStatus::as_str);
        same_names::<_, KycStatus>(domain::KycStatus::ALL, domain::KycStatus::as_str);
        same_names::<_, TransactionKind>(domain::TransactionKind::ALL, domain::TransactionKind::as_str);
        same_names::<_, TransactionStatus>(domain::TransactionStatus::ALL, domain::TransactionStatus::as_str);
        same_names::<_, Direction>(domain::Direction::ALL, domain::Direction::as_str);
        same_names::<_, CardStatus>(domain::CardStatus::ALL, domain::CardStatus::as_str);
        same_names::<_, CardType>(domain::CardType::ALL, domain::CardType::as_str);
        same_names::<_, CardOrderStatus>(domain::CardOrderStatus::ALL, domain::CardOrderStatus::as_str);
        same_names::<_, ActionKind>(domain::ActionKind::ALL, domain::ActionKind::as_str);
        same_names::<_, ActionStatus>(domain::ActionStatus::ALL, domain::ActionStatus::as_str);
        same_names::<_, InvitationStatus>(domain::InvitationStatus::ALL, domain::InvitationStatus::as_str);
        same_names::<_, SplitMode>(domain::SplitMode::ALL, domain::SplitMode::as_str);
        same_names::<_, SplitOrigin>(domain::SplitOrigin::ALL, domain::SplitOrigin::as_str);
        same_names::<_, PayoutStatus>(domain::PayoutStatus::ALL, domain::PayoutStatus::as_str);
        same_names::<_, Role>(DomainRole::ALL, DomainRole::as_str);
    }
}
