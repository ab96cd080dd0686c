//! KYC: the user submits identity details; verification runs as jobs and the
//! provider's webhooks decide it.

use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::routes::Tag;
use crate::state::AppState;
use crate::states;
use chrono::{DateTime, NaiveDate, Utc};
use kttipay_db::{jobs, kyc, users};
use kttipay_domain::lifecycle::KycStatus;
use kttipay_domain::{Validation, kyc as rules, user as user_rules};
use kttipay_jobs::kinds::SubmitKyc;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Object, Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[oai(validator(min_length = 1, max_length = 120))]
    pub line1: String,
    #[oai(nullable)]
    #[oai(validator(min_length = 1, max_length = 120))]
    pub line2: Option<String>,
    #[oai(validator(min_length = 1, max_length = 120))]
    pub suburb: String,
    /// NSW, VIC, QLD, WA, SA, TAS, ACT or NT.
    pub state: String,
    pub postcode: String,
    /// Always `AU`: KttiPay serves Australian residents.
    pub country: String,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct KycRequest {
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: String,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: String,
    /// `YYYY-MM-DD`
    pub date_of_birth: String,
    pub address: Address,
    /// `driversLicence` or `passport`.
    pub id_document_type: String,
    #[oai(validator(min_length = 1))]
    pub id_document_number: String,
}

/// The caller's KYC. The document number is never shown, only its last four.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct KycView {
    pub status: states::KycStatus,
    #[oai(nullable)]
    pub first_name: Option<String>,
    #[oai(nullable)]
    pub last_name: Option<String>,
    #[oai(nullable)]
    pub date_of_birth: Option<NaiveDate>,
    #[oai(nullable)]
    pub address: Option<Address>,
    #[oai(nullable)]
    pub id_document_type: Option<String>,
    #[oai(nullable)]
    pub id_document_last4: Option<String>,
    #[oai(nullable)]
    pub submitted_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub decided_at: Option<DateTime<Utc>>,
}

#[derive(ApiResponse)]
pub enum Submitted {
    /// Accepted; verification runs in the background.
    #[oai(status = 202)]
    Accepted(Json<KycView>),
}

/// Checks and normalises an address; errors name `<prefix>.<field>`.
pub fn validate_address(v: &mut Validation, prefix: &str, a: &Address) -> Address {
    let f = |name: &str| format!("{prefix}.{name}");
    Address {
        line1: v.check(&f("line1"), rules::address_line(&a.line1)).unwrap_or_default(),
        line2: v
            .check_opt(&f("line2"), a.line2.clone(), |l| rules::address_line(&l))
            .flatten(),
        suburb: v
            .check(&f("suburb"), rules::address_line(&a.suburb))
            .unwrap_or_default(),
        state: v.check(&f("state"), rules::state(&a.state)).unwrap_or_default(),
        postcode: v
            .check(&f("postcode"), rules::postcode(&a.postcode))
            .unwrap_or_default(),
        country: v.check(&f("country"), rules::country(&a.country)).unwrap_or_default(),
    }
}

pub struct KycApi;

