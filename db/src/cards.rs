//! Members' cards.

use chrono::{DateTime, Utc};
use kttipay_domain::ids::{KttiId, UserId};
use kttipay_domain::lifecycle::{CardOrderStatus, CardStatus, CardType, KttiStatus, MembershipStatus};
use kttipay_domain::membership::Role;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

pub struct NewCard<'a> {
    pub ktti: KttiId,
    pub user: UserId,
    pub provider_card_id: &'a str,
    pub card_token: Option<&'a str>,
    pub last4: Option<&'a str>,
    pub card_type: CardType,
    pub status: CardStatus,
    pub delivery_address: Option<serde_json::Value>,
}

/// Records a card the provider issued; a second record of the same provider card
/// is a no-op (the setup job may run twice).
pub async fn insert(conn: &mut PgConnection, c: &NewCard<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO cards (id, ktti_id, user_id, provider_card_id, card_token, last4, card_type, status, delivery_address) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (provider_card_id) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(c.ktti.0)
    .bind(c.user.0)
    .bind(c.provider_card_id)
    .bind(c.card_token)
    .bind(c.last4)
    .bind(c.card_type.as_str())
    .bind(c.status.as_str())
    .bind(&c.delivery_address)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct CardRow {
    pub id: Uuid,
    pub provider_card_id: String,
    pub card_token: Option<String>,
    pub last4: Option<String>,
    #[sqlx(try_from = "String")]
    pub card_type: CardType,
    #[sqlx(try_from = "String")]
    pub status: CardStatus,
    #[sqlx(try_from = "String")]
    pub order_status: CardOrderStatus,
    pub delivery_address: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// The member's live card on a ktti.
pub async fn of_member<'e>(
    db: impl PgExecutor<'e>,
    ktti: KttiId,
    user: UserId,
) -> Result<Option<CardRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, provider_card_id, card_token, last4, card_type, status, order_status, delivery_address, created_at \
         FROM cards WHERE ktti_id = $1 AND user_id = $2 AND status <> 'cancelled'",
    )
    .bind(ktti.0)
    .bind(user.0)
    .fetch_optional(db)
    .await
}

/// How many of the member's cards on a ktti were cancelled (they left and came
/// back): each new card needs its own provider idempotency key.
pub async fn cancelled_of_member<'e>(db: impl PgExecutor<'e>, ktti: KttiId, user: UserId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM cards WHERE ktti_id = $1 AND user_id = $2 AND status = 'cancelled'")
        .bind(ktti.0)
        .bind(user.0)
        .fetch_one(db)
        .await
}

/// Orders the physical card: `none -> ordered`, with the delivery address. False
/// when it is already ordered or shipped.
pub async fn order_physical(
    conn: &mut PgConnection,
    card: Uuid,
    address: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE cards SET order_status = 'ordered', delivery_address = $2, updated_at = now() \
         WHERE id = $1 AND order_status = 'none'",
    )
    .bind(card)
    .bind(address)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Changes the delivery address while the card is being prepared; false once shipped.
pub async fn change_address(
    conn: &mut PgConnection,
    card: Uuid,
    address: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE cards SET delivery_address = $2, updated_at = now() WHERE id = $1 AND order_status = 'ordered'",
    )
    .bind(card)
    .bind(address)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The provider converted the card: it is physical and on its way.
pub async fn mark_shipped(conn: &mut PgConnection, card: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE cards SET card_type = 'physical', order_status = 'shipped', updated_at = now() \
         WHERE id = $1 AND order_status = 'ordered'",
    )
    .bind(card)
    .execute(conn)
    .await?;
    Ok(())
}

/// A card being ordered, locked until the caller's transaction ends (the
/// address-change route waits on the same row): its provider id, order status,
/// delivery address and its holder's provider customer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderedCard {
    pub provider_card_id: String,
    #[sqlx(try_from = "String")]
    pub order_status: CardOrderStatus,
    pub delivery_address: Option<serde_json::Value>,
    pub provider_customer_id: Option<String>,
}

pub async fn lock_order(conn: &mut PgConnection, card: Uuid) -> Result<Option<OrderedCard>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.provider_card_id, c.order_status, c.delivery_address, u.provider_customer_id \
         FROM cards c JOIN users u ON u.id = c.user_id WHERE c.id = $1 FOR UPDATE OF c",
    )
    .bind(card)
    .fetch_optional(conn)
    .await
}

