//! Australian bank account details a member nominates for their payouts, checked
//! the way the banking provider checks a transfer's destination (a 6-digit BSB, a
//! 5 to 9 digit account number, a name of up to 140 characters).

/// The longest account name the provider accepts on a transfer.
pub const ACCOUNT_NAME_MAX_CHARS: usize = 140;

/// A BSB as its 6 digits; people write it `062000`, `062-000` or `062 000`.
pub fn bsb(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    let b = t.as_bytes();
    let shaped = match b.len() {
        6 => b.iter().all(u8::is_ascii_digit),
        7 => matches!(b[3], b'-' | b' ') && b[..3].iter().chain(&b[4..]).all(u8::is_ascii_digit),
        _ => false,
    };
    if shaped {
        Ok(t.chars().filter(char::is_ascii_digit).collect())
    } else {
        Err("must be 6 digits, such as 062-000".into())
    }
}

/// An account number: 5 to 9 digits, single spaces between them allowed.
pub fn account_number(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    let digits: String = t.chars().filter(|c| *c != ' ').collect();
    if (5..=9).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !t.contains("  ") {
        Ok(digits)
    } else {
        Err("must be 5 to 9 digits".into())
    }
}

/// The account's name as the bank knows it: trimmed, 1 to 140 characters, no
/// control characters (it travels in the payment message).
pub fn account_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > ACCOUNT_NAME_MAX_CHARS {
        return Err(format!("must be 1 to {ACCOUNT_NAME_MAX_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(name.to_string())
}

/// `062-000`, as people read a BSB.
pub fn display_bsb(bsb: &str) -> String {
    match (bsb.get(..3), bsb.get(3..)) {
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => bsb.to_string(),
    }
}

/// The account number with all but its last 3 digits hidden, for emails.
pub fn masked(account_number: &str) -> String {
    let keep = account_number.len().min(3);
    let (hidden, shown) = account_number.split_at(account_number.len() - keep);
    format!("{}{shown}", "•".repeat(hidden.chars().count()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bsbs_as_people_write_them() {
        for ok in ["062000", "062-000", " 062 000 "] {
            assert_eq!(bsb(ok).unwrap(), "062000", "{ok}");
        }
        for bad in [
            "",
            "06200",
            "0620000",
            "062-0a0",
            "06-2000",
            "062--000",
            "062_000",
            "٠٦٢٠٠٠",
        ] {
            assert!(bsb(bad).is_err(), "{bad}");
        }
        assert_eq!(display_bsb("062000"), "062-000");
    }

    #[test]
    fn account_numbers_and_names() {
        assert_eq!(account_number("1234 5678").unwrap(), "12345678");
        for bad in ["1234", "1234567890", "12345a", "-12345", "", "12  345"] {
            assert!(account_number(bad).is_err(), "{bad}");
        }
        assert_eq!(account_name("  Pia Lee ").unwrap(), "Pia Lee");
        assert!(account_name(" ").is_err());
        assert!(account_name(&"x".repeat(141)).is_err());
        assert!(account_name("Pia\nLee").is_err());
        assert_eq!(masked("12345678"), "•••••678");
        assert_eq!(masked("12"), "12");
    }
}
