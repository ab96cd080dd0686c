//! Action items: what the caller must decide. Executing one applies its decision
//! once: the row is locked, so of two admins deciding at once the second sees the
//! first's decision and gets 409. Items the caller is not addressed by are 404.

use crate::amount::Amount;
use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::json::OptionalJsonBody;
use crate::membership;
use crate::routes::Tag;
use crate::routes::deposits::assign;
use crate::routes::invitations::decide_invitation;
use crate::state::AppState;
use crate::states;
use chrono::{DateTime, Utc};
use kttipay_db::actions::{self, ActionRow, Kind};
use kttipay_db::{invitations, members};
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::lifecycle::{ActionStatus, InvitationStatus, KycStatus, MembershipStatus};
use kttipay_domain::membership::{self as rules, Role};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ActionView {
    pub uuid: Uuid,
    /// Approving a notice (`negativeBalance`, `payoutFailed`, `lateMovement`,
    /// `payoutAccountNeeded`) acknowledges it.
    #[oai(rename = "type")]
    pub kind: states::ActionKind,
    /// `pending` while it waits for a decision.
    pub status: states::ActionStatus,
    pub ktti_id: Uuid,
    /// Who it is about (the requester, joiner or invitee).
    #[oai(nullable)]
    pub subject_user_id: Option<Uuid>,
    /// Unassigned deposits: the transaction.
    #[oai(nullable)]
    pub transaction_id: Option<Uuid>,
    /// What the item is about; which fields are set depends on `type`.
    pub payload: ActionDetails,
    pub created_at: DateTime<Utc>,
}

/// An action item's details. Fields that do not apply to its kind are absent.
#[derive(Debug, Default, Object, Deserialize)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct ActionDetails {
    /// The ktti's name (`invitation`, `adminRequest`, `joinApproval`).
    pub ktti_name: Option<String>,
    /// The requester's message (`adminRequest`).
    pub message: Option<String>,
    /// The joiner's name (`joinApproval`).
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The joiner was removed from this ktti before (`joinApproval`).
    pub previously_removed: Option<bool>,
    /// The deposit's amount (`unassignedDeposit`).
    pub amount: Option<Amount>,
    /// The deposit's sender and reference, as the bank reported them.
    pub sender_name: Option<String>,
    pub reference: Option<String>,
    /// The balances when the ktti went below zero (`negativeBalance`).
    pub available_balance: Option<Amount>,
    pub total_balance: Option<Amount>,
    /// The refused payout (`payoutFailed`; `amount` is its amount).
    pub payout_id: Option<Uuid>,
    /// Why the bank refused it, as a stable code (`recipient_account_blocked`...).
    pub reason: Option<String>,
    /// Where it was going: `personalKtti` or `bankAccount`.
    pub destination: Option<String>,
    /// What moved after payouts started, in the bank's words (`lateMovement`;
    /// `amount` is how much).
    pub transaction_type: Option<String>,
    /// The ktti's status when it moved.
    pub ktti_status: Option<String>,
    /// The route that resolves it (`payoutAccountNeeded`).
    pub path: Option<String>,
}

