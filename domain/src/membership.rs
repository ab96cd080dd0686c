//! Who may do what in a ktti (DOMAIN.md's roles table), referral codes, and the
//! rules for a group ktti's own fields.
//!
//! Every permission is a function of the actor's role, the target's role where
//! there is one, and the ktti's settings, so the table is tested cell by cell here
//! and the API only asks.

use crate::Money;
use crate::ids::UserId;
use crate::lifecycle::{CardStatus, KttiKind, KttiStatus, KycStatus, MembershipStatus};
use chrono::NaiveDate;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// Every role, highest first.
    pub const ALL: &'static [Role] = &[Role::Owner, Role::Admin, Role::Member];

    /// Owners and admins run the ktti.
    pub fn manages(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// How `db` decodes a stored role.
impl TryFrom<String> for Role {
    type Error = crate::lifecycle::UnknownState;
    fn try_from(s: String) -> Result<Role, Self::Error> {
        Role::parse(&s).ok_or(crate::lifecycle::UnknownState { of: "Role", value: s })
    }
}

/// A group ktti's settings (PATCH v3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub members_can_spend: bool,
    pub members_can_invite: bool,
    pub approval_required_to_join: bool,
}

/// Why a role may not do something; the API turns it into a 403 with this code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    pub code: &'static str,
    pub reason: &'static str,
}

const fn denied(code: &'static str, reason: &'static str) -> Result<(), Denied> {
    Err(Denied { code, reason })
}

/// Edit the ktti's name, description, target and settings.
pub fn may_edit(actor: Role) -> Result<(), Denied> {
    if actor.manages() {
        Ok(())
    } else {
        denied("role_forbidden", "Only the ktti's owner or an admin may change it.")
    }
}

/// Invite people or rotate the referral code.
pub fn may_invite(actor: Role, settings: Settings) -> Result<(), Denied> {
    if actor.manages() || settings.members_can_invite {
        Ok(())
    } else {
        denied("role_forbidden", "Only the owner or an admin may invite to this ktti.")
    }
}

/// Remove a member, or change their canSpend or nickname.
pub fn may_manage(actor: Role, target: Role) -> Result<(), Denied> {
    match (actor, target) {
        (Role::Owner, _) => Ok(()),
        (Role::Admin, Role::Owner) => denied("role_forbidden", "An admin may not change the owner's membership."),
        (Role::Admin, _) => Ok(()),
        (Role::Member, _) => denied("role_forbidden", "Only the owner or an admin may manage members."),
    }
}

/// Change `target`'s role to `to`. Only the owner hands ownership over (and then
/// becomes an admin); admins promote and demote members and other admins.
pub fn may_set_role(actor: Role, target: Role, to: Role) -> Result<(), Denied> {
    may_manage(actor, target)?;
    if to == Role::Owner && actor != Role::Owner {
        return denied("role_forbidden", "Only the owner may hand ownership over.");
    }
    Ok(())
}

/// Approve or reject an admin request or a join request.
pub fn may_approve(actor: Role) -> Result<(), Denied> {
    if actor.manages() {
        Ok(())
    } else {
        denied("role_forbidden", "Only the owner or an admin may decide this.")
    }
}

/// Assign a deposit to `assignee`. Owners and admins assign any deposit and
/// reassign one that already has an assignee. A member only claims a deposit
/// nobody has yet, and only for themselves: otherwise one member could take
/// another's money into their own total.
pub fn may_assign_deposit(actor: Role, to_self: bool, already_assigned: bool) -> Result<(), Denied> {
    if actor.manages() {
        Ok(())
    } else if !to_self {
        denied("role_forbidden", "Members may only claim deposits as their own.")
    } else if already_assigned {
        denied(
            "role_forbidden",
            "This deposit is already someone's; only the owner or an admin may reassign it.",
        )
    } else {
        Ok(())
    }
}

/// Change a transaction's split: owners and admins any; a member only one they
/// are in (so a member cannot shift costs between two other members).
pub fn may_change_split(actor: Role, in_split: bool) -> Result<(), Denied> {
    if actor.manages() || in_split {
        Ok(())
    } else {
        denied(
            "role_forbidden",
            "Members may change only the splits of expenses they are part of.",
        )
    }
}

