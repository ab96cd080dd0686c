//! A local SMTP server that records what it receives: the stand-in for a mail
//! provider. It speaks enough SMTP for lettre, and can be told to refuse mail
//! temporarily (451) or permanently (550).

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Captured {
    pub to: Vec<String>,
    /// The raw message with quoted-printable soft line breaks removed.
    pub data: String,
}

impl Captured {
    /// The value after `label` on its line, e.g. `"Your registration code: "`.
    pub fn value_after(&self, label: &str) -> Option<String> {
        let start = self.data.find(label)? + label.len();
        let rest = &self.data[start..];
        let end = rest.find(|c: char| c.is_whitespace() || c == '<').unwrap_or(rest.len());
        Some(rest[..end].to_string())
    }
}

#[derive(Default)]
struct State {
    messages: Vec<Captured>,
    /// Refuse this many MAIL commands with 451 before accepting again.
    transient_failures: u32,
    /// Refuse every MAIL command with 550.
    permanent_failure: bool,
    /// Offer no extensions (no 8BITMIME, no SMTPUTF8), as an old server would.
    plain: bool,
}

#[derive(Clone)]
pub struct SmtpCatcher {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl SmtpCatcher {
    pub async fn start() -> SmtpCatcher {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, shared.clone()));
            }
        });
        SmtpCatcher { url, state }
    }

    pub fn messages(&self) -> Vec<Captured> {
        self.state.lock().unwrap().messages.clone()
    }

    pub fn messages_to(&self, address: &str) -> Vec<Captured> {
        self.messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect()
    }

    pub fn fail_transiently(&self, times: u32) {
        self.state.lock().unwrap().transient_failures = times;
    }

    /// Offer no SMTP extensions: non-ASCII mail cannot be sent through it.
    pub fn plain(&self, on: bool) {
        self.state.lock().unwrap().plain = on;
    }

    pub fn fail_permanently(&self, on: bool) {
        self.state.lock().unwrap().permanent_failure = on;
    }
}

async fn session(socket: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 catcher ESMTP\r\n").await;
    let mut to = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") && !state.lock().unwrap().plain {
            // As real providers do, it takes internationalised addresses (RFC 6531).
            "250-catcher\r\n250-8BITMIME\r\n250 SMTPUTF8".into()
        } else if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            "250 catcher".into()
        } else if upper.starts_with("MAIL FROM") {
            let mut s = state.lock().unwrap();
            if s.permanent_failure {
                "550 mailbox unavailable".into()
            } else if s.transient_failures > 0 {
                s.transient_failures -= 1;
                "451 try again later".into()
            } else {
                to.clear();
                "250 ok".into()
            }
        } else if upper.starts_with("RCPT TO") {
            let addr = line[8..]
                .trim()
                .trim_start_matches(':')
                .trim()
                .trim_matches(|c| c == '<' || c == '>');
            to.push(addr.to_string());
            "250 ok".into()
        } else if upper == "DATA" {
            let _ = write.write_all(b"354 end with .\r\n").await;
            let mut data = String::new();
            while let Ok(Some(l)) = lines.next_line().await {
                if l == "." {
                    break;
                }
                // SMTP dot-stuffing: a leading ".." stands for ".".
                let l = if l.starts_with("..") { &l[1..] } else { &l[..] };
                data.push_str(l);
                data.push('\n');
            }
            let data = data.replace("=\n", "");
            state.lock().unwrap().messages.push(Captured { to: to.clone(), data });
            "250 queued".into()
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            "250 ok".into()
        };
        if write.write_all(format!("{reply}\r\n").as_bytes()).await.is_err() {
            return;
        }
    }
}
