//! Invitations and joining: invite by email, accept or reject, and join by
//! referral code (rate limited, and through an approval when the ktti asks for one).

use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::idempotency;
use crate::json::JsonBody;
use crate::membership;
use crate::routes::Tag;
use crate::routes::ktties::{KttiView, writable};
use crate::routes::members::{Done, group_only};
use crate::state::AppState;
use crate::states;
use chrono::{DateTime, Utc};
use kttipay_db::actions::{self, Audience, Kind, NewAction};
use kttipay_db::ktties;
use kttipay_db::{invitations, members, users};
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::lifecycle::{ActionStatus, InvitationStatus, MembershipStatus};
use kttipay_domain::membership as rules;
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Invite {
    pub email: String,
}

#[derive(Debug, Object, serde::Serialize, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct InvitationView {
    pub id: Uuid,
    pub email: String,
    pub status: states::InvitationStatus,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Join {
    pub referral_code: String,
}

#[derive(ApiResponse)]
pub enum Invited {
    /// Invited; the email is on its way.
    #[oai(status = 201)]
    Created(Json<InvitationView>),
}

/// What a join did, kept with its `Idempotency-Key`; a replay shows the ktti as
/// it is now.
#[derive(serde::Serialize, serde::Deserialize)]
struct JoinOutcome {
    ktti_id: Uuid,
    awaiting_approval: bool,
}

#[derive(ApiResponse)]
pub enum Joined {
    /// Joined: the caller is now a member.
    #[oai(status = 200)]
    Member(Json<Box<KttiView>>),
    /// The ktti requires approval: an owner or admin decides (an action item).
    #[oai(status = 202)]
    AwaitingApproval,
}

/// The caller must have a verified identity to hold a card on a ktti.
pub(crate) async fn require_verified(state: &AppState, user: UserId) -> Result<(), ApiError> {
    let me = users::find(&state.pool, user)
        .await?
        .ok_or_else(|| ApiError::internal("caller vanished"))?;
    rules::must_be_verified(me.kyc_status).map_err(ApiError::not_now)
}

/// Accepts (admits the caller) or rejects the caller's open invitation to `ktti`.
pub async fn decide_invitation(
    state: &AppState,
    conn: &mut kttipay_db::PgConnection,
    user: UserId,
    invitation: &invitations::InvitationRow,
    accept: bool,
) -> Result<(), ApiError> {
    if invitation.is_expired(Utc::now()) {
        invitations::decide(conn, invitation.id, InvitationStatus::Expired).await?;
        actions::close_invitation(conn, invitation.id, ActionStatus::Cancelled).await?;
        return Err(ApiError::conflict("invitation_expired", "This invitation has expired."));
    }
    if accept {
        membership::admit(
            state,
            conn,
            KttiId(invitation.ktti_id),
            user,
            invitation.split_proportion,
        )
        .await?;
    }
    let (invitation_now, item_now) = if accept {
        (InvitationStatus::Accepted, ActionStatus::Approved)
    } else {
        (InvitationStatus::Rejected, ActionStatus::Rejected)
    };
    invitations::decide(conn, invitation.id, invitation_now).await?;
    actions::close_invitation(conn, invitation.id, item_now).await?;
    Ok(())
}

pub struct InvitationsApi;

