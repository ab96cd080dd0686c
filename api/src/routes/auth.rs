//! Registration and authentication.

use crate::auth::BearerAuth;
use crate::auth::sessions::{self as auth_sessions, Rotation, TokenPair};
use crate::error::ApiError;
use crate::idempotency;
use crate::json::JsonBody;
use crate::routes::{Tag, client_ip};
use crate::state::{AppState, SocialProvider};
use chrono::Utc;
use kttipay_db::{email_tokens, jobs, registrations, sessions, users};
use kttipay_domain::ids::{SessionId, UserId};
use kttipay_domain::{Validation, secret, user as rules};
use kttipay_jobs::kinds::{EmailTemplate, SendEmail};
use poem::web::Data;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::{Deserialize, Serialize};

#[derive(Debug, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    #[oai(validator(max_length = 254))]
    pub email: String,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: String,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: String,
    /// E.164 (`+61412345678`) or Australian national form (`0412 345 678`).
    pub phone: String,
    /// `YYYY-MM-DD`; users must be 18 or older.
    pub date_of_birth: String,
}

/// Registration accepted. The same answer whether or not the address already had
/// an account (no account enumeration); the mailbox owner learns which.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct RegistrationReceipt {
    pub email: String,
    /// Always `verificationEmailSent`.
    pub status: String,
}

#[derive(ApiResponse)]
pub enum RegisterResponse {
    /// A verification email carrying a one-time token is on its way.
    #[oai(status = 201)]
    Created(Json<RegistrationReceipt>),
}

#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct TokenAndPassword {
    /// The one-time token from the email.
    #[oai(validator(min_length = 1))]
    pub token: String,
    #[oai(validator(min_length = 10, max_length = 128))]
    pub password: String,
}
kttipay_domain::debug_redacted!(TokenAndPassword {} secret { token, password });

#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Login {
    #[oai(validator(min_length = 1, max_length = 254))]
    pub email: String,
    #[oai(validator(min_length = 1))]
    pub password: String,
}
kttipay_domain::debug_redacted!(Login { email } secret { password });

#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct SocialLogin {
    pub provider: SocialProviderName,
    /// The provider's signed OpenID Connect ID token.
    #[oai(validator(min_length = 1))]
    pub id_token: String,
}
kttipay_domain::debug_redacted!(SocialLogin { provider } secret { id_token });

/// The identity providers whose ID tokens we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum SocialProviderName {
    Google,
    Apple,
}

impl SocialProviderName {
    /// The name stored with a linked identity.
    pub fn as_str(self) -> &'static str {
        match self {
            SocialProviderName::Google => "google",
            SocialProviderName::Apple => "apple",
        }
    }
}

#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    #[oai(validator(min_length = 1))]
    pub refresh_token: String,
}
kttipay_domain::debug_redacted!(RefreshRequest {} secret { refresh_token });

#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct LogoutRequest {
    /// The session's refresh token; the session of the access token is ended either way.
    #[oai(nullable)]
    pub refresh_token: Option<String>,
}
kttipay_domain::debug_redacted!(LogoutRequest {} secret { refresh_token });

#[derive(ApiResponse)]
pub enum NoContent {
    #[oai(status = 204)]
    Done,
}

pub struct AuthApi;

