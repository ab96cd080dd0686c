//! Request and response bodies of the Shaype B2B operations API
//! (`specs/shaype-b2b-operations.openapi.json`), for the operations we use. Field
//! names are the spec's. Amounts are JSON numbers, parsed straight into `Decimal`
//! (serde_json's arbitrary precision): no amount passes through `f64`.
//!
//! Enums keep an `Unknown` variant: a value the provider adds later is carried,
//! not a parse failure that would drop a webhook.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub mod amount {
    //! A required amount as a JSON number.
    pub use rust_decimal::serde::arbitrary_precision::{deserialize, serialize};
}

pub mod amount_opt {
    //! An optional amount as a JSON number. (rust_decimal's own option helper falls
    //! back to its string form when its `serde-str` feature is on, so it would
    //! refuse the provider's numbers.)
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    struct Exact(#[serde(with = "super::amount")] Decimal);

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Decimal>, D::Error> {
        Ok(Option::<Exact>::deserialize(deserializer)?.map(|e| e.0))
    }

    pub fn serialize<S: Serializer>(value: &Option<Decimal>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => super::amount::serialize(d, serializer),
            None => serializer.serialize_none(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub town_or_city: String,
    /// State, e.g. `NSW`.
    pub administrative_region: String,
    pub postcode: String,
    /// ISO 3166 alpha-2, e.g. `AU`.
    pub country_code_iso: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumber {
    /// e.g. `+61`
    pub country_code_prefix: String,
    pub number_after_prefix: String,
}

impl PhoneNumber {
    /// Splits an E.164 Australian number (`+61412345678`); others keep their whole
    /// number after `+`.
    pub fn from_e164(e164: &str) -> PhoneNumber {
        match e164.strip_prefix("+61") {
            Some(rest) => PhoneNumber {
                country_code_prefix: "+61".into(),
                number_after_prefix: rest.into(),
            },
            None => PhoneNumber {
                country_code_prefix: "+".into(),
                number_after_prefix: e164.trim_start_matches('+').into(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerDetails {
    pub first_name: String,
    pub last_name: String,
    /// `YYYY-MM-DD`
    pub date_of_birth: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IdentityDocumentType {
    DrivingLicense,
    Passport,
}

/// `POST /v0/customers/create`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCustomer {
    pub idempotency_key: String,
    pub email: String,
    pub phone_number: PhoneNumber,
    pub customer_details: CustomerDetails,
    pub address: Address,
    /// `STANDARD` for everyone we onboard.
    pub customer_tier: String,
    pub external_customer_id: Option<String>,
    pub identity_document_type: Option<IdentityDocumentType>,
    pub identity_document_number: Option<String>,
    pub identity_verification_case_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CustomerStatus {
    Active,
    Inactive,
    Rejected,
    Blocked,
    PendingApproval,
    Referred,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HayCustomer {
    pub customer_hay_id: String,
    pub status: Option<CustomerStatus>,
    pub email: Option<String>,
    pub customer_details: Option<CustomerDetails>,
    pub creation_date_time_utc: Option<String>,
}

/// `POST /v1/kyc/identity-verification/cases`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserConsent {
    pub consent_obtained: Option<String>,
    pub consent_obtained_at: Option<String>,
    pub user_ip: Option<String>,
    pub user_location_country: String,
    pub user_location_state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalCase {
    pub id: Option<String>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCaseResponse {
    pub mobile_token: Option<String>,
    pub scan_case: Option<ExternalCase>,
    pub web_link: Option<String>,
}

/// `POST /v0/groups/create`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateGroup {
    pub idempotency_key: String,
    pub customer_hay_ids: Vec<String>,
    pub group_name: Option<String>,
    /// `PERSONAL` for our group ktties.
    pub group_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HayGroup {
    pub group_hay_id: String,
    #[serde(default)]
    pub customer_hay_ids: Vec<String>,
    pub group_name: Option<String>,
}

/// `POST /v0/groups/{groupHayId}/addCustomers`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddCustomersToGroup {
    pub customer_hay_ids: Vec<String>,
}

/// `POST /v0/groups/{groupHayId}/removeCustomer`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveCustomerFromGroup {
    pub customer_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HayJointAccount {
    pub group_hay_id: String,
    #[serde(default)]
    pub customer_hay_ids: Vec<String>,
    pub hay_account: Option<HayAccount>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountHolderType {
    Customer,
    Group,
}

/// `POST /v1/accounts`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAccount {
    pub idempotency_key: String,
    pub account_holder_id: String,
    pub account_holder_type: AccountHolderType,
    pub product_id: String,
    #[serde(default)]
    pub custom_data: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountStatus {
    PendingApproval,
    Approved,
    Active,
    Locked,
    Blocked,
    Dormant,
    Closed,
    ActiveInArrears,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HayAccount {
    pub account_hay_id: String,
    pub account_holder_id: Option<String>,
    pub account_holder_type: Option<AccountHolderType>,
    pub bsb: Option<String>,
    pub account_number: Option<String>,
    pub currency: Option<String>,
    pub status: Option<AccountStatus>,
    #[serde(default, with = "amount_opt", skip_serializing_if = "Option::is_none")]
    pub total_balance: Option<Decimal>,
    #[serde(default, with = "amount_opt", skip_serializing_if = "Option::is_none")]
    pub available_balance: Option<Decimal>,
    #[serde(default, with = "amount_opt", skip_serializing_if = "Option::is_none")]
    pub held_balance: Option<Decimal>,
    pub product_id: Option<String>,
    #[serde(default)]
    pub custom_data: serde_json::Map<String, serde_json::Value>,
}

/// `POST /v0/cards/{id}/block` and `/unblock`: why (required to unblock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardNote {
    pub note: String,
}

/// `PATCH /v0/customers/{id}`: only what is sent changes; an address is
/// replaced as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateCustomer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CardType {
    Physical,
    Virtual,
}

/// `POST /v0/cards/create`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCard {
    pub idempotency_key: String,
    pub account_id: String,
    pub customer_hay_id: String,
    pub card_type: CardType,
    pub delivery_address: Address,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone_number: PhoneNumber,
    /// The spec requires one; virtual cards get a random one the user never needs.
    pub pin: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CardStatus {
    Active,
    AwaitingActivation,
    Blocked,
    Inactive,
    Expired,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HayCard {
    pub card_hay_id: String,
    pub account_hay_id: Option<String>,
    pub customer_hay_id: Option<String>,
    pub card_token: Option<String>,
    pub card_type: Option<CardType>,
    pub card_status: Option<CardStatus>,
    pub last_four_digits: Option<String>,
    pub expiry_date: Option<String>,
    pub name_on_card: Option<String>,
}

/// `POST /v1/accounts/{accountId}/transfer`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferOut {
    #[serde(with = "amount")]
    pub amount: Decimal,
    pub description: String,
    /// Optional in the spec; we always send one, and the sandbox requires it.
    pub idempotency_key: Option<String>,
    pub sender_customer_hay_id: String,
    /// `ACCOUNT` (to a BSB and account number) or `INTERNAL`.
    pub transfer_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_transfer: Option<AccountTransfer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_transfer: Option<InternalTransfer>,
    pub reference: Option<String>,
}

/// To another account at the same bank, by its id (a member's personal ktti).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InternalTransfer {
    pub recipient_account_hay_id: String,
    pub recipient_name: String,
    pub sender_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountTransfer {
    pub bsb: String,
    pub account_number: String,
    pub recipient_name: String,
    pub reference: Option<String>,
    pub sender_name: Option<String>,
}

/// The provider's answer to a money movement request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Accepted,
    InternalError,
    RefusedLimitBreach,
    RefusedFraud,
    RefusedCustomerPreference,
    RefusedInsufficientFunds,
    RefusedAccountBlocked,
    RefusedRecipientAccountBlocked,
    RefusedAccountClosed,
    RefusedRecipientAccountClosed,
    RefusedInvalidPayId,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionOutcome {
    pub outcome: Outcome,
    pub transaction_id: Option<String>,
}

/// `POST /v1/transactions/debit` (fees).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateDebit {
    pub account_hay_id: String,
    #[serde(with = "amount")]
    pub amount: Decimal,
    pub counterpart_name: String,
    pub description: String,
    pub idempotency_key: String,
    /// `SERVICE_FEE` for our fees.
    pub transaction_channel: String,
    pub reference: Option<String>,
}

/// `POST /v0/transactions/search`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchTransactions {
    pub account_id: Option<String>,
    pub from_date_time_utc: String,
    pub to_date_time_utc: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrencyAmount {
    pub currency: Option<String>,
    #[serde(with = "amount")]
    pub amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinancialTransaction {
    pub transaction_hay_id: String,
    pub account_hay_id: Option<String>,
    pub card_id: Option<String>,
    pub currency_amount: Option<CurrencyAmount>,
    pub counterpart_name: Option<String>,
    pub description: Option<String>,
    pub reference: Option<String>,
    /// e.g. `INTERBANK_TRANSFER_IN`, `CARD_PRESENT_PAYMENT`, `INTERBANK_TRANSFER_OUT`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub related_hold_hay_id: Option<String>,
    pub transaction_time_utc: Option<String>,
}

/// `POST /v0/accounts/{accountId}/close`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloseAccount {
    /// `CUSTOMER` when a ktti is finalised.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloseAccountResponse {
    pub result: Option<String>,
    pub description: Option<String>,
}

/// The provider's error body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    pub status: Option<String>,
    pub message: Option<String>,
    pub details: Option<String>,
    pub trace_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenericMessage {
    pub message: Option<String>,
}

/// `POST /v0/utils/generate-npp-inbound`: a mock deposit (sandbox environments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateNppInbound {
    #[serde(with = "amount")]
    pub amount: Decimal,
    pub description: String,
    pub idempotency_key: String,
    pub receiver_account_number: String,
    pub receiver_bsb: String,
    pub receiver_name: String,
    pub reference: Option<String>,
    pub sender_account_number: String,
    pub sender_bsb: String,
    pub sender_name: String,
}

/// `POST /v0/utils/generate-auth-hold`: a mock card authorisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateAuthHold {
    #[serde(with = "amount")]
    pub amount: Decimal,
    pub card_token: String,
}

/// `POST /v0/utils/generate-card-transaction`: a mock hold settled after a delay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateCardTransaction {
    #[serde(with = "amount")]
    pub amount: Decimal,
    pub card_token: String,
    pub settlement_delay_in_seconds: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_decimals_both_ways() {
        // 0.1 + 0.2 style values and long amounts survive exactly.
        let body = r#"{"outcome":"ACCEPTED","transactionId":"t"}"#;
        let o: TransactionOutcome = serde_json::from_str(body).unwrap();
        assert_eq!(o.outcome, Outcome::Accepted);
        let a: CurrencyAmount = serde_json::from_str(r#"{"currency":"AUD","amount":1234567890123.17}"#).unwrap();
        assert_eq!(a.amount.to_string(), "1234567890123.17");
        let a: CurrencyAmount = serde_json::from_str(r#"{"amount":0.30}"#).unwrap();
        assert_eq!(a.amount.to_string(), "0.30");
        let acc: HayAccount =
            serde_json::from_str(r#"{"accountHayId":"a","availableBalance":0.1,"heldBalance":null}"#).unwrap();
        assert_eq!(acc.available_balance.unwrap().to_string(), "0.1");
        assert_eq!((acc.held_balance, acc.total_balance), (None, None));
        let back = serde_json::to_string(&acc).unwrap();
        assert!(back.contains(r#""availableBalance":0.1"#), "{back}");
        let debit = CreateDebit {
            account_hay_id: "a".into(),
            amount: "12.50".parse().unwrap(),
            counterpart_name: "KttiPay".into(),
            description: "fee".into(),
            idempotency_key: "k".into(),
            transaction_channel: "SERVICE_FEE".into(),
            reference: None,
        };
        let json = serde_json::to_string(&debit).unwrap();
        assert!(json.contains(r#""amount":12.50"#), "{json}");
    }

    #[test]
    fn unknown_enum_values_are_carried_not_fatal() {
        let o: TransactionOutcome = serde_json::from_str(r#"{"outcome":"REFUSED_SOMETHING_NEW"}"#).unwrap();
        assert_eq!(o.outcome, Outcome::Unknown);
    }

    #[test]
    fn phone_numbers_split_like_the_provider_expects() {
        let p = PhoneNumber::from_e164("+61412345678");
        assert_eq!(
            (p.country_code_prefix.as_str(), p.number_after_prefix.as_str()),
            ("+61", "412345678")
        );
    }
}