/// Change a moment's text or photos: its author only (nobody edits another's
/// words, not even the owner).
pub fn may_edit_moment(wrote_it: bool) -> Result<(), Denied> {
    if wrote_it {
        Ok(())
    } else {
        denied("role_forbidden", "Only whoever posted the moment may change it.")
    }
}

/// Hide a moment or show it again: the owner or an admin (moderation).
pub fn may_hide_moment(actor: Role) -> Result<(), Denied> {
    if actor.manages() {
        Ok(())
    } else {
        denied("role_forbidden", "Only the owner or an admin may hide a moment.")
    }
}

/// Delete a receipt: whoever uploaded it, or the owner or an admin.
pub fn may_delete_receipt(actor: Role, uploaded_it: bool) -> Result<(), Denied> {
    if actor.manages() || uploaded_it {
        Ok(())
    } else {
        denied(
            "role_forbidden",
            "Only whoever uploaded the receipt, the owner or an admin may delete it.",
        )
    }
}

/// Edit the ktti's default split proportions.
pub fn may_edit_proportions(actor: Role) -> Result<(), Denied> {
    if actor.manages() {
        Ok(())
    } else {
        denied(
            "role_forbidden",
            "Only the ktti's owner or an admin may change the default split.",
        )
    }
}

/// Whether assigning a deposit also remembers its sender account for the
/// assignee, given who the account is remembered for now. A member's claim never
/// takes an account remembered for someone else (their later transfers would be
/// credited to the claimant); only the owner or an admin re-points it.
pub fn remembers_sender(actor: Role, remembered_for: Option<UserId>, assignee: UserId) -> bool {
    actor.manages() || remembered_for.is_none_or(|u| u == assignee)
}

/// Start or cancel a ktti's closure, disburse it and finalise it.
pub fn may_close(actor: Role) -> Result<(), Denied> {
    if actor.manages() {
        Ok(())
    } else {
        denied("role_forbidden", "Only the ktti's owner or an admin may close it.")
    }
}

/// Change the billing plan: the owner alone (it is their money commitment; an
/// admin may close the ktti but not change what it pays).
pub fn may_change_billing(actor: Role) -> Result<(), Denied> {
    if actor == Role::Owner {
        Ok(())
    } else {
        denied("role_forbidden", "Only the ktti's owner may change its plan.")
    }
}

/// Leave the ktti: an owner hands ownership over first.
pub fn may_leave(actor: Role) -> Result<(), Denied> {
    if actor == Role::Owner {
        denied("owner_cannot_leave", "Hand ownership to another member before leaving.")
    } else {
        Ok(())
    }
}

/// Spend with the ktti's card.
pub fn may_spend(actor: Role, own_can_spend: bool, settings: Settings) -> bool {
    actor.manages() || (settings.members_can_spend && own_can_spend)
}

/// What decides whether a member's card may spend right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardHolder {
    /// Blocked by KttiPay staff.
    pub blocked: bool,
    pub membership: MembershipStatus,
    pub role: Role,
    pub can_spend: bool,
    pub members_can_spend: bool,
    pub ktti_status: KttiStatus,
}

impl CardHolder {
    /// The card state the holder's rights call for.
    pub fn card_should_be(&self) -> CardStatus {
        let settings = Settings {
            members_can_spend: self.members_can_spend,
            members_can_invite: false,
            approval_required_to_join: false,
        };
        if !self.blocked
            && self.membership == MembershipStatus::Active
            && self.ktti_status.cards_may_spend()
            && may_spend(self.role, self.can_spend, settings)
        {
            CardStatus::Active
        } else {
            CardStatus::Frozen
        }
    }

    /// Why the card is frozen, for the note the bank keeps with the block.
    pub fn why_frozen(&self) -> &'static str {
        if self.blocked {
            "the holder is blocked by KttiPay staff"
        } else if self.membership != MembershipStatus::Active {
            "the holder is no longer a member"
        } else if !self.ktti_status.cards_may_spend() {
            "the ktti is closing"
        } else {
            "the holder may not spend on this ktti"
        }
    }
}

