//! What KttiPay tells people: each event becomes one [`Notice`] per recipient,
//! in a [`Category`] the recipient chooses channels for ([`Prefs`]).
//!
//! The words live here (pure, tested), so the inbox, the push and the email of one
//! notification say the same thing, and a new event is one function.

use crate::money::Money;
use rust_decimal::Decimal;
use uuid::Uuid;

crate::lifecycle::states! {
    /// What a notification is about; preferences are per category.
    Category {
        MoneyIn = "moneyIn",
        MoneyOut = "moneyOut",
        Splits = "splits",
        Membership = "membership",
        Actions = "actions",
        Closure = "closure",
        Chat = "chat",
        Billing = "billing",
        Account = "account",
    }
}

crate::lifecycle::states! {
    /// Where a notification goes.
    Channel { Push = "push", Email = "email", Inbox = "inbox" }
}

/// Longest chat preview in a notification (the message itself is in the chat).
pub const PREVIEW_MAX_CHARS: usize = 120;

/// One category's channels for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefs {
    pub push: bool,
    pub email: bool,
    pub inbox: bool,
}

impl Category {
    /// What a user who never chose gets: everything in the app, email where it is
    /// worth an email (chat, split edits and comings and goings are too chatty
    /// for mail; card spends are pushed, the monthly picture is in the app).
    pub const fn defaults(self) -> Prefs {
        let email = !matches!(
            self,
            Category::Chat | Category::Splits | Category::MoneyOut | Category::Membership
        );
        Prefs {
            push: true,
            email,
            inbox: true,
        }
    }

    /// Whether the user may turn `channel` off: security and account messages
    /// (KYC outcome, sign-in and password matters) always reach them by email.
    pub const fn may_mute(self, channel: Channel) -> bool {
        !matches!((self, channel), (Category::Account, Channel::Email))
    }

    /// Emails of this category to one user about one ktti are gathered into one
    /// digest when they come faster than the digest window (busy ktties).
    pub const fn digested(self) -> bool {
        matches!(self, Category::MoneyIn)
    }
}

impl Prefs {
    /// `wanted` as stored, with the channels that cannot be muted forced on.
    pub fn enforced(category: Category, wanted: Prefs) -> Prefs {
        Prefs {
            push: wanted.push || !category.may_mute(Channel::Push),
            email: wanted.email || !category.may_mute(Channel::Email),
            inbox: wanted.inbox || !category.may_mute(Channel::Inbox),
        }
    }
}

/// One notification's content, for every recipient of an event alike except
/// the share (each recipient's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub category: Category,
    /// Stable event name for apps (`depositIn`, `cardSpend`, `chatMessage`, ...).
    pub event: &'static str,
    pub title: String,
    pub body: String,
    /// Deep link: the ktti, transaction and action item it is about.
    pub ktti: Option<Uuid>,
    pub transaction: Option<Uuid>,
    pub action: Option<Uuid>,
    /// Its own email already goes out (an invitation, a failed billing
    /// charge): the email channel is skipped, the rest goes as usual.
    pub emailed_elsewhere: bool,
}

impl Notice {
    fn new(category: Category, event: &'static str, title: String, body: String) -> Notice {
        Notice {
            category,
            event,
            title,
            body,
            ktti: None,
            transaction: None,
            action: None,
            emailed_elsewhere: false,
        }
    }

    pub fn emailed_elsewhere(mut self) -> Notice {
        self.emailed_elsewhere = true;
        self
    }

    pub fn in_ktti(mut self, ktti: Uuid) -> Notice {
        self.ktti = Some(ktti);
        self
    }

    pub fn about_transaction(mut self, txn: Uuid) -> Notice {
        self.transaction = Some(txn);
        self
    }

    pub fn about_action(mut self, action: Uuid) -> Notice {
        self.action = Some(action);
        self
    }
}

/// `$12.50`.
pub fn dollars(amount: Money) -> String {
    format!("${amount}")
}

/// A share as money is written: two decimals, `0.00` included.
fn cents(d: Decimal) -> String {
    let mut d = d.round_dp(2);
    d.rescale(2);
    d.to_string()
}

fn share_line(share: Option<Decimal>) -> String {
    match share {
        Some(s) if !s.is_zero() => format!(" Your share: ${}.", cents(s)),
        _ => String::new(),
    }
}

/// Money arrived in a ktti: to the depositor and to the ktti's managers.
pub fn deposit_in(ktti_name: &str, amount: Money, depositor: Option<&str>) -> Notice {
    let who = depositor.map_or_else(|| "A deposit".to_string(), |d| format!("{d} paid in"));
    Notice::new(
        Category::MoneyIn,
        "depositIn",
        format!("{} in {ktti_name}", dollars(amount)),
        format!("{who}: {} arrived in {ktti_name}.", dollars(amount)),
    )
}

