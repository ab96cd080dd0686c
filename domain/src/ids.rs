//! Typed ids. Each wraps a UUID; the wrapper stops a `SessionId` being used as a
//! `UserId` at compile time, which plain `Uuid`s everywhere would not.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh id. UUIDv7 keeps ids roughly time-ordered, so b-tree
            /// inserts stay at the right edge of the index.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

typed_id!(
    /// A KttiPay user.
    UserId
);
typed_id!(
    /// One login session: a family of rotated refresh tokens.
    SessionId
);
typed_id!(
    /// A job in the outbox (also the id its dispatch message carries).
    JobId
);
typed_id!(
    /// A ktti (a shared money pot, or a user's personal one).
    KttiId
);
typed_id!(
    /// A transaction of a ktti (a deposit, a card payment, a refund, ...).
    TransactionId
);
typed_id!(
    /// A banking-provider webhook as we stored it.
    ProviderEventId
);
typed_id!(
    /// One KYC submission (a user may submit again after a rejection).
    KycSubmissionId
);
typed_id!(
    /// A member's card on a ktti (ours, not the provider's id).
    CardId
);
typed_id!(
    /// An invitation to a ktti by email.
    InvitationId
);
typed_id!(
    /// One round of paying a closing ktti out.
    DisbursementId
);
typed_id!(
    /// One member's payout in a disbursement.
    PayoutId
);
typed_id!(
    /// One notification to one user (its inbox row, push and email).
    NotificationId
);
typed_id!(
    /// A message in a ktti's group chat.
    ChatMessageId
);
typed_id!(
    /// A moment: a member's post with photos in a ktti.
    MomentId
);

/// Alphabet of deposit references: no 0/O or 1/I, which people misread off a screen.
const REFERENCE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// A member's deposit reference, e.g. `KP7QX4M2HD`: "KP" and eight characters from
/// `random` (32^8, about 10^12 values, so collisions are rare and caught by a
/// unique index).
pub fn deposit_reference(random: u64) -> String {
    let mut out = String::from("KP");
    let mut r = random;
    for _ in 0..8 {
        out.push(REFERENCE_ALPHABET[(r % 32) as usize] as char);
        r /= 32;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deposit_references_are_readable() {
        let r = deposit_reference(u64::MAX);
        assert_eq!(r.len(), 10);
        assert!(r.starts_with("KP"));
        assert!(!r[2..].contains(['0', 'O', '1', 'I']));
        assert_ne!(deposit_reference(1), deposit_reference(2));
    }
}