#[OpenApi(tag = "Tag::Auth")]
impl AuthApi {
    /// Register a user
    ///
    /// Sends a verification email carrying a one-time token; finish with
    /// `POST /api/v2/registration/password`. Accepts `Idempotency-Key`.
    #[oai(path = "/api/v2/registration", method = "post", operation_id = "register")]
    async fn register(
        &self,
        state: Data<&AppState>,
        req: &poem::Request,
        #[oai(name = "Idempotency-Key")] key: Header<Option<String>>,
        body: JsonBody<Registration>,
    ) -> Result<RegisterResponse, ApiError> {
        let body = body.0;
        let today = Utc::now().date_naive();
        let mut v = Validation::new();
        let email = v.check("email", rules::email(&body.email));
        let first = v.check("firstName", rules::name(&body.first_name));
        let last = v.check("lastName", rules::name(&body.last_name));
        let phone = v.check("phone", rules::phone(&body.phone));
        let dob = v.check("dateOfBirth", rules::date_of_birth(&body.date_of_birth, today));
        v.finish().map_err(ApiError::invalid)?;
        let (email, first, last, phone, dob) = (
            email.unwrap(),
            first.unwrap(),
            last.unwrap(),
            phone.unwrap(),
            dob.unwrap(),
        );
        // Each registration mails someone: limit it like a login to stop mail bombing.
        state
            .login_limiter
            .check(&format!("register:{email}"), &client_ip(req, state.config.forwarded))?;

        let fingerprint = idempotency::fingerprint("register", &body);
        let mut tx = state.pool.begin().await?;
        if let Some(replay) = idempotency::begin(&mut tx, "registration", key.as_deref(), &fingerprint).await? {
            return Ok(RegisterResponse::Created(Json(replay)));
        }
        let inserted = users::insert(
            &mut tx,
            &users::NewUser {
                id: UserId::new(),
                email: &email,
                first_name: &first,
                last_name: &last,
                phone: &phone,
                date_of_birth: Some(dob),
                email_verified: false,
            },
        )
        .await?;
        let (user_id, template) = match inserted {
            Some(user) => {
                // Invitations waiting for this address now have their person.
                crate::membership::match_registration(&mut tx, &email, user.user_id()).await?;
                (user.user_id(), EmailTemplate::VerifyEmail)
            }
            None => {
                let existing = users::find_by_email(&mut *tx, &email)
                    .await?
                    .ok_or_else(|| ApiError::internal("user vanished during registration"))?;
                // Not finished registering: send a fresh link. Finished: tell the
                // owner someone tried, rather than telling the caller.
                let template = if existing.password_hash.is_none() {
                    EmailTemplate::VerifyEmail
                } else {
                    EmailTemplate::AccountExists
                };
                (existing.user_id(), template)
            }
        };
        let job = jobs::enqueue(&mut tx, &SendEmail { user_id, template }).await?;
        if template == EmailTemplate::VerifyEmail {
            // The profile goes with this registration's link, not onto the account:
            // the address is not proven yet (see `registrations`).
            let profile = registrations::Profile {
                first_name: first,
                last_name: last,
                phone,
                date_of_birth: Some(dob),
            };
            registrations::record(&mut tx, job, user_id, &profile).await?;
        }
        let receipt = RegistrationReceipt {
            email,
            status: "verificationEmailSent".into(),
        };
        idempotency::finish(&mut tx, "registration", key.as_deref(), 201, &receipt).await?;
        tx.commit().await?;
        Ok(RegisterResponse::Created(Json(receipt)))
    }

