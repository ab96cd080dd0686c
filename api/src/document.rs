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
//! - 404 only where there is something to find (a path id, a referral code, the
//!   personal ktti, the admin routes); 409 on reads only where one can conflict.
//!
//! - Each request field's text rule as a `pattern` ([`crate::patterns`]).
//!
//! It also knows each path's methods, for the `Allow` header of a 405.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Routes whose caller proves itself by signature instead of a bearer token.
const SIGNED_ROUTES_PREFIX: &str = "/api/hay/";

/// Operations without a path parameter that still answer 404: the personal ktti
/// (none before KYC), joining by an unknown referral code, the payout account
/// (none nominated). (Admin routes answer 404 to everyone who is not a platform
/// admin.)
const NOT_FOUND_WITHOUT_PATH_ID: &[&str] = &["getPersonalKtti", "joinKtti", "getPayoutAccount", "removePayoutAccount"];

/// Reads that answer 409: a ktti's bank details and card while the account is still
/// being opened.
const READS_WITH_CONFLICT: &[&str] = &["getKttiBanking", "getKttiCard"];

/// Public operations that check a credential sent in the body (a password, an
/// ID token, a refresh token) and answer 401 when it is wrong.
const CREDENTIAL_OPERATIONS: &[&str] = &["login", "socialLogin", "refresh"];

