//! The sandbox's HTTP routes: the provider's paths (handlers stay thin and call
//! [`crate::bank`]) plus its own `/sandbox/*` tools.

pub mod accounts;
pub mod admin;
pub mod money;
pub mod parties;

use crate::error::SandboxError;
use poem::web::Json;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// Parses a path id the way the provider does: anything but a UUID is not found.
pub fn id(raw: &str, what: &str) -> Result<Uuid, SandboxError> {
    raw.parse().map_err(|_| SandboxError::not_found(what))
}

/// A JSON body, with the provider's 400 for anything unreadable.
pub fn parse_body<T: DeserializeOwned>(raw: &[u8]) -> Result<T, SandboxError> {
    serde_json::from_slice(raw).map_err(|e| {
        SandboxError::new(
            poem::http::StatusCode::BAD_REQUEST,
            format!("invalid request body: {e}"),
        )
    })
}

pub type JsonResult<T> = Result<Json<T>, SandboxError>;
