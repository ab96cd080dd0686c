//! What clients send to create and change ktties, and how it is validated. Every
//! field error of a request is reported at once, named as the JSON names it.

use crate::amount::Amount;
use crate::error::ApiError;
use kttipay_db::ktties::KttiChanges;
use kttipay_domain::Validation;
use kttipay_domain::membership as rules;
use poem_openapi::Object;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most invitees one create call takes.
pub const INVITEES_MAX: usize = 50;
/// Longest image key accepted (keys come from the upload route).
pub const IMAGE_KEY_MAX_CHARS: usize = 200;
/// Largest weight in a default split.
pub const PROPORTION_MAX: u32 = 10_000;

#[derive(Debug, Object, Deserialize, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct CreateKtti {
    #[oai(validator(min_length = 1, max_length = 60))]
    pub name: String,
    #[oai(nullable)]
    #[oai(validator(max_length = 500))]
    pub description: Option<String>,
    #[oai(nullable)]
    #[oai(validator(max_length = 100))]
    pub purpose: Option<String>,
    #[oai(nullable)]
    pub target_amount: Option<Amount>,
    /// `YYYY-MM-DD`, today or later.
    #[oai(nullable)]
    pub end_date: Option<String>,
    #[oai(nullable)]
    pub image_key: Option<String>,
}

/// A member's weight in the default split, e.g. `"1"` or `"2.5"`.
#[derive(Debug, Object, Deserialize, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Proportion {
    pub user_id: Uuid,
    pub value: String,
}

#[derive(Debug, Object, Deserialize, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct CreateKttiV3 {
    #[oai(flatten)]
    #[serde(flatten)]
    pub ktti: CreateKtti,
    /// A plan code from `GET /api/v2/core/config`; the first plan when absent.
    #[oai(nullable)]
    pub billing_plan: Option<String>,
    /// For the creator and invitees who have accounts; everyone else weighs 1.
    #[oai(nullable)]
    pub split_proportions: Option<Vec<Proportion>>,
    /// Email addresses to invite.
    #[oai(nullable)]
    pub invitees: Option<Vec<String>>,
}

#[derive(Debug, Object, Deserialize, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct UpdateKtti {
    #[oai(nullable, validator(min_length = 1, max_length = 60))]
    pub name: Option<String>,
    /// An empty string clears it.
    #[oai(nullable, validator(max_length = 500))]
    pub description: Option<String>,
    /// An empty string clears it.
    #[oai(nullable, validator(max_length = 100))]
    pub purpose: Option<String>,
    #[oai(nullable)]
    pub target_amount: Option<Amount>,
    #[oai(nullable)]
    pub end_date: Option<String>,
    /// An empty string clears it.
    #[oai(nullable)]
    pub image_key: Option<String>,
}

#[derive(Debug, Object, Deserialize, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct SettingsPatch {
    #[oai(nullable)]
    pub members_can_spend: Option<bool>,
    #[oai(nullable)]
    pub members_can_invite: Option<bool>,
    #[oai(nullable)]
    pub approval_required_to_join: Option<bool>,
}

#[derive(Debug, Object, Deserialize, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct UpdateKttiV3 {
    #[oai(flatten)]
    #[serde(flatten)]
    pub ktti: UpdateKtti,
    #[oai(nullable)]
    pub settings: Option<SettingsPatch>,
    /// `true` replaces the referral code; the old one stops working.
    #[oai(nullable)]
    pub rotate_referral_code: Option<bool>,
}

pub(crate) fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

pub(crate) fn image_key(raw: &str) -> Result<String, String> {
    let k = raw.trim();
    if raw.chars().count() > IMAGE_KEY_MAX_CHARS || k.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "must be an upload key of at most {IMAGE_KEY_MAX_CHARS} characters"
        ));
    }
    Ok(k.to_string())
}

pub(crate) fn proportion(raw: &str) -> Result<Decimal, String> {
    let d: Decimal = raw
        .trim()
        .parse()
        .map_err(|_| "must be a decimal like \"1\" or \"2.5\"".to_string())?;
    if d <= Decimal::ZERO || d > Decimal::from(PROPORTION_MAX) || d.normalize().scale() > 2 {
        return Err(format!(
            "must be more than 0 and at most {PROPORTION_MAX}, with at most two decimals"
        ));
    }
    Ok(d)
}

/// The descriptive fields every version shares, validated.
pub(crate) struct Fields {
    pub name: String,
    pub description: Option<String>,
    pub purpose: Option<String>,
    pub target_amount: Option<Decimal>,
    pub end_date: Option<chrono::NaiveDate>,
    pub image_key: Option<String>,
}

pub(crate) fn fields(
    v: &mut Validation,
    name: &str,
    description: Option<&str>,
    purpose: Option<&str>,
    target: Option<Amount>,
    end: Option<&str>,
    image: Option<&str>,
) -> Option<Fields> {
    let name = v.check("name", rules::name(name));
    let description = v.check_opt("description", description, rules::description);
    let purpose = v.check_opt("purpose", purpose, rules::purpose);
    let target = v.check_opt("targetAmount", target, |a| rules::target_amount(a.0));
    let end = v.check_opt("endDate", end, |d| rules::end_date(d, today()));
    let image = v.check_opt("imageKey", image, image_key);
    Some(Fields {
        name: name?,
        description: description?.filter(|d| !d.is_empty()),
        purpose: purpose?.filter(|p| !p.is_empty()),
        target_amount: target?.map(|m| m.as_decimal()),
        end_date: end?,
        image_key: image?.filter(|k| !k.is_empty()),
    })
}

/// Validates PATCH fields into changes; an empty string clears a text field.
pub(crate) fn changes(u: UpdateKtti) -> Result<KttiChanges, ApiError> {
    let UpdateKtti {
        name,
        description,
        purpose,
        target_amount: target,
        end_date: end,
        image_key: image,
    } = u;
    let mut v = Validation::new();
    // Absent: leave alone; empty: clear; otherwise set.
    let clearable = |r: Option<Option<String>>| r.flatten().map(|s| (!s.is_empty()).then_some(s));
    let c = KttiChanges {
        name: v.check_opt("name", name.as_deref(), rules::name).flatten(),
        description: clearable(v.check_opt("description", description.as_deref(), rules::description)),
        purpose: clearable(v.check_opt("purpose", purpose.as_deref(), rules::purpose)),
        target_amount: v
            .check_opt("targetAmount", target, |a| rules::target_amount(a.0))
            .flatten()
            .map(|m| Some(m.as_decimal())),
        end_date: v
            .check_opt("endDate", end.as_deref(), |d| rules::end_date(d, today()))
            .flatten()
            .map(Some),
        image_key: clearable(v.check_opt("imageKey", image.as_deref(), image_key)),
        ..Default::default()
    };
    v.finish().map_err(ApiError::invalid)?;
    Ok(c)
}