/// The ktti or the caller is not in a state for the request (the API's 409),
/// whatever their role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotNow {
    pub code: &'static str,
    pub reason: &'static str,
}

const fn not_now(code: &'static str, reason: &'static str) -> Result<(), NotNow> {
    Err(NotNow { code, reason })
}

/// Members, invitations, referral codes and settings belong to group ktties; a
/// personal ktti has its owner alone.
pub fn must_be_group(kind: KttiKind) -> Result<(), NotNow> {
    match kind {
        KttiKind::Group => Ok(()),
        KttiKind::Personal => not_now("personal_ktti", "A personal ktti has no other members."),
    }
}

/// Opening, joining or being admitted to a group ktti needs a verified identity:
/// members hold a card on a real bank account, which the bank issues to verified
/// customers only.
pub fn must_be_verified(kyc: KycStatus) -> Result<(), NotNow> {
    if kyc == KycStatus::Verified {
        Ok(())
    } else {
        not_now(
            "kyc_required",
            "Verify your identity first: members hold a card on the ktti's bank account.",
        )
    }
}

/// A member who spent more than they paid in settles up before leaving an
/// active ktti: leaving would hand their debt to everyone else. (While the ktti
/// closes, the disbursement plan lists what they owe instead.)
pub fn must_not_owe(net: Money, status: KttiStatus) -> Result<(), NotNow> {
    if net < Money::ZERO && status == KttiStatus::Active {
        not_now(
            "negative_balance",
            "You have spent more than you paid in: pay the difference in before leaving.",
        )
    } else {
        Ok(())
    }
}

/// New members join only before closure starts.
pub fn must_take_members(status: KttiStatus) -> Result<(), NotNow> {
    if status.takes_members() {
        Ok(())
    } else {
        not_now("ktti_not_open", "This ktti is closing and takes no new members.")
    }
}

/// A closure starts from an active ktti only.
pub fn must_be_active_to_close(status: KttiStatus) -> Result<(), NotNow> {
    match status {
        KttiStatus::Active => Ok(()),
        KttiStatus::PendingSetup => not_now("ktti_not_active", "This ktti is still being set up."),
        KttiStatus::Closed => not_now("ktti_closed", "This ktti is closed; it can no longer change."),
        _ => not_now("ktti_not_active", "This ktti is already closing."),
    }
}

/// A closure can be cancelled until payouts start.
pub fn must_be_cancellable(status: KttiStatus) -> Result<(), NotNow> {
    match status {
        KttiStatus::Closing => Ok(()),
        KttiStatus::Disbursing | KttiStatus::ReadyToClose => not_now(
            "payouts_started",
            "Payouts have started; the closure can no longer be cancelled.",
        ),
        KttiStatus::Closed => not_now("ktti_closed", "This ktti is closed; it can no longer change."),
        _ => not_now("not_closing", "This ktti is not closing."),
    }
}

/// The plan is paid out from `closing` (the first round, or another once a round
/// ended with money left).
pub fn must_be_disbursable(status: KttiStatus) -> Result<(), NotNow> {
    match status {
        KttiStatus::Closing => Ok(()),
        KttiStatus::Disbursing => not_now(
            "payouts_in_flight",
            "Payouts are under way; disburse again once they have finished.",
        ),
        KttiStatus::ReadyToClose => not_now("nothing_to_pay", "Everything has been paid out."),
        KttiStatus::Closed => not_now("ktti_closed", "This ktti is closed; it can no longer change."),
        _ => not_now("not_closing", "Start the closure before paying out."),
    }
}

/// Only a ktti whose payouts all completed and whose balances are 0 may close.
pub fn must_be_finalizable(status: KttiStatus) -> Result<(), NotNow> {
    match status {
        KttiStatus::ReadyToClose => Ok(()),
        KttiStatus::Closed => not_now("ktti_closed", "This ktti is closed; it can no longer change."),
        _ => not_now(
            "not_ready_to_close",
            "Pay everything out first: the ktti closes once its balances are 0.",
        ),
    }
}

