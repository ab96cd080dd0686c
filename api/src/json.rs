//! `JsonBody<T>`: a JSON request body that tells a malformed document (400) from
//! a well-formed one with missing or wrongly typed fields (422, naming the field).
//! poem-openapi's own `Json<T>` reports both as 400 without the field.

use crate::error::ApiError;
use kttipay_domain::FieldError;
use poem::{Request, RequestBody};
use poem_openapi::impl_apirequest_for_payload;
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::de::DeserializeOwned;

/// Largest JSON body accepted by routes that take one.
pub const JSON_BODY_MAX_BYTES: usize = 256 * 1024;

pub struct JsonBody<T>(pub T);

impl<T: Type + Send> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        content_type.split(';').next().is_some_and(|essence| {
            let essence = essence.trim();
            essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
        })
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + DeserializeOwned + Send> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let _ = request;
        Ok(JsonBody(parse(&read_limited(body).await?)?))
    }
}

impl_apirequest_for_payload!(JsonBody<T>, T: Type + DeserializeOwned + Send);

/// A JSON body that may be left out: no body at all (and no `Content-Type`) is
/// `None`, declared `required: false` in the document. A body that is there is
/// parsed as [`JsonBody`] parses it.
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<'a, T: Type + DeserializeOwned + Send> poem_openapi::ApiExtractor<'a> for OptionalJsonBody<T> {
    const TYPES: &'static [poem_openapi::ApiExtractorType] = &[poem_openapi::ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<poem_openapi::registry::MetaRequest> {
        Some(poem_openapi::registry::MetaRequest {
            description: None,
            content: vec![poem_openapi::registry::MetaMediaType {
                content_type: "application/json",
                schema: T::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: poem_openapi::ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let bytes = read_limited(body).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(None));
        }
        match request.content_type() {
            Some(ct) if JsonBody::<T>::check_content_type(ct) => Ok(OptionalJsonBody(Some(parse(&bytes)?))),
            Some(ct) => Err(poem_openapi::error::ContentTypeError::NotSupported {
                content_type: ct.to_string(),
            }
            .into()),
            None => Err(poem_openapi::error::ContentTypeError::ExpectContentType.into()),
        }
    }
}

/// Reads a body up to [`JSON_BODY_MAX_BYTES`]: a huge or endless body is refused
/// (413) without buffering it first.
pub(crate) async fn read_limited(body: &mut RequestBody) -> poem::Result<Vec<u8>> {
    let bytes = body
        .take()?
        .into_bytes_limit(JSON_BODY_MAX_BYTES)
        .await
        .map_err(|e| match e {
            poem::error::ReadBodyError::PayloadTooLarge => ApiError::new(
                poem::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("The body must be at most {JSON_BODY_MAX_BYTES} bytes."),
            ),
            other => ApiError::bad_request(format!("The body could not be read: {other}")),
        })?;
    Ok(bytes.to_vec())
}

/// Parses a body: syntax errors are 400, shape errors 422 with the field path.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("The body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("The body must be a JSON object."));
    }
    // PostgreSQL cannot store a NUL character in text: refuse it up front, naming
    // every field that holds one, instead of failing the query with a 500.
    let mut nul = Vec::new();
    find_nul(&value, "", &mut nul);
    if !nul.is_empty() {
        return Err(ApiError::invalid(
            nul.into_iter()
                .map(|f| FieldError::new(f, "must not contain a NUL character"))
                .collect(),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde reports a missing field at its parent's path, naming it in the message.
        let (field, message) = match inner.strip_prefix("missing field `").and_then(|r| r.strip_suffix('`')) {
            Some(name) => (join(&path, name), "is required".to_string()),
            None => (path, shape_message(&inner)),
        };
        ApiError::invalid(vec![FieldError::new(field, message)])
    })
}

