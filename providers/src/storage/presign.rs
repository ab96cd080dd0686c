//! Presigned S3 PUT URLs (AWS Signature Version 4, query-string signing), bound
//! to one content type and one length: both are signed headers, so the storage
//! service refuses an upload of any other type or size, and a changed byte of the
//! URL breaks the signature.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The bucket's service, credentials and region.
pub struct Signer<'a> {
    /// `http(s)://host[:port]`, path-style addressing.
    pub endpoint: &'a str,
    pub bucket: &'a str,
    pub region: &'a str,
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
}

/// What one URL allows.
pub struct Upload<'a> {
    pub key: &'a str,
    pub content_type: &'a str,
    pub content_length: u64,
    pub expires_secs: u32,
}

/// AWS's URI encoding: unreserved characters stay, everything else is `%XX`;
/// `/` stays only in paths.
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

impl Signer<'_> {
    /// The presigned URL for `u`, signed at `now`.
    pub fn put_url(&self, u: &Upload<'_>, now: DateTime<Utc>) -> String {
        let endpoint = self.endpoint.trim_end_matches('/');
        let host = endpoint.split_once("://").map_or(endpoint, |(_, h)| h);
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let date = now.format("%Y%m%d").to_string();
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let path = format!("/{}/{}", encode(self.bucket, false), encode(u.key, true));
        let signed_headers = "content-length;content-type;host";
        let query = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256".to_string()),
            ("X-Amz-Credential", format!("{}/{scope}", self.access_key_id)),
            ("X-Amz-Date", amz_date.clone()),
            ("X-Amz-Expires", u.expires_secs.to_string()),
            ("X-Amz-SignedHeaders", signed_headers.to_string()),
        ]
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k, false), encode(v, false)))
        .collect::<Vec<_>>()
        .join("&");
        let canonical = format!(
            "PUT\n{path}\n{query}\ncontent-length:{}\ncontent-type:{}\nhost:{host}\n\n{signed_headers}\nUNSIGNED-PAYLOAD",
            u.content_length,
            u.content_type.trim()
        );
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut key = hmac(format!("AWS4{}", self.secret_access_key).as_bytes(), &date);
        for part in [self.region, "s3", "aws4_request"] {
            key = hmac(&key, part);
        }
        let signature = hex::encode(hmac(&key, &to_sign));
        format!("{endpoint}{path}?{query}&X-Amz-Signature={signature}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_url_signs_type_length_and_host_and_changes_with_each() {
        let s = Signer {
            endpoint: "http://127.0.0.1:9000",
            bucket: "kttipay",
            region: "us-east-1",
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        };
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 7, 0, 0).unwrap();
        let up = |ct, len| Upload {
            key: "uploads/avatar/a b.png",
            content_type: ct,
            content_length: len,
            expires_secs: 900,
        };
        let url = s.put_url(&up("image/png", 10), now);
        assert!(
            url.starts_with("http://127.0.0.1:9000/kttipay/uploads/avatar/a%20b.png?X-Amz-Algorithm=AWS4-HMAC-SHA256")
        );
        assert!(url.contains("X-Amz-Credential=AKIDEXAMPLE%2F20261203%2Fus-east-1%2Fs3%2Faws4_request"));
        assert!(url.contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"));
        assert_ne!(url, s.put_url(&up("image/jpeg", 10), now));
        assert_ne!(url, s.put_url(&up("image/png", 11), now));
    }
}
