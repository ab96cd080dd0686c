//! The provider's webhooks (`specs/shaype-notifications.openapi.json`) and their
//! authentication.
//!
//! Each request carries `X-Hay-Timestamp` (unix seconds) and
//! `X-Hay-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>`.
//! Signing the timestamp with the body stops a captured request being replayed
//! later with a fresh timestamp.

use super::types::amount;
use hmac::{Hmac, KeyInit, Mac};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const TIMESTAMP_HEADER: &str = "X-Hay-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Hay-Signature";
/// A webhook older or newer than this is refused (clock skew plus delivery delay).
pub const MAX_TIMESTAMP_SKEW_SECS: i64 = 300;

/// The signature header value for `body` sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Malformed,
    Stale,
    Mismatch,
}

/// Checks a webhook's headers against its raw body, in constant time.
pub fn verify(
    secret: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    let (Some(ts), Some(sig)) = (timestamp_header, signature_header) else {
        return Err(SignatureError::Missing);
    };
    let ts: i64 = ts.trim().parse().map_err(|_| SignatureError::Malformed)?;
    if (now_unix - ts).abs() > MAX_TIMESTAMP_SKEW_SECS {
        return Err(SignatureError::Stale);
    }
    let hex_sig = sig.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    let given = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationType {
    AccountStatusChange,
    CustomerStatusUpdated,
    CardAddedToWallet,
    CardStatusChange,
    CustomerDetailsChange,
    OnboardingPassed,
    OnboardingFailed,
    Reminder,
    ScheduledPayment,
    Transaction,
    DirectEntry,
    Mandate,
    MandateDuePayment,
    MandatePayment,
    ApplePayRewardForCustomer,
    MandateActionExpiration,
    #[serde(other)]
    Unknown,
}

/// `POST /api/hay/v0/communications/notification`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationDto {
    pub customer_hay_id: String,
    /// Unique per event: the same event delivered twice carries the same key.
    pub idempotency_key: String,
    #[serde(rename = "type")]
    pub kind: NotificationType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_hay_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_status_change_event: Option<AccountStatusChangeEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_status_updated_event: Option<CustomerStatusUpdatedEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_event: Option<TransactionEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_status_change_event: Option<CardStatusChangeEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onboarding_failed_event: Option<OnboardingFailedEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountStatusChangeEvent {
    pub account_hay_id: Option<String>,
    pub account_status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerStatusUpdatedEvent {
    pub customer_status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardStatusChangeEvent {
    pub card_hay_id: Option<String>,
    pub account_hay_id: Option<String>,
    pub card_status: Option<String>,
    pub card_last_four_digits: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnboardingFailedEvent {
    pub state: Option<String>,
    pub submission_failure: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventAmount {
    pub currency: Option<String>,
    #[serde(with = "amount")]
    pub amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountBalances {
    pub total_balance: Option<EventAmount>,
    pub held_balance: Option<EventAmount>,
    pub available_balance: Option<EventAmount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BasicAccountNumber {
    pub account_number: Option<String>,
    pub branch_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CounterpartDetails {
    pub name: Option<String>,
    pub basic_account_number: Option<BasicAccountNumber>,
}

/// The kind of a transaction event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransactionType {
    CardTransaction,
    CardTransactionRefund,
    CardTransactionSettled,
    IntrabankTransferIn,
    IntrabankTransferOut,
    InterbankTransferIn,
    InterbankTransferOut,
    DirectDebitTransfer,
    HayTopUp,
    InterbankTransferOutReversal,
    Reward,
    GeneralCredit,
    GeneralDebit,
    OriginalCredit,
    BpayTransferOut,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionEvent {
    pub transaction_hay_id: Option<String>,
    pub hold_hay_id: Option<String>,
    pub account_hay_id: Option<String>,
    pub currency_amount: Option<EventAmount>,
    pub updated_balance: Option<EventAmount>,
    /// A card authorisation hold not yet settled.
    pub is_pending: Option<bool>,
    pub counterpart_name: Option<String>,
    /// `ACCEPTED`, or why it was refused (e.g. `REFUSED_NOT_ENOUGH_FUNDS`).
    pub outcome: Option<String>,
    pub transaction_time_utc: Option<String>,
    pub merchant_name: Option<String>,
    pub transaction_type: Option<TransactionType>,
    pub account_balances: Option<AccountBalances>,
    pub card_hay_id: Option<String>,
    pub customer_hay_id: Option<String>,
    pub counterpart_details: Option<CounterpartDetails>,
    pub description: Option<String>,
    pub reference: Option<String>,
}

/// `POST /api/hay/v0/communications/email`: the provider asks us to email a
/// customer (a magic link, a PIN change, a wallet addition, a reminder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailDto {
    pub idempotency_key: String,
    pub email_address: String,
    /// `MAGIC_LINK`, `CARD_PIN_CHANGE`, `CARD_ADDED_TO_WALLET`, `CUSTOMER_DETAILS_CHANGE`, `REMINDER`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub magic_link_event: Option<MagicLinkEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_pin_change_event: Option<CardEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_addition_to_wallet_event: Option<CardEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MagicLinkEvent {
    pub magic_link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardEvent {
    pub card_hay_id: Option<String>,
    pub card_last_four_digits: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtpEvent {
    pub otp: Option<String>,
}

/// `POST /api/hay/v0/communications/sms`: the provider asks us to text a customer
/// (OTPs, passcode and phone verification codes, status changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsDto {
    pub idempotency_key: String,
    pub phone_number: super::types::PhoneNumber,
    /// `ACCOUNT_STATUS_CHANGE`, `CARD_ADDED_TO_WALLET`, `OTP`, `PASSCODE_CHANGE`, `PHONE_NUMBER_VERIFICATION`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_hay_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_otp_event: Option<OtpEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_verification_event: Option<OtpEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcode_change_event: Option<OtpEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_status_change_event: Option<AccountStatusChangeEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_status_change_event: Option<CardStatusChangeEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"webhook-secret";

    #[test]
    fn signatures_verify_and_catch_every_tampering() {
        let body = br#"{"customerHayId":"c","idempotencyKey":"k","type":"TRANSACTION"}"#;
        let now = 1_800_000_000;
        let sig = sign(SECRET, now, body);
        let ts = now.to_string();
        assert_eq!(verify(SECRET, Some(&ts), Some(&sig), body, now + 10), Ok(()));
        assert_eq!(
            verify(b"other", Some(&ts), Some(&sig), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, Some(&ts), Some(&sig), b"{}", now),
            Err(SignatureError::Mismatch)
        );
        let later = (now + 1).to_string();
        assert_eq!(
            verify(SECRET, Some(&later), Some(&sig), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, Some(&ts), Some(&sig), body, now + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, None, Some(&sig), body, now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(SECRET, Some(&ts), Some("md5=00"), body, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, Some("soon"), Some(&sig), body, now),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn a_card_settlement_event_parses_with_exact_amounts() {
        let body = r#"{
            "customerHayId": "cus-1", "idempotencyKey": "evt-1", "type": "TRANSACTION",
            "transactionEvent": {
                "transactionHayId": "txn-1", "holdHayId": "hold-1", "accountHayId": "acc-1",
                "currencyAmount": {"currency": "AUD", "amount": 19.99},
                "isPending": false, "outcome": "ACCEPTED", "merchantName": "Cafe",
                "transactionType": "CARD_TRANSACTION_SETTLED", "someNewField": 1
            }
        }"#;
        let n: NotificationDto = serde_json::from_str(body).unwrap();
        assert_eq!(n.kind, NotificationType::Transaction);
        let t = n.transaction_event.unwrap();
        assert_eq!(t.currency_amount.unwrap().amount.to_string(), "19.99");
        assert_eq!(t.transaction_type, Some(TransactionType::CardTransactionSettled));
    }
}