/// Who bears what (splits, deposit assignees, default proportions) is fixed
/// from the moment the plan is paid out: the payouts were computed from it.
/// (While `closing` it may still change: deposits must be assigned first.)
pub fn must_allow_money_edits(status: KttiStatus) -> Result<(), NotNow> {
    match status {
        KttiStatus::Disbursing | KttiStatus::ReadyToClose => not_now(
            "payouts_started",
            "Payouts have started: who bears what can no longer change.",
        ),
        other => must_be_writable(other),
    }
}

/// A closed ktti is final and read-only.
pub fn must_be_writable(status: KttiStatus) -> Result<(), NotNow> {
    if status.is_writable() {
        Ok(())
    } else {
        not_now("ktti_closed", "This ktti is closed; it can no longer change.")
    }
}

/// Alphabet of referral codes: no 0/O or 1/I, which people misread.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// 12 characters of 32 = 60 bits: with joins rate limited per user and address,
/// guessing a live code is out of reach.
pub const REFERRAL_CODE_CHARS: usize = 12;

/// A referral code from 16 random bytes (only 60 bits are used).
pub fn referral_code(random: u128) -> String {
    let mut r = random;
    (0..REFERRAL_CODE_CHARS)
        .map(|_| {
            let c = CODE_ALPHABET[(r % 32) as usize] as char;
            r /= 32;
            c
        })
        .collect()
}

