//! Sends a KYC submission to the provider: creates the customer (idempotently, by
//! a key derived from the submission) and opens the identity-verification case.
//! The provider's decision arrives later as a webhook.

use crate::{JobError, WorkerDeps};
use kttipay_db::{kyc, users};
use kttipay_domain::ids::{JobId, UserId};
use kttipay_domain::lifecycle::KycStatus;
use kttipay_jobs::kinds::SubmitKyc;
use kttipay_providers::shaype::client::ProviderError;
use kttipay_providers::shaype::types::*;

pub async fn run(deps: &WorkerDeps, _id: JobId, job: SubmitKyc) -> Result<(), JobError> {
    let Some(sub) = kyc::find(&deps.pool, job.submission_id.0).await? else {
        return Err(JobError::Permanent(format!("no KYC submission {}", job.submission_id)));
    };
    if sub.sent_to_provider_at.is_some() {
        return Ok(());
    }
    let user_id = UserId(sub.user_id);
    let user = users::find(&deps.pool, user_id)
        .await?
        .ok_or_else(|| JobError::Permanent("the user no longer exists".into()))?;
    let address: serde_json::Value = sub.address.clone();
    let text = |k: &str| address[k].as_str().unwrap_or_default().to_string();
    let request = CreateCustomer {
        // One customer per submission, however often this job runs.
        idempotency_key: format!("kttipay-kyc-{}", sub.id),
        email: user.email.clone(),
        phone_number: PhoneNumber::from_e164(&user.phone),
        customer_details: CustomerDetails {
            first_name: sub.first_name.clone(),
            last_name: sub.last_name.clone(),
            date_of_birth: sub.date_of_birth.to_string(),
        },
        address: Address {
            line1: text("line1"),
            line2: address["line2"].as_str().map(str::to_owned),
            town_or_city: text("suburb"),
            administrative_region: text("state"),
            postcode: text("postcode"),
            country_code_iso: text("country"),
        },
        customer_tier: "STANDARD".into(),
        external_customer_id: Some(user.id.to_string()),
        identity_document_type: Some(if sub.id_document_type == "passport" {
            IdentityDocumentType::Passport
        } else {
            IdentityDocumentType::DrivingLicense
        }),
        identity_document_number: sub.id_document_number.clone(),
        identity_verification_case_id: None,
    };
    let customer = match deps.banking.create_customer(&request).await {
        Ok(c) => c,
        Err(e) if e.is_transient() => return Err(JobError::Transient(e.to_string())),
        Err(e) => return reject(deps, user_id, &e).await,
    };
    let mut tx = deps.pool.begin().await?;
    kyc::set_provider_customer(&mut tx, user_id, &customer.customer_hay_id).await?;
    tx.commit().await?;

    let consent = UserConsent {
        consent_obtained: Some("true".into()),
        consent_obtained_at: Some(sub.submitted_at.to_rfc3339()),
        user_ip: None,
        user_location_country: "AU".into(),
        user_location_state: address["state"].as_str().map(str::to_owned),
    };
    // The case call carries no idempotency key: a retry after a lost response may
    // open a second case, which the provider tolerates; the customer stays one.
    let case = deps
        .banking
        .create_identity_case(&consent)
        .await
        .map_err(|e| JobError::Transient(e.to_string()))?;
    let mut tx = deps.pool.begin().await?;
    kyc::mark_sent(&mut tx, sub.id, case.scan_case.and_then(|c| c.id).as_deref()).await?;
    tx.commit().await?;
    Ok(())
}

/// The provider refused the submission outright: the user is told by status.
async fn reject(deps: &WorkerDeps, user: UserId, error: &ProviderError) -> Result<(), JobError> {
    tracing::warn!(user = %user, %error, "provider refused the KYC submission");
    let mut tx = deps.pool.begin().await?;
    kyc::set_status(&mut tx, user, KycStatus::Rejected).await?;
    tx.commit().await?;
    Ok(())
}
