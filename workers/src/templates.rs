//! Email bodies, plain text and HTML. User-supplied text is HTML-escaped.

use kttipay_providers::email::OutgoingEmail;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn html_page(greeting: &str, paragraphs: &[String], link: Option<(&str, &str)>) -> String {
    let mut body = format!("<p>{}</p>", escape(greeting));
    for p in paragraphs {
        body.push_str(&format!("<p>{}</p>", escape(p)));
    }
    if let Some((label, href)) = link {
        body.push_str(&format!("<p><a href=\"{}\">{}</a></p>", escape(href), escape(label)));
    }
    format!("<!doctype html><html><body style=\"font-family:sans-serif\">{body}<p>The KttiPay team</p></body></html>")
}

/// Registration: the one-time token that lets the user set their password.
pub fn verify_email(first_name: &str, to: &str, token: &str, public_url: &str) -> OutgoingEmail {
    let link = format!("{public_url}/register/password?token={token}");
    let greeting = format!("Hi {first_name},");
    let lines = vec![
        "Welcome to KttiPay. Confirm your email address and choose a password to finish signing up.".to_string(),
        format!("Your registration code: {token}"),
        "The code works once and expires in 48 hours.".to_string(),
    ];
    OutgoingEmail {
        to: to.to_string(),
        subject: "Finish signing up to KttiPay".into(),
        text: format!(
            "{greeting}\n\n{}\n\nOr open {link}\n\nThe KttiPay team\n",
            lines.join("\n\n")
        ),
        html: html_page(&greeting, &lines, Some(("Choose your password", &link))),
    }
}

/// Password reset: the one-time reset token.
pub fn password_reset(first_name: &str, to: &str, token: &str, public_url: &str) -> OutgoingEmail {
    let link = format!("{public_url}/password/reset?token={token}");
    let greeting = format!("Hi {first_name},");
    let lines = vec![
        "Someone asked to reset your KttiPay password. If it was you, use this code:".to_string(),
        format!("Your reset code: {token}"),
        "It works once and expires in one hour. If it was not you, ignore this email: your password has not changed."
            .to_string(),
    ];
    OutgoingEmail {
        to: to.to_string(),
        subject: "Reset your KttiPay password".into(),
        text: format!(
            "{greeting}\n\n{}\n\nOr open {link}\n\nThe KttiPay team\n",
            lines.join("\n\n")
        ),
        html: html_page(&greeting, &lines, Some(("Reset your password", &link))),
    }
}

/// Someone tried to register with this address, which already has an account.
pub fn account_exists(first_name: &str, to: &str, public_url: &str) -> OutgoingEmail {
    let link = format!("{public_url}/password/forgot");
    let greeting = format!("Hi {first_name},");
    let lines = vec![
        "Someone tried to sign up to KttiPay with this email address, which already has an account.".to_string(),
        "If it was you, sign in instead, or reset your password if you have forgotten it. If it was not you, ignore this email.".to_string(),
    ];
    OutgoingEmail {
        to: to.to_string(),
        subject: "You already have a KttiPay account".into(),
        text: format!(
            "{greeting}\n\n{}\n\nReset your password: {link}\n\nThe KttiPay team\n",
            lines.join("\n\n")
        ),
        html: html_page(&greeting, &lines, Some(("Reset your password", &link))),
    }
}

/// The account the user's payouts go to changed (`account` is what is nominated
/// now; `None` when they removed it and payouts go to their personal ktti).
pub fn payout_account_changed(
    first_name: &str,
    to: &str,
    account: Option<&kttipay_db::payout_accounts::PayoutAccount>,
    public_url: &str,
) -> OutgoingEmail {
    use kttipay_domain::bank_account::{display_bsb, masked};
    let link = format!("{public_url}/password/forgot");
    let greeting = format!("Hi {first_name},");
    let now = match account {
        Some(a) => format!(
            "Payouts from ktties you close will now go to {} (BSB {}, account {}).",
            a.account_name,
            display_bsb(&a.bsb),
            masked(&a.account_number)
        ),
        None => "You removed your payout account: payouts will go to your personal ktti.".to_string(),
    };
    let lines = vec![
        "The bank account for your KttiPay payouts was changed.".to_string(),
        now,
        "If this was not you, reset your password now and contact us: someone may have access to your account."
            .to_string(),
    ];
    OutgoingEmail {
        to: to.to_string(),
        subject: "Your payout account changed".into(),
        text: format!(
            "{greeting}\n\n{}\n\nReset your password: {link}\n\nThe KttiPay team\n",
            lines.join("\n\n")
        ),
        html: html_page(&greeting, &lines, Some(("Reset your password", &link))),
    }
}

/// A billing charge that did not go through, as the owner reads it.
pub struct FailedCharge<'a> {
    pub ktti_name: &'a str,
    pub plan: &'a str,
    pub amount: &'a str,
    pub period: &'a str,
    /// Our stable code (`insufficient_funds`, ...).
    pub reason: &'a str,
}

/// A ktti's plan could not be charged; it is tried again on later runs.
pub fn billing_failed(first_name: &str, to: &str, c: &FailedCharge<'_>, public_url: &str) -> OutgoingEmail {
    let link = format!("{public_url}/ktties");
    let greeting = format!("Hi {first_name},");
    let why = match c.reason {
        "insufficient_funds" => "there was not enough money in the ktti".to_string(),
        "ktti_not_active" => "the ktti is closing".to_string(),
        other => format!("the bank refused it ({other})"),
    };
    let lines = vec![
        format!(
            "We could not charge {} for the {} plan of \"{}\" ({}): {why}.",
            c.amount, c.plan, c.ktti_name, c.period
        ),
        "We will try again at the next billing run. KttiPay never takes a ktti below zero.".to_string(),
    ];
    OutgoingEmail {
        to: to.to_string(),
        subject: format!("We could not charge \"{}\" for its plan", c.ktti_name),
        text: format!(
            "{greeting}\n\n{}\n\nOpen the ktti: {link}\n\nThe KttiPay team\n",
            lines.join("\n\n")
        ),
        html: html_page(&greeting, &lines, Some(("Open the ktti", &link))),
    }
}