/// Paths of the strings (values or keys) in `value` that hold a NUL character.
fn find_nul(value: &serde_json::Value, at: &str, found: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if s.contains('\0') => found.push(at.to_string()),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                find_nul(item, &format!("{at}[{i}]"), found);
            }
        }
        serde_json::Value::Object(fields) => {
            for (key, inner) in fields {
                let path = join(at, key);
                if key.contains('\0') {
                    found.push(path.replace('\0', ""));
                } else {
                    find_nul(inner, &path, found);
                }
            }
        }
        _ => {}
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() || parent == "." {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// serde's messages without Rust type names.
fn shape_message(inner: &str) -> String {
    if let Some(rest) = inner.strip_prefix("invalid type: ") {
        let (got, expected) = rest.split_once(", expected ").unwrap_or((rest, "another type"));
        format!("has the wrong type: got {got}, expected {expected}")
    } else if inner.starts_with("unknown variant") {
        inner.replace('`', "\"")
    } else {
        inner.to_string()
    }
}

/// A timestamp as poem-openapi writes one (`to_rfc3339`: `+00:00`, not chrono's
/// serde `Z`), for types written by both (`#[serde(serialize_with)]`).
pub fn rfc3339<S: serde::Serializer>(at: &chrono::DateTime<chrono::Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339())
}

/// As [`rfc3339`], or `null`.
pub fn rfc3339_opt<S: serde::Serializer>(at: &Option<chrono::DateTime<chrono::Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, s),
        None => s.serialize_none(),
    }
}

/// A JSON response written by serde straight into bytes. poem-openapi's
/// `Json<T>` first builds a `serde_json::Value` tree (every string and number
/// allocated, then written); for a long list that tree is most of the request.
/// The document is the same: `T`'s schema, `application/json`.
pub struct SerdeJson<T>(pub T);

const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// What a response body written by [`SerdeJson`] starts with.
const SERDE_JSON_INITIAL_CAPACITY_BYTES: usize = 16 * 1024;

impl<T: Type> Payload for SerdeJson<T> {
    const CONTENT_TYPE: &'static str = JSON_CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: serde::Serialize + Send> poem::IntoResponse for SerdeJson<T> {
    fn into_response(self) -> poem::Response {
        // Lists are what this writes: start big enough for most, rather than
        // growing from serde_json's 128 bytes by copying.
        let mut body = Vec::with_capacity(SERDE_JSON_INITIAL_CAPACITY_BYTES);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => poem::Response::builder().content_type(JSON_CONTENT_TYPE).body(body),
            Err(e) => ApiError::internal(format!("serialising a response: {e}")).into_response(),
        }
    }
}

impl<T: Type + serde::Serialize + Send> poem_openapi::ApiResponse for SerdeJson<T> {
    fn meta() -> poem_openapi::registry::MetaResponses {
        poem_openapi::registry::MetaResponses {
            responses: vec![poem_openapi::registry::MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![poem_openapi::registry::MetaMediaType {
                    content_type: Self::CONTENT_TYPE,
                    schema: Self::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Body {
        first_name: String,
        age: u32,
    }

    #[test]
    fn syntax_is_400_shape_is_422() {
        assert_eq!(parse::<Body>(b"{nope").unwrap_err().status.as_u16(), 400);
        assert_eq!(parse::<Body>(b"[1]").unwrap_err().status.as_u16(), 400);
        let e = parse::<Body>(br#"{"age": 3}"#).unwrap_err();
        assert_eq!(e.status.as_u16(), 422);
        assert_eq!(e.errors[0].field, "firstName");
        assert_eq!(e.errors[0].message, "is required");
        let e = parse::<Body>(br#"{"firstName": "a\u0000b", "age": 3}"#).unwrap_err();
        assert_eq!(e.status.as_u16(), 422);
        assert_eq!(e.errors[0].field, "firstName");
        let e = parse::<Body>(br#"{"firstName": "a", "age": "x"}"#).unwrap_err();
        assert_eq!(e.errors[0].field, "age");
        assert!(e.errors[0].message.starts_with("has the wrong type"));
    }
}
