//! Membership changes that several routes share (inviting, admitting, departing),
//! each on the caller's transaction, with the jobs it causes written to the outbox
//! in that same transaction.

use crate::error::ApiError;
use crate::state::AppState;
use chrono::Utc;
use kttipay_db::actions::{self, Audience, Kind, NewAction};
use kttipay_db::ktties::KttiRow;
use kttipay_db::{PgConnection, invitations, jobs, members, notifications};
use kttipay_domain::ids::{InvitationId, KttiId, UserId, deposit_reference};
use kttipay_domain::lifecycle::MembershipStatus;
use kttipay_domain::membership::INVITATION_TTL_DAYS;
use kttipay_domain::membership::{self as rules, Role};
use kttipay_domain::notification::{self as notice, MembershipChange};
use kttipay_jobs::kinds::{AddMemberAtBank, RemoveMemberAtBank, SendInvitation};
use serde_json::json;
use uuid::Uuid;

/// Invites `email` (normalised; `invitee` is its account, which the caller has
/// already looked up) to the ktti: an invitation, an action item if the address has
/// an account, and the email. `None` when one is already open.
pub async fn invite(
    conn: &mut PgConnection,
    ktti: &KttiRow,
    inviter: UserId,
    email: &str,
    invitee_id: Option<UserId>,
    split_proportion: Option<rust_decimal::Decimal>,
) -> Result<Option<Uuid>, ApiError> {
    let expires = Utc::now() + chrono::Duration::days(INVITATION_TTL_DAYS);
    let Some(id) = invitations::create(
        conn,
        KttiId(ktti.id),
        email,
        invitee_id,
        inviter,
        split_proportion,
        expires,
    )
    .await?
    else {
        return Ok(None);
    };
    if let Some(user) = invitee_id {
        invitation_item(conn, ktti.id, &ktti.name, id, user).await?;
    }
    jobs::enqueue(
        conn,
        &SendInvitation {
            invitation_id: InvitationId(id),
        },
    )
    .await?;
    Ok(Some(id))
}

/// The invitee's action item for an invitation (accept or reject it).
pub async fn invitation_item(
    conn: &mut PgConnection,
    ktti: Uuid,
    ktti_name: &str,
    invitation: Uuid,
    invitee: UserId,
) -> Result<(), ApiError> {
    actions::create(
        conn,
        &NewAction {
            kind: Kind::Invitation,
            ktti: KttiId(ktti),
            audience: Audience::User(invitee),
            subject: Some(invitee),
            invitation: Some(invitation),
            transaction: None,
            payload: json!({ "kttiName": ktti_name }),
        },
    )
    .await?;
    Ok(())
}

/// Tells the ktti's managers (but not `user` themself) that `user` joined,
/// left or was removed.
async fn tell_managers(
    conn: &mut PgConnection,
    ktti: KttiId,
    user: UserId,
    change: MembershipChange,
) -> Result<(), ApiError> {
    let managers: Vec<_> = members::managers(&mut *conn, ktti)
        .await?
        .into_iter()
        .map(UserId)
        .filter(|m| *m != user)
        .map(|m| (m, None))
        .collect();
    if managers.is_empty() {
        return Ok(());
    }
    let name = kttipay_db::ktties::name_of(&mut *conn, ktti).await?;
    let who = kttipay_db::users::find(&mut *conn, user).await?.map_or_else(
        || "A member".to_string(),
        |u| format!("{} {}", u.first_name, u.last_name),
    );
    let n = notice::membership_changed(&name, &who, change).in_ktti(ktti.0);
    notifications::notify(conn, &managers, &n).await?;
    Ok(())
}

/// Links invitations waiting for a newly registered address to its user, and
/// gives the user an action item for each.
pub async fn match_registration(conn: &mut PgConnection, email: &str, user: UserId) -> Result<(), ApiError> {
    for (invitation, ktti) in invitations::match_registration(conn, email, user).await? {
        let name: String = kttipay_db::ktties::name_of(&mut *conn, KttiId(ktti)).await?;
        invitation_item(conn, ktti, &name, invitation, user).await?;
    }
    Ok(())
}

/// The member limit for a ktti billed on `plans` (the current plan, and one
/// waiting for the next period): the larger, so an upgrade lets people join at
/// once while its price starts with the next period (no plan: the first on offer).
pub fn member_limit(state: &AppState, plans: &[Option<String>]) -> u32 {
    let offered = &state.config.app.billing_plans;
    let limit_of = |code: &Option<String>| {
        code.as_deref()
            .and_then(|c| kttipay_domain::billing::find(offered, c))
            .map(|p| p.member_limit)
    };
    plans
        .iter()
        .filter_map(limit_of)
        .max()
        .or(offered.first().map(|p| p.member_limit))
        .unwrap_or(u32::MAX)
}

/// Makes `user` an active member (a new card follows by job). 409 when the plan's
/// member limit is reached or the ktti no longer takes members.
pub async fn admit(
    state: &AppState,
    conn: &mut PgConnection,
    ktti: KttiId,
    user: UserId,
    proportion: Option<rust_decimal::Decimal>,
) -> Result<(), ApiError> {
    let (status, plans) = kttipay_db::ktties::lock_status(&mut *conn, ktti).await?;
    rules::must_take_members(status).map_err(ApiError::not_now)?;
    let limit = member_limit(state, &plans);
    if members::active_count(&mut *conn, ktti).await? >= i64::from(limit) {
        return Err(ApiError::conflict(
            "member_limit_reached",
            format!("This ktti's plan allows {limit} members."),
        ));
    }
    let joined = members::join(conn, ktti, user, Role::Member, &deposit_reference(rand::random())).await?;
    if joined {
        tell_managers(conn, ktti, user, MembershipChange::Joined).await?;
        if let Some(p) = proportion {
            members::set_split_proportion(conn, ktti, user, p).await?;
        }
        jobs::enqueue(
            conn,
            &AddMemberAtBank {
                ktti_id: ktti,
                user_id: user,
            },
        )
        .await?;
    }
    Ok(())
}

/// Ends `user`'s membership as `left` or `removed`; their card is cancelled by job.
pub async fn depart(
    conn: &mut PgConnection,
    ktti: KttiId,
    user: UserId,
    status: MembershipStatus,
) -> Result<bool, ApiError> {
    if !members::end(conn, ktti, user, status).await? {
        return Ok(false);
    }
    // Their open chat streams end (on every replica, once this commits).
    kttipay_db::chat::announce_departure(conn, ktti, user).await?;
    let change = if status == MembershipStatus::Removed {
        let name = kttipay_db::ktties::name_of(&mut *conn, ktti).await?;
        let n = notice::you_were_removed(&name).in_ktti(ktti.0);
        notifications::notify(conn, &[(user, None)], &n).await?;
        MembershipChange::Removed
    } else {
        MembershipChange::Left
    };
    tell_managers(conn, ktti, user, change).await?;
    jobs::enqueue(
        conn,
        &RemoveMemberAtBank {
            ktti_id: ktti,
            user_id: user,
        },
    )
    .await?;
    Ok(true)
}
