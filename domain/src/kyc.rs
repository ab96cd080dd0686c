//! What a KYC submission must contain. Users are adults with an Australian address.

/// Australian states and territories, as the provider expects them.
pub const AU_STATES: [&str; 8] = ["NSW", "VIC", "QLD", "WA", "SA", "TAS", "ACT", "NT"];
pub const ADDRESS_LINE_MAX_CHARS: usize = 120;

pub fn address_line(raw: &str) -> Result<String, String> {
    let line = raw.trim();
    if line.is_empty() {
        return Err("must not be empty".into());
    }
    if raw.chars().count() > ADDRESS_LINE_MAX_CHARS || line.chars().any(char::is_control) {
        return Err(format!("must be at most {ADDRESS_LINE_MAX_CHARS} printable characters"));
    }
    Ok(line.to_string())
}

/// Exactly one of [`AU_STATES`]: the document lists them as an enum.
pub fn state(raw: &str) -> Result<String, String> {
    if AU_STATES.contains(&raw) {
        Ok(raw.to_string())
    } else {
        Err(format!("must be one of {}", AU_STATES.join(", ")))
    }
}

/// Exactly four digits (the document's pattern).
pub fn postcode(raw: &str) -> Result<String, String> {
    if raw.len() == 4 && raw.chars().all(|c| c.is_ascii_digit()) {
        Ok(raw.to_string())
    } else {
        Err("must be four digits".into())
    }
}

/// Exactly `AU` (an enum of one in the document).
pub fn country(raw: &str) -> Result<String, String> {
    if raw == "AU" {
        Ok("AU".into())
    } else {
        Err("must be AU: KttiPay serves Australian residents".into())
    }
}

pub fn document_type(raw: &str) -> Result<&'static str, String> {
    match raw {
        "driversLicence" => Ok("driversLicence"),
        "passport" => Ok("passport"),
        _ => Err("must be driversLicence or passport".into()),
    }
}

/// A licence or passport number: 5 to 20 letters and digits, upper-cased.
pub fn document_number(raw: &str) -> Result<String, String> {
    let n: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    // ASCII checked before upper-casing, which could make ASCII out of other letters.
    if (5..=20).contains(&n.len()) && n.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(n.to_ascii_uppercase())
    } else {
        Err("must be 5 to 20 letters and digits".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(state("NSW").unwrap(), "NSW");
        assert!(state(" nsw ").is_err());
        assert!(postcode(" 2000").is_err());
        assert!(country("au").is_err());
        assert!(state("XX").is_err());
        assert!(postcode("200").is_err());
        assert!(postcode("2000").is_ok());
        assert!(country("NZ").is_err());
        assert_eq!(document_number("ab 12345").unwrap(), "AB12345");
        assert!(document_number("12-34").is_err());
        assert!(document_type("licence").is_err());
        assert!(address_line("  ").is_err());
    }
}
