//! Who paid a deposit in. A bank credit names only its sender (name, BSB and
//! account, a free-text reference), so DOMAIN.md tries, in order:
//! 1. a transfer from a member's own personal ktti;
//! 2. a sender account remembered for a member;
//! 3. the member's deposit reference in the reference or description;
//! 4. the sender's name matching exactly one member's KYC-verified name (never the
//!    profile name, which anyone can set to match a stranger's transfer).
//!
//! Otherwise the deposit is unassigned and an admin decides. Only active members
//! are candidates, so a deposit from someone just removed lands unassigned.

use crate::ids::UserId;

/// What the bank told us about a credit.
#[derive(Debug, Default, Clone)]
pub struct Credit<'a> {
    pub sender_name: Option<&'a str>,
    pub sender_bsb: Option<&'a str>,
    pub sender_account: Option<&'a str>,
    pub reference: Option<&'a str>,
    pub description: Option<&'a str>,
}

/// An active member as a candidate payer.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub user: UserId,
    /// The BSB and account number of the member's personal ktti, if open.
    pub personal_account: Option<(String, String)>,
    pub deposit_reference: String,
    /// (first, last) as the provider verified them; `None` before KYC passes.
    pub verified_name: Option<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    PersonalKtti,
    RememberedAccount,
    DepositReference,
    NameMatch,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::PersonalKtti => "personalKtti",
            Reason::RememberedAccount => "rememberedAccount",
            Reason::DepositReference => "depositReference",
            Reason::NameMatch => "nameMatch",
        }
    }
}

/// The member who paid `credit` in, and how we know; `None` leaves it unassigned.
/// `remembered` is the member a sender account was remembered for, if any (and
/// still active).
pub fn attribute(credit: &Credit<'_>, members: &[Candidate], remembered: Option<UserId>) -> Option<(UserId, Reason)> {
    let sender = match (credit.sender_bsb, credit.sender_account) {
        (Some(b), Some(a)) => Some((digits(b), digits(a))),
        _ => None,
    };
    if let Some((bsb, account)) = &sender
        && let Some(m) = members.iter().find(|m| {
            m.personal_account
                .as_ref()
                .is_some_and(|(b, a)| digits(b) == *bsb && digits(a) == *account)
        })
    {
        return Some((m.user, Reason::PersonalKtti));
    }
    if let Some(user) = remembered.filter(|u| members.iter().any(|m| m.user == *u)) {
        return Some((user, Reason::RememberedAccount));
    }
    let texts: Vec<String> = [credit.reference, credit.description]
        .into_iter()
        .flatten()
        .map(compact)
        .collect();
    if let Some(m) = members.iter().find(|m| {
        let r = compact(&m.deposit_reference);
        !r.is_empty() && texts.iter().any(|t| t.contains(&r))
    }) {
        return Some((m.user, Reason::DepositReference));
    }
    let name = credit.sender_name.map(words).filter(|n| !n.is_empty())?;
    let mut matching = members.iter().filter(|m| {
        m.verified_name.as_ref().is_some_and(|(first, last)| {
            let (first, last) = (words(first), words(last));
            name == format!("{first} {last}") || name == format!("{last} {first}")
        })
    });
    match (matching.next(), matching.next()) {
        (Some(m), None) => Some((m.user, Reason::NameMatch)),
        _ => None, // nobody, or ambiguous
    }
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Upper case with no spaces or punctuation: how a reference is compared.
fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Upper-case words separated by one space, punctuation dropped: how names compare.
fn words(s: &str) -> String {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_uppercase)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(n: u128, first: &str, last: &str, reference: &str, personal: Option<(&str, &str)>) -> Candidate {
        Candidate {
            user: UserId(uuid::Uuid::from_u128(n)),
            personal_account: personal.map(|(b, a)| (b.into(), a.into())),
            deposit_reference: reference.into(),
            verified_name: Some((first.into(), last.into())),
        }
    }

    fn members() -> Vec<Candidate> {
        vec![
            member(1, "Pia", "Lee", "KP2345ABCD", Some(("802-985", "100000001"))),
            member(2, "Sam", "Tran", "KPZZZZ9999", None),
            member(3, "Sam", "Tran", "KPYYYY8888", None),
        ]
    }

    fn id(n: u128) -> UserId {
        UserId(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn the_members_personal_ktti_comes_first() {
        let credit = Credit {
            sender_bsb: Some("802985"),
            sender_account: Some("100000001"),
            reference: Some("KPZZZZ9999"),
            ..Default::default()
        };
        assert_eq!(
            attribute(&credit, &members(), Some(id(2))),
            Some((id(1), Reason::PersonalKtti))
        );
    }

    #[test]
    fn then_a_remembered_account_then_the_reference() {
        let credit = Credit {
            sender_bsb: Some("062000"),
            sender_account: Some("12345678"),
            reference: Some("for bali kpzz zz99 99"),
            ..Default::default()
        };
        assert_eq!(
            attribute(&credit, &members(), Some(id(3))),
            Some((id(3), Reason::RememberedAccount))
        );
        assert_eq!(
            attribute(&credit, &members(), None),
            Some((id(2), Reason::DepositReference))
        );
        // A remembered member who is no longer active is no candidate.
        assert_eq!(
            attribute(&credit, &members(), Some(id(9))),
            Some((id(2), Reason::DepositReference))
        );
    }

    #[test]
    fn names_match_only_when_unambiguous() {
        let by = |name: &'static str| Credit {
            sender_name: Some(name),
            ..Default::default()
        };
        assert_eq!(
            attribute(&by("LEE, PIA"), &members(), None),
            Some((id(1), Reason::NameMatch))
        );
        assert_eq!(
            attribute(&by("pia  lee"), &members(), None),
            Some((id(1), Reason::NameMatch))
        );
        assert_eq!(attribute(&by("SAM TRAN"), &members(), None), None, "two Sam Trans");
        assert_eq!(attribute(&by("P LEE"), &members(), None), None);
        assert_eq!(attribute(&Credit::default(), &members(), None), None);
    }

    #[test]
    fn a_name_counts_only_once_the_provider_verified_it() {
        let mut unverified = member(4, "Zed", "Quinn", "KPXXXX7777", None);
        unverified.verified_name = None;
        let by = Credit {
            sender_name: Some("ZED QUINN"),
            ..Default::default()
        };
        assert_eq!(attribute(&by, &[unverified], None), None);
    }
}
