//! Parser fuzzing (the CI gate of issue 12, with proptest: no nightly here):
//! properties over arbitrary and near-valid input for the parsers that read text
//! from outside: money as the API takes it, and receipts' OCR text.
//!
//! `KTTIPAY_FUZZ_CASES` sets the cases per property: `.ci/run` uses the default
//! (a bounded run of seconds); `KTTIPAY_FUZZ_CASES=1000000 cargo test -p
//! kttipay-domain --test fuzz_parsers --release` runs longer on demand.

use kttipay_domain::Money;
use kttipay_domain::receipt::{LINE_ITEMS_MAX, parse};
use proptest::prelude::*;
use std::sync::OnceLock;

/// Cases per property when `KTTIPAY_FUZZ_CASES` is unset.
const DEFAULT_CASES: u32 = 2_000;

fn config() -> ProptestConfig {
    let cases = std::env::var("KTTIPAY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig::with_cases(cases)
}

fn pattern() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(Money::PATTERN).unwrap())
}

/// Strings near the money grammar (signs, digits, dots, spaces, long runs),
/// where a parser's edge cases live, and anything at all.
fn money_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[-+ ]?[0-9]{0,17}(\\.[0-9]{0,4})?[ ]?",
        "[-0-9.eE+, ]{0,24}",
        "\\PC{0,24}",
        any::<String>(),
    ]
}

/// Receipt-shaped text: item lines with amounts, totals, dates, noise.
fn receipt_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        "[A-Z][A-Za-z ]{0,20} [0-9]{1,4}\\.[0-9]{2}",
        "[0-9]{1,2} x [A-Za-z ]{1,12} @ [0-9]{1,3}\\.[0-9]{2} [0-9]{1,4}\\.[0-9]{2}",
        "(SUBTOTAL|TOTAL|GST|TAX|DISCOUNT|CHANGE|CASH|EFTPOS)[ :]{0,3}-?\\$?[0-9]{0,6}\\.?[0-9]{0,3}",
        "[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{2,4}",
        "[0-9]{1,2} (Jan|Feb|Mar|Dec) [0-9]{2,4}",
        "\\PC{0,60}",
    ];
    proptest::collection::vec(line, 0..60).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(config())]

    /// What `parse_exact` takes is exactly what the document's pattern says,
    /// and what it reads prints back the same amount.
    #[test]
    fn money_is_read_exactly_as_documented(s in money_like()) {
        let parsed = Money::parse_exact(&s);
        prop_assert_eq!(parsed.is_ok(), pattern().is_match(&s), "{:?}", s);
        if let Ok(m) = parsed {
            prop_assert_eq!(Money::parse_exact(&m.to_string()), Ok(m));
        }
    }

    /// The looser reader (configuration, the bank's decimals) never panics, and
    /// anything it accepts is a two-decimal amount that prints and reads back.
    #[test]
    fn loose_money_never_panics(s in money_like()) {
        if let Ok(m) = s.parse::<Money>() {
            prop_assert_eq!(m.to_string().parse::<Money>(), Ok(m));
        }
    }

    /// JSON money is a string in the exact form, never a number or anything else.
    #[test]
    fn json_money_is_only_an_exact_string(s in money_like(), n in any::<f64>(), pick in 0..3u8) {
        let v = match pick {
            0 => serde_json::Value::String(s.clone()),
            1 => serde_json::json!(n),
            _ => serde_json::json!([s.clone()]),
        };
        let got = serde_json::from_value::<Money>(v);
        let expected = pick == 0 && pattern().is_match(&s);
        prop_assert_eq!(got.is_ok(), expected);
    }

    /// Any OCR text reads without panicking, within the item cap, and every
    /// amount it reads is a valid two-decimal amount.
    #[test]
    fn receipt_text_reads_within_bounds(text in receipt_like()) {
        let r = parse(&text);
        prop_assert!(r.items.len() <= LINE_ITEMS_MAX);
        for m in r.items.iter().map(|i| i.amount).chain(r.total).chain(r.subtotal).chain(r.tax) {
            prop_assert_eq!(m.to_string().parse::<Money>(), Ok(m));
        }
        for i in &r.items {
            prop_assert!(!i.description.chars().any(char::is_control));
        }
    }
}
