//! The operators' dashboard at `/ops` on the API listener: server-rendered HTML,
//! no script, nothing fetched from elsewhere. Platform admins sign in with their
//! KttiPay account; the page shows each queue's state, a filtered list of jobs
//! with what they carry, the payouts of ktties being closed, and retries one job
//! or every dead job of a kind.
//!
//! The session is a normal KttiPay session (so logout, a password change or a
//! block end it on the next request, as for the app); its access token sits in
//! an `HttpOnly`, `SameSite=Strict` cookie scoped to `/ops`, and every form post
//! must come from this origin.

use crate::auth::principal::principal_of;
use crate::auth::sessions as auth_sessions;
use crate::error::ApiError;
use crate::routes::admin::{JobState, JobsOverview, overview};
use crate::state::AppState;
use kttipay_db::{jobs, payouts, users};
use kttipay_domain::ids::JobId;
use poem::http::{StatusCode, header};
use poem::web::{Data, Form, Path, Query};
use poem::{Request, Response, Route, get, handler, post};
use serde::Deserialize;
use std::fmt::Write;
use uuid::Uuid;

/// The cookie holding the dashboard session's access token.
pub const OPS_COOKIE: &str = "kttipay_ops";
/// Jobs shown per page.
const OPS_JOBS_PER_PAGE: u32 = 50;
/// Payout rows shown at a glance.
const OPS_PAYOUTS_SHOWN: i64 = 200;

/// The dashboard's routes, nested at `/ops`.
pub fn routes() -> Route {
    Route::new()
        .at("/", get(dashboard))
        .at("/login", post(login))
        .at("/logout", post(logout))
        .at("/jobs/:id/retry", post(retry_one))
        .at("/jobs/retry-dead", post(retry_dead))
}

#[derive(Debug, Default, Deserialize)]
struct Filters {
    status: Option<String>,
    kind: Option<String>,
    before: Option<String>,
    /// A notice to show once (after a redirect).
    notice: Option<String>,
}

#[handler]
async fn dashboard(req: &Request, state: Data<&AppState>, Query(f): Query<Filters>) -> Response {
    if signed_in(req, &state).await.is_none() {
        return html(StatusCode::OK, &login_page(None));
    }
    let status = f.status.as_deref().and_then(parse_state);
    let page = match overview(
        &state.pool,
        status,
        f.kind.clone(),
        f.before.as_deref(),
        OPS_JOBS_PER_PAGE,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return html(StatusCode::BAD_REQUEST, &page_shell("Error", &escape(&e.detail))),
    };
    let glance = payouts::glance(&state.pool, OPS_PAYOUTS_SHOWN)
        .await
        .unwrap_or_default();
    html(StatusCode::OK, &dashboard_page(&page, &glance, &f))
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    email: String,
    password: String,
}

#[handler]
async fn login(req: &Request, state: Data<&AppState>, Form(form): Form<LoginForm>) -> Response {
    if !same_origin(req) {
        return html(StatusCode::FORBIDDEN, &login_page(Some("Sign in from this page.")));
    }
    let email = form.email.trim().to_lowercase();
    let ip = crate::routes::client_ip(req, state.config.forwarded);
    if state.login_limiter.check(&email, &ip).is_err() {
        return html(
            StatusCode::TOO_MANY_REQUESTS,
            &login_page(Some("Too many attempts; wait a minute.")),
        );
    }
    let user = users::find_by_email(&state.pool, &email).await.ok().flatten();
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    // Verified even without an account, so timing does not tell who exists.
    let matches = state.passwords.verify(form.password, hash).await;
    let Some(user) = user.filter(|u| matches && u.blocked_at.is_none() && u.is_platform_admin) else {
        return html(
            StatusCode::UNAUTHORIZED,
            &login_page(Some("Wrong email or password, or not an operator account.")),
        );
    };
    let token = match start_session(&state, &user).await {
        Ok(t) => t,
        Err(e) => return html(StatusCode::INTERNAL_SERVER_ERROR, &login_page(Some(&e.detail))),
    };
    tracing::info!(user = %user.id, "operator signed in to the dashboard");
    let secure = if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, "/ops/")
        .header(
            header::SET_COOKIE,
            format!(
                "{OPS_COOKIE}={token}; Path=/ops; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                state.config.access_token_ttl_secs
            ),
        )
        .finish()
}

async fn start_session(state: &AppState, user: &users::User) -> Result<String, ApiError> {
    let mut tx = state.pool.begin().await?;
    let pair = auth_sessions::start(state, &mut tx, user.user_id()).await?;
    tx.commit().await?;
    Ok(pair.access_token)
}

