//! The notifications money events cause, written in the event's own
//! transaction (so a notification exists exactly when its booking does, and a
//! replayed event, which books nothing, tells nobody again).

use kttipay_db::{PgConnection, ktties, members, notifications, splits, users};
use kttipay_domain::Money;
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::notification::{self as notice, Notice};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::JobError;

/// A deposit: to whoever paid it in (their share is all of it) and to the
/// ktti's managers.
pub async fn deposit(
    conn: &mut PgConnection,
    ktti: KttiId,
    txn: Uuid,
    amount: Money,
    depositor: Option<UserId>,
) -> Result<(), JobError> {
    let name = ktties::name_of(&mut *conn, ktti).await?;
    let who = match depositor {
        Some(u) => users::find(&mut *conn, u).await?.map(|u| u.first_name),
        None => None,
    };
    let n = notice::deposit_in(&name, amount, who.as_deref())
        .in_ktti(ktti.0)
        .about_transaction(txn);
    let mut recipients: Vec<notifications::Recipient> =
        depositor.map(|u| (u, Some(amount.as_decimal()))).into_iter().collect();
    recipients.extend(
        members::managers(&mut *conn, ktti)
            .await?
            .into_iter()
            .map(|m| (UserId(m), None)),
    );
    notifications::notify(conn, &recipients, &n).await?;
    Ok(())
}

/// A split money movement (a settled card payment, a refund): to each member
/// with a share, with their own share.
pub async fn by_share(
    conn: &mut PgConnection,
    ktti: KttiId,
    txn: Uuid,
    make: impl Fn(&str, Option<Decimal>) -> Notice,
) -> Result<(), JobError> {
    let name = ktties::name_of(&mut *conn, ktti).await?;
    let shares = splits::shares(&mut *conn, txn).await?;
    // The text names the share, so one fan-out per distinct share: an equal
    // split of a 200-member ktti has one or two, not 200 round trips.
    for (amount, recipients) in notifications::group_by_share(shares.iter().map(|s| (UserId(s.user_id), s.amount))) {
        let n = make(&name, Some(amount)).in_ktti(ktti.0).about_transaction(txn);
        notifications::notify(conn, &recipients, &n).await?;
    }
    Ok(())
}

/// A declined card payment: to the card's holder.
pub async fn declined(
    conn: &mut PgConnection,
    ktti: KttiId,
    txn: Uuid,
    holder: UserId,
    merchant: &str,
    amount: Money,
) -> Result<(), JobError> {
    let name = ktties::name_of(&mut *conn, ktti).await?;
    let n = notice::card_declined(&name, merchant, amount)
        .in_ktti(ktti.0)
        .about_transaction(txn);
    notifications::notify(conn, &[(holder, None)], &n).await?;
    Ok(())
}

/// A member's payout from a closing ktti completed (to that member).
pub async fn payout_paid(
    conn: &mut PgConnection,
    ktti: KttiId,
    txn: Uuid,
    member: UserId,
    amount: Money,
) -> Result<(), JobError> {
    let name = ktties::name_of(&mut *conn, ktti).await?;
    let n = notice::payout_paid(&name, amount)
        .in_ktti(ktti.0)
        .about_transaction(txn);
    notifications::notify(conn, &[(member, Some(amount.as_decimal()))], &n).await?;
    Ok(())
}

/// A billing charge went through or failed (to the ktti's owner). A failure's
/// own email (with the plan and period) is the email.
pub async fn billing(
    conn: &mut PgConnection,
    ktti: KttiId,
    txn: Option<Uuid>,
    amount: Money,
    charged: bool,
) -> Result<(), JobError> {
    let Some(k) = ktties::find_plain(&mut *conn, ktti).await? else {
        return Ok(());
    };
    let mut n = notice::billing_outcome(&k.name, amount, charged).in_ktti(ktti.0);
    if let Some(t) = txn {
        n = n.about_transaction(t);
    }
    if !charged {
        n = n.emailed_elsewhere();
    }
    notifications::notify(conn, &[(UserId(k.owner_id), None)], &n).await?;
    Ok(())
}
