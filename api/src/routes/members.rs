//! Membership: the member list, leaving, changing and removing members, and admin
//! requests. (Invitations and joining are in [`super::invitations`].)
//! Every rule of who may do what is in `domain::membership`.

use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::membership;
use crate::routes::Tag;
use crate::routes::ktties::{visible, writable};
use crate::state::AppState;
use crate::states;
use chrono::{DateTime, Utc};
use kttipay_db::actions::{self, Audience, Kind, NewAction};
use kttipay_db::ktties::KttiRow;
use kttipay_db::{invitations, members};
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::lifecycle::MembershipStatus;
use kttipay_domain::membership::{self as rules, Role};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct MemberView {
    /// Absent for an invitee who has no account yet.
    #[oai(nullable)]
    pub user_id: Option<Uuid>,
    /// `member` for invitees.
    pub role: states::Role,
    pub status: states::MembershipStatus,
    pub can_spend: bool,
    #[oai(nullable)]
    pub nickname: Option<String>,
    #[oai(nullable)]
    pub first_name: Option<String>,
    #[oai(nullable)]
    pub last_name: Option<String>,
    /// Invitees only: the address invited.
    #[oai(nullable)]
    pub email: Option<String>,
    #[oai(nullable)]
    pub joined_at: Option<DateTime<Utc>>,
}

impl From<members::MemberRow> for MemberView {
    fn from(m: members::MemberRow) -> Self {
        MemberView {
            user_id: Some(m.user_id),
            role: m.role.into(),
            status: m.status.into(),
            can_spend: m.can_spend,
            nickname: m.nickname,
            first_name: Some(m.first_name),
            last_name: Some(m.last_name),
            email: None,
            joined_at: m.joined_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct MemberList {
    pub items: Vec<MemberView>,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct MemberUpdate {
    /// Only the owner hands ownership over (they become an admin).
    #[oai(nullable)]
    pub role: Option<states::Role>,
    #[oai(nullable)]
    pub can_spend: Option<bool>,
    /// An empty string clears it.
    #[oai(nullable)]
    #[oai(validator(max_length = 40))]
    pub nickname: Option<String>,
}

#[derive(Debug, Object, Deserialize, Default)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct AdminRequest {
    #[oai(nullable)]
    #[oai(validator(max_length = 500))]
    pub message: Option<String>,
}

/// Longest admin-request message.
pub const ADMIN_REQUEST_MESSAGE_MAX_CHARS: usize = 500;

#[derive(ApiResponse)]
pub enum Done {
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum Requested {
    /// Requested: the owner and admins have an action item.
    #[oai(status = 202)]
    Accepted,
}

pub(crate) fn group_only(k: &KttiRow) -> Result<(), ApiError> {
    rules::must_be_group(k.kind).map_err(ApiError::not_now)
}

pub struct MembershipApi;

#[OpenApi(tag = "Tag::Membership")]
impl MembershipApi {
    /// Members of a ktti
    ///
    /// Current members first, then open invitations, then former members.
    #[oai(
        path = "/api/v2/ktties/:kttiId/members",
        method = "get",
        operation_id = "listMembers"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
    ) -> Result<Json<MemberList>, ApiError> {
        let k = visible(&state, auth.0.user_id, id.0).await?;
        let ktti = KttiId(k.id);
        let rows = members::list(&state.pool, ktti).await?;
        let invited = invitations::pending_of(&state.pool, ktti).await?;
        let (current, former): (Vec<_>, Vec<_>) = rows.into_iter().partition(|m| m.status == MembershipStatus::Active);
        let mut items: Vec<MemberView> = current.into_iter().map(Into::into).collect();
        items.extend(invited.into_iter().map(|i| MemberView {
            user_id: i.user_id,
            role: states::Role::Member,
            status: states::MembershipStatus::Invited,
            can_spend: false,
            nickname: None,
            first_name: None,
            last_name: None,
            email: Some(i.email),
            joined_at: None,
        }));
        items.extend(former.into_iter().map(Into::into));
        Ok(Json(MemberList { items }))
    }

    /// Leave a ktti
    ///
    /// An owner hands ownership over first (403 `owner_cannot_leave`); a member who
    /// spent more than they paid in settles up first while the ktti is active (409
    /// `negative_balance`).
    #[oai(path = "/api/v2/ktties/:kttiId/leave", method = "post", operation_id = "leaveKtti")]
    async fn leave(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let k = writable(&state, auth.0.user_id, id.0).await?;
        group_only(&k)?;
        rules::may_leave(k.caller_role()).map_err(ApiError::denied)?;
        let mut tx = state.pool.begin().await?;
        let status = kttipay_db::ktties::share_status(&mut tx, KttiId(k.id)).await?;
        let net = kttipay_db::splits::net_of(&mut tx, KttiId(k.id), auth.0.user_id).await?;
        rules::must_not_owe(net, status).map_err(ApiError::not_now)?;
        membership::depart(&mut tx, KttiId(k.id), auth.0.user_id, MembershipStatus::Left).await?;
        tx.commit().await?;
        Ok(Done::NoContent)
    }

    /// Update a membership
    ///
    /// Owner or admin: `role` (only the owner hands ownership over, becoming an
    /// admin), `canSpend`, `nickname`. Every member may set their own nickname.
    #[oai(
        path = "/api/v2/ktties/:kttiId/members/:userId",
        method = "put",
        operation_id = "updateMember"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        #[oai(name = "userId")] user: Path<Uuid>,
        body: JsonBody<MemberUpdate>,
    ) -> Result<Json<MemberView>, ApiError> {
        let k = writable(&state, auth.0.user_id, id.0).await?;
        group_only(&k)?;
        let b = body.0;
        let mut v = kttipay_domain::Validation::new();
        let role: Option<Role> = b.role.map(Into::into);
        let nickname = v
            .check_opt("nickname", b.nickname.as_deref(), rules::nickname)
            .flatten();
        v.finish().map_err(ApiError::invalid)?;
        let ktti = KttiId(k.id);
        let target_id = UserId(user.0);
        let mut tx = state.pool.begin().await?;
        let target = members::lock(&mut tx, ktti, target_id)
            .await?
            .filter(|m| m.status == MembershipStatus::Active)
            .ok_or_else(|| ApiError::not_found("member_not_found", "No such member."))?;
        let target_role = target.role;
        let actor = k.caller_role();
        // Anyone may choose their own nickname; everything else follows the table.
        let own_nickname_only = target_id == auth.0.user_id && role.is_none() && b.can_spend.is_none();
        if !own_nickname_only {
            match role {
                Some(to) => rules::may_set_role(actor, target_role, to),
                None => rules::may_manage(actor, target_role),
            }
            .map_err(ApiError::denied)?;
        }
        if target_role == Role::Owner && role.is_some_and(|r| r != Role::Owner) {
            return Err(ApiError::conflict(
                "owner_role_fixed",
                "Hand ownership to another member instead of demoting the owner.",
            ));
        }
        let role = match role {
            Some(Role::Owner) if target_role != Role::Owner => {
                // The caller is the owner (may_set_role checked): they become an admin.
                members::hand_over(&mut tx, ktti, auth.0.user_id, target_id).await?;
                None
            }
            Some(Role::Owner) => None,
            other => other,
        };
        members::update(&mut tx, ktti, target_id, role, b.can_spend, nickname.as_deref()).await?;
        if b.can_spend.is_some() || role.is_some() {
            // The right to spend may have changed: the bank's card state follows.
            kttipay_db::jobs::enqueue(&mut tx, &kttipay_jobs::kinds::SyncKttiCards { ktti_id: ktti }).await?;
        }
        let m = members::lock(&mut tx, ktti, target_id)
            .await?
            .ok_or_else(|| ApiError::internal("member vanished"))?;
        tx.commit().await?;
        Ok(Json(m.into()))
    }

    /// Remove a member
    ///
    /// Owner or admin (admins may not remove the owner). Their card is cancelled.
    #[oai(
        path = "/api/v2/ktties/:kttiId/members/:userId",
        method = "delete",
        operation_id = "removeMember"
    )]
    async fn remove(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        #[oai(name = "userId")] user: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let k = writable(&state, auth.0.user_id, id.0).await?;
        group_only(&k)?;
        let ktti = KttiId(k.id);
        let target_id = UserId(user.0);
        if target_id == auth.0.user_id {
            return Err(ApiError::conflict("use_leave", "To leave, use the leave route."));
        }
        let mut tx = state.pool.begin().await?;
        let target = members::lock(&mut tx, ktti, target_id)
            .await?
            .filter(|m| m.status == MembershipStatus::Active)
            .ok_or_else(|| ApiError::not_found("member_not_found", "No such member."))?;
        let target_role = target.role;
        rules::may_manage(k.caller_role(), target_role).map_err(ApiError::denied)?;
        if target_role == Role::Owner {
            return Err(ApiError::conflict(
                "owner_cannot_be_removed",
                "The owner hands ownership over before leaving.",
            ));
        }
        membership::depart(&mut tx, ktti, target_id, MembershipStatus::Removed).await?;
        tx.commit().await?;
        Ok(Done::NoContent)
    }

