//! Errors in the provider's own shape (`ErrorResponse`).

use kttipay_providers::shaype::types::ErrorResponse;
use poem::http::StatusCode;
use poem::web::Json;
use poem::{IntoResponse, Response};

#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {message}")]
pub struct SandboxError {
    pub status: StatusCode,
    pub message: String,
}

impl SandboxError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        SandboxError {
            status,
            message: message.into(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
}

impl From<sqlx::Error> for SandboxError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "sandbox database error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl poem::error::ResponseError for SandboxError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        let body = ErrorResponse {
            status: Some(self.status.as_u16().to_string()),
            message: Some(self.message.clone()),
            details: None,
            trace_id: Some(uuid::Uuid::new_v4().to_string()),
        };
        Json(body).with_status(self.status).into_response()
    }
}

pub type SbResult<T> = Result<T, SandboxError>;