    /// Set the password to finish registration
    ///
    /// Takes the one-time token from the verification email. The token works once.
    #[oai(
        path = "/api/v2/registration/password",
        method = "post",
        operation_id = "finishRegistration"
    )]
    async fn finish_registration(
        &self,
        state: Data<&AppState>,
        req: &poem::Request,
        body: JsonBody<TokenAndPassword>,
    ) -> Result<NoContent, ApiError> {
        use_token(&state, req, body.0, email_tokens::PURPOSE_VERIFY_EMAIL).await?;
        Ok(NoContent::Done)
    }

    /// Log in with email and password
    #[oai(path = "/api/v2/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&AppState>,
        req: &poem::Request,
        body: JsonBody<Login>,
    ) -> Result<Json<TokenPair>, ApiError> {
        let Login { email, password } = body.0;
        let mut v = Validation::new();
        v.check("email", login_email(&email));
        v.check(
            "password",
            if password.is_empty() {
                Err("is required".into())
            } else {
                Ok(())
            },
        );
        v.finish().map_err(ApiError::invalid)?;
        let email = email.trim().to_lowercase();
        state
            .login_limiter
            .check(&email, &client_ip(req, state.config.forwarded))?;

        let user = users::find_by_email(&state.pool, &email).await?;
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        // Always verify (against a dummy hash when there is no account), so the
        // response time does not reveal whether the address is registered.
        let matches = state.passwords.verify(password, hash).await;
        let user = match user {
            Some(u) if matches => u,
            _ => {
                return Err(ApiError::unauthorized(
                    "invalid_credentials",
                    "The email or password is incorrect.",
                ));
            }
        };
        if user.blocked_at.is_some() {
            return Err(ApiError::forbidden(
                "account_blocked",
                "This account is blocked; contact support.",
            ));
        }
        let mut tx = state.pool.begin().await?;
        let pair = auth_sessions::start(&state, &mut tx, user.user_id()).await?;
        tx.commit().await?;
        Ok(Json(pair))
    }

    /// Log in with Google or Apple
    ///
    /// Verifies the ID token's signature against the provider's published keys and
    /// its `iss`, `aud` and `exp`. Creates the user on first login, or links the
    /// identity to the account with the same verified email.
    #[oai(path = "/api/v2/auth/login/social", method = "post", operation_id = "socialLogin")]
    async fn social_login(
        &self,
        state: Data<&AppState>,
        body: JsonBody<SocialLogin>,
    ) -> Result<Json<TokenPair>, ApiError> {
        let SocialLogin { provider, id_token } = body.0;
        let config: &SocialProvider = match provider {
            SocialProviderName::Google => &state.config.google,
            SocialProviderName::Apple => &state.config.apple,
        };
        let provider = provider.as_str();
        if config.audiences.is_empty() {
            return Err(ApiError::invalid_field(
                "provider_not_enabled",
                "provider",
                "is not enabled on this server",
            ));
        }
        let identity = state.jwks.verify(config, &id_token).await?;

        let mut tx = state.pool.begin().await?;
        let user = match users::find_by_social(&mut *tx, provider, &identity.subject).await? {
            Some(u) => u,
            None => {
                let email = match (&identity.email, identity.email_verified) {
                    (Some(e), true) => rules::email(e)
                        .map_err(|m| ApiError::invalid_field("invalid_email", "idToken", &format!("email {m}")))?,
                    _ => {
                        return Err(ApiError::invalid_field(
                            "email_not_verified",
                            "idToken",
                            "must carry a verified email address",
                        ));
                    }
                };
                let existing = users::find_by_email(&mut *tx, &email).await?;
                let user = match existing {
                    Some(u) => u,
                    None => {
                        let local = email.split('@').next().unwrap_or("KttiPay").to_string();
                        let first = identity
                            .given_name
                            .clone()
                            .and_then(|n| rules::name(&n).ok())
                            .unwrap_or(local);
                        let last = identity
                            .family_name
                            .clone()
                            .and_then(|n| rules::name(&n).ok())
                            .unwrap_or_default();
                        let new = users::NewUser {
                            id: UserId::new(),
                            email: &email,
                            first_name: &first,
                            last_name: &last,
                            phone: "",
                            date_of_birth: None,
                            email_verified: true,
                        };
                        match users::insert(&mut tx, &new).await? {
                            Some(u) => u,
                            // A concurrent first login for the same address won.
                            None => users::find_by_email(&mut *tx, &email)
                                .await?
                                .ok_or_else(|| ApiError::internal("user vanished during social login"))?,
                        }
                    }
                };
                users::link_social(&mut tx, provider, &identity.subject, user.user_id()).await?;
                if user.email_verified_at.is_none() {
                    // The address is proven only now, by its owner: whatever an
                    // unproven registration put on the account is not theirs.
                    let profile = registrations::Profile {
                        first_name: identity
                            .given_name
                            .clone()
                            .and_then(|n| rules::name(&n).ok())
                            .unwrap_or_default(),
                        last_name: identity
                            .family_name
                            .clone()
                            .and_then(|n| rules::name(&n).ok())
                            .unwrap_or_default(),
                        phone: String::new(),
                        date_of_birth: None,
                    };
                    registrations::adopt(&mut tx, user.user_id(), &profile).await?;
                }
                users::mark_email_verified(&mut tx, user.user_id()).await?;
                user
            }
        };
        if user.blocked_at.is_some() {
            return Err(ApiError::forbidden(
                "account_blocked",
                "This account is blocked; contact support.",
            ));
        }
        let pair = auth_sessions::start(&state, &mut tx, user.user_id()).await?;
        tx.commit().await?;
        Ok(Json(pair))
    }

    /// Exchange a refresh token for a new pair
    ///
    /// The presented token stops working. Presenting an already used token again
    /// ends the whole session: someone else holds a copy.
    #[oai(path = "/api/v2/auth/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        body: JsonBody<RefreshRequest>,
    ) -> Result<Json<TokenPair>, ApiError> {
        let mut tx = state.pool.begin().await?;
        let rotation = auth_sessions::rotate(&state, &mut tx, &body.0.refresh_token).await?;
        tx.commit().await?;
        match rotation {
            Rotation::Rotated(pair) => Ok(Json(pair)),
            Rotation::ReuseDetected => Err(ApiError::unauthorized(
                "refresh_token_reused",
                "This refresh token was already used; the session has been ended for safety.",
            )),
            Rotation::Invalid => Err(ApiError::unauthorized(
                "invalid_refresh_token",
                "The refresh token is invalid or expired.",
            )),
        }
    }

    /// Log out
    ///
    /// Ends the current session: its refresh tokens and access tokens stop working.
    #[oai(path = "/api/v2/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<LogoutRequest>,
    ) -> Result<NoContent, ApiError> {
        let me = auth.0;
        let mut tx = state.pool.begin().await?;
        sessions::revoke(&mut *tx, me.session_id, "logout").await?;
        if let Some(token) = body.0.refresh_token {
            // Also end the token's own session when it is another of the caller's.
            if let Some(found) = sessions::find_refresh_token_for_update(&mut tx, &secret::hash(&token)).await?
                && found.user_id == me.user_id.0
            {
                sessions::revoke(&mut *tx, SessionId(found.session_id), "logout").await?;
            }
        }
        tx.commit().await?;
        Ok(NoContent::Done)
    }
}