/// A card payment settled; `share` is the recipient's part of it.
pub fn card_spend(ktti_name: &str, merchant: &str, amount: Money, share: Option<Decimal>) -> Notice {
    Notice::new(
        Category::MoneyOut,
        "cardSpend",
        format!("{} at {merchant}", dollars(amount)),
        format!(
            "{ktti_name} paid {} at {merchant}.{}",
            dollars(amount),
            share_line(share)
        ),
    )
}

/// A card payment the bank refused (to the card holder).
pub fn card_declined(ktti_name: &str, merchant: &str, amount: Money) -> Notice {
    Notice::new(
        Category::MoneyOut,
        "cardDeclined",
        format!("Declined: {} at {merchant}", dollars(amount)),
        format!(
            "Your {ktti_name} card was declined for {} at {merchant}. No money moved.",
            dollars(amount)
        ),
    )
}

/// A merchant refunded a payment; `share` is what the recipient gets back.
pub fn refund(ktti_name: &str, merchant: &str, amount: Money, share: Option<Decimal>) -> Notice {
    Notice::new(
        Category::MoneyIn,
        "refund",
        format!("Refund of {} from {merchant}", dollars(amount)),
        format!(
            "{merchant} refunded {} to {ktti_name}.{}",
            dollars(amount),
            share_line(share)
        ),
    )
}

/// Someone changed how an expense is split; `share` is the recipient's new part.
pub fn split_changed(ktti_name: &str, what: &str, share: Decimal) -> Notice {
    Notice::new(
        Category::Splits,
        "splitChanged",
        format!("Split changed: {what}"),
        format!(
            "The split of {what} in {ktti_name} changed. Your share is now ${}.",
            cents(share)
        ),
    )
}

/// A member joined, left or was removed (to the ktti's managers).
pub fn membership_changed(ktti_name: &str, who: &str, change: MembershipChange) -> Notice {
    let (event, verb) = match change {
        MembershipChange::Joined => ("memberJoined", "joined"),
        MembershipChange::Left => ("memberLeft", "left"),
        MembershipChange::Removed => ("memberRemoved", "was removed from"),
    };
    Notice::new(
        Category::Membership,
        event,
        format!("{who} {verb} {ktti_name}"),
        format!("{who} {verb} {ktti_name}."),
    )
}