#[OpenApi(tag = "Tag::Membership")]
impl InvitationsApi {
    /// Invite someone by email
    ///
    /// Owner or admin, or any member if the ktti allows. The address need not have
    /// an account yet. 409 `already_invited` while an invitation is open. Accepts
    /// `Idempotency-Key`.
    #[oai(
        path = "/api/v2/ktties/:kttiId/invitations",
        method = "post",
        operation_id = "inviteMember"
    )]
    async fn invite(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<String>>,
        body: JsonBody<Invite>,
    ) -> Result<Invited, ApiError> {
        let k = writable(&state, auth.0.user_id, id.0).await?;
        group_only(&k)?;
        rules::may_invite(k.caller_role(), k.settings()).map_err(ApiError::denied)?;
        let email = kttipay_domain::user::email(&body.0.email)
            .map_err(|m| ApiError::invalid_field("validation_failed", "email", &m))?;
        let scope = format!("ktti.invite:{}:{}", auth.0.user_id, k.id);
        let fingerprint = idempotency::fingerprint("inviteMember", &email);
        let key = key.0.as_deref();
        let mut tx = state.pool.begin().await?;
        if let Some(first) = idempotency::begin::<InvitationView>(&mut tx, &scope, key, &fingerprint).await? {
            return Ok(Invited::Created(Json(first)));
        }
        let (sent, oldest) = kttipay_db::quotas::invitations_last_day(&mut *tx, KttiId(k.id)).await?;
        crate::quota::daily(sent, state.config.app.invitations_per_ktti_per_day, oldest)?;
        let invitee = users::find_by_email(&mut *tx, &email).await?.map(|u| u.user_id());
        if let Some(u) = invitee
            && members::lock(&mut tx, KttiId(k.id), u)
                .await?
                .is_some_and(|m| m.status == MembershipStatus::Active)
        {
            return Err(ApiError::conflict("already_member", "That person is already a member."));
        }
        let Some(invitation) = membership::invite(&mut tx, &k, auth.0.user_id, &email, invitee, None).await? else {
            return Err(ApiError::conflict(
                "already_invited",
                "That address already has an open invitation.",
            ));
        };
        let row = invitations::lock(&mut tx, invitation)
            .await?
            .ok_or_else(|| ApiError::internal("invitation vanished"))?;
        let view = InvitationView {
            id: row.id,
            email: row.email,
            status: row.status.into(),
            expires_at: row.expires_at,
        };
        idempotency::finish(&mut tx, &scope, key, 201, &view).await?;
        tx.commit().await?;
        Ok(Invited::Created(Json(view)))
    }

    /// Accept an invitation
    ///
    /// 404 without an open invitation; 409 `invitation_expired` after it lapsed;
    /// 409 `kyc_required` before the caller's identity is verified.
    #[oai(
        path = "/api/v2/ktties/:kttiId/invitations/accept",
        method = "post",
        operation_id = "acceptInvitation"
    )]
    async fn accept(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<String>>,
    ) -> Result<Json<KttiView>, ApiError> {
        let me = auth.0.user_id;
        require_verified(&state, me).await?;
        let key = key.0.as_deref();
        let scope = format!("invitation.accept:{me}:{}", id.0);
        let fingerprint = idempotency::fingerprint("acceptInvitation", &id.0);
        let mut tx = state.pool.begin().await?;
        if idempotency::replayed(&mut tx, &scope, key, &fingerprint).await? {
            let view = ktties::find_for_member(&mut *tx, me, KttiId(id.0))
                .await?
                .ok_or_else(|| ApiError::not_found("ktti_not_found", "No such ktti."))?;
            return Ok(Json(view.into()));
        }
        let invitation = invitations::lock_pending_for(&mut tx, KttiId(id.0), me)
            .await?
            .ok_or_else(no_invitation)?;
        if let Err(e) = decide_invitation(&state, &mut tx, me, &invitation, true).await {
            // An expiry is recorded even though the request fails.
            if e.code == "invitation_expired" {
                tx.commit().await?;
            }
            return Err(e);
        }
        let view = ktties::find_for_member(&mut *tx, me, KttiId(id.0))
            .await?
            .ok_or_else(|| ApiError::internal("joined ktti not visible"))?;
        idempotency::finish(&mut tx, &scope, key, 200, &serde_json::json!({})).await?;
        tx.commit().await?;
        Ok(Json(view.into()))
    }

    /// Reject an invitation
    #[oai(
        path = "/api/v2/ktties/:kttiId/invitations/reject",
        method = "post",
        operation_id = "rejectInvitation"
    )]
    async fn reject(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "kttiId")] id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let me = auth.0.user_id;
        let mut tx = state.pool.begin().await?;
        let invitation = invitations::lock_pending_for(&mut tx, KttiId(id.0), me)
            .await?
            .ok_or_else(no_invitation)?;
        let result = decide_invitation(&state, &mut tx, me, &invitation, false).await;
        tx.commit().await?;
        result.map(|()| Done::NoContent)
    }

    /// Join a ktti with its referral code
    ///
    /// 200 with the ktti when joined; 202 when the ktti requires approval, or when
    /// the caller was removed from it before (its owner and admins get an action
    /// item). Rate limited per user and address.
    #[oai(path = "/api/v2/ktties/join", method = "post", operation_id = "joinKtti")]
    async fn join(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        req: &poem::Request,
        #[oai(name = "Idempotency-Key")] key: Header<Option<String>>,
        body: JsonBody<Join>,
    ) -> Result<Joined, ApiError> {
        let me = auth.0.user_id;
        state
            .join_limiter
            .check(&me.to_string(), &crate::routes::client_ip(req, state.config.forwarded))?;
        let code = rules::normalize_code(&body.0.referral_code);
        if code.len() != rules::REFERRAL_CODE_CHARS {
            return Err(ApiError::invalid_field(
                "validation_failed",
                "referralCode",
                &format!("must be {} characters", rules::REFERRAL_CODE_CHARS),
            ));
        }
        require_verified(&state, me).await?;
        let key = key.0.as_deref();
        let scope = format!("ktti.join:{me}");
        let fingerprint = idempotency::fingerprint("joinKtti", &code);
        let mut tx = state.pool.begin().await?;
        // Before the code is looked up: a replay answers even once it is rotated.
        if let Some(first) = idempotency::begin::<JoinOutcome>(&mut tx, &scope, key, &fingerprint).await? {
            if first.awaiting_approval {
                return Ok(Joined::AwaitingApproval);
            }
            let view = ktties::find_for_member(&mut *tx, me, KttiId(first.ktti_id))
                .await?
                .ok_or_else(|| ApiError::not_found("ktti_not_found", "No such ktti."))?;
            return Ok(Joined::Member(Json(Box::new(view.into()))));
        }
        let (ktti, _status, approval) = ktties::by_referral_code(&mut *tx, &code)
            .await?
            .ok_or_else(|| ApiError::not_found("referral_code_not_found", "No ktti has that referral code."))?;
        let ktti = KttiId(ktti);
        let before = members::lock(&mut tx, ktti, me).await?;
        if before.as_ref().is_some_and(|m| m.status == MembershipStatus::Active) {
            return Err(ApiError::conflict("already_member", "You are already a member."));
        }
        // Someone the owner or an admin removed does not walk back in with the
        // code: coming back needs their approval, whatever the ktti's setting.
        let was_removed = before.is_some_and(|m| m.status == MembershipStatus::Removed);
        if approval || was_removed {
            let name = ktties::name_of(&mut *tx, ktti).await?;
            let me_row = users::find(&mut *tx, me)
                .await?
                .ok_or_else(|| ApiError::internal("caller vanished"))?;
            actions::create(
                &mut tx,
                &NewAction {
                    kind: Kind::JoinApproval,
                    ktti,
                    audience: Audience::Managers,
                    subject: Some(me),
                    invitation: None,
                    transaction: None,
                    payload: json!({
                        "kttiName": name,
                        "firstName": me_row.first_name,
                        "lastName": me_row.last_name,
                        "previouslyRemoved": was_removed,
                    }),
                },
            )
            .await?;
            let outcome = JoinOutcome {
                ktti_id: ktti.0,
                awaiting_approval: true,
            };
            idempotency::finish(&mut tx, &scope, key, 202, &outcome).await?;
            tx.commit().await?;
            return Ok(Joined::AwaitingApproval);
        }
        membership::admit(&state, &mut tx, ktti, me, None).await?;
        let view = ktties::find_for_member(&mut *tx, me, ktti)
            .await?
            .ok_or_else(|| ApiError::internal("joined ktti not visible"))?;
        let outcome = JoinOutcome {
            ktti_id: ktti.0,
            awaiting_approval: false,
        };
        idempotency::finish(&mut tx, &scope, key, 200, &outcome).await?;
        tx.commit().await?;
        Ok(Joined::Member(Json(Box::new(view.into()))))
    }
}

fn no_invitation() -> ApiError {
    ApiError::not_found("invitation_not_found", "You have no open invitation to this ktti.")
}
