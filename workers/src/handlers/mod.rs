//! One module per job kind. Each handler is idempotent: it re-reads state by id and
//! does nothing when its work is already done.

pub mod bank_lookup;
pub mod billing_charge;
pub mod billing_email;
pub mod card_order;
pub mod card_rights;
pub mod close_account;
pub mod email;
pub mod freeze_cards;
pub mod invitation;
pub mod kyc;
pub mod member_card;
pub mod members;
pub mod money_event;
pub mod noop;
pub mod notify;
pub mod payout;
pub mod provider_event;
pub mod provider_message;
pub mod receipt;
pub mod setup_ktti;
pub mod stored_object;
pub mod tell;