#[handler]
async fn logout(req: &Request, state: Data<&AppState>) -> Response {
    if same_origin(req)
        && let Some(p) = signed_in(req, &state).await
    {
        let _ = kttipay_db::sessions::revoke(&state.pool, p.session_id, "logout").await;
    }
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, "/ops/")
        .header(
            header::SET_COOKIE,
            format!("{OPS_COOKIE}=; Path=/ops; HttpOnly; SameSite=Strict; Max-Age=0"),
        )
        .finish()
}

#[handler]
async fn retry_one(req: &Request, state: Data<&AppState>, Path(id): Path<Uuid>) -> Response {
    let Some(p) = operator_post(req, &state).await else {
        return html(StatusCode::FORBIDDEN, &login_page(Some("Sign in again.")));
    };
    let notice = match jobs::retry_now(&state.pool, JobId(id)).await {
        Ok(Some(_)) => {
            tracing::info!(job = %id, by = %p, "operator retried job");
            format!("Job {id} will run again now.")
        }
        Ok(None) => format!("Job {id} is not failed or dead."),
        Err(e) => {
            tracing::error!(error = %e, "retrying a job from the dashboard");
            "The database did not answer; try again.".into()
        }
    };
    back_to_dashboard(&notice)
}

#[derive(Debug, Deserialize)]
struct BulkForm {
    kind: String,
    error_contains: Option<String>,
}

#[handler]
async fn retry_dead(req: &Request, state: Data<&AppState>, Form(form): Form<BulkForm>) -> Response {
    let Some(p) = operator_post(req, &state).await else {
        return html(StatusCode::FORBIDDEN, &login_page(Some("Sign in again.")));
    };
    let error = form.error_contains.as_deref().map(str::trim).filter(|e| !e.is_empty());
    let notice = match jobs::retry_dead(&state.pool, form.kind.trim(), error).await {
        Ok(n) => {
            tracing::info!(kind = %form.kind, error, retried = n, by = %p, "operator retried dead jobs");
            format!("{n} dead {} job(s) will run again now.", form.kind.trim())
        }
        Err(e) => {
            tracing::error!(error = %e, "bulk retry from the dashboard");
            "The database did not answer; try again.".into()
        }
    };
    back_to_dashboard(&notice)
}

/// The signed-in platform admin, if the cookie carries a live session of one.
async fn signed_in(req: &Request, state: &AppState) -> Option<crate::auth::Principal> {
    let token = cookie(req, OPS_COOKIE)?;
    principal_of(state, token).await.ok().filter(|p| p.is_platform_admin)
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A form post from this origin by a signed-in operator: who.
async fn operator_post(req: &Request, state: &AppState) -> Option<kttipay_domain::ids::UserId> {
    if !same_origin(req) {
        return None;
    }
    signed_in(req, state).await.map(|p| p.user_id)
}

/// Browsers send `Origin` with every form post; one naming another host is a
/// cross-site request (the `SameSite=Strict` cookie already stays home; this is
/// the second lock).
fn same_origin(req: &Request) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin.split_once("://").map(|(_, rest)| rest) == Some(host)
}

fn parse_state(s: &str) -> Option<JobState> {
    Some(match s {
        "pending" => JobState::Pending,
        "queued" => JobState::Queued,
        "running" => JobState::Running,
        "done" => JobState::Done,
        "failed" => JobState::Failed,
        "dead" => JobState::Dead,
        _ => return None,
    })
}

fn back_to_dashboard(notice: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, format!("/ops/?notice={}", url_escape(notice)))
        .finish()
}

fn html(status: StatusCode, body: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        )
        .header("X-Frame-Options", "DENY")
        .header(header::CACHE_CONTROL, "no-store")
        .body(body.to_string())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn url_escape(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}\
td,th{border:1px solid #ccc;padding:.25em .5em;font-size:.9em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.dead,.failed{color:#a00;font-weight:bold}.completed,.done{color:#070}\
.notice{background:#ffd;padding:.5em;border:1px solid #cc9}code{font-size:.85em}form.inline{display:inline}";

fn page_shell(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} · KttiPay operations</title>\
         <style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    )
}

fn login_page(message: Option<&str>) -> String {
    let message = message.map_or(String::new(), |m| {
        format!("<p class=\"notice\" id=\"message\">{}</p>", escape(m))
    });
    page_shell(
        "Sign in",
        &format!(
            "<h1>KttiPay operations</h1>{message}<form method=\"post\" action=\"/ops/login\">\
             <p><label>Email <input type=\"email\" name=\"email\" id=\"email\" required></label></p>\
             <p><label>Password <input type=\"password\" name=\"password\" id=\"password\" required></label></p>\
             <p><button type=\"submit\" id=\"sign-in\">Sign in</button></p></form>"
        ),
    )
}