/// One notification as email: what the inbox and the push say, the deep link,
/// and why the recipient gets it (with where to change that).
pub struct NoticeEmail<'a> {
    pub category: kttipay_domain::notification::Category,
    pub title: &'a str,
    pub body: &'a str,
    /// The app path it is about (`/ktties/{id}/transactions/{id}`).
    pub path: &'a str,
}

fn category_reason(c: kttipay_domain::notification::Category) -> &'static str {
    use kttipay_domain::notification::Category as C;
    match c {
        C::MoneyIn => "money arriving in your ktties",
        C::MoneyOut => "card payments in your ktties",
        C::Splits => "changes to how expenses are split",
        C::Membership => "people joining and leaving your ktties",
        C::Actions => "things waiting for your decision",
        C::Closure => "ktties closing and paying out",
        C::Chat => "chat messages",
        C::Billing => "your ktties' plan fees",
        C::Account => "your account's security and verification",
    }
}

fn footer(c: kttipay_domain::notification::Category) -> String {
    if c.may_mute(kttipay_domain::notification::Channel::Email) {
        format!(
            "You get these emails about {}. Change that in the app under Settings > Notifications.",
            category_reason(c)
        )
    } else {
        format!("We always email you about {}.", category_reason(c))
    }
}

pub fn notification(first_name: &str, to: &str, n: &NoticeEmail<'_>, public_url: &str) -> OutgoingEmail {
    let link = format!("{public_url}{}", n.path);
    let greeting = format!("Hi {first_name},");
    let lines = vec![n.body.to_string(), footer(n.category)];
    OutgoingEmail {
        to: to.to_string(),
        subject: n.title.to_string(),
        text: format!(
            "{greeting}\n\n{}\n\nOpen in KttiPay: {link}\n\n{}\n\nThe KttiPay team\n",
            lines[0], lines[1]
        ),
        html: html_page(&greeting, &lines, Some(("Open in KttiPay", &link))),
    }
}

/// Several held-back notifications of one category and ktti in one email.
pub fn digest(
    first_name: &str,
    to: &str,
    category: kttipay_domain::notification::Category,
    ktti_name: &str,
    bodies: &[String],
    path: &str,
    public_url: &str,
) -> OutgoingEmail {
    let link = format!("{public_url}{path}");
    let greeting = format!("Hi {first_name},");
    let mut lines = vec![format!("{} updates from {ktti_name}:", bodies.len())];
    lines.extend(bodies.iter().map(|b| format!("- {b}")));
    lines.push(footer(category));
    OutgoingEmail {
        to: to.to_string(),
        subject: format!("{} updates from {ktti_name}", bodies.len()),
        text: format!(
            "{greeting}\n\n{}\n\nOpen in KttiPay: {link}\n\nThe KttiPay team\n",
            lines.join("\n")
        ),
        html: html_page(&greeting, &lines, Some(("Open in KttiPay", &link))),
    }
}

/// Percent-encodes a query value (RFC 3986: only unreserved characters stay), so an
/// address like `a+b@x.com` survives the link.
fn query_escape(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An invitation to a ktti. Someone without an account is asked to sign up with
/// this address, which links the invitation to them.
pub fn invitation(inviter: &str, ktti_name: &str, to: &str, has_account: bool, public_url: &str) -> OutgoingEmail {
    let link = if has_account {
        format!("{public_url}/invitations")
    } else {
        format!("{public_url}/register?email={}", query_escape(to))
    };
    let greeting = "Hi,".to_string();
    let lines = vec![
        format!(
            "{inviter} invited you to join \"{ktti_name}\" on KttiPay, a shared money pot with its own account and card."
        ),
        if has_account {
            "Open the app to accept or decline.".to_string()
        } else {
            "Sign up with this email address to see the invitation and accept it.".to_string()
        },
        format!(
            "The invitation expires in {} days.",
            kttipay_domain::membership::INVITATION_TTL_DAYS
        ),
    ];
    let label = if has_account { "See the invitation" } else { "Sign up" };
    OutgoingEmail {
        to: to.to_string(),
        subject: format!("{inviter} invited you to \"{ktti_name}\" on KttiPay"),
        text: format!(
            "{greeting}\n\n{}\n\n{label}: {link}\n\nThe KttiPay team\n",
            lines.join("\n\n")
        ),
        html: html_page(&greeting, &lines, Some((label, &link))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitation_links_carry_the_address_encoded() {
        let e = invitation("Pia Lee", "Bali <3", "a+b@x.com", false, "https://app");
        assert!(e.text.contains("https://app/register?email=a%2Bb%40x.com"));
        assert!(e.html.contains("Bali &lt;3"));
        assert!(e.subject.contains("Pia Lee"));
    }

    #[test]
    fn names_are_escaped_in_html_only() {
        let e = verify_email("<b>Ann</b>", "a@x.com", "TOKEN", "https://app");
        assert!(e.html.contains("&lt;b&gt;Ann"));
        assert!(!e.html.contains("<b>Ann"));
        assert!(e.text.contains("Hi <b>Ann</b>,"));
        assert!(e.text.contains("Your registration code: TOKEN"));
    }
}
