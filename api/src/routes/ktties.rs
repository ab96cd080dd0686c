//! Reading ktties: the caller's list, their personal ktti, one ktti, its banking
//! details and the caller's card. Only members see a ktti: anyone else gets 404,
//! exactly as for a ktti that does not exist.

use crate::amount::Amount;
use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::routes::Tag;
use crate::state::AppState;
use crate::states;
use chrono::{DateTime, Utc};
use kttipay_db::ktties::{self, KttiRow};
use kttipay_db::{cards, users};
use kttipay_domain::Money;
use kttipay_domain::ids::KttiId;
use kttipay_domain::ledger::Balances;
use kttipay_domain::lifecycle::{CardOrderStatus, KttiKind};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

/// Default and largest v2 page sizes.
pub const PAGE_SIZE_DEFAULT: u32 = 20;
pub const PAGE_SIZE_MAX: u32 = 100;

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct KttiView {
    pub id: Uuid,
    pub name: String,
    #[oai(rename = "type")]
    pub kind: states::KttiKind,
    pub status: states::KttiStatus,
    pub currency: String,
    /// Posted money in the account.
    pub total_balance: Amount,
    /// Total less open card holds and payouts in flight.
    pub available_balance: Amount,
    /// The caller's role.
    pub role: states::Role,
    /// For members of a group ktti; personal ktties have none.
    #[oai(nullable)]
    pub referral_code: Option<String>,
    pub member_count: i64,
    #[oai(nullable)]
    pub description: Option<String>,
    #[oai(nullable)]
    pub purpose: Option<String>,
    #[oai(nullable)]
    pub target_amount: Option<Amount>,
    /// `YYYY-MM-DD`
    #[oai(nullable)]
    pub end_date: Option<chrono::NaiveDate>,
    #[oai(nullable)]
    pub image_key: Option<String>,
    /// The billing plan's code (group ktties).
    #[oai(nullable)]
    pub billing_plan: Option<String>,
    pub settings: KttiSettings,
    /// Whether the caller may spend with their card on this ktti.
    pub can_spend: bool,
    /// Why setting the ktti up at the bank failed, if it did.
    #[oai(nullable)]
    pub setup_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Who may do what in a group ktti.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct KttiSettings {
    pub members_can_spend: bool,
    pub members_can_invite: bool,
    pub approval_required_to_join: bool,
}

fn money(d: rust_decimal::Decimal) -> Money {
    Money::new(d).expect("NUMERIC(18,2) fits Money")
}

impl From<KttiRow> for KttiView {
    fn from(k: KttiRow) -> Self {
        let can_spend = kttipay_domain::membership::may_spend(k.caller_role(), k.can_spend, k.settings());
        let balances = Balances {
            available: money(k.available),
            reserved: money(k.reserved),
        };
        KttiView {
            id: k.id,
            name: k.name,
            kind: k.kind.into(),
            status: k.status.into(),
            currency: k.currency,
            total_balance: balances.total().into(),
            available_balance: balances.available.into(),
            can_spend,
            referral_code: k.referral_code,
            member_count: k.member_count,
            description: k.description,
            purpose: k.purpose,
            target_amount: k.target_amount.map(|t| money(t).into()),
            end_date: k.end_date,
            image_key: k.image_key,
            billing_plan: k.billing_plan,
            settings: KttiSettings {
                members_can_spend: k.members_can_spend,
                members_can_invite: k.members_can_invite,
                approval_required_to_join: k.approval_required_to_join,
            },
            role: k.role.into(),
            setup_error: k.setup_error,
            created_at: k.created_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct KttiPage {
    pub items: Vec<KttiView>,
    pub page: u32,
    pub page_size: u32,
    pub total: i64,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct BankingDetails {
    pub bsb: String,
    pub account_number: String,
    pub account_name: String,
    /// Not registered yet for our accounts.
    #[oai(nullable)]
    pub pay_id: Option<String>,
    /// Put this on a transfer and the deposit is attributed to you.
    pub deposit_reference: String,
    pub provider_account_id: String,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct CardView {
    pub id: Uuid,
    /// The provider's public card token.
    #[oai(nullable)]
    pub card_token: Option<String>,
    #[oai(nullable)]
    pub last4: Option<String>,
    #[oai(nullable)]
    pub masked_pan: Option<String>,
    pub status: states::CardStatus,
    #[oai(rename = "type")]
    pub kind: states::CardType,
    pub order_status: states::CardOrderStatus,
    /// Where the physical card goes, once one is ordered.
    #[oai(nullable)]
    pub delivery_address: Option<crate::routes::kyc::Address>,
}

#[derive(Debug, poem_openapi::Object, serde::Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct CardAddress {
    pub address: crate::routes::kyc::Address,
}

#[derive(poem_openapi::ApiResponse)]
pub enum CardOrdered {
    /// Ordered; the card is converted and posted in the background.
    #[oai(status = 202)]
    Accepted(Json<CardView>),
}

fn card_view(card: cards::CardRow) -> CardView {
    CardView {
        id: card.id,
        masked_pan: card.last4.as_ref().map(|l| format!("•••• •••• •••• {l}")),
        card_token: card.card_token,
        last4: card.last4,
        status: card.status.into(),
        kind: card.card_type.into(),
        order_status: card.order_status.into(),
        // Stored from the same `Address` type when the card was ordered.
        delivery_address: card.delivery_address.and_then(|a| serde_json::from_value(a).ok()),
    }
}

/// The caller's ktti and live card, for card changes only an owner or admin may make.
async fn card_for_change(
    state: &AppState,
    user: kttipay_domain::ids::UserId,
    id: Uuid,
) -> Result<(KttiId, cards::CardRow), ApiError> {
    let ktti = KttiId(id);
    let k = writable(state, user, id).await?;
    if !k.role.manages() {
        return Err(ApiError::forbidden(
            "role_forbidden",
            "Only the ktti's owner or an admin may change its card.",
        ));
    }
    let card = cards::of_member(&state.pool, ktti, user)
        .await?
        .ok_or_else(|| ApiError::not_found("card_not_found", "You have no card on this ktti yet."))?;
    Ok((ktti, card))
}

fn address_json(body: &CardAddress) -> Result<serde_json::Value, ApiError> {
    let mut v = kttipay_domain::Validation::new();
    let address = crate::routes::kyc::validate_address(&mut v, "address", &body.address);
    v.finish().map_err(ApiError::invalid)?;
    serde_json::to_value(address).map_err(ApiError::internal)
}

pub fn not_found() -> ApiError {
    ApiError::not_found("ktti_not_found", "No such ktti.")
}

/// The ktti if the caller is an active member of it; 404 otherwise.
pub async fn visible(state: &AppState, user: kttipay_domain::ids::UserId, id: Uuid) -> Result<KttiRow, ApiError> {
    ktties::find_for_member(&state.pool, user, KttiId(id))
        .await?
        .ok_or_else(not_found)
}

/// As [`visible`], for a change: a closed ktti is read-only (409 `ktti_closed`).
pub async fn writable(state: &AppState, user: kttipay_domain::ids::UserId, id: Uuid) -> Result<KttiRow, ApiError> {
    let k = visible(state, user, id).await?;
    kttipay_domain::membership::must_be_writable(k.status).map_err(ApiError::not_now)?;
    Ok(k)
}

pub struct PersonalKttiApi;

#[OpenApi(tag = "Tag::Ktti")]
impl PersonalKttiApi {
    /// The caller's personal ktti
    ///
    /// Opened when KYC is verified; 404 until then.
    #[oai(path = "/api/v2/ktties/personal", method = "get", operation_id = "getPersonalKtti")]
    async fn personal(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Json<KttiView>, ApiError> {
        let row = ktties::personal_of(&state.pool, auth.0.user_id).await?;
        row.map(|k| Json(k.into())).ok_or_else(|| {
            ApiError::not_found(
                "ktti_not_found",
                "No personal ktti yet: it opens once your identity is verified.",
            )
        })
    }
}

pub struct BankingApi;

#[OpenApi(tag = "Tag::Banking")]
impl BankingApi {
    /// Banking details of a ktti
    ///
    /// BSB and account number to pay into, and the caller's own deposit reference.
    /// 409 while the account is still being opened.
    #[oai(
        path = "/api/v2/ktties/:kttiId/banking",
        method = "get",
        operation_id = "getKttiBanking"
    )]
    async fn banking(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
    ) -> Result<Json<BankingDetails>, ApiError> {
        let k = ktties::find_for_member(&state.pool, auth.0.user_id, KttiId(id.0))
            .await?
            .ok_or_else(not_found)?;
        let (Some(account), Some(bsb), Some(number)) = (k.provider_account_id, k.bsb, k.account_number) else {
            return Err(ApiError::conflict(
                "ktti_not_ready",
                "The ktti's bank account is still being opened.",
            ));
        };
        let account_name = if k.kind == KttiKind::Personal {
            let owner = users::find(&state.pool, kttipay_domain::ids::UserId(k.owner_id)).await?;
            owner
                .map(|u| format!("{} {}", u.first_name, u.last_name))
                .unwrap_or_else(|| k.name.clone())
        } else {
            k.name.clone()
        };
        Ok(Json(BankingDetails {
            bsb,
            account_number: number,
            account_name,
            pay_id: None,
            deposit_reference: k.deposit_reference,
            provider_account_id: account,
        }))
    }

    /// The caller's card on a ktti
    #[oai(path = "/api/v2/ktties/:kttiId/card", method = "get", operation_id = "getKttiCard")]
    async fn card(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
    ) -> Result<Json<CardView>, ApiError> {
        let ktti = KttiId(id.0);
        ktties::find_for_member(&state.pool, auth.0.user_id, ktti)
            .await?
            .ok_or_else(not_found)?;
        let card = cards::of_member(&state.pool, ktti, auth.0.user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("card_not_found", "You have no card on this ktti yet."))?;
        Ok(Json(card_view(card)))
    }

    /// Order a physical card
    ///
    /// Owner or admin. The virtual card becomes physical (same number) and is posted
    /// to `address`. 409 once ordered.
    #[oai(
        path = "/api/v2/ktties/:kttiId/card/physical",
        method = "post",
        operation_id = "orderPhysicalCard"
    )]
    async fn order_physical(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: poem_openapi::param::Header<Option<String>>,
        body: crate::json::JsonBody<CardAddress>,
    ) -> Result<CardOrdered, ApiError> {
        let address = address_json(&body.0)?;
        let (ktti, card) = card_for_change(&state, auth.0.user_id, id.0).await?;
        let key = key.0.as_deref();
        let scope = format!("card.physical:{}:{}", auth.0.user_id, id.0);
        let fingerprint = crate::idempotency::fingerprint("orderPhysicalCard", &address);
        let mut tx = state.pool.begin().await?;
        let replay = crate::idempotency::replayed(&mut tx, &scope, key, &fingerprint).await?;
        if !replay && !cards::order_physical(&mut tx, card.id, &address).await? {
            return Err(ApiError::conflict(
                "card_already_ordered",
                "A physical card is already ordered.",
            ));
        }
        if !replay {
            kttipay_db::jobs::enqueue(
                &mut tx,
                &kttipay_jobs::kinds::OrderPhysicalCard {
                    card_id: kttipay_domain::ids::CardId(card.id),
                },
            )
            .await?;
            crate::idempotency::finish(&mut tx, &scope, key, 202, &serde_json::json!({})).await?;
        }
        tx.commit().await?;
        let card = cards::of_member(&state.pool, ktti, auth.0.user_id)
            .await?
            .ok_or_else(not_found)?;
        Ok(CardOrdered::Accepted(Json(card_view(card))))
    }

    /// Change the card's delivery address
    ///
    /// Only while the physical card is being prepared: 409 once shipped.
    #[oai(
        path = "/api/v2/ktties/:kttiId/card/address",
        method = "put",
        operation_id = "changeCardAddress"
    )]
    async fn change_address(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        body: crate::json::JsonBody<CardAddress>,
    ) -> Result<Json<CardView>, ApiError> {
        let address = address_json(&body.0)?;
        let (ktti, card) = card_for_change(&state, auth.0.user_id, id.0).await?;
        let mut tx = state.pool.begin().await?;
        if !cards::change_address(&mut tx, card.id, &address).await? {
            return Err(match card.order_status {
                CardOrderStatus::None => ApiError::conflict("card_not_ordered", "No physical card is on order."),
                _ => ApiError::conflict(
                    "card_shipped",
                    "The card has shipped; its address can no longer change.",
                ),
            });
        }
        tx.commit().await?;
        let card = cards::of_member(&state.pool, ktti, auth.0.user_id)
            .await?
            .ok_or_else(not_found)?;
        Ok(Json(card_view(card)))
    }
}
