//! The social side of a ktti: chat messages and moments (posts with photos).
//! What their text may be, and how many photos a moment holds.

/// Longest chat message, in characters (a long paragraph; essays go elsewhere).
pub const CHAT_TEXT_MAX_CHARS: usize = 2_000;
/// Longest moment text, in characters.
pub const MOMENT_TEXT_MAX_CHARS: usize = 2_000;
/// Most photos in one moment.
pub const MOMENT_IMAGES_MAX: usize = 10;

/// Message text: trimmed, `None` when blank, refused when longer than `max`
/// characters or carrying control characters other than line breaks and tabs.
pub fn text(raw: &str, max: usize) -> Result<Option<String>, String> {
    if raw.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if raw.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err("must not contain control characters".into());
    }
    let t = raw.trim();
    Ok((!t.is_empty()).then(|| t.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_bounded_and_printable() {
        assert_eq!(text("  hi\n", 10), Ok(Some("hi".into())));
        assert_eq!(text(" \n ", 10), Ok(None));
        assert!(text(&"x".repeat(11), 10).is_err());
        assert!(text("a\u{0}b", 10).is_err());
        assert_eq!(text("a\nb", 10), Ok(Some("a\nb".into())));
        // Characters, not bytes: ten emoji fit in ten.
        assert!(text(&"🎉".repeat(10), 10).is_ok());
    }
}