/// Narrows each operation's error responses (see the module docs) and lists the
/// billing plans on offer (configuration) as the values a plan change takes.
pub fn refine(spec: &str, plan_codes: &[&str]) -> String {
    let Ok(mut doc) = serde_json::from_str::<Value>(spec) else {
        return spec.to_string();
    };
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, ops) in paths.iter_mut() {
            for (method, op) in ops.as_object_mut().into_iter().flatten() {
                let authenticated = op["security"].as_array().is_some_and(|s| !s.is_empty())
                    || path.starts_with(SIGNED_ROUTES_PREFIX)
                    || op["operationId"]
                        .as_str()
                        .is_some_and(|id| CREDENTIAL_OPERATIONS.contains(&id));
                let has_body = op.get("requestBody").is_some();
                let id = op["operationId"].as_str().unwrap_or_default().to_string();
                let may_not_find = path.contains('{')
                    || path.starts_with("/api/v2/admin/")
                    || NOT_FOUND_WITHOUT_PATH_ID.contains(&id.as_str());
                let may_conflict = method != "get" || READS_WITH_CONFLICT.contains(&id.as_str());
                if let Some(responses) = op["responses"].as_object_mut() {
                    if !may_not_find {
                        responses.remove("404");
                    }
                    if !may_conflict {
                        responses.remove("409");
                    }
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
    state_text_rules(&mut doc);
    link_created_ktties(&mut doc);
    if let Some(plan) = doc
        .pointer_mut("/components/schemas/PlanChange/properties/plan")
        .and_then(Value::as_object_mut)
    {
        plan.insert("enum".into(), plan_codes.iter().copied().map(Value::from).collect());
    }
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| spec.to_string())
}

/// Operations that create a ktti, and those not linked from them (the chat
/// stream never ends, so a client generator or a stateful fuzzer should not
/// walk into it).
const KTTI_CREATORS: [&str; 2] = ["createKtti", "createKttiV3"];
const NOT_LINKED: [&str; 1] = ["streamChat"];

/// OpenAPI links from each ktti-creating operation's 201 to every operation
/// that takes a `kttiId`: "create a ktti, then use its id everywhere", for
/// generated clients and schemathesis' stateful phase.
fn link_created_ktties(doc: &mut Value) {
    let mut targets: Vec<String> = Vec::new();
    for (_, ops) in doc["paths"].as_object().into_iter().flatten() {
        for (_, op) in ops.as_object().into_iter().flatten() {
            let takes_ktti = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path" && p["name"] == "kttiId"));
            if let Some(id) = op["operationId"].as_str()
                && takes_ktti
                && !NOT_LINKED.contains(&id)
            {
                targets.push(id.to_string());
            }
        }
    }
    targets.sort();
    let links: serde_json::Map<String, Value> = targets
        .iter()
        .map(|id| {
            let link = serde_json::json!({
                "operationId": id,
                "parameters": { "kttiId": "$response.body#/id" },
            });
            (id.clone(), link)
        })
        .collect();
    for (_, ops) in doc["paths"].as_object_mut().into_iter().flatten() {
        for (_, op) in ops.as_object_mut().into_iter().flatten() {
            let creates = op["operationId"].as_str().is_some_and(|id| KTTI_CREATORS.contains(&id));
            if let Some(created) = op.pointer_mut("/responses/201").and_then(Value::as_object_mut)
                && creates
            {
                created.insert("links".into(), Value::Object(links.clone()));
            }
        }
    }
}

/// Writes each request field's text rule ([`crate::patterns::FIELDS`]) and the
/// headers' ([`crate::patterns::HEADERS`]) into the document.
fn state_text_rules(doc: &mut Value) {
    // `pointer_mut` and `get_mut`, not indexing: indexing a missing key inserts null.
    for (schema, field, pattern) in crate::patterns::FIELDS {
        let Some(property) = doc.pointer_mut(&format!("/components/schemas/{schema}/properties/{field}")) else {
            continue;
        };
        let target = if property["type"] == "array" {
            property.get_mut("items")
        } else {
            Some(property)
        };
        if let Some(target) = target.and_then(Value::as_object_mut) {
            target.insert("pattern".into(), Value::from(*pattern));
        }
    }
    for (_, ops) in doc["paths"].as_object_mut().into_iter().flatten() {
        for (_, op) in ops.as_object_mut().into_iter().flatten() {
            let params = op.get_mut("parameters").and_then(Value::as_array_mut);
            for param in params.into_iter().flatten() {
                if param["in"] != "header" {
                    continue;
                }
                if let Some((_, pattern)) = crate::patterns::HEADERS.iter().find(|(h, _)| param["name"] == *h)
                    && let Some(schema) = param["schema"].as_object_mut()
                {
                    schema.insert("pattern".into(), Value::from(*pattern));
                    schema.insert("minLength".into(), Value::from(1));
                    schema.insert(
                        "maxLength".into(),
                        Value::from(crate::idempotency::IDEMPOTENCY_KEY_MAX_CHARS),
                    );
                }
            }
        }
    }
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
    fn each_operation_lists_only_the_statuses_it_can_answer() {
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
        assert!(has(&me, "401") && !has(&me, "415") && !has(&me, "404") && !has(&me, "409"));
        let banking = responses("/api/v2/ktties/{kttiId}/banking", "get");
        assert!(has(&banking, "404") && has(&banking, "409"));
        assert!(has(&responses("/api/v2/ktties/join", "post"), "404"));
        let webhook = responses("/api/hay/v0/communications/notification", "post");
        assert!(has(&webhook, "401") && has(&webhook, "413"));
    }

    /// The limits the document states are the ones the server enforces: the
    /// validator attributes are literals, so this keeps them equal to the rules'
    /// constants.
    #[test]
    fn stated_limits_are_the_enforced_ones() {
        use crate::routes::{devices, transactions};
        use kttipay_domain::{kyc, membership, user};
        let doc: Value = serde_json::from_str(&crate::openapi_json()).unwrap();
        let max =
            |schema: &str, field: &str| doc["components"]["schemas"][schema]["properties"][field]["maxLength"].as_u64();
        let limits: [(&str, &str, usize); 14] = [
            ("Registration", "email", user::EMAIL_MAX_CHARS),
            ("Registration", "firstName", user::NAME_MAX_CHARS),
            ("TokenAndPassword", "password", user::PASSWORD_MAX_CHARS),
            ("ChangePassword", "newPassword", user::PASSWORD_MAX_CHARS),
            ("KycRequest", "lastName", user::NAME_MAX_CHARS),
            ("Address", "line1", kyc::ADDRESS_LINE_MAX_CHARS),
            ("CreateKtti", "name", membership::NAME_MAX_CHARS),
            ("CreateKtti", "description", membership::DESCRIPTION_MAX_CHARS),
            ("UpdateKtti", "purpose", membership::PURPOSE_MAX_CHARS),
            ("MemberUpdate", "nickname", membership::NICKNAME_MAX_CHARS),
            ("FcmToken", "token", devices::FCM_TOKEN_MAX_CHARS),
            ("AppDetails", "model", devices::DETAIL_MAX_CHARS),
            ("AppDetails", "locale", devices::LOCALE_MAX_CHARS),
            ("AdditionalInfoPatch", "note", transactions::NOTE_MAX_CHARS),
        ];
        for (schema, field, limit) in limits {
            assert_eq!(max(schema, field), Some(limit as u64), "{schema}.{field}");
        }
        let tags = &doc["components"]["schemas"]["AdditionalInfoPatch"]["properties"]["tags"];
        assert_eq!(tags["maxItems"].as_u64(), Some(transactions::TAGS_MAX as u64));
        assert_eq!(
            tags["items"]["maxLength"].as_u64(),
            Some(transactions::TAG_MAX_CHARS as u64)
        );
        assert_eq!(
            user::PASSWORD_MIN_CHARS as u64,
            doc["components"]["schemas"]["TokenAndPassword"]["properties"]["password"]["minLength"]
                .as_u64()
                .unwrap()
        );
    }

    #[test]
    fn every_text_rule_lands_on_a_field_that_exists() {
        let doc: Value = serde_json::from_str(&crate::openapi_json()).unwrap();
        for (schema, field, pattern) in crate::patterns::FIELDS {
            let property = &doc["components"]["schemas"][schema]["properties"][field];
            let stated = property["pattern"].as_str().or(property["items"]["pattern"].as_str());
            assert_eq!(stated, Some(*pattern), "{schema}.{field}");
        }
        let join = &doc["paths"]["/api/v2/ktties/join"]["post"]["parameters"];
        let key = join
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Idempotency-Key")
            .unwrap();
        assert_eq!(key["schema"]["maxLength"], 255);
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
