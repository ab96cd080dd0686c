//! A Server-Sent Events reader over reqwest, as an app would read the chat
//! stream: frames split on blank lines, `id:`, `event:` and `data:` fields.

use super::TestApp;
use serde_json::Value;
use std::time::Duration;

/// How long a test waits for the next event before failing.
const EVENT_WAIT_SECS: u64 = 15;

#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
}

pub struct SseReader {
    resp: reqwest::Response,
    buf: String,
}

impl SseReader {
    /// Opens `path` with the bearer token (and `Last-Event-ID`, if given).
    pub async fn open(app: &TestApp, path: &str, token: &str, last_event_id: Option<&str>) -> reqwest::Response {
        let mut req = app
            .client
            .get(app.url(path))
            .bearer_auth(token)
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        req.send().await.unwrap()
    }

    pub fn new(resp: reqwest::Response) -> SseReader {
        assert_eq!(resp.status(), 200);
        SseReader {
            resp,
            buf: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped); `None` when the server
    /// ended the stream.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                if let Some(e) = parse(&frame) {
                    return Some(e);
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(EVENT_WAIT_SECS), self.resp.chunk())
                .await
                .expect("an SSE event in time")
                .expect("the stream reads");
            match chunk {
                Some(bytes) => self
                    .buf
                    .push_str(&String::from_utf8_lossy(&bytes).replace("\r\n", "\n")),
                None => return None,
            }
        }
    }

    /// Nothing arrives within `ms` (keep-alives aside).
    pub async fn quiet_for(&mut self, ms: u64) -> bool {
        tokio::time::timeout(Duration::from_millis(ms), self.next())
            .await
            .is_err()
    }
}

fn parse(frame: &str) -> Option<SseEvent> {
    let (mut id, mut event, mut data) = (None, "message".to_string(), String::new());
    let mut any = false;
    for line in frame.lines() {
        if line.starts_with(':') || line.is_empty() {
            continue;
        }
        let (field, value) = line.split_once(':').map_or((line, ""), |(f, v)| (f, v.trim_start()));
        any = true;
        match field {
            "id" => id = Some(value.to_string()),
            "event" => event = value.to_string(),
            "data" => data.push_str(value),
            _ => {}
        }
    }
    any.then(|| SseEvent {
        id,
        event,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
    })
}