fn dashboard_page(page: &JobsOverview, glance: &[payouts::Glance], f: &Filters) -> String {
    let mut b = String::from(
        "<h1>KttiPay operations</h1><form method=\"post\" action=\"/ops/logout\" class=\"inline\">\
         <button type=\"submit\">Sign out</button></form>",
    );
    if let Some(n) = &f.notice {
        let _ = write!(b, "<p class=\"notice\" id=\"notice\">{}</p>", escape(n));
    }
    b.push_str(
        "<h2>Queues</h2><table id=\"queues\"><tr><th>queue</th><th>pending</th><th>queued</th><th>running</th>\
         <th>done</th><th>failed</th><th>dead</th><th>oldest due (s)</th></tr>",
    );
    for q in &page.queues {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            escape(&q.queue),
            q.pending,
            q.queued,
            q.running,
            q.done,
            q.failed,
            if q.dead > 0 { "dead" } else { "" },
            q.dead,
            q.oldest_pending_secs.map_or("-".to_string(), |s| s.to_string())
        );
    }
    b.push_str("</table><h2>Payouts of closing ktties</h2>");
    if glance.is_empty() {
        b.push_str("<p>None.</p>");
    } else {
        b.push_str(
            "<table id=\"payouts\"><tr><th>ktti</th><th>round</th><th>member</th><th>amount</th><th>status</th>\
             <th>attempts</th><th>last error</th><th>job</th></tr>",
        );
        for p in glance {
            let _ = write!(
                b,
                "<tr data-payout=\"{}\"><td>{} <small>({})</small></td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                p.payout_id,
                escape(&p.ktti_name),
                escape(&p.ktti_status),
                p.round,
                escape(&p.email),
                p.amount,
                p.status,
                p.status,
                p.attempts,
                escape(p.last_error.as_deref().unwrap_or("")),
                p.job_id.map_or(String::new(), |j| retry_button(j, "Retry"))
            );
        }
        b.push_str("</table>");
    }
    let status = f.status.as_deref().unwrap_or("");
    let kind = f.kind.as_deref().unwrap_or("");
    let _ = write!(
        b,
        "<h2>Jobs</h2><form method=\"get\" action=\"/ops/\" id=\"filters\"><label>State <select name=\"status\">{}</select></label> \
         <label>Kind <input name=\"kind\" value=\"{}\" size=\"28\"></label> <button type=\"submit\">Filter</button></form>",
        ["", "pending", "queued", "running", "done", "failed", "dead"]
            .iter()
            .map(|s| format!(
                "<option value=\"{s}\"{}>{}</option>",
                if *s == status { " selected" } else { "" },
                if s.is_empty() { "any" } else { s }
            ))
            .collect::<String>(),
        escape(kind)
    );
    b.push_str(
        "<table id=\"jobs\"><tr><th>created</th><th>kind</th><th>state</th><th>attempts</th><th>last error</th>\
         <th>carries</th><th>ktti</th><th></th></tr>",
    );
    for j in &page.items {
        let failed = j.job.status == "pending" && j.job.attempts > 0;
        let shown = if failed { "failed" } else { j.job.status.as_str() };
        let retry = if j.job.status == "dead" || failed {
            retry_button(j.job.id, "Retry")
        } else {
            String::new()
        };
        let _ = write!(
            b,
            "<tr data-job=\"{}\"><td>{}</td><td>{}</td><td class=\"{shown}\">{shown}</td><td>{}/{}</td><td>{}</td>\
             <td><code>{}</code></td><td>{}</td><td>{retry}</td></tr>",
            j.job.id,
            j.job.created_at.format("%Y-%m-%d %H:%M:%S"),
            escape(&j.job.kind),
            j.job.attempts,
            j.job.max_attempts,
            escape(j.job.last_error.as_deref().unwrap_or("")),
            escape(&j.payload.to_string()),
            j.ktti_id.map_or(String::new(), |k| k.to_string()),
        );
    }
    b.push_str("</table>");
    if let Some(next) = &page.next_cursor {
        let _ = write!(
            b,
            "<p><a href=\"/ops/?status={}&amp;kind={}&amp;before={}\">Older jobs</a></p>",
            url_escape(status),
            url_escape(kind),
            url_escape(next)
        );
    }
    b.push_str(
        "<h2>Retry dead jobs in bulk</h2><form method=\"post\" action=\"/ops/jobs/retry-dead\" id=\"bulk\">\
         <label>Kind <input name=\"kind\" required size=\"28\" placeholder=\"payout.submit.v1\"></label> \
         <label>Last error contains <input name=\"error_contains\" size=\"28\"></label> \
         <button type=\"submit\">Retry every match</button></form>",
    );
    page_shell("Dashboard", &b)
}

fn retry_button(job: Uuid, label: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/ops/jobs/{job}/retry\" class=\"inline\">\
         <button type=\"submit\" class=\"retry\" data-job=\"{job}\">{}</button></form>",
        escape(label)
    )
}
