//! Response bodies shared by several routes.

use chrono::{DateTime, NaiveDate, Utc};
use kttipay_db::users::User;
use poem_openapi::Object;
use uuid::Uuid;

/// A user as they see themselves.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// E.164, e.g. `+61412345678`.
    pub phone: String,
    #[oai(nullable)]
    pub date_of_birth: Option<NaiveDate>,
    #[oai(nullable)]
    pub avatar_key: Option<String>,
    pub kyc_status: crate::states::KycStatus,
    pub blocked: bool,
    pub email_verified: bool,
    /// Staff who may operate the platform.
    pub platform_admin: bool,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            first_name: u.first_name,
            last_name: u.last_name,
            phone: u.phone,
            date_of_birth: u.date_of_birth,
            avatar_key: u.avatar_key,
            kyc_status: u.kyc_status.into(),
            blocked: u.blocked_at.is_some(),
            email_verified: u.email_verified_at.is_some(),
            platform_admin: u.is_platform_admin,
            created_at: u.created_at,
        }
    }
}