/// A card's provider id and order status.
pub async fn provider_id<'e>(
    db: impl PgExecutor<'e>,
    card: Uuid,
) -> Result<Option<(String, CardOrderStatus)>, sqlx::Error> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT provider_card_id, order_status FROM cards WHERE id = $1")
            .bind(card)
            .fetch_optional(db)
            .await?;
    row.map(|(id, order)| Ok((id, crate::state(order)?))).transpose()
}

/// A live card with what decides whether it may spend: its holder's standing and
/// membership, and the ktti's settings.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CardRights {
    pub id: Uuid,
    pub user_id: Uuid,
    pub provider_card_id: String,
    #[sqlx(try_from = "String")]
    pub status: CardStatus,
    pub user_blocked: bool,
    #[sqlx(try_from = "String")]
    pub member_status: MembershipStatus,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub can_spend: bool,
    pub members_can_spend: bool,
    #[sqlx(try_from = "String")]
    pub ktti_status: KttiStatus,
}

macro_rules! rights_select {
    () => {
        "SELECT c.id, c.user_id, c.provider_card_id, c.status, u.blocked_at IS NOT NULL AS user_blocked, \
                m.status AS member_status, m.role, m.can_spend, k.members_can_spend, k.status AS ktti_status \
         FROM cards c JOIN users u ON u.id = c.user_id JOIN ktties k ON k.id = c.ktti_id \
         JOIN ktti_members m ON m.ktti_id = c.ktti_id AND m.user_id = c.user_id \
         WHERE c.status <> 'cancelled' "
    };
}

/// One live card's rights, with the card's row locked until the caller's
/// transaction ends: whoever changes a card's state at the bank holds this across
/// the call, so two jobs cannot interleave and an older decision cannot land
/// after a newer one. `None` once the card is cancelled.
pub async fn lock_rights(conn: &mut PgConnection, card: Uuid) -> Result<Option<CardRights>, sqlx::Error> {
    sqlx::query_as(concat!(rights_select!(), "AND c.id = $1 FOR UPDATE OF c"))
        .bind(card)
        .fetch_optional(conn)
        .await
}

/// The member's live cards that belong to an earlier membership (issued before
/// they last joined): a removed member who rejoined before the removal reached
/// the bank still has the old card, and it must go.
pub async fn from_before_rejoining<'e>(
    db: impl PgExecutor<'e>,
    ktti: KttiId,
    user: UserId,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.id FROM cards c JOIN ktti_members m ON m.ktti_id = c.ktti_id AND m.user_id = c.user_id \
         WHERE c.ktti_id = $1 AND c.user_id = $2 AND c.status <> 'cancelled' \
           AND (m.status <> 'active' OR c.created_at < m.joined_at)",
    )
    .bind(ktti.0)
    .bind(user.0)
    .fetch_all(db)
    .await
}

/// Every live card of a user, across ktties.
pub async fn rights_of_user<'e>(db: impl PgExecutor<'e>, user: UserId) -> Result<Vec<CardRights>, sqlx::Error> {
    sqlx::query_as(concat!(rights_select!(), "AND c.user_id = $1 ORDER BY c.created_at"))
        .bind(user.0)
        .fetch_all(db)
        .await
}

/// Every live card on a ktti.
pub async fn rights_of_ktti<'e>(db: impl PgExecutor<'e>, ktti: KttiId) -> Result<Vec<CardRights>, sqlx::Error> {
    sqlx::query_as(concat!(rights_select!(), "AND c.ktti_id = $1 ORDER BY c.created_at"))
        .bind(ktti.0)
        .fetch_all(db)
        .await
}

pub async fn set_status(conn: &mut PgConnection, card: Uuid, status: CardStatus) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE cards SET status = $2, updated_at = now() WHERE id = $1")
        .bind(card)
        .bind(status.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

/// Who holds the card.
pub async fn holder_of<'e>(db: impl PgExecutor<'e>, card: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT user_id FROM cards WHERE id = $1")
        .bind(card)
        .fetch_optional(db)
        .await
}
