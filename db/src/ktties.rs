//! Ktties.

use kttipay_domain::ids::{KttiId, UserId};
use sqlx::PgConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KttiKind {
    Personal,
    Group,
}

impl KttiKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KttiKind::Personal => "personal",
            KttiKind::Group => "group",
        }
    }
}

/// Creates a ktti in `pendingSetup` with zero balances, in the caller's transaction.
pub async fn create(
    conn: &mut PgConnection,
    id: KttiId,
    kind: KttiKind,
    name: &str,
    owner: UserId,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO ktties (id, kind, name, owner_id) VALUES ($1, $2, $3, $4)")
        .bind(id.0)
        .bind(kind.as_str())
        .bind(name)
        .bind(owner.0)
        .execute(&mut *conn)
        .await?;
    crate::ledger::open_balances(conn, id).await
}