impl From<ActionRow> for ActionView {
    fn from(a: ActionRow) -> Self {
        ActionView {
            uuid: a.uuid,
            kind: a.kind.into(),
            status: a.status.into(),
            ktti_id: a.ktti_id,
            subject_user_id: a.subject_id,
            transaction_id: a.transaction_id,
            // Written by our own code in this shape; a field it cannot read is left out.
            payload: serde_json::from_value(a.payload).unwrap_or_default(),
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ActionList {
    pub items: Vec<ActionView>,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    #[oai(default)]
    #[serde(default)]
    pub decision: Verdict,
    /// Unassigned deposits: the member to assign it to when approving.
    #[oai(nullable)]
    pub assignee_id: Option<Uuid>,
}

/// What the addressee decides; approving is the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, poem_openapi::Enum, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    #[default]
    Approve,
    Reject,
}

impl Default for Decision {
    fn default() -> Self {
        Decision {
            decision: Verdict::Approve,
            assignee_id: None,
        }
    }
}

#[derive(ApiResponse)]
pub enum Executed {
    #[oai(status = 204)]
    Done,
}

pub struct ActionsApi;

#[OpenApi(tag = "Tag::Membership")]
impl ActionsApi {
    /// The caller's pending action items
    #[oai(path = "/api/v2/actions", method = "get", operation_id = "listActions")]
    async fn list(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Json<ActionList>, ApiError> {
        let rows = actions::open_for(&state.pool, auth.0.user_id).await?;
        Ok(Json(ActionList {
            items: rows.into_iter().map(Into::into).collect(),
        }))
    }

    /// Execute an action item
    ///
    /// `{decision: "approve" | "reject"}` (an unassigned deposit also takes
    /// `assigneeId` to approve). No body at all approves, as the documented
    /// client sends none. 204; 409 `action_already_decided` the second time.
    #[oai(
        path = "/api/v2/actions/:actionItemUuid",
        method = "post",
        operation_id = "executeAction"
    )]
    async fn execute(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "actionItemUuid")] id: Path<Uuid>,
        body: OptionalJsonBody<Decision>,
    ) -> Result<Executed, ApiError> {
        let body = body.0.unwrap_or_default();
        let approve = body.decision == Verdict::Approve;
        let me = auth.0.user_id;
        let mut tx = state.pool.begin().await?;
        let item = actions::lock_for(&mut tx, me, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("action_not_found", "No such action item."))?;
        if item.status != ActionStatus::Pending {
            return Err(ApiError::conflict(
                "action_already_decided",
                format!("This item is already {}.", item.status),
            ));
        }
        let ktti = KttiId(item.ktti_id);
        let kind = item.kind;
        // Invitations and requests to nominate a payout account are the
        // addressee's own; everything else is decided as a manager.
        if !matches!(kind, Kind::Invitation | Kind::PayoutAccountNeeded) {
            let role = members::lock(&mut tx, ktti, me).await?.map_or(Role::Member, |m| m.role);
            rules::may_approve(role).map_err(ApiError::denied)?;
        }
        let subject = item.subject_id.map(UserId);
        match (kind, approve) {
            (Kind::Invitation, _) => {
                let invitation = invitations::lock(&mut tx, item.invitation_id.unwrap_or_default())
                    .await?
                    .filter(|i| i.status == InvitationStatus::Pending)
                    .ok_or_else(|| ApiError::conflict("action_already_decided", "This invitation is decided."))?;
                if approve {
                    let kyc = kttipay_db::users::find(&mut *tx, me)
                        .await?
                        .map_or(KycStatus::NotStarted, |u| u.kyc_status);
                    rules::must_be_verified(kyc).map_err(ApiError::not_now)?;
                }
                let result = decide_invitation(&state, &mut tx, me, &invitation, approve).await;
                // An expiry is recorded even though the request fails.
                if result.is_ok() || result.as_ref().is_err_and(|e| e.code == "invitation_expired") {
                    tx.commit().await?;
                }
                return result.map(|()| Executed::Done);
            }
            (Kind::AdminRequest, true) => {
                let who = subject.ok_or_else(|| ApiError::internal("admin request without requester"))?;
                let still = members::lock(&mut tx, ktti, who)
                    .await?
                    .is_some_and(|m| m.status == MembershipStatus::Active);
                if !still {
                    // Nothing left to decide: the item closes, and the caller hears why.
                    actions::decide(&mut tx, item.uuid, ActionStatus::Cancelled, me).await?;
                    tx.commit().await?;
                    return Err(ApiError::conflict(
                        "member_gone",
                        "The requester is no longer a member.",
                    ));
                }
                members::update(&mut tx, ktti, who, Some(Role::Admin), None, None).await?;
            }
            (Kind::JoinApproval, true) => {
                let who = subject.ok_or_else(|| ApiError::internal("join request without joiner"))?;
                membership::admit(&state, &mut tx, ktti, who, None).await?;
            }
            (Kind::UnassignedDeposit, true) => {
                let assignee = body.assignee_id.ok_or_else(|| {
                    ApiError::invalid_field("validation_failed", "assigneeId", "is required to approve")
                })?;
                let deposit = item
                    .transaction_id
                    .ok_or_else(|| ApiError::internal("deposit item without deposit"))?;
                // Resolves this item too.
                assign(&mut tx, me, deposit, UserId(assignee)).await?;
                tx.commit().await?;
                return Ok(Executed::Done);
            }
            // Acknowledged: the ktti is below zero, a payout was refused, money
            // moved late, an account is needed; the item is a notice, and what to
            // do about it (assign, disburse again, nominate) has its own route.
            (Kind::NegativeBalance | Kind::PayoutFailed | Kind::LateMovement | Kind::PayoutAccountNeeded, true)
            | (_, false) => {}
        }
        actions::decide(
            &mut tx,
            item.uuid,
            if approve {
                ActionStatus::Approved
            } else {
                ActionStatus::Rejected
            },
            me,
        )
        .await?;
        tx.commit().await?;
        Ok(Executed::Done)
    }
}
