//! Delivers an email or text the banking provider asked us to send a customer.
//! The event row records delivery: a job that runs again after a successful send
//! finds it `applied` and sends nothing more.

use crate::{JobError, WorkerDeps};
use kttipay_db::provider_events;
use kttipay_domain::ids::JobId;
use kttipay_jobs::kinds::DeliverProviderMessage;
use kttipay_providers::email::{MailError, OutgoingEmail};
use kttipay_providers::shaype::webhook::{EmailDto, SmsDto};
use kttipay_providers::sms::SmsError;

pub async fn run(deps: &WorkerDeps, _id: JobId, job: DeliverProviderMessage) -> Result<(), JobError> {
    let Some(event) = provider_events::find(&deps.pool, job.event_id.0).await? else {
        return Err(JobError::Permanent(format!("no provider event {}", job.event_id.0)));
    };
    if event.status != "received" {
        return Ok(());
    }
    let (status, note) = match event.channel.as_str() {
        "email" => {
            let dto: EmailDto =
                serde_json::from_value(event.body.clone()).map_err(|e| JobError::Permanent(e.to_string()))?;
            match email_for(&dto) {
                Some(email) => {
                    deps.mailer.send(&email).await.map_err(|e| match e {
                        MailError::Transient(m) => JobError::Transient(m),
                        MailError::Permanent(m) => JobError::Permanent(m),
                    })?;
                    ("applied", None)
                }
                None => ("ignored", Some(format!("nothing to send for email type {}", dto.kind))),
            }
        }
        "sms" => {
            let dto: SmsDto =
                serde_json::from_value(event.body.clone()).map_err(|e| JobError::Permanent(e.to_string()))?;
            let to = format!(
                "{}{}",
                dto.phone_number.country_code_prefix, dto.phone_number.number_after_prefix
            );
            match text_for(&dto) {
                Some(text) => {
                    deps.sms.send(&to, &text).await.map_err(|e| match e {
                        SmsError::Transient(m) => JobError::Transient(m),
                        SmsError::Permanent(m) => JobError::Permanent(m),
                    })?;
                    ("applied", None)
                }
                None => ("ignored", Some(format!("nothing to send for SMS type {}", dto.kind))),
            }
        }
        other => return Err(JobError::Permanent(format!("not a message channel: {other}"))),
    };
    provider_events::settle(&deps.pool, event.id, status, note.as_deref()).await?;
    Ok(())
}

fn email(to: &str, subject: &str, lines: &[String]) -> OutgoingEmail {
    let text = format!("Hi,\n\n{}\n\nThe KttiPay team\n", lines.join("\n\n"));
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let html = lines
        .iter()
        .map(|l| format!("<p>{}</p>", escape(l)))
        .collect::<String>();
    OutgoingEmail {
        to: to.to_string(),
        subject: subject.to_string(),
        text,
        html: format!(
            "<!doctype html><html><body style=\"font-family:sans-serif\"><p>Hi,</p>{html}<p>The KttiPay team</p></body></html>"
        ),
    }
}

/// The email for a provider request, or `None` when it carries nothing to say.
pub fn email_for(dto: &EmailDto) -> Option<OutgoingEmail> {
    let last4 = |e: &Option<kttipay_providers::shaype::webhook::CardEvent>| {
        e.as_ref()
            .and_then(|c| c.card_last_four_digits.clone())
            .unwrap_or_else(|| "----".into())
    };
    let to = dto.email_address.as_str();
    match dto.kind.as_str() {
        "MAGIC_LINK" => {
            let link = dto.magic_link_event.as_ref()?.magic_link.clone()?;
            Some(email(
                to,
                "Your KttiPay sign-in link",
                &[
                    format!("Open this link to continue: {link}"),
                    "It works once and expires soon. If you did not ask for it, ignore this email.".into(),
                ],
            ))
        }
        "CARD_PIN_CHANGE" => Some(email(
            to,
            "Your card PIN was changed",
            &[
                format!(
                    "The PIN of your card ending {} was changed.",
                    last4(&dto.card_pin_change_event)
                ),
                "If this was not you, freeze the card in the app and contact support.".into(),
            ],
        )),
        "CARD_ADDED_TO_WALLET" => Some(email(
            to,
            "Your card was added to a digital wallet",
            &[
                format!(
                    "Your card ending {} was added to a digital wallet.",
                    last4(&dto.card_addition_to_wallet_event)
                ),
                "If this was not you, freeze the card in the app and contact support.".into(),
            ],
        )),
        "CUSTOMER_DETAILS_CHANGE" => Some(email(
            to,
            "Your details were changed",
            &["Your KttiPay details were updated. If this was not you, contact support.".into()],
        )),
        "REMINDER" => Some(email(
            to,
            "A reminder from KttiPay",
            &[format!(
                "Reminder: {}",
                dto.reminder_type
                    .as_deref()
                    .unwrap_or("see the app")
                    .replace('_', " ")
                    .to_lowercase()
            )],
        )),
        _ => None,
    }
}

/// The text for a provider request, or `None` when it carries nothing to say.
pub fn text_for(dto: &SmsDto) -> Option<String> {
    let otp = |e: &Option<kttipay_providers::shaype::webhook::OtpEvent>| e.as_ref().and_then(|o| o.otp.clone());
    match dto.kind.as_str() {
        "OTP" => otp(&dto.customer_otp_event).map(|c| format!("Your KttiPay code is {c}. Never share it.")),
        "PHONE_NUMBER_VERIFICATION" => {
            otp(&dto.phone_number_verification_event).map(|c| format!("Your KttiPay phone verification code is {c}."))
        }
        "PASSCODE_CHANGE" => {
            otp(&dto.passcode_change_event).map(|c| format!("Your KttiPay passcode code is {c}. Never share it."))
        }
        "ACCOUNT_STATUS_CHANGE" => {
            let status = dto.account_status_change_event.as_ref()?.account_status.clone()?;
            Some(format!(
                "KttiPay: your account is now {}.",
                status.replace('_', " ").to_lowercase()
            ))
        }
        "CARD_ADDED_TO_WALLET" => {
            Some("KttiPay: your card was added to a digital wallet. Not you? Freeze it in the app.".into())
        }
        _ => None,
    }
}