#[OpenApi(tag = "Tag::User")]
impl KycApi {
    /// KYC details and status
    #[oai(path = "/api/v2/users/me/kyc", method = "get", operation_id = "getKyc")]
    async fn get(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Json<KycView>, ApiError> {
        Ok(Json(view(&state, auth.0.user_id).await?))
    }

    /// Submit KYC details
    ///
    /// Verification runs as a job: the provider decides, and its webhook sets the
    /// status to `verified` (opening the personal ktti) or `rejected`. 409 while a
    /// submission is pending or once verified.
    #[oai(path = "/api/v2/users/me/kyc", method = "post", operation_id = "submitKyc")]
    async fn submit(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: poem_openapi::param::Header<Option<String>>,
        body: JsonBody<KycRequest>,
    ) -> Result<Submitted, ApiError> {
        let me = auth.0.user_id;
        let req = body.0;
        let today = Utc::now().date_naive();
        let mut v = Validation::new();
        let first = v.check("firstName", user_rules::name(&req.first_name));
        let last = v.check("lastName", user_rules::name(&req.last_name));
        let dob = v.check("dateOfBirth", user_rules::date_of_birth(&req.date_of_birth, today));
        let line1 = v.check("address.line1", rules::address_line(&req.address.line1));
        let line2 = v.check_opt("address.line2", req.address.line2.clone(), |l| rules::address_line(&l));
        let suburb = v.check("address.suburb", rules::address_line(&req.address.suburb));
        let st = v.check("address.state", rules::state(&req.address.state));
        let postcode = v.check("address.postcode", rules::postcode(&req.address.postcode));
        let country = v.check("address.country", rules::country(&req.address.country));
        let doc_type = v.check("idDocumentType", rules::document_type(&req.id_document_type));
        let doc_number = v.check("idDocumentNumber", rules::document_number(&req.id_document_number));
        v.finish().map_err(ApiError::invalid)?;
        let address = Address {
            line1: line1.unwrap_or_default(),
            line2: line2.flatten(),
            suburb: suburb.unwrap_or_default(),
            state: st.unwrap_or_default(),
            postcode: postcode.unwrap_or_default(),
            country: country.unwrap_or_default(),
        };

        // The document number stays out of the fingerprint: a hash of so few
        // digits could be reversed by trying them all. Its last four stand in.
        let doc_number = doc_number.unwrap_or_default();
        let last4: String = doc_number.chars().rev().take(4).collect();
        let fingerprint =
            crate::idempotency::fingerprint("submitKyc", &(&first, &last, dob, &address, doc_type, &last4));
        let key = key.0.as_deref();
        let scope = format!("kyc.submit:{me}");
        let mut tx = state.pool.begin().await?;
        if crate::idempotency::replayed(&mut tx, &scope, key, &fingerprint).await? {
            tx.commit().await?;
            return Ok(Submitted::Accepted(Json(view(&state, me).await?)));
        }
        let user = users::find_for_update(&mut tx, me)
            .await?
            .ok_or_else(|| ApiError::unauthorized("session_revoked", "This session has ended; sign in again."))?;
        match user.kyc_status {
            KycStatus::Verified => {
                return Err(ApiError::conflict(
                    "kyc_already_verified",
                    "Your identity is already verified.",
                ));
            }
            KycStatus::Pending => {
                return Err(ApiError::conflict(
                    "kyc_pending",
                    "Your identity check is still running.",
                ));
            }
            KycStatus::NotStarted | KycStatus::Rejected => {}
        }
        // Each submission is a request to the provider (and a check it may bill).
        let (made, oldest) = kttipay_db::quotas::kyc_submissions_last_day(&mut *tx, me).await?;
        crate::quota::daily(made, state.config.app.kyc_submissions_per_day, oldest)?;
        let id = Uuid::now_v7();
        kyc::insert(
            &mut tx,
            &kyc::NewSubmission {
                id,
                user: me,
                first_name: first.as_deref().unwrap_or_default(),
                last_name: last.as_deref().unwrap_or_default(),
                date_of_birth: dob.unwrap_or(today),
                address: serde_json::to_value(&address).map_err(ApiError::internal)?,
                id_document_type: doc_type.unwrap_or("passport"),
                id_document_number: &doc_number,
            },
        )
        .await?;
        kyc::set_status(&mut tx, me, KycStatus::Pending).await?;
        jobs::enqueue(
            &mut tx,
            &SubmitKyc {
                submission_id: kttipay_domain::ids::KycSubmissionId(id),
            },
        )
        .await?;
        crate::idempotency::finish(&mut tx, &scope, key, 202, &serde_json::json!({})).await?;
        tx.commit().await?;
        Ok(Submitted::Accepted(Json(view(&state, me).await?)))
    }
}

async fn view(state: &AppState, user: kttipay_domain::ids::UserId) -> Result<KycView, ApiError> {
    let u = users::find(&state.pool, user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("session_revoked", "This session has ended; sign in again."))?;
    let latest = kyc::latest(&state.pool, user).await?;
    Ok(KycView {
        status: u.kyc_status.into(),
        first_name: latest.as_ref().map(|s| s.first_name.clone()),
        last_name: latest.as_ref().map(|s| s.last_name.clone()),
        date_of_birth: latest.as_ref().map(|s| s.date_of_birth),
        address: latest
            .as_ref()
            .and_then(|s| serde_json::from_value(s.address.clone()).ok()),
        id_document_type: latest.as_ref().map(|s| s.id_document_type.clone()),
        id_document_last4: latest.as_ref().map(|s| s.id_document_last4.clone()),
        submitted_at: latest.as_ref().map(|s| s.submitted_at),
        decided_at: u.kyc_decided_at,
    })
}