/// A login email is only checked for shape enough to be a safe limiter key and
/// query parameter: present, at most 254 characters (RFC 5321), no control
/// characters (PostgreSQL cannot store NUL). Whether it exists is not revealed.
fn login_email(raw: &str) -> Result<(), String> {
    let email = raw.trim();
    if email.is_empty() {
        Err("is required".into())
    } else if raw.chars().count() > rules::EMAIL_MAX_CHARS {
        Err(format!("must be at most {} characters", rules::EMAIL_MAX_CHARS))
    } else if email.chars().any(char::is_control) {
        Err("must not contain control characters".into())
    } else {
        Ok(())
    }
}

/// Uses a one-time emailed token to set a password: finishing registration or
/// resetting a forgotten password. Every session of the user ends on a reset.
///
/// The token is looked up (one indexed read of its hash) before any password is
/// hashed, so a flood of bogus tokens costs no argon2 time; attempts are limited
/// per client IP before the lookup and per account after it.
pub async fn use_token(
    state: &AppState,
    req: &poem::Request,
    body: TokenAndPassword,
    purpose: &str,
) -> Result<(), ApiError> {
    rules::password(&body.password).map_err(|m| ApiError::invalid_field("weak_password", "password", &m))?;
    if body.token.trim().is_empty() {
        return Err(ApiError::invalid_field("invalid_token", "token", "is required"));
    }
    let invalid = || ApiError::invalid_field("invalid_token", "token", "is invalid, used or expired");
    state.login_limiter.check_ip(&client_ip(req, state.config.forwarded))?;
    let token_hash = secret::hash(body.token.trim());
    let owner = email_tokens::peek(&state.pool, &token_hash, purpose)
        .await?
        .ok_or_else(invalid)?;
    state.login_limiter.check_account(&format!("{purpose}:{owner}"))?;
    // Hash outside the transaction: it should not wait on argon2.
    let hash = state.passwords.hash(body.password).await.map_err(ApiError::internal)?;
    let mut tx = state.pool.begin().await?;
    // Consumed for real now: of two uses racing past the lookup, one wins.
    let Some((user, job)) = email_tokens::consume(&mut tx, &token_hash, purpose).await? else {
        return Err(invalid());
    };
    let unproven = users::find_for_update(&mut tx, user)
        .await?
        .is_some_and(|u| u.email_verified_at.is_none());
    if unproven && purpose == email_tokens::PURPOSE_VERIFY_EMAIL {
        // Proven by this link: the account takes the profile registered with it,
        // not one an earlier, unproven registration of the address left.
        if let Some(profile) = registrations::of_job(&mut *tx, job).await? {
            registrations::adopt(&mut tx, user, &profile).await?;
        }
    }
    // Either token arrived by email, so using it proves the address.
    users::set_password(&mut tx, user, &hash, true).await?;
    email_tokens::invalidate_others(&mut tx, user, purpose).await?;
    if purpose == email_tokens::PURPOSE_RESET_PASSWORD {
        sessions::revoke_all_for_user(&mut *tx, user, None, "password reset").await?;
    }
    tx.commit().await?;
    Ok(())
}
