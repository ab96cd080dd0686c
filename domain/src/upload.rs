//! Uploads through signed URLs: what each kind of image may be, and how big.
//! A URL is good for one upload, of the content type it was made for, up to the
//! length asked for, until it expires.

use crate::receipt::RECEIPT_MAX_BYTES;

/// How long an upload URL stays good.
pub const UPLOAD_URL_TTL_SECS: i64 = 15 * 60;
/// Largest avatar, ktti, moment or chat image.
pub const IMAGE_MAX_BYTES: usize = 5 * 1024 * 1024;

crate::lifecycle::states! {
    /// What an upload is for.
    UploadKind {
        Avatar = "avatar",
        KttiImage = "kttiImage",
        Moment = "moment",
        Chat = "chat",
        Receipt = "receipt",
    }
}

impl UploadKind {
    /// The content types an upload of this kind may have.
    pub fn content_types(self) -> &'static [&'static str] {
        match self {
            UploadKind::Receipt => &["image/jpeg", "image/png", "application/pdf"],
            _ => &["image/jpeg", "image/png"],
        }
    }

    pub fn max_bytes(self) -> usize {
        match self {
            UploadKind::Receipt => RECEIPT_MAX_BYTES,
            _ => IMAGE_MAX_BYTES,
        }
    }
}

/// What an upload URL's signature covers: the upload and when the URL expires
/// (the content type and length are bound through the upload's row).
pub fn signing_input(upload: uuid::Uuid, expires_unix: i64) -> String {
    format!("kttipay-upload-v1|{upload}|{expires_unix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_take_pdfs_and_more_bytes_than_images() {
        assert!(UploadKind::Receipt.content_types().contains(&"application/pdf"));
        assert!(!UploadKind::Avatar.content_types().contains(&"application/pdf"));
        assert!(UploadKind::Receipt.max_bytes() > UploadKind::Chat.max_bytes());
        assert_eq!("kttiImage".parse::<UploadKind>().ok(), Some(UploadKind::KttiImage));
    }
}
