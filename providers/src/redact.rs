//! Text made safe for a log line: links, tokens and codes cut short. The log
//! mailer prints what it would have sent, and an email carries exactly the
//! things that must never reach a log in full: sign-in links, reset tokens,
//! one-time codes.

/// Characters of a link kept before the rest is replaced (scheme and host).
const LINK_KEEP_CHARS: usize = 24;
/// Characters of a long token kept, so a developer can still tell two apart.
const TOKEN_KEEP_CHARS: usize = 4;
/// A word this long made of token characters is taken for a token.
const TOKEN_MIN_CHARS: usize = 12;
/// A run of this many digits or more is taken for a code (OTPs are 4 to 8).
const CODE_MIN_DIGITS: usize = 4;

/// `text` with every link, token-like word and numeric code redacted.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars() {
        if c.is_whitespace() {
            out.push_str(&redact_word(&word));
            word.clear();
            out.push(c);
        } else {
            word.push(c);
        }
    }
    out.push_str(&redact_word(&word));
    out
}

fn redact_word(word: &str) -> String {
    if word.contains("://") {
        let kept: String = word.chars().take(LINK_KEEP_CHARS).collect();
        return format!("{kept}***");
    }
    let token_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=' | '+' | '/');
    let core = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if core.chars().count() >= TOKEN_MIN_CHARS && core.chars().all(token_char) {
        let kept: String = core.chars().take(TOKEN_KEEP_CHARS).collect();
        return word.replace(core, &format!("{kept}***"));
    }
    let digits = core.chars().filter(char::is_ascii_digit).count();
    if digits >= CODE_MIN_DIGITS && core.chars().all(|c| c.is_ascii_digit() || c == '-') {
        return word.replace(core, "***");
    }
    word.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_tokens_and_codes_are_cut_and_prose_is_kept() {
        let text = "Hi Pia,\nFinish here: https://app.kttipay.test/verify?token=abcDEF123456xyz\n\
                    Your code is 482913. Or paste 9f8e7d6c5b4a3f2e1d0c.\nThanks, KttiPay";
        let shown = redact_text(text);
        assert!(!shown.contains("abcDEF123456xyz"), "{shown}");
        assert!(!shown.contains("482913"), "{shown}");
        assert!(!shown.contains("9f8e7d6c5b4a3f2e1d0c"), "{shown}");
        assert!(shown.contains("https://app.kttipay.test***"), "{shown}");
        assert!(shown.contains("Your code is ***."), "{shown}");
        assert!(shown.contains("paste 9f8e***."), "{shown}");
        assert!(shown.starts_with("Hi Pia,\nFinish here:"), "{shown}");
        assert!(shown.ends_with("Thanks, KttiPay"), "{shown}");
    }

    #[test]
    fn short_words_and_amounts_stay() {
        assert_eq!(redact_text("You paid 12.50 on 2026"), "You paid 12.50 on ***");
        assert_eq!(redact_text("Bali trip"), "Bali trip");
    }
}