    /// Request admin access
    ///
    /// The owner and admins get an action item. 409 for owners and admins, and
    /// while a request is open.
    #[oai(
        path = "/api/v2/ktties/:kttiId/admin-requests",
        method = "post",
        operation_id = "requestAdmin"
    )]
    async fn admin_request(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: poem_openapi::param::Header<Option<String>>,
        body: JsonBody<AdminRequest>,
    ) -> Result<Requested, ApiError> {
        let k = writable(&state, auth.0.user_id, id.0).await?;
        group_only(&k)?;
        if k.caller_role().manages() {
            return Err(ApiError::conflict("already_admin", "You already run this ktti."));
        }
        // Counted as sent, as the document's `maxLength` counts.
        if body
            .0
            .message
            .as_ref()
            .is_some_and(|m| m.chars().count() > ADMIN_REQUEST_MESSAGE_MAX_CHARS)
        {
            return Err(ApiError::invalid_field(
                "validation_failed",
                "message",
                &format!("must be at most {ADMIN_REQUEST_MESSAGE_MAX_CHARS} characters"),
            ));
        }
        let message = body.0.message.map(|m| m.trim().to_string()).filter(|m| !m.is_empty());
        let key = key.0.as_deref();
        let scope = format!("admin.request:{}:{}", auth.0.user_id, k.id);
        let fingerprint = crate::idempotency::fingerprint("requestAdmin", &message);
        let mut tx = state.pool.begin().await?;
        if crate::idempotency::replayed(&mut tx, &scope, key, &fingerprint).await? {
            return Ok(Requested::Accepted);
        }
        let created = actions::create(
            &mut tx,
            &NewAction {
                kind: Kind::AdminRequest,
                ktti: KttiId(k.id),
                audience: Audience::Managers,
                subject: Some(auth.0.user_id),
                invitation: None,
                transaction: None,
                payload: json!({ "kttiName": k.name, "message": message }),
            },
        )
        .await?;
        if created.is_none() {
            return Err(ApiError::conflict(
                "already_requested",
                "Your request is waiting for a decision.",
            ));
        }
        crate::idempotency::finish(&mut tx, &scope, key, 202, &json!({})).await?;
        tx.commit().await?;
        Ok(Requested::Accepted)
    }
}
