//! `RawJson`: a JSON body kept as the exact bytes received. Webhook signatures are
//! computed over those bytes, so they must be checked before any parsing.

use poem::{Request, RequestBody};
use poem_openapi::impl_apirequest_for_payload;
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};

pub struct RawJson(pub Vec<u8>);

impl Payload for RawJson {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some("The provider's body, as specs/shaype-notifications.openapi.json defines it"),
            ..MetaSchema::new("object")
        }))
    }
}

impl ParsePayload for RawJson {
    const IS_REQUIRED: bool = true;

    async fn from_request(_request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        // Over the limit is 413, like every other body (not a 400).
        Ok(RawJson(crate::json::read_limited(body).await?))
    }
}

impl_apirequest_for_payload!(RawJson);
