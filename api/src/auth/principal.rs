//! The `Bearer` security scheme: turns an access token into the calling principal.

use crate::error::ApiError;
use crate::state::AppState;
use kttipay_db::sessions;
use kttipay_domain::ids::{SessionId, UserId};
use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

/// Who is calling: a user, through one live session.
#[derive(Debug, Clone, Copy)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub is_platform_admin: bool,
}

impl Principal {
    /// Platform-staff routes: 404 for everyone else, like any resource they may not see.
    pub fn require_platform_admin(&self) -> Result<(), ApiError> {
        if self.is_platform_admin {
            Ok(())
        } else {
            Err(ApiError::not_found("not_found", "No such resource."))
        }
    }
}

/// An access token from `POST /api/v2/auth/login`, as `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Principal);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let state = req.data::<AppState>().expect("AppState is attached to every route");
    Ok(principal_of(state, &bearer.token).await?)
}

/// The principal an access token stands for, if its session is live (the
/// bearer scheme and the operators' dashboard cookie alike).
pub async fn principal_of(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let Some((user, session)) = state.jwt.verify(token) else {
        return Err(ApiError::unauthorized(
            "invalid_token",
            "The access token is invalid or expired.",
        ));
    };
    // The session must still be live and the user not blocked: logout, password
    // change and blocking take effect on the next request, not at token expiry.
    let live = sessions::principal(&state.pool, session)
        .await
        .map_err(ApiError::from)?;
    match live {
        Some(p) if p.user_id == user.0 => Ok(Principal {
            user_id: user,
            session_id: session,
            is_platform_admin: p.is_platform_admin,
        }),
        _ => Err(ApiError::unauthorized(
            "session_revoked",
            "This session has ended; sign in again.",
        )),
    }
}