/// A code as typed: case-blind, spaces and dashes ignored.
pub fn normalize_code(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// How long an invitation stays open.
pub const INVITATION_TTL_DAYS: i64 = 14;

pub const NAME_MAX_CHARS: usize = 60;
pub const DESCRIPTION_MAX_CHARS: usize = 500;
pub const PURPOSE_MAX_CHARS: usize = 100;
pub const NICKNAME_MAX_CHARS: usize = 40;

fn text(raw: &str, max: usize, required: bool) -> Result<String, String> {
    let t = raw.trim();
    if required && t.is_empty() {
        return Err("must not be empty".into());
    }
    // Counted as sent, before trimming: what the document's `maxLength` counts.
    if raw.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if t.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(t.to_string())
}

pub fn name(raw: &str) -> Result<String, String> {
    text(raw, NAME_MAX_CHARS, true)
}

pub fn description(raw: &str) -> Result<String, String> {
    text(raw, DESCRIPTION_MAX_CHARS, false)
}

pub fn purpose(raw: &str) -> Result<String, String> {
    text(raw, PURPOSE_MAX_CHARS, false)
}

pub fn nickname(raw: &str) -> Result<String, String> {
    text(raw, NICKNAME_MAX_CHARS, false)
}

/// A savings target: positive.
pub fn target_amount(m: Money) -> Result<Money, String> {
    m.positive().map_err(|_| "must be more than 0.00".to_string())
}

/// An end date: today or later.
pub fn end_date(raw: &str, today: NaiveDate) -> Result<NaiveDate, String> {
    let d = crate::user::calendar_date(raw).ok_or_else(|| "must be a date, YYYY-MM-DD".to_string())?;
    if d < today {
        return Err("must not be in the past".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

    const CLOSED: Settings = Settings {
        members_can_spend: true,
        members_can_invite: false,
        approval_required_to_join: false,
    };
    const OPEN: Settings = Settings {
        members_can_invite: true,
        ..CLOSED
    };

    #[test]
    fn cards_freeze_from_the_start_of_closure_and_thaw_if_it_is_cancelled() {
        let holder = |ktti_status| CardHolder {
            blocked: false,
            membership: MembershipStatus::Active,
            role: Owner,
            can_spend: true,
            members_can_spend: true,
            ktti_status,
        };
        for (status, card) in [
            (KttiStatus::PendingSetup, CardStatus::Active),
            (KttiStatus::Active, CardStatus::Active),
            (KttiStatus::Closing, CardStatus::Frozen),
            (KttiStatus::Disbursing, CardStatus::Frozen),
            (KttiStatus::ReadyToClose, CardStatus::Frozen),
            (KttiStatus::Closed, CardStatus::Frozen),
        ] {
            assert_eq!(holder(status).card_should_be(), card, "{status}");
        }
        assert_eq!(holder(KttiStatus::Closing).why_frozen(), "the ktti is closing");
    }

    #[test]
    fn only_owners_and_admins_close_and_only_from_the_right_states() {
        assert!(may_close(Owner).is_ok() && may_close(Admin).is_ok());
        assert!(may_change_billing(Owner).is_ok());
        assert_eq!(may_change_billing(Admin).unwrap_err().code, "role_forbidden");
        assert_eq!(may_change_billing(Member).unwrap_err().code, "role_forbidden");
        assert_eq!(may_close(Member).unwrap_err().code, "role_forbidden");
        assert!(must_be_active_to_close(KttiStatus::Active).is_ok());
        for s in [
            KttiStatus::PendingSetup,
            KttiStatus::Closing,
            KttiStatus::Disbursing,
            KttiStatus::ReadyToClose,
        ] {
            assert_eq!(must_be_active_to_close(s).unwrap_err().code, "ktti_not_active", "{s}");
        }
        assert_eq!(
            must_be_active_to_close(KttiStatus::Closed).unwrap_err().code,
            "ktti_closed"
        );
        assert!(must_be_cancellable(KttiStatus::Closing).is_ok());
        for s in [KttiStatus::Disbursing, KttiStatus::ReadyToClose] {
            assert_eq!(must_be_cancellable(s).unwrap_err().code, "payouts_started", "{s}");
        }
        assert_eq!(must_be_cancellable(KttiStatus::Active).unwrap_err().code, "not_closing");
        assert!(must_be_disbursable(KttiStatus::Closing).is_ok());
        let code = |s| must_be_disbursable(s).unwrap_err().code;
        assert_eq!(code(KttiStatus::Active), "not_closing");
        assert_eq!(code(KttiStatus::Disbursing), "payouts_in_flight");
        assert_eq!(code(KttiStatus::ReadyToClose), "nothing_to_pay");
        assert_eq!(code(KttiStatus::Closed), "ktti_closed");
        assert!(must_be_finalizable(KttiStatus::ReadyToClose).is_ok());
        for s in [KttiStatus::Active, KttiStatus::Closing, KttiStatus::Disbursing] {
            assert_eq!(must_be_finalizable(s).unwrap_err().code, "not_ready_to_close", "{s}");
        }
        assert_eq!(must_be_finalizable(KttiStatus::Closed).unwrap_err().code, "ktti_closed");
        for s in [KttiStatus::Active, KttiStatus::Closing] {
            assert!(must_allow_money_edits(s).is_ok(), "{s}");
        }
        for s in [KttiStatus::Disbursing, KttiStatus::ReadyToClose] {
            assert_eq!(must_allow_money_edits(s).unwrap_err().code, "payouts_started", "{s}");
        }
        assert_eq!(
            must_allow_money_edits(KttiStatus::Closed).unwrap_err().code,
            "ktti_closed"
        );
    }

    // DOMAIN.md's roles table, one assertion per cell.

    #[test]
    fn invite_and_rotate_the_code() {
        assert!(may_invite(Owner, CLOSED).is_ok());
        assert!(may_invite(Admin, CLOSED).is_ok());
        assert!(may_invite(Member, CLOSED).is_err());
        assert!(may_invite(Member, OPEN).is_ok());
    }

    #[test]
    fn change_roles_and_remove_members() {
        for target in [Admin, Member] {
            assert!(may_manage(Owner, target).is_ok());
            assert!(may_manage(Admin, target).is_ok());
            assert!(may_manage(Member, target).is_err());
        }
        assert!(may_manage(Admin, Owner).is_err(), "admins: not the owner");
        assert!(may_set_role(Owner, Member, Owner).is_ok(), "the owner hands over");
        assert!(may_set_role(Admin, Member, Owner).is_err());
        assert!(may_set_role(Admin, Member, Admin).is_ok());
        assert!(may_set_role(Admin, Admin, Member).is_ok());
        assert!(may_set_role(Member, Member, Admin).is_err());
    }

    #[test]
    fn approve_admin_requests() {
        assert!(may_approve(Owner).is_ok());
        assert!(may_approve(Admin).is_ok());
        assert!(may_approve(Member).is_err());
    }

    #[test]
    fn assign_deposits() {
        // (actor, to self, already assigned) -> allowed
        let table = [
            (Owner, false, false, true),
            (Owner, false, true, true),
            (Owner, true, true, true),
            (Admin, false, false, true),
            (Admin, false, true, true),
            (Admin, true, true, true),
            (Member, true, false, true),
            (Member, true, true, false),
            (Member, false, false, false),
            (Member, false, true, false),
        ];
        for (actor, to_self, assigned, allowed) in table {
            let got = may_assign_deposit(actor, to_self, assigned);
            assert_eq!(got.is_ok(), allowed, "{actor:?} to_self={to_self} assigned={assigned}");
            if let Err(d) = got {
                assert_eq!(d.code, "role_forbidden");
            }
        }
    }

    #[test]
    fn only_managers_repoint_a_remembered_sender_account() {
        let (me, other) = (UserId(uuid::Uuid::from_u128(1)), UserId(uuid::Uuid::from_u128(2)));
        assert!(remembers_sender(Member, None, me), "nobody's yet");
        assert!(remembers_sender(Member, Some(me), me), "already mine");
        assert!(!remembers_sender(Member, Some(other), me), "a member's claim keeps it");
        assert!(remembers_sender(Admin, Some(other), me));
        assert!(remembers_sender(Owner, Some(other), me));
    }

    #[test]
    fn edit_the_ktti() {
        assert!(may_edit(Owner).is_ok());
        assert!(may_edit(Admin).is_ok());
        assert!(may_edit(Member).is_err());
    }

    #[test]
    fn change_splits_and_default_proportions() {
        for in_split in [false, true] {
            assert!(may_change_split(Owner, in_split).is_ok());
            assert!(may_change_split(Admin, in_split).is_ok());
        }
        assert!(may_change_split(Member, true).is_ok(), "an expense they are in");
        assert_eq!(may_change_split(Member, false).unwrap_err().code, "role_forbidden");
        assert!(may_edit_proportions(Owner).is_ok());
        assert!(may_edit_proportions(Admin).is_ok());
        assert_eq!(may_edit_proportions(Member).unwrap_err().code, "role_forbidden");
        assert!(may_delete_receipt(Member, true).is_ok());
        assert!(may_delete_receipt(Admin, false).is_ok());
        assert_eq!(may_delete_receipt(Member, false).unwrap_err().code, "role_forbidden");
    }

    #[test]
    fn leave_owing_money() {
        let owing = Money::from_cents(-1);
        assert_eq!(
            must_not_owe(owing, KttiStatus::Active).unwrap_err().code,
            "negative_balance"
        );
        assert!(must_not_owe(Money::ZERO, KttiStatus::Active).is_ok());
        assert!(must_not_owe(owing, KttiStatus::Closing).is_ok());
    }

    #[test]
    fn leave() {
        assert_eq!(may_leave(Owner).unwrap_err().code, "owner_cannot_leave");
        assert!(may_leave(Admin).is_ok());
        assert!(may_leave(Member).is_ok());
    }

    #[test]
    fn spend() {
        assert!(may_spend(Owner, false, CLOSED));
        assert!(may_spend(Admin, false, CLOSED));
        assert!(may_spend(Member, true, CLOSED));
        assert!(!may_spend(Member, false, CLOSED), "if canSpend");
        let no_spending = Settings {
            members_can_spend: false,
            ..CLOSED
        };
        assert!(!may_spend(Member, true, no_spending));
    }

    #[test]
    fn referral_codes_are_long_readable_and_typed_loosely() {
        let c = referral_code(u128::MAX);
        assert_eq!(c.len(), REFERRAL_CODE_CHARS);
        assert!(!c.contains(['0', 'O', '1', 'I']));
        assert_ne!(referral_code(1), referral_code(2));
        assert_eq!(normalize_code(" abcd-efgh jk "), "ABCDEFGHJK");
    }

    #[test]
    fn ktti_fields() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert_eq!(name("  Bali trip ").unwrap(), "Bali trip");
        assert!(name(" ").is_err());
        assert!(name(&"x".repeat(61)).is_err());
        assert!(end_date("2026-11-29", today).is_err());
        assert!(end_date("2026-11-30", today).is_ok());
        assert!(end_date("30/11/2026", today).is_err());
        assert!(target_amount(Money::ZERO).is_err());
    }
}
