//! The text rules of request fields, written as the regular expressions the
//! OpenAPI document states (`pattern`), so a generated client or a fuzzer knows
//! exactly what the server accepts. The server's own rules (in `domain` and the
//! routes) stay the source of truth: the tests below check each pattern against
//! its rule over random text rich in the characters that matter (every kind of
//! white space, control characters, `@`, dots, digits, letters beyond ASCII).
//!
//! [`FIELDS`] says which field carries which pattern; `document::refine` writes
//! them into the published document (poem-openapi's attributes would need each
//! pattern repeated as a literal). The syntax is the common subset of ECMA-262,
//! Python `re` and Rust `regex`.

/// Trimmed, not empty, no control characters. White space is Unicode's
/// `White_Space` (what Rust's `trim` removes).
pub const TEXT: &str = r"^[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$";

/// As [`TEXT`], but may be empty (or only white space): an optional field.
pub const OPTIONAL_TEXT: &str = r"^[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*(?:[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?)?[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$";

/// As [`OPTIONAL_TEXT`], with line breaks allowed inside (a note).
pub const OPTIONAL_MULTILINE: &str = r"^[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*(?:[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x09\x0B-\x1F\x7F-\x9F]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?)?[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$";

/// One word after trimming: no white space or control characters inside (device
/// ids, push tokens).
pub const TOKEN: &str = r"^[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$";

/// As [`TOKEN`], but may be empty (an image key; empty clears it).
pub const OPTIONAL_TOKEN: &str = r"^[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$";

/// An email address: one `@`, a local part without white space or control
/// characters, an ASCII domain with at least one dot and no empty label.
pub const EMAIL: &str = r"^[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000@]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$";

/// A phone number: `+` and 8 to 15 digits, or Australian national form (`0` and
/// 6 to 13 more digits); spaces, dashes and brackets anywhere.
pub const PHONE: &str = r"^[ ()\-]*(?:\+(?:[ ()\-]*[0-9]){8,15}|0(?:[ ()\-]*[0-9]){6,13})[ ()\-]*$";

/// A BCP 47 language tag such as `en-AU` (`_` also separates).
pub const LOCALE: &str = r"^[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[A-Za-z0-9]{1,8}(?:[-_][A-Za-z0-9]{1,8})*[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$";

/// A licence or passport number: 5 to 20 ASCII letters and digits, white space
/// anywhere ignored.
pub const DOCUMENT_NUMBER: &str = r"^(?:[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[A-Za-z0-9]){5,20}[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$";

/// A referral code as typed: 12 letters and digits, case-blind, with spaces and
/// dashes ignored.
pub const REFERRAL_CODE: &str = r"^(?:[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000-]*[A-Za-z0-9]){12}[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000-]*$";

/// An Australian state or territory, as the provider spells it.
pub const STATE: &str = r"^(?:NSW|VIC|QLD|WA|SA|TAS|ACT|NT)$";
pub const POSTCODE: &str = r"^[0-9]{4}$";
/// KttiPay serves Australian residents.
pub const COUNTRY: &str = r"^AU$";
pub const DOCUMENT_TYPE: &str = r"^(?:driversLicence|passport)$";

/// A BSB: 6 digits, or 3 and 3 around a dash or a space.
pub const BSB: &str = r"^[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[0-9]{3}[- ]?[0-9]{3}[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$";
/// An account number: 5 to 9 digits, single spaces between them allowed.
pub const ACCOUNT_NUMBER: &str = r"^[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[0-9](?: ?[0-9]){4,8}[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$";

/// A calendar date, `YYYY-MM-DD`.
pub const DATE: &str = kttipay_domain::user::DATE_PATTERN;
/// A split value: a weight, a percentage or an amount.
pub const SPLIT_VALUE: &str = kttipay_domain::split::VALUE_PATTERN;
/// Money above zero, in the exact JSON form.
pub const POSITIVE_MONEY: &str = kttipay_domain::Money::POSITIVE_PATTERN;

