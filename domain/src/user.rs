//! Rules for what a user tells us about themselves at registration and after.

use chrono::{Datelike, NaiveDate};

/// Users are adults: the provider cannot open an account for a minor.
pub const MIN_AGE_YEARS: u32 = 18;
/// Passwords shorter than this are guessable; NIST 800-63B asks for at least 8.
pub const PASSWORD_MIN_CHARS: usize = 10;
/// Hashing cost grows with input length: cap it so a huge password is not a DoS.
pub const PASSWORD_MAX_CHARS: usize = 128;
pub const NAME_MAX_CHARS: usize = 100;
/// RFC 5321's limit on a forward path.
pub const EMAIL_MAX_CHARS: usize = 254;

/// A normalised email: trimmed and lower-cased (the database compares case-blind too).
///
/// Lengths here count the text as sent, before trimming, as the OpenAPI
/// document's `maxLength` does.
pub fn email(raw: &str) -> Result<String, String> {
    if raw.chars().count() > EMAIL_MAX_CHARS {
        return Err(format!("must be at most {EMAIL_MAX_CHARS} characters"));
    }
    // Checked as sent (trimmed), then lower-cased: lower-casing can turn a
    // non-ASCII letter into an ASCII one, which must not make a bad domain good.
    let e = raw.trim();
    let Some((local, domain)) = e.split_once('@') else {
        return Err("must be an email address".into());
    };
    // Internationalised domains arrive in their ASCII (punycode) form.
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let local_ok = !local.is_empty() && !local.chars().any(|c| c.is_whitespace() || c == '@' || c.is_control());
    if local_ok && domain_ok {
        Ok(e.to_lowercase())
    } else {
        Err("must be an email address".into())
    }
}

/// A person's first or last name: trimmed, non-empty, no control characters.
pub fn name(raw: &str) -> Result<String, String> {
    let n = raw.trim();
    if n.is_empty() {
        return Err("must not be empty".into());
    }
    if raw.chars().count() > NAME_MAX_CHARS {
        return Err(format!("must be at most {NAME_MAX_CHARS} characters"));
    }
    if n.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(n.to_string())
}

/// A phone number normalised to E.164 (`+61412345678`). Australian numbers may be
/// given in national form (`0412 345 678`), since our users have Australian addresses.
pub fn phone(raw: &str) -> Result<String, String> {
    let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
    let e164 = if let Some(rest) = compact.strip_prefix('+') {
        format!("+{rest}")
    } else if let Some(rest) = compact.strip_prefix('0') {
        format!("+61{rest}")
    } else {
        return Err("must be a phone number such as +61412345678".into());
    };
    let digits = &e164[1..];
    if (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(e164)
    } else {
        Err("must be a phone number such as +61412345678".into())
    }
}

/// A date of birth: a real date, in the past, of someone at least [`MIN_AGE_YEARS`] old.
pub fn date_of_birth(raw: &str, today: NaiveDate) -> Result<NaiveDate, String> {
    let dob = calendar_date(raw).ok_or_else(|| "must be a date in the form YYYY-MM-DD".to_string())?;
    if dob > today {
        return Err("must not be in the future".into());
    }
    if dob.year() < 1900 {
        return Err("must be after 1900".into());
    }
    if age_on(dob, today) < MIN_AGE_YEARS {
        return Err(format!("you must be at least {MIN_AGE_YEARS} years old"));
    }
    Ok(dob)
}

/// The document's date form: `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`.
pub const DATE_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$";

/// A real calendar date written exactly `YYYY-MM-DD` (chrono alone would also
/// take `2000-1-1` or `+2000-01-01`).
pub fn calendar_date(raw: &str) -> Option<NaiveDate> {
    let b = raw.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    shaped
        .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
        .flatten()
}

/// Whole years between `dob` and `today` (a birthday on 29 February counts on 1 March
/// in common years, which is how Australian law counts it).
pub fn age_on(dob: NaiveDate, today: NaiveDate) -> u32 {
    let mut years = today.year() - dob.year();
    if (today.month(), today.day()) < (dob.month(), dob.day()) {
        years -= 1;
    }
    years.max(0) as u32
}

/// A new password: long enough to resist guessing, short enough to hash cheaply.
pub fn password(raw: &str) -> Result<(), String> {
    let n = raw.chars().count();
    if n < PASSWORD_MIN_CHARS {
        return Err(format!("must be at least {PASSWORD_MIN_CHARS} characters"));
    }
    if n > PASSWORD_MAX_CHARS {
        return Err(format!("must be at most {PASSWORD_MAX_CHARS} characters"));
    }
    if raw.chars().all(|c| raw.starts_with(c)) {
        return Err("must not be one repeated character".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(email("  Ann@Example.COM ").unwrap(), "ann@example.com");
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "ann@x",
            "a b@x.com",
            "ann@x..com",
            "ann@.x.com",
            "ann@bücher.de",
        ] {
            assert!(email(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(phone("0412 345 678").unwrap(), "+61412345678");
        assert_eq!(phone("+61 (4) 1234-5678").unwrap(), "+61412345678");
        assert!(phone("412345678").is_err());
        assert!(phone("+61abc").is_err());
        assert!(phone("+1234").is_err());
    }

    #[test]
    fn adults_only() {
        let today = d("2026-11-30");
        assert!(date_of_birth("2008-11-30", today).is_ok());
        assert!(date_of_birth("2008-12-01", today).is_err());
        assert!(date_of_birth("2030-01-01", today).is_err());
        assert!(date_of_birth("1990-02-30", today).is_err());
        assert!(date_of_birth("30/01/1990", today).is_err());
        assert_eq!(age_on(d("2004-02-29"), d("2022-02-28")), 17);
        assert_eq!(age_on(d("2004-02-29"), d("2022-03-01")), 18);
    }

    #[test]
    fn password_policy() {
        assert!(password("short").is_err());
        assert!(password("aaaaaaaaaaaa").is_err());
        assert!(password(&"x1".repeat(65)).is_err());
        assert!(password("correct horse").is_ok());
    }

    #[test]
    fn names() {
        assert_eq!(name("  Ann ").unwrap(), "Ann");
        assert!(name("   ").is_err());
        assert!(name("a\u{0}b").is_err());
    }
}
