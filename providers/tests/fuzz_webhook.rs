//! Parser fuzzing of the banking provider's webhooks (the CI gate of issue 12,
//! with proptest): the signature check over arbitrary headers and bodies, and
//! the body parse over arbitrary bytes and near-valid JSON. `KTTIPAY_FUZZ_CASES`
//! sets the cases per property (see `domain/tests/fuzz_parsers.rs`).

use kttipay_providers::shaype::webhook::{MAX_TIMESTAMP_SKEW_SECS, NotificationDto, SignatureError, sign, verify};
use proptest::prelude::*;

const DEFAULT_CASES: u32 = 2_000;
const NOW: i64 = 1_800_000_000;
const SECRET: &[u8] = b"a-webhook-secret-of-at-least-32-bytes!";

fn config() -> ProptestConfig {
    let cases = std::env::var("KTTIPAY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig::with_cases(cases)
}

/// JSON shaped like a notification, with fields of the wrong type, missing,
/// null or extra, so the parse meets what a confused sender might send.
fn near_notification() -> impl Strategy<Value = serde_json::Value> {
    let scalar = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "\\PC{0,20}".prop_map(serde_json::Value::from),
        "(TRANSACTION|ACCOUNT_STATUS_CHANGE|CARD_STATUS_CHANGE|ONBOARDING_PASSED|NOPE)"
            .prop_map(serde_json::Value::from),
        "-?[0-9]{1,6}(\\.[0-9]{1,3})?".prop_map(|s| serde_json::Value::from(s.parse::<f64>().unwrap_or(0.0))),
    ];
    let keys = prop_oneof![
        Just("idempotencyKey"),
        Just("type"),
        Just("customerHayId"),
        Just("transactionEvent"),
        Just("accountStatusChangeEvent"),
        Just("cardHayId"),
        Just("accountHayId"),
        Just("transactionType"),
        Just("currencyAmount"),
        Just("amount"),
        Just("outcome"),
        Just("holdHayId"),
        Just("extra"),
    ];
    let leaf = proptest::collection::btree_map(keys.clone(), scalar, 0..8)
        .prop_map(|m| serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    // Half the time on top of a valid notification, so the parse gets past the
    // required fields into the events.
    let base = prop_oneof![
        Just(serde_json::json!({})),
        Just(serde_json::json!({"customerHayId": "c-1", "idempotencyKey": "k-1", "type": "TRANSACTION"})),
    ];
    (base, proptest::collection::btree_map(keys, leaf.clone(), 0..4), leaf).prop_map(|(mut top, nested, flat)| {
        if let (serde_json::Value::Object(o), serde_json::Value::Object(f)) = (&mut top, flat) {
            o.extend(f);
            for (k, v) in nested {
                o.insert(k.to_string(), v);
            }
        }
        top
    })
}

proptest! {
    #![proptest_config(config())]

    /// Any headers and body: an answer, never a panic; only a correct signature
    /// within the window passes.
    #[test]
    fn any_headers_are_judged_without_panicking(
        ts in proptest::option::of("\\PC{0,14}"),
        sig in proptest::option::of("(sha256=)?[0-9a-fA-F]{0,70}|\\PC{0,80}"),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let got = verify(SECRET, ts.as_deref(), sig.as_deref(), &body, NOW);
        if got.is_ok() {
            let ts = ts.unwrap();
            prop_assert_eq!(sig.unwrap().trim().to_ascii_lowercase(), sign(SECRET, ts.trim().parse().unwrap(), &body));
        }
    }

    /// A signed body passes; any changed byte, another timestamp or a stale one fails.
    #[test]
    fn only_the_signed_body_and_time_pass(
        body in proptest::collection::vec(any::<u8>(), 1..512),
        flip in any::<prop::sample::Index>(),
        bit in 0..8u8,
        age in -2 * MAX_TIMESTAMP_SKEW_SECS..2 * MAX_TIMESTAMP_SKEW_SECS,
    ) {
        let ts = NOW - age;
        let sig = sign(SECRET, ts, &body);
        let fresh = age.abs() <= MAX_TIMESTAMP_SKEW_SECS;
        let ts_text = ts.to_string();
        let got = verify(SECRET, Some(&ts_text), Some(&sig), &body, NOW);
        prop_assert_eq!(got, if fresh { Ok(()) } else { Err(SignatureError::Stale) });
        if fresh {
            let mut tampered = body.clone();
            let i = flip.index(tampered.len());
            tampered[i] ^= 1 << bit;
            prop_assert_eq!(verify(SECRET, Some(&ts_text), Some(&sig), &tampered, NOW), Err(SignatureError::Mismatch));
            // Another second, still within the window (towards now).
            let other = if ts > NOW { ts - 1 } else { ts + 1 }.to_string();
            prop_assert_eq!(verify(SECRET, Some(&other), Some(&sig), &body, NOW), Err(SignatureError::Mismatch));
            prop_assert_eq!(verify(b"another-secret-of-at-least-32-bytes!!", Some(&ts_text), Some(&sig), &body, NOW), Err(SignatureError::Mismatch));
        }
    }

    /// Any bytes and any near-valid JSON parse to a notification or an error,
    /// never a panic, and what parses serialises back.
    #[test]
    fn bodies_parse_or_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..300), json in near_notification()) {
        let _ = serde_json::from_slice::<NotificationDto>(&bytes);
        if let Ok(dto) = serde_json::from_value::<NotificationDto>(json) {
            prop_assert!(serde_json::to_vec(&dto).is_ok());
        }
    }
}