/// Which request fields carry which pattern: (schema, property). For an array
/// the pattern applies to its items.
pub const FIELDS: &[(&str, &str, &str)] = &[
    ("Registration", "email", EMAIL),
    ("Registration", "firstName", TEXT),
    ("Registration", "lastName", TEXT),
    ("Registration", "phone", PHONE),
    ("Login", "email", TEXT),
    ("ResetRequest", "email", EMAIL),
    ("ProfilePatch", "firstName", TEXT),
    ("ProfilePatch", "lastName", TEXT),
    ("ProfilePatch", "phone", PHONE),
    ("ProfilePatch", "avatarKey", OPTIONAL_TEXT),
    ("FcmToken", "deviceId", TOKEN),
    ("FcmToken", "token", TOKEN),
    ("AppDetails", "deviceId", TOKEN),
    ("AppDetails", "appVersion", TEXT),
    ("AppDetails", "osVersion", TEXT),
    ("AppDetails", "model", TEXT),
    ("AppDetails", "locale", LOCALE),
    ("KycRequest", "firstName", TEXT),
    ("KycRequest", "lastName", TEXT),
    ("KycRequest", "idDocumentType", DOCUMENT_TYPE),
    ("KycRequest", "idDocumentNumber", DOCUMENT_NUMBER),
    ("Address", "line1", TEXT),
    ("Address", "line2", TEXT),
    ("Address", "suburb", TEXT),
    ("Address", "state", STATE),
    ("Address", "postcode", POSTCODE),
    ("Address", "country", COUNTRY),
    ("CreateKtti", "name", TEXT),
    ("CreateKtti", "description", OPTIONAL_TEXT),
    ("CreateKtti", "purpose", OPTIONAL_TEXT),
    ("CreateKtti", "imageKey", OPTIONAL_TOKEN),
    ("UpdateKtti", "name", TEXT),
    ("UpdateKtti", "description", OPTIONAL_TEXT),
    ("UpdateKtti", "purpose", OPTIONAL_TEXT),
    ("UpdateKtti", "imageKey", OPTIONAL_TOKEN),
    ("UpdateKttiV3", "name", TEXT),
    ("UpdateKttiV3", "description", OPTIONAL_TEXT),
    ("UpdateKttiV3", "purpose", OPTIONAL_TEXT),
    ("UpdateKttiV3", "imageKey", OPTIONAL_TOKEN),
    ("CreateKttiV3", "name", TEXT),
    ("CreateKttiV3", "description", OPTIONAL_TEXT),
    ("CreateKttiV3", "purpose", OPTIONAL_TEXT),
    ("CreateKttiV3", "imageKey", OPTIONAL_TOKEN),
    ("CreateKttiV3", "invitees", EMAIL),
    ("AdditionalInfoPatch", "note", OPTIONAL_MULTILINE),
    ("AdditionalInfoPatch", "category", OPTIONAL_TEXT),
    ("AdditionalInfoPatch", "tags", TEXT),
    ("MemberUpdate", "nickname", OPTIONAL_TEXT),
    ("Invite", "email", EMAIL),
    ("Registration", "dateOfBirth", DATE),
    ("KycRequest", "dateOfBirth", DATE),
    ("CreateKtti", "endDate", DATE),
    ("CreateKtti", "targetAmount", POSITIVE_MONEY),
    ("UpdateKtti", "endDate", DATE),
    ("UpdateKtti", "targetAmount", POSITIVE_MONEY),
    ("CreateKttiV3", "endDate", DATE),
    ("CreateKttiV3", "targetAmount", POSITIVE_MONEY),
    ("UpdateKttiV3", "endDate", DATE),
    ("UpdateKttiV3", "targetAmount", POSITIVE_MONEY),
    ("Join", "referralCode", REFERRAL_CODE),
    ("ShareInput", "value", SPLIT_VALUE),
    ("PayoutAccountInput", "bsb", BSB),
    ("PayoutAccountInput", "accountNumber", ACCOUNT_NUMBER),
    ("PayoutAccountInput", "accountName", TEXT),
];

/// Request headers' patterns: (header, pattern), on every operation that takes one.
pub const HEADERS: &[(&str, &str)] = &[("Idempotency-Key", IDEMPOTENCY_KEY)];

/// An `Idempotency-Key`: no control characters (length is stated separately).
pub const IDEMPOTENCY_KEY: &str = r"^[^\x00-\x1F\x7F-\x9F]*$";

#[cfg(test)]
mod tests {
    use super::*;
    use kttipay_domain::{kyc, membership, user};
    use proptest::prelude::*;
    use regex::Regex;

