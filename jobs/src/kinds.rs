//! Every job kind's payload. Each is versioned by its `KIND` string: a breaking
//! change ships as a new kind (`email.v2`) beside the old one until old rows drain.

use crate::{Job, Queue, RetryPolicy};
use kttipay_domain::ids::{
    CardId, InvitationId, KttiId, KycSubmissionId, NotificationId, PayoutId, ProviderEventId, TransactionId, UserId,
};
use serde::{Deserialize, Serialize};

/// Which email to send. The worker renders it from current data at send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EmailTemplate {
    /// Registration: carries a one-time token to set the password.
    VerifyEmail,
    /// Password reset: carries a one-time reset token.
    PasswordReset,
    /// Someone tried to register with an address that already has an account:
    /// tell its owner instead of telling the caller (no account enumeration).
    AccountExists,
    /// The bank account the user's payouts go to was set, changed or removed: if
    /// it was not them, they should know before a ktti pays out.
    PayoutAccountChanged,
}

impl EmailTemplate {
    pub fn name(self) -> &'static str {
        match self {
            EmailTemplate::VerifyEmail => "verifyEmail",
            EmailTemplate::PasswordReset => "passwordReset",
            EmailTemplate::AccountExists => "accountExists",
            EmailTemplate::PayoutAccountChanged => "payoutAccountChanged",
        }
    }
}

/// Send one templated email to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendEmail {
    pub user_id: UserId,
    pub template: EmailTemplate,
}

impl Job for SendEmail {
    const KIND: &'static str = "email.v1";
    const QUEUE: Queue = Queue::Email;
    const RETRY: RetryPolicy = RetryPolicy::EMAIL;
}

/// Does nothing: measures the pipeline's own overhead (benchmarks, smoke tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Noop {
    /// Fails this many attempts before succeeding (tests of the retry path).
    #[serde(default)]
    pub fail_times: u32,
    /// Takes this long before finishing (graceful-shutdown tests, latency benchmarks).
    #[serde(default)]
    pub sleep_ms: u64,
}

impl Job for Noop {
    const KIND: &'static str = "noop.v1";
    const QUEUE: Queue = Queue::Default;
    const RETRY: RetryPolicy = RetryPolicy::PIPELINE_PROBE;
}

/// Apply one stored provider webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyProviderEvent {
    pub event_id: ProviderEventId,
}

impl Job for ApplyProviderEvent {
    const KIND: &'static str = "provider_event.apply.v1";
    const QUEUE: Queue = Queue::Banking;
    const RETRY: RetryPolicy = RetryPolicy::PROVIDER_EVENT;
}

/// Send one KYC submission to the provider (create the customer, open the case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitKyc {
    pub submission_id: KycSubmissionId,
}

impl Job for SubmitKyc {
    const KIND: &'static str = "kyc.submit.v1";
    const QUEUE: Queue = Queue::Banking;
    const RETRY: RetryPolicy = RetryPolicy::BANK_CALL;
}

/// Open a ktti's provider account and its owner's virtual card, then activate it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupKtti {
    pub ktti_id: KttiId,
}

impl Job for SetupKtti {
    const KIND: &'static str = "ktti.setup.v1";
    const QUEUE: Queue = Queue::Banking;
    const RETRY: RetryPolicy = RetryPolicy::BANK_CALL;
}

/// Convert a member's virtual card to physical at the provider (it is then posted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPhysicalCard {
    pub card_id: CardId,
}

impl Job for OrderPhysicalCard {
    const KIND: &'static str = "card.order_physical.v1";
    const QUEUE: Queue = Queue::Banking;
    const RETRY: RetryPolicy = RetryPolicy::BANK_CALL;
}

/// Deliver an email or text the banking provider asked us to send a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliverProviderMessage {
    pub event_id: ProviderEventId,
}

impl Job for DeliverProviderMessage {
    const KIND: &'static str = "provider_message.deliver.v1";
    const QUEUE: Queue = Queue::Email;
    const RETRY: RetryPolicy = RetryPolicy::TIME_CRITICAL_MESSAGE;
}

/// Freeze (block) or unfreeze every card of a user at the provider, when staff
/// block or unblock the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetUserCardsFrozen {
    pub user_id: UserId,
    pub frozen: bool,
}

impl Job for SetUserCardsFrozen {
    const KIND: &'static str = "cards.set_frozen.v1";
    const QUEUE: Queue = Queue::Banking;
    const RETRY: RetryPolicy = RetryPolicy::BANK_CALL;
}

/// Email an invitation to a ktti (the invitee may not have an account yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendInvitation {
    pub invitation_id: InvitationId,
}

impl Job for SendInvitation {
    const KIND: &'static str = "email.invitation.v1";
    const QUEUE: Queue = Queue::Email;
    const RETRY: RetryPolicy = RetryPolicy::EMAIL;
}

/// A member joined a group ktti: add them to the provider group and open their
/// virtual card on the ktti's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddMemberAtBank {
    pub ktti_id: KttiId,
    pub user_id: UserId,
}

impl Job for AddMemberAtBank {
    const KIND: &'static str = "ktti.member.add.v1";
    const QUEUE: Queue = Queue::Banking;
    const RETRY: RetryPolicy = RetryPolicy::BANK_CALL;
}

/// A member left or was removed: cancel their card and take them out of the
/// provider group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveMemberAtBank {
    pub ktti_id: KttiId,
    pub user_id: UserId,
}

