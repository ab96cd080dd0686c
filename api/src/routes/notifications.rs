//! The caller's notifications: the inbox (newest first, cursor-paged), marking
//! read, the unread summary, preferences per category and channel, and a test
//! push to the caller's devices.

use crate::auth::BearerAuth;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::routes::Tag;
use crate::routes::auth::NoContent;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use kttipay_db::{jobs, notifications};
use kttipay_domain::notification::{Category, Channel, Prefs};
use kttipay_jobs::kinds::TestPush;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;
use uuid::Uuid;

/// A category of notifications (preferences are per category).
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub enum CategoryName {
    MoneyIn,
    MoneyOut,
    Splits,
    Membership,
    Actions,
    Closure,
    Chat,
    Billing,
    Account,
}

impl CategoryName {
    fn domain(self) -> Category {
        match self {
            CategoryName::MoneyIn => Category::MoneyIn,
            CategoryName::MoneyOut => Category::MoneyOut,
            CategoryName::Splits => Category::Splits,
            CategoryName::Membership => Category::Membership,
            CategoryName::Actions => Category::Actions,
            CategoryName::Closure => Category::Closure,
            CategoryName::Chat => Category::Chat,
            CategoryName::Billing => Category::Billing,
            CategoryName::Account => Category::Account,
        }
    }

