//! Every error the API returns: `application/problem+json` (RFC 9457) with a stable
//! machine `code`. Handlers return [`ApiError`]; errors raised by the framework
//! itself (unknown route, unparsable path, missing content type) are converted by
//! [`problem_from_poem_error`], so no response escapes in another format.

use kttipay_domain::FieldError;
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, Object};

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The body of every error response.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", rename = "Problem")]
pub struct Problem {
    /// A URI naming the problem type: `https://kttipay.com/problems/<code>`.
    #[oai(rename = "type")]
    pub kind: String,
    /// The status's title, e.g. `Record Not Found`.
    pub title: String,
    pub status: u16,
    /// What went wrong, for a person. Never internals.
    pub detail: String,
    /// Stable machine code, e.g. `ktti_not_found`.
    pub code: String,
    /// Field errors; only a 422 has them.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<ProblemField>>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ProblemField {
    pub field: String,
    pub message: String,
}

/// An error response. Construct it with the helpers below.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Seconds, for 429.
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_secs: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_request", detail)
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    /// A role rule said no (403 with the rule's code).
    pub fn denied(d: kttipay_domain::membership::Denied) -> Self {
        Self::forbidden(d.code, d.reason)
    }

    /// 409: the ktti or the caller is not in a state for this (`domain` says why).
    pub fn not_now(n: kttipay_domain::membership::NotNow) -> Self {
        Self::conflict(n.code, n.reason)
    }

    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 422 with the given field errors.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        ApiError {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Some fields are invalid.",
            )
        }
    }

    /// 422 for one field.
    pub fn invalid_field(code: &'static str, field: &str, message: &str) -> Self {
        ApiError {
            errors: vec![FieldError::new(field, message)],
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, format!("{field} {message}"))
        }
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        ApiError {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many attempts; try again later.",
            )
        }
    }

    /// An internal error (status 500): the cause is logged with where it happened
    /// (the caller's file and line, since `#[track_caller]` reaches through `?` and
    /// the `From` impls below) and never shown to the client.
    #[track_caller]
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let at = std::panic::Location::caller();
        tracing::error!(error = %cause, %at, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side.",
        )
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("https://kttipay.com/problems/{}", self.code),
            title: title_of(self.status).to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            errors: (!self.errors.is_empty()).then(|| {
                self.errors
                    .iter()
                    .map(|e| ProblemField {
                        field: e.field.clone(),
                        message: e.message.clone(),
                    })
                    .collect()
            }),
        }
    }
}

/// The titles API.md fixes for each status.
pub fn title_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Record Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Parameter Error",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        s if s < 500 => "Bad Request",
        _ => "Server Error",
    }
}

impl From<sqlx::Error> for ApiError {
    #[track_caller]
    fn from(e: sqlx::Error) -> Self {
        ApiError::internal(format!("database: {e}"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for ApiError {}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        let body = self.problem().to_json().map(|v| v.to_string()).unwrap_or_default();
        let mut resp = Response::builder()
            .status(self.status)
            .content_type(PROBLEM_CONTENT_TYPE)
            .body(body);
        if let Some(secs) = self.retry_after_secs {
            resp.headers_mut().insert("Retry-After", secs.into());
        }
        resp
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        poem::error::ResponseError::as_response(&self)
    }
}

/// The statuses a route may answer with an error; `document::refine` narrows them
/// to what each operation can answer.
const DOCUMENTED: &[(u16, &str)] = &[
    (400, "Malformed request (bad JSON)"),
    (401, "Missing, expired or invalid credentials"),
    (403, "The caller's role may not do this"),
    (404, "Not found, or not visible to the caller"),
    (
        409,
        "The resource's state does not allow this, or an Idempotency-Key clash",
    ),
    (413, "The request body is too large"),
    (415, "The request body is not JSON"),
    (422, "Well-formed but invalid values, with field errors"),
    (429, "Rate limited; see Retry-After"),
    (500, "Server error"),
];

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: DOCUMENTED
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: PROBLEM_CONTENT_TYPE,
                        schema: <Problem as poem_openapi::types::Type>::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        <Problem as poem_openapi::types::Type>::register(registry);
    }
}

/// poem-openapi names path parameters `param0`, `param1`... internally: the name
/// the document gives the one at that position in the operation's path.
fn path_param_name(err: &poem::Error, internal: &'static str) -> &'static str {
    static NAMES: std::sync::OnceLock<std::collections::HashMap<String, Vec<&'static str>>> =
        std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        let doc: serde_json::Value = serde_json::from_str(&crate::openapi_json()).unwrap_or_default();
        let mut map = std::collections::HashMap::new();
        for (path, ops) in doc["paths"].as_object().into_iter().flatten() {
            let params: Vec<&'static str> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(|s| &*Box::leak(s.to_string().into_boxed_str()))
                .collect();
            for op in ops.as_object().into_iter().flatten().map(|(_, op)| op) {
                if let Some(id) = op["operationId"].as_str() {
                    map.insert(id.to_string(), params.clone());
                }
            }
        }
        map
    });
    let position = internal.strip_prefix("param").and_then(|n| n.parse::<usize>().ok());
    err.data::<poem_openapi::OperationId>()
        .zip(position)
        .and_then(|(op, i)| names.get(op.0).and_then(|p| p.get(i)).copied())
        .unwrap_or(internal)
}

/// Converts any error that reached the top of the stack into a problem response.
pub fn problem_from_poem_error(err: poem::Error) -> Response {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.clone().into_response();
    }
    // A query or path parameter that does not parse (`page=-1`, `from=notadate`, a
    // path id that is not a UUID) is a well-formed request with a bad value: 422,
    // naming the parameter, without the framework's type names.
    let bad_param = match (
        err.downcast_ref::<poem_openapi::error::ParseParamError>(),
        err.downcast_ref::<poem_openapi::error::ParsePathError>(),
    ) {
        (Some(p), _) => Some((p.name, p.reason.as_str())),
        (_, Some(p)) => Some((path_param_name(&err, p.name), p.reason.as_str())),
        _ => None,
    };
    if let Some((name, reason)) = bad_param {
        let message = if reason.contains("required") || reason.contains("missing") {
            "is required"
        } else {
            "is not a valid value for this parameter"
        };
        return ApiError::invalid_field("validation_failed", name, message).into_response();
    }
    let status = err.status();
    let (code, detail) = match status.as_u16() {
        400 => ("malformed_request", "The request could not be read.".to_string()),
        401 => ("unauthorized", "A valid access token is required.".to_string()),
        404 => ("not_found", "No such resource.".to_string()),
        405 => ("method_not_allowed", "This method is not allowed here.".to_string()),
        413 => ("payload_too_large", "The request body is too large.".to_string()),
        415 => (
            "unsupported_media_type",
            "Send JSON with Content-Type: application/json.".to_string(),
        ),
        s if s < 500 => ("bad_request", "The request could not be processed.".to_string()),
        _ => {
            tracing::error!(error = %err, "unhandled server error");
            ("internal_error", "Something went wrong on our side.".to_string())
        }
    };
    ApiError::new(status, code, detail).into_response()
}