impl Job for RemoveMemberAtBank {
    const KIND: &'static str = "ktti.member.remove.v1";
    const QUEUE: Queue = Queue::Banking;
    const RETRY: RetryPolicy = RetryPolicy::BANK_CALL;
}

/// Spending rights on a ktti changed (settings, a member's role or canSpend):
/// freeze or unfreeze its cards at the provider to match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncKttiCards {
    pub ktti_id: KttiId,
}

impl Job for SyncKttiCards {
    const KIND: &'static str = "ktti.cards.sync.v1";
    const QUEUE: Queue = Queue::Banking;
    const RETRY: RetryPolicy = RetryPolicy::BANK_CALL;
}

/// Read a transaction's receipt by OCR. `generation` is the upload it was
/// enqueued for: a job for a receipt replaced since then does nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadReceipt {
    pub transaction_id: TransactionId,
    pub generation: i32,
}

impl Job for ReadReceipt {
    const KIND: &'static str = "receipt.read.v1";
    const QUEUE: Queue = Queue::Media;
    const RETRY: RetryPolicy = RetryPolicy::LOCAL_WORK;
}

/// Delete a stored file nothing refers to any more (a deleted or replaced
/// receipt). Written with the change that dropped it, so the file goes only if
/// the change committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteStoredObject {
    pub key: String,
}

impl Job for DeleteStoredObject {
    const KIND: &'static str = "storage.delete.v1";
    const QUEUE: Queue = Queue::Default;
    const RETRY: RetryPolicy = RetryPolicy::LOCAL_WORK;
}

/// Send one payout of a closing ktti to the bank, with the payout's own
/// idempotency key on every attempt; a lost answer is looked up at the bank by
/// that key before anything is sent again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitPayout {
    pub payout_id: PayoutId,
}

impl Job for SubmitPayout {
    const KIND: &'static str = "payout.submit.v1";
    const QUEUE: Queue = Queue::Banking;
    const RETRY: RetryPolicy = RetryPolicy::PAYOUT;
}

/// Take one billing charge from a ktti: reserved first (never overdrawing),
/// then debited at the bank with the charge's idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeFee {
    pub charge_id: uuid::Uuid,
}

impl Job for ChargeFee {
    const KIND: &'static str = "billing.charge.v1";
    const QUEUE: Queue = Queue::Banking;
    const RETRY: RetryPolicy = RetryPolicy::BANK_CALL;
}

/// Tell a ktti's owner that a billing charge failed (and why, and that it will
/// be tried again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendBillingFailedEmail {
    pub charge_id: uuid::Uuid,
}

impl Job for SendBillingFailedEmail {
    const KIND: &'static str = "email.billing_failed.v1";
    const QUEUE: Queue = Queue::Email;
    const RETRY: RetryPolicy = RetryPolicy::EMAIL;
}

/// Close a finalised ktti's account at the bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloseKttiAccount {
    pub ktti_id: KttiId,
}

impl Job for CloseKttiAccount {
    const KIND: &'static str = "ktti.account.close.v1";
    const QUEUE: Queue = Queue::Banking;
    const RETRY: RetryPolicy = RetryPolicy::BANK_CALL;
}

/// Lists job types as `(KIND, QUEUE, RETRY)` rows, so adding a kind is one word.
macro_rules! registry {
    ($($kind:ty),* $(,)?) => {
        /// Every kind with its queue and policy, for code that sees only stored rows.
        pub const ALL: &[(&str, Queue, RetryPolicy)] = &[$((<$kind>::KIND, <$kind>::QUEUE, <$kind>::RETRY)),*];
    };
}

/// Push one notification to the recipient's devices (those it has not reached).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushNotification {
    pub notification_id: NotificationId,
}

impl Job for PushNotification {
    const KIND: &'static str = "notification.push.v1";
    const QUEUE: Queue = Queue::Notify;
    const RETRY: RetryPolicy = RetryPolicy::NOTIFICATION;
}

/// Email one notification, or hold it for the digest when the recipient had an
/// email of its kind about the same ktti within the digest window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailNotification {
    pub notification_id: NotificationId,
}

impl Job for EmailNotification {
    const KIND: &'static str = "notification.email.v1";
    const QUEUE: Queue = Queue::Notify;
    const RETRY: RetryPolicy = RetryPolicy::NOTIFICATION;
}

/// Email one digest of what was held back for a user, ktti and category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailDigest {
    pub user_id: UserId,
    pub ktti_id: KttiId,
    pub category: String,
}

impl Job for EmailDigest {
    const KIND: &'static str = "notification.digest.v1";
    const QUEUE: Queue = Queue::Notify;
    const RETRY: RetryPolicy = RetryPolicy::NOTIFICATION;
}

/// A test ping to every device of a user, which the user asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestPush {
    pub user_id: UserId,
}

impl Job for TestPush {
    const KIND: &'static str = "notification.test_push.v1";
    const QUEUE: Queue = Queue::Notify;
    const RETRY: RetryPolicy = RetryPolicy::NOTIFICATION;
}

registry!(
    SendEmail,
    Noop,
    ApplyProviderEvent,
    SubmitKyc,
    SetupKtti,
    OrderPhysicalCard,
    DeliverProviderMessage,
    SetUserCardsFrozen,
    SendInvitation,
    AddMemberAtBank,
    RemoveMemberAtBank,
    SyncKttiCards,
    ReadReceipt,
    DeleteStoredObject,
    SubmitPayout,
    CloseKttiAccount,
    ChargeFee,
    SendBillingFailedEmail,
    PushNotification,
    EmailNotification,
    EmailDigest,
    TestPush,
);