    fn of(c: Category) -> CategoryName {
        match c {
            Category::MoneyIn => CategoryName::MoneyIn,
            Category::MoneyOut => CategoryName::MoneyOut,
            Category::Splits => CategoryName::Splits,
            Category::Membership => CategoryName::Membership,
            Category::Actions => CategoryName::Actions,
            Category::Closure => CategoryName::Closure,
            Category::Chat => CategoryName::Chat,
            Category::Billing => CategoryName::Billing,
            Category::Account => CategoryName::Account,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct NotificationView {
    pub id: Uuid,
    pub category: CategoryName,
    /// What happened (`depositIn`, `cardSpend`, `cardDeclined`, `refund`,
    /// `splitChanged`, `memberJoined`, `memberLeft`, `memberRemoved`,
    /// `youWereRemoved`, `actionItem`, `chatMessage`, `closureStarted`,
    /// `closureCancelled`, `kttiClosed`, `payoutPaid`, `billingCharged`,
    /// `billingFailed`, `kycVerified`, `kycRejected`).
    pub event: String,
    pub title: String,
    pub body: String,
    /// Deep link: the ktti, transaction and action item it is about.
    #[oai(nullable)]
    pub ktti_id: Option<Uuid>,
    #[oai(nullable)]
    pub transaction_id: Option<Uuid>,
    #[oai(nullable)]
    pub action_id: Option<Uuid>,
    /// The caller's own share of the money involved, when there is one.
    #[oai(nullable)]
    pub share: Option<crate::amount::Amount>,
    #[oai(nullable)]
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<notifications::NotificationRow> for NotificationView {
    fn from(n: notifications::NotificationRow) -> Self {
        NotificationView {
            id: n.id,
            category: CategoryName::of(n.category),
            event: n.event,
            title: n.title,
            body: n.body,
            ktti_id: n.ktti_id,
            transaction_id: n.transaction_id,
            action_id: n.action_id,
            share: n.share.and_then(|d| kttipay_domain::Money::new(d).ok()).map(Into::into),
            read_at: n.read_at,
            created_at: n.created_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct InboxPage {
    /// Newest first.
    pub items: Vec<NotificationView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct NotificationSummary {
    pub unread_count: i64,
    /// When the newest inbox notification came; null before the first.
    #[oai(nullable)]
    pub last_notification_at: Option<DateTime<Utc>>,
}

/// One category's channels.
#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct CategoryPreference {
    pub category: CategoryName,
    pub push: bool,
    pub email: bool,
    pub inbox: bool,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct PreferenceView {
    pub category: CategoryName,
    pub push: bool,
    pub email: bool,
    pub inbox: bool,
    /// Channels that cannot be turned off for this category (`email` for
    /// `account`: security and verification messages).
    pub locked: Vec<String>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Preferences {
    /// Every category, with the defaults where the caller never chose.
    pub categories: Vec<PreferenceView>,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct PreferencesChange {
    /// The categories to change; those not listed keep their setting.
    #[oai(validator(min_items = 1, max_items = 9))]
    pub categories: Vec<CategoryPreference>,
}

#[derive(ApiResponse)]
pub enum PushAccepted {
    /// A ping goes to each of the caller's devices with a push token.
    #[oai(status = 202)]
    Accepted(Json<TestPushAccepted>),
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct TestPushAccepted {
    /// Devices that will be pinged.
    pub devices: usize,
}

pub struct NotificationsApi;

#[OpenApi(tag = "Tag::User")]
impl NotificationsApi {
    /// The caller's notification inbox
    ///
    /// Newest first, cursor-paged (`limit` 1 to 100, default 20).
    #[oai(path = "/api/v2/notifications/inbox", method = "get", operation_id = "listInbox")]
    async fn inbox(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> Result<Json<InboxPage>, ApiError> {
        let limit = crate::cursor::limit(limit.0)?;
        let after = crate::cursor::decode(cursor.0.as_deref())?;
        let mut rows = notifications::inbox(&state.pool, auth.0.user_id, after, i64::from(limit) + 1).await?;
        let next_cursor = crate::cursor::split_page(&mut rows, limit, |n| crate::cursor::encode(n.created_at, n.id));
        Ok(Json(InboxPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    /// Mark one notification read
    ///
    /// 204, also when it was read already. Another user's notification is 404.
    #[oai(
        path = "/api/v2/notifications/inbox/:notificationId/read",
        method = "post",
        operation_id = "markNotificationRead"
    )]
    async fn read(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "notificationId")] id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        if notifications::mark_read(&state.pool, auth.0.user_id, id.0).await? {
            Ok(NoContent::Done)
        } else {
            Err(ApiError::not_found("notification_not_found", "No such notification."))
        }
    }

    /// Notification summary
    ///
    /// The unread count and when the newest notification came.
    #[oai(
        path = "/api/v2/notifications",
        method = "get",
        operation_id = "getNotificationSummary"
    )]
    async fn summary(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Json<NotificationSummary>, ApiError> {
        let (unread_count, last_notification_at) = notifications::summary(&state.pool, auth.0.user_id).await?;
        Ok(Json(NotificationSummary {
            unread_count,
            last_notification_at,
        }))
    }

    /// Notification preferences
    ///
    /// Every category with its push, email and inbox setting (defaults where
    /// the caller never chose).
    #[oai(
        path = "/api/v2/notifications/preferences",
        method = "get",
        operation_id = "getNotificationPreferences"
    )]
    async fn preferences(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Json<Preferences>, ApiError> {
        Ok(Json(current(&state, auth.0.user_id).await?))
    }

    /// Change notification preferences
    ///
    /// Only the categories listed change. `account` email cannot be turned off
    /// (422): password resets and verification always reach the user.
    #[oai(
        path = "/api/v2/notifications/preferences",
        method = "put",
        operation_id = "updateNotificationPreferences"
    )]
    async fn set_preferences(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<PreferencesChange>,
    ) -> Result<Json<Preferences>, ApiError> {
        let wanted = body.0.categories;
        if wanted.is_empty() || wanted.len() > Category::ALL.len() {
            return Err(ApiError::invalid_field(
                "validation_failed",
                "categories",
                "must list 1 to 9 categories",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        let mut prefs = Vec::with_capacity(wanted.len());
        for (i, w) in wanted.iter().enumerate() {
            let c = w.category.domain();
            if !seen.insert(c) {
                return Err(ApiError::invalid_field(
                    "validation_failed",
                    &format!("categories[{i}].category"),
                    "is listed twice",
                ));
            }
            if !w.email && !c.may_mute(Channel::Email) {
                return Err(ApiError::invalid_field(
                    "validation_failed",
                    &format!("categories[{i}].email"),
                    "cannot be turned off: security and account messages always go by email",
                ));
            }
            prefs.push((
                c,
                Prefs {
                    push: w.push,
                    email: w.email,
                    inbox: w.inbox,
                },
            ));
        }
        let mut conn = state.pool.acquire().await?;
        notifications::set_preferences(&mut conn, auth.0.user_id, &prefs).await?;
        drop(conn);
        Ok(Json(current(&state, auth.0.user_id).await?))
    }

    /// Send a test push
    ///
    /// A ping to each of the caller's devices that has a push token. 202.
    #[oai(
        path = "/api/v2/notifications/test-push",
        method = "post",
        operation_id = "sendTestPush"
    )]
    async fn test_push(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<PushAccepted, ApiError> {
        let user = auth.0.user_id;
        let mut tx = state.pool.begin().await?;
        let devices = notifications::push_targets(&mut *tx, user).await?.len();
        if devices > 0 {
            jobs::enqueue(&mut tx, &TestPush { user_id: user }).await?;
        }
        tx.commit().await?;
        Ok(PushAccepted::Accepted(Json(TestPushAccepted { devices })))
    }
}

async fn current(state: &AppState, user: kttipay_domain::ids::UserId) -> Result<Preferences, ApiError> {
    let stored = notifications::preferences(&state.pool, user).await?;
    let categories = Category::ALL
        .iter()
        .map(|c| {
            let chosen = stored.iter().find(|(s, _)| s == c).map_or(c.defaults(), |(_, p)| *p);
            let p = Prefs::enforced(*c, chosen);
            PreferenceView {
                category: CategoryName::of(*c),
                push: p.push,
                email: p.email,
                inbox: p.inbox,
                locked: Channel::ALL
                    .iter()
                    .filter(|ch| !c.may_mute(**ch))
                    .map(|ch| ch.as_str().to_string())
                    .collect(),
            }
        })
        .collect();
    Ok(Preferences { categories })
}