/// The recipient was removed from a ktti.
pub fn you_were_removed(ktti_name: &str) -> Notice {
    Notice::new(
        Category::Membership,
        "youWereRemoved",
        format!("You are no longer in {ktti_name}"),
        format!("An admin removed you from {ktti_name}. Your card for it no longer works."),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipChange {
    Joined,
    Left,
    Removed,
}

/// An action item waits for the recipient (invitation, admin request, join
/// approval, unassigned deposit, negative balance, failed payout, ...).
pub fn action_item(kind: &str, ktti_name: &str) -> Notice {
    let (title, body) = match kind {
        "invitation" => (
            format!("You're invited to {ktti_name}"),
            format!("Accept or decline the invitation to {ktti_name}."),
        ),
        "adminRequest" => (
            format!("Admin request in {ktti_name}"),
            format!("A member of {ktti_name} asks to become an admin."),
        ),
        "joinApproval" => (
            format!("Someone wants to join {ktti_name}"),
            format!("Approve or reject a request to join {ktti_name}."),
        ),
        "unassignedDeposit" => (
            format!("Whose deposit is this? ({ktti_name})"),
            format!("A deposit in {ktti_name} matched no member: assign it."),
        ),
        "negativeBalance" => (
            format!("{ktti_name} is below zero"),
            format!("{ktti_name}'s balance went below zero: pay in to cover it."),
        ),
        "payoutFailed" => (
            format!("A payout from {ktti_name} failed"),
            format!("The bank refused a payout from {ktti_name}; it can be sent again."),
        ),
        "lateMovement" => (
            format!("Money moved in closing {ktti_name}"),
            format!("Money moved in {ktti_name} after payouts started; have a look before finishing."),
        ),
        "payoutAccountNeeded" => (
            "Where should we pay you?".to_string(),
            format!("{ktti_name} is closing: add the bank account your share should go to."),
        ),
        _ => (
            format!("Something needs you in {ktti_name}"),
            format!("An item in {ktti_name} waits for your decision."),
        ),
    };
    Notice::new(Category::Actions, "actionItem", title, body)
}

/// A chat message (to every other member).
pub fn chat_message(ktti_name: &str, author: &str, text: Option<&str>) -> Notice {
    let preview = match text {
        Some(t) => preview(t),
        None => "sent a photo".to_string(),
    };
    Notice::new(
        Category::Chat,
        "chatMessage",
        format!("{author} in {ktti_name}"),
        preview,
    )
}

/// The first [`PREVIEW_MAX_CHARS`] characters of `text` on one line.
pub fn preview(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= PREVIEW_MAX_CHARS {
        return flat;
    }
    let cut: String = flat.chars().take(PREVIEW_MAX_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

/// A closure step (to every member).
pub fn closure_step(ktti_name: &str, step: ClosureStep) -> Notice {
    let (event, title, body) = match step {
        ClosureStep::Started => (
            "closureStarted",
            format!("{ktti_name} is closing"),
            format!("{ktti_name} is closing: its card is frozen and what is left will be paid back to members."),
        ),
        ClosureStep::Cancelled => (
            "closureCancelled",
            format!("{ktti_name} is open again"),
            format!("Closing {ktti_name} was cancelled; its card works again."),
        ),
        ClosureStep::Closed => (
            "kttiClosed",
            format!("{ktti_name} is closed"),
            format!("{ktti_name} is closed. Thanks for using KttiPay."),
        ),
    };
    Notice::new(Category::Closure, event, title, body)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosureStep {
    Started,
    Cancelled,
    Closed,
}

/// A member's payout from a closing ktti arrived (to that member).
pub fn payout_paid(ktti_name: &str, amount: Money) -> Notice {
    Notice::new(
        Category::Closure,
        "payoutPaid",
        format!("{} paid out from {ktti_name}", dollars(amount)),
        format!("Your share of {ktti_name}, {}, is on its way to you.", dollars(amount)),
    )
}

/// A billing charge went through or failed (to the owner).
pub fn billing_outcome(ktti_name: &str, amount: Money, charged: bool) -> Notice {
    if charged {
        Notice::new(
            Category::Billing,
            "billingCharged",
            format!("{ktti_name}: plan fee {}", dollars(amount)),
            format!("{} was charged to {ktti_name} for its plan.", dollars(amount)),
        )
    } else {
        Notice::new(
            Category::Billing,
            "billingFailed",
            format!("{ktti_name}: plan fee not paid"),
            format!(
                "{ktti_name} could not pay its plan fee of {}; we will try again.",
                dollars(amount)
            ),
        )
    }
}

/// The outcome of identity verification (account: always emailed).
pub fn kyc_outcome(verified: bool) -> Notice {
    if verified {
        Notice::new(
            Category::Account,
            "kycVerified",
            "You're verified".into(),
            "Your identity is verified: your personal ktti and card are ready.".into(),
        )
    } else {
        Notice::new(
            Category::Account,
            "kycRejected",
            "We could not verify you".into(),
            "We could not verify your identity. Check your details and try again.".into(),
        )
    }
}

/// A test ping the user asked for.
pub fn test_push() -> Notice {
    Notice::new(
        Category::Account,
        "testPush",
        "KttiPay test".into(),
        "Push notifications reach this device.".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        Money::new(s.parse().unwrap()).unwrap()
    }

    #[test]
    fn account_email_cannot_be_muted_and_the_rest_can() {
        let off = Prefs {
            push: false,
            email: false,
            inbox: false,
        };
        let account = Prefs::enforced(Category::Account, off);
        assert!(account.email && !account.push && !account.inbox);
        for c in Category::ALL.iter().filter(|c| **c != Category::Account) {
            assert_eq!(Prefs::enforced(*c, off), off, "{c}");
        }
    }

    #[test]
    fn chat_and_spends_are_not_emailed_by_default() {
        assert!(!Category::Chat.defaults().email);
        assert!(!Category::MoneyOut.defaults().email);
        assert!(Category::MoneyIn.defaults().email);
        assert!(Category::ALL.iter().all(|c| c.defaults().push && c.defaults().inbox));
    }

    #[test]
    fn money_notices_carry_the_recipients_share() {
        let n = card_spend("Trip", "Cafe", m("30.00"), Some(Decimal::new(1000, 2)));
        assert_eq!(n.title, "$30.00 at Cafe");
        assert!(n.body.ends_with("Your share: $10.00."), "{}", n.body);
        let none = card_spend("Trip", "Cafe", m("30.00"), None);
        assert!(!none.body.contains("share"));
    }

    #[test]
    fn shares_are_written_with_two_decimals() {
        let n = split_changed("Trip", "Cafe", Decimal::ZERO);
        assert!(n.body.ends_with("Your share is now $0.00."), "{}", n.body);
        let n = split_changed("Trip", "Cafe", Decimal::new(105, 1));
        assert!(n.body.ends_with("$10.50."), "{}", n.body);
    }

    #[test]
    fn previews_are_one_short_line() {
        assert_eq!(preview("  hi\n\nthere "), "hi there");
        let long = "x".repeat(500);
        let p = preview(&long);
        assert_eq!(p.chars().count(), PREVIEW_MAX_CHARS);
        assert!(p.ends_with('…'));
        assert_eq!(chat_message("Trip", "Ann", None).body, "sent a photo");
    }
}
