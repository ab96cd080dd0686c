//! `GET /api/v2/core/config`: what the apps need before signing in (minimum
//! versions, feature flags, plans, limits, support contacts), from configuration.

use crate::amount::Amount;
use crate::error::ApiError;
use crate::routes::Tag;
use crate::routes::ktti_input::INVITEES_MAX;
use crate::routes::ktties::{PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX};
use crate::state::AppState;
use kttipay_domain::membership::{INVITATION_TTL_DAYS, NAME_MAX_CHARS, REFERRAL_CODE_CHARS};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct MinAppVersions {
    pub ios: String,
    pub android: String,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct BillingPlanView {
    pub code: String,
    pub name: String,
    pub price: Amount,
    /// `month` or `year`.
    pub interval: String,
    pub member_limit: u32,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Limits {
    pub page_size_default: u32,
    pub page_size_max: u32,
    pub ktti_name_max_chars: u32,
    pub invitees_per_request_max: u32,
    pub invitation_ttl_days: i64,
    pub referral_code_chars: u32,
    pub joins_per_hour: u32,
    pub group_ktties_per_user: u32,
    pub invitations_per_ktti_per_day: u32,
    pub kyc_submissions_per_day: u32,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Support {
    pub email: String,
    pub phone: String,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct CoreConfig {
    pub min_app_versions: MinAppVersions,
    pub feature_flags: Vec<String>,
    pub billing_plans: Vec<BillingPlanView>,
    pub limits: Limits,
    pub support: Support,
    pub currency: String,
}

pub struct CoreApi;

#[OpenApi(tag = "Tag::Core")]
impl CoreApi {
    /// Application configuration
    ///
    /// Public: the apps read it before signing in.
    #[oai(path = "/api/v2/core/config", method = "get", operation_id = "getCoreConfig")]
    async fn config(&self, state: Data<&AppState>) -> Result<Json<CoreConfig>, ApiError> {
        let app = &state.config.app;
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(Json(CoreConfig {
            min_app_versions: MinAppVersions {
                ios: app.min_app_version_ios.clone(),
                android: app.min_app_version_android.clone(),
            },
            feature_flags: app.feature_flags.clone(),
            billing_plans: app
                .billing_plans
                .iter()
                .map(|p| BillingPlanView {
                    code: p.code.clone(),
                    name: p.name.clone(),
                    price: p.price.into(),
                    interval: p.interval.clone(),
                    member_limit: p.member_limit,
                })
                .collect(),
            limits: Limits {
                page_size_default: PAGE_SIZE_DEFAULT,
                page_size_max: PAGE_SIZE_MAX,
                ktti_name_max_chars: count(NAME_MAX_CHARS),
                invitees_per_request_max: count(INVITEES_MAX),
                invitation_ttl_days: INVITATION_TTL_DAYS,
                referral_code_chars: count(REFERRAL_CODE_CHARS),
                joins_per_hour: app.joins_per_hour,
                group_ktties_per_user: app.group_ktties_per_user,
                invitations_per_ktti_per_day: app.invitations_per_ktti_per_day,
                kyc_submissions_per_day: app.kyc_submissions_per_day,
            },
            support: Support {
                email: app.support_email.clone(),
                phone: app.support_phone.clone(),
            },
            currency: "AUD".into(),
        }))
    }
}
