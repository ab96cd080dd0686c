//! Field errors: what a rule says about one input field, in words a user can act on.

use serde::Serialize;

/// One invalid field: `field` is the JSON name (`camelCase`), `message` says why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Collects every field error of one request, so the client sees them all at once
/// instead of fixing one field per round trip.
#[derive(Debug, Default)]
pub struct Validation {
    errors: Vec<FieldError>,
}

impl Validation {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs one rule; keeps its value when it passes, records its error when not.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.errors.push(FieldError::new(field, message));
                None
            }
        }
    }

    /// Runs a rule on an optional field: absent passes.
    pub fn check_opt<T, U>(
        &mut self,
        field: &str,
        value: Option<T>,
        rule: impl FnOnce(T) -> Result<U, String>,
    ) -> Option<Option<U>> {
        match value {
            None => Some(None),
            Some(v) => self.check(field, rule(v)).map(Some),
        }
    }

    /// `Ok(())` when every rule passed, otherwise every error found.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}
