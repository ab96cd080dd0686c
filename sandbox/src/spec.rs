//! The provider's own OpenAPI document, enforced: every request body sent to an
//! operation it describes is checked against that operation's schema (required
//! fields, JSON types, enums, through `$ref`s, arrays and nested objects) and
//! refused with 400 in the provider's error shape, naming the field. So our
//! client cannot drift from the spec unnoticed: a request the real provider
//! would refuse fails here first.
//!
//! The document is `sandbox/spec/`, a copy of `shared/specs/`
//! (`spec_copy_matches_the_shared_one` keeps them equal).

use poem::http::Method;
use serde_json::Value;
use std::sync::OnceLock;

const DOCUMENT: &str = include_str!("../spec/shaype-b2b-operations.openapi.json");

/// Most problems listed in one refusal.
const MAX_PROBLEMS: usize = 10;

struct Operation {
    method: Method,
    /// Path segments; `None` is a `{parameter}`.
    segments: Vec<Option<String>>,
    body: Option<Value>,
}

pub struct Spec {
    document: Value,
    operations: Vec<Operation>,
}

/// The parsed document, once per process.
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| Spec::parse(DOCUMENT).expect("the bundled provider spec parses"))
}

impl Spec {
    fn parse(text: &str) -> Result<Spec, serde_json::Error> {
        let document: Value = serde_json::from_str(text)?;
        let mut operations = Vec::new();
        if let Some(paths) = document["paths"].as_object() {
            for (path, ops) in paths {
                let segments = path
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| (!s.starts_with('{')).then(|| s.to_string()))
                    .collect::<Vec<_>>();
                for (method, op) in ops.as_object().into_iter().flatten() {
                    let Ok(method) = method.to_uppercase().parse::<Method>() else {
                        continue;
                    };
                    let body = op
                        .pointer("/requestBody/content/application~1json/schema")
                        .cloned()
                        .map(|schema| {
                            let required = op.pointer("/requestBody/required").and_then(Value::as_bool);
                            serde_json::json!({"schema": schema, "required": required.unwrap_or(false)})
                        });
                    operations.push(Operation {
                        method,
                        segments: segments.clone(),
                        body,
                    });
                }
            }
        }
        Ok(Spec { document, operations })
    }

    /// The body schema of the operation at `method path`, if the document has
    /// one; `None` for paths it does not describe.
    fn body_of(&self, method: &Method, path: &str) -> Option<&Value> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        // A literal segment beats a parameter (`/cards/create` over `/cards/{id}`).
        self.operations
            .iter()
            .filter(|op| op.method == *method && op.segments.len() == parts.len())
            .filter(|op| {
                op.segments
                    .iter()
                    .zip(&parts)
                    .all(|(seg, part)| seg.as_deref().is_none_or(|s| s == *part))
            })
            .max_by_key(|op| op.segments.iter().filter(|s| s.is_some()).count())
            .and_then(|op| op.body.as_ref())
    }

    /// Problems with `raw` as the body of `method path`; empty when it conforms
    /// or the document says nothing about it.
    pub fn check(&self, method: &Method, path: &str, raw: &[u8]) -> Vec<String> {
        let Some(body) = self.body_of(method, path) else {
            return Vec::new();
        };
        if raw.iter().all(u8::is_ascii_whitespace) {
            return if body["required"] == Value::Bool(true) {
                vec!["the request body is required".into()]
            } else {
                Vec::new()
            };
        }
        let value: Value = match serde_json::from_slice(raw) {
            Ok(v) => v,
            Err(e) => return vec![format!("the body is not JSON: {e}")],
        };
        let mut problems = Vec::new();
        self.validate(&value, &body["schema"], "", &mut problems);
        problems.truncate(MAX_PROBLEMS);
        problems
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
            Some(pointer) => self.document.pointer(pointer).map_or(schema, |s| self.resolve(s)),
            None => schema,
        }
    }

    fn validate(&self, value: &Value, schema: &Value, at: &str, problems: &mut Vec<String>) {
        let schema = self.resolve(schema);
        for part in schema["allOf"].as_array().into_iter().flatten() {
            self.validate(value, part, at, problems);
        }
        let name = if at.is_empty() { "the body" } else { at };
        let kind = schema["type"].as_str();
        let fits = match kind {
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("string") => value.is_string(),
            Some("boolean") => value.is_boolean(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            _ => true,
        };
        if !fits {
            problems.push(format!("{name} must be of type {}", kind.unwrap_or("?")));
            return;
        }
        if let (Some(allowed), Some(s)) = (schema["enum"].as_array(), value.as_str())
            && !allowed.iter().any(|a| a.as_str() == Some(s))
        {
            problems.push(format!("{name} must be one of the documented values, not {s:?}"));
        }
        if let Some(object) = value.as_object() {
            for field in schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if object.get(field).is_none_or(Value::is_null) {
                    problems.push(format!("{} is required", join(at, field)));
                }
            }
            if let Some(properties) = schema["properties"].as_object() {
                for (field, inner) in object {
                    if let (Some(property), false) = (properties.get(field), inner.is_null()) {
                        self.validate(inner, property, &join(at, field), problems);
                    }
                }
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (i, item) in array.iter().enumerate() {
                self.validate(item, items, &format!("{name}[{i}]"), problems);
            }
        }
    }
}

fn join(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_string()
    } else {
        format!("{at}.{field}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unblocking_a_card_needs_a_note_and_types_are_checked() {
        let s = spec();
        let unblock = "/v0/cards/7d0c3c1e-0000-4000-8000-000000000000/unblock";
        assert_eq!(s.check(&Method::POST, unblock, b"{}"), ["note is required"]);
        assert!(
            s.check(&Method::POST, unblock, br#"{"note": "rights restored"}"#)
                .is_empty()
        );
        assert_eq!(
            s.check(&Method::POST, unblock, br#"{"note": 5}"#),
            ["note must be of type string"]
        );
        // Block's note is optional.
        assert!(s.check(&Method::POST, "/v0/cards/x/block", b"{}").is_empty());
        // Paths the document does not describe are not ours to judge.
        assert!(s.check(&Method::POST, "/sandbox/utils/refund", b"{}").is_empty());
    }

    #[test]
    fn nested_required_fields_and_enums_are_named() {
        let s = spec();
        let problems = s.check(
            &Method::POST,
            "/v0/cards/create",
            br#"{"accountId": "a", "customerHayId": "c", "email": "e", "firstName": "f", "idempotencyKey": "k",
                 "lastName": "l", "phoneNumber": {}, "pin": "1234", "cardType": "PLASTIC",
                 "deliveryAddress": {"line1": "1 George St"}}"#,
        );
        assert!(
            problems.iter().any(|p| p.starts_with("deliveryAddress.")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with("cardType must be one of")),
            "{problems:?}"
        );
    }

    #[test]
    fn spec_copy_matches_the_shared_one() {
        let shared = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/specs/shaype-b2b-operations.openapi.json"
        );
        // Present beside the checkout here and in CI; a lone clone has only the copy.
        if let Ok(text) = std::fs::read_to_string(shared) {
            assert!(text == DOCUMENT, "sandbox/spec/ is stale: copy shared/specs/ again");
        }
    }
}