    /// Characters where rules and patterns could disagree.
    fn tricky() -> impl Strategy<Value = char> {
        prop::sample::select(vec![
            'a', 'Z', 'é', 'ß', 'K', '\u{212A}', '0', '9', '@', '.', '-', '_', '+', '(', ')', ' ', '\t', '\n', '\r',
            '\u{0B}', '\u{0C}', '\u{85}', '\u{A0}', '\u{1680}', '\u{2000}', '\u{200A}', '\u{200B}', '\u{2028}',
            '\u{202F}', '\u{3000}', '\u{FEFF}', '\u{0}', '\u{1}', '\u{1C}', '\u{1F}', '\u{7F}', '\u{9F}', '漢', '😀',
        ])
    }

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(tricky(), 0..24).prop_map(|c| c.into_iter().collect())
    }

    fn agrees(pattern: &str, s: &str, rule: bool) {
        let re = Regex::new(pattern).unwrap();
        assert_eq!(re.is_match(s), rule, "pattern and rule disagree on {s:?}");
    }

    /// A long-enough bound, so these compare shapes, not lengths (the texts here
    /// are shorter than every field's limit).
    const ROOMY: usize = 1_000;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_500))]

        #[test]
        fn text_patterns_match_the_rules(s in text()) {
            agrees(TEXT, &s, user::name(&s).is_ok());
            agrees(TEXT, &s, membership::name(&s).is_ok());
            agrees(TEXT, &s, kyc::address_line(&s).is_ok());
            agrees(OPTIONAL_TEXT, &s, membership::nickname(&s).is_ok());
            agrees(OPTIONAL_TEXT, &s, membership::description(&s).is_ok());
            agrees(EMAIL, &s, user::email(&s).is_ok());
            agrees(PHONE, &s, user::phone(&s).is_ok());
            agrees(DOCUMENT_NUMBER, &s, kyc::document_number(&s).is_ok());
            let code = membership::normalize_code(&s);
            agrees(REFERRAL_CODE, &s, code.len() == membership::REFERRAL_CODE_CHARS
                && code.chars().all(|c| c.is_ascii_alphanumeric()));
            agrees(TOKEN, &s, crate::routes::devices::token_like(&s, ROOMY).is_ok());
            agrees(LOCALE, &s, crate::routes::devices::locale(&s).is_ok());
            agrees(TEXT, &s, crate::routes::devices::detail(&s).is_ok());
            agrees(OPTIONAL_TOKEN, &s, crate::routes::ktti_input::image_key(&s).is_ok());
            agrees(TEXT, &s, kttipay_domain::bank_account::account_name(&s).is_ok());
        }

        #[test]
        fn bank_account_patterns_match_the_rules(s in "[0-9 \t-]{0,12}") {
            agrees(BSB, &s, kttipay_domain::bank_account::bsb(&s).is_ok());
            agrees(ACCOUNT_NUMBER, &s, kttipay_domain::bank_account::account_number(&s).is_ok());
        }

        #[test]
        fn the_split_value_pattern_matches_its_parser(s in "[0-9+. e-]{0,18}") {
            agrees(SPLIT_VALUE, &s, kttipay_domain::split::parse_value(&s).is_ok());
        }

        #[test]
        fn money_patterns_match_the_parser(s in "-?[0-9]{0,18}(\\.[0-9]{0,3})?") {
            let parsed = kttipay_domain::Money::parse_exact(&s);
            agrees(kttipay_domain::Money::PATTERN, &s, parsed.is_ok());
            agrees(POSITIVE_MONEY, &s, parsed.is_ok_and(|m| m.positive().is_ok()));
        }

        #[test]
        fn the_date_pattern_matches_the_date_rule(s in "[0-9+-]{0,11}") {
            // Shape only: a well-shaped impossible date (2001-02-30) is refused by
            // the rule and needs no pattern of its own to be a 422.
            let shaped = Regex::new(DATE).unwrap().is_match(&s);
            if kttipay_domain::user::calendar_date(&s).is_some() {
                prop_assert!(shaped, "{s:?} parses but does not match");
            }
        }

        #[test]
        fn emails_built_to_pass_do(local in "[a-z0-9.+_]{1,10}", domain in "[a-z0-9-]{1,8}(\\.[a-z0-9-]{1,8}){1,2}") {
            let s = format!("{local}@{domain}");
            agrees(EMAIL, &s, true);
            prop_assert!(user::email(&s).is_ok());
        }
    }
}
