//! The published OpenAPI document, made exact where poem-openapi cannot say it per
//! operation: every handler returns the one [`crate::error::ApiError`] type, whose
//! documented statuses are the same for all. This pass narrows them to what each
//! operation can answer, so generated clients and schemathesis see the truth:
//!
//! - 401 only where a bearer token is required, a webhook signature is checked
//!   (the provider's routes under `/api/hay/`) or a credential in the body is
//!   (login, refresh); other public routes never answer 401.
//! - 413 and 415 only where there is a request body to be too large or of the
//!   wrong type.
//!
//! It also knows each path's methods, for the `Allow` header of a 405.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Routes whose caller proves itself by signature instead of a bearer token.
const SIGNED_ROUTES_PREFIX: &str = "/api/hay/";

/// Public operations that check a credential sent in the body (a password, an
/// ID token, a refresh token) and answer 401 when it is wrong.
const CREDENTIAL_OPERATIONS: &[&str] = &["login", "socialLogin", "refresh"];

/// Narrows each operation's error responses (see the module docs).
pub fn refine(spec: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<Value>(spec) else {
        return spec.to_string();
    };
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, ops) in paths.iter_mut() {
            for (_, op) in ops.as_object_mut().into_iter().flatten() {
                let authenticated = op["security"].as_array().is_some_and(|s| !s.is_empty())
                    || path.starts_with(SIGNED_ROUTES_PREFIX)
                    || op["operationId"]
                        .as_str()
                        .is_some_and(|id| CREDENTIAL_OPERATIONS.contains(&id));
                let has_body = op.get("requestBody").is_some();
                if let Some(responses) = op["responses"].as_object_mut() {
                    if !authenticated {
                        responses.remove("401");
                    }
                    if !has_body {
                        responses.remove("413");
                        responses.remove("415");
                    }
                }
            }
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| spec.to_string())
}

/// The methods a request path allows, as an `Allow` header value (`GET, PATCH`);
/// `None` when no documented path matches.
pub fn allowed_methods(path: &str) -> Option<String> {
    static PATHS: OnceLock<Vec<(Vec<String>, String)>> = OnceLock::new();
    let paths = PATHS.get_or_init(|| {
        let doc: Value = serde_json::from_str(&crate::openapi_json()).unwrap_or_default();
        let mut by_template: HashMap<String, Vec<String>> = HashMap::new();
        for (template, ops) in doc["paths"].as_object().into_iter().flatten() {
            let methods = ops.as_object().into_iter().flatten().map(|(m, _)| m.to_uppercase());
            by_template.entry(template.clone()).or_default().extend(methods);
        }
        by_template
            .into_iter()
            .map(|(template, mut methods)| {
                methods.sort();
                let segments = template.split('/').map(str::to_owned).collect();
                (segments, methods.join(", "))
            })
            .collect()
    });
    let wanted: Vec<&str> = path.split('/').collect();
    paths
        .iter()
        .filter(|(segments, _)| {
            segments.len() == wanted.len()
                && segments
                    .iter()
                    .zip(&wanted)
                    .all(|(t, w)| t == w || (t.starts_with('{') && t.ends_with('}')))
        })
        // A literal segment beats a template one (`/ktties/personal` over `/ktties/{kttiId}`).
        .max_by_key(|(segments, _)| segments.iter().filter(|s| !s.starts_with('{')).count())
        .map(|(_, methods)| methods.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_routes_do_not_document_401_and_bodiless_ones_no_413_or_415() {
        let doc: Value = serde_json::from_str(&crate::openapi_json()).unwrap();
        let responses = |path: &str, method: &str| -> Vec<String> {
            doc["paths"][path][method]["responses"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        };
        let has = |list: &[String], status: &str| list.iter().any(|s| s == status);
        let register = responses("/api/v2/registration", "post");
        assert!(!has(&register, "401") && has(&register, "415"));
        // Login checks a password: a wrong one is 401, though no token is needed.
        assert!(has(&responses("/api/v2/auth/login", "post"), "401"));
        let me = responses("/api/v2/users/me", "get");
        assert!(has(&me, "401") && !has(&me, "415"));
        let webhook = responses("/api/hay/v0/communications/notification", "post");
        assert!(has(&webhook, "401") && has(&webhook, "413"));
    }

    #[test]
    fn a_path_lists_its_methods() {
        assert_eq!(allowed_methods("/api/v2/users/me").as_deref(), Some("GET"));
        assert_eq!(
            allowed_methods("/api/v2/ktties/0190c0de-0000-7000-8000-000000000000").as_deref(),
            Some("GET, PATCH")
        );
        assert_eq!(allowed_methods("/api/v2/ktties/personal").as_deref(), Some("GET"));
        assert_eq!(allowed_methods("/nope"), None);
    }
}
