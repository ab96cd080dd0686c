//! The FCM stand-in (`kttipay_sandbox::fcm`) with the test service account
//! (`tests/fixtures/fcm_rsa_*.pem`).

use std::collections::HashMap;

pub use kttipay_sandbox::fcm::{Answer, FcmStandIn};

const PRIVATE_KEY: &str = include_str!("../../fixtures/fcm_rsa_private.pem");
const PUBLIC_KEY: &[u8] = include_bytes!("../../fixtures/fcm_rsa_public.pem");

pub async fn stand_in() -> FcmStandIn {
    FcmStandIn::start("127.0.0.1:0", PUBLIC_KEY).await.unwrap()
}

/// Points the app at `fcm` with the test service account.
pub fn configure(fcm: &FcmStandIn, vars: &mut HashMap<String, String>) {
    vars.extend(fcm.settings(PRIVATE_KEY));
}
