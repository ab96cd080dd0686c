//! Object storage for uploaded files, through the `object_store` crate: local
//! files under the data directory by default
//! (`STORAGE_URL=file:///var/lib/kttipay/objects`), or an S3-compatible bucket
//! (`STORAGE_URL=s3://bucket` with [`S3Settings`]), where upload URLs are
//! presigned PUTs ([`presign`]).

pub mod presign;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("STORAGE_URL {0:?}: {1}")]
    Config(String, String),
    #[error("no object {0}")]
    NotFound(String),
    #[error("storage: {0}")]
    Other(String),
}

/// An S3-compatible service (`S3_ENDPOINT`, `S3_REGION`, `S3_ACCESS_KEY_ID`,
/// `S3_SECRET_ACCESS_KEY`).
#[derive(Clone, Default)]
pub struct S3Settings {
    /// `http(s)://host[:port]`; empty for AWS itself (by region).
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .finish()
    }
}

/// Where uploaded files live.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    url: String,
    /// The bucket and its settings, in S3 mode.
    s3: Option<(String, S3Settings)>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").field("url", &self.url).finish()
    }
}

impl Storage {
    /// Storage at a `file://` URL.
    pub fn from_url(url: &str) -> Result<Storage, StorageError> {
        Storage::open(url, &S3Settings::default())
    }

    /// Storage at `url`: `file:///absolute/folder` (created if missing) or
    /// `s3://bucket` on the service `s3` describes.
    pub fn open(url: &str, s3: &S3Settings) -> Result<Storage, StorageError> {
        let bad = |why: &str| StorageError::Config(url.to_string(), why.to_string());
        if let Some(bucket) = url.strip_prefix("s3://") {
            let bucket = bucket.trim_end_matches('/');
            if bucket.is_empty() || bucket.contains('/') {
                return Err(bad("name one bucket: s3://bucket"));
            }
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(&s3.region)
                .with_access_key_id(&s3.access_key_id)
                .with_secret_access_key(&s3.secret_access_key)
                .with_virtual_hosted_style_request(false);
            if !s3.endpoint.is_empty() {
                builder = builder
                    .with_endpoint(&s3.endpoint)
                    .with_allow_http(s3.endpoint.starts_with("http://"));
            }
            let store = builder.build().map_err(|e| bad(&e.to_string()))?;
            return Ok(Storage {
                store: Arc::new(store),
                url: url.to_string(),
                s3: Some((bucket.to_string(), s3.clone())),
            });
        }
        let Some(folder) = url.strip_prefix("file://") else {
            return Err(bad("must be file:///folder or s3://bucket"));
        };
        if !folder.starts_with('/') {
            return Err(bad(
                "the folder must be an absolute path (file:///var/lib/kttipay/objects)",
            ));
        }
        std::fs::create_dir_all(folder).map_err(|e| bad(&e.to_string()))?;
        let store = LocalFileSystem::new_with_prefix(folder).map_err(|e| bad(&e.to_string()))?;
        Ok(Storage {
            store: Arc::new(store),
            url: url.to_string(),
            s3: None,
        })
    }

    /// Whether files live in an S3-compatible bucket (uploads go straight there).
    pub fn is_s3(&self) -> bool {
        self.s3.is_some()
    }

    /// In S3 mode, a presigned PUT of `key` bound to `content_type` and exactly
    /// `content_length` bytes, good for `expires_secs`; `None` with local files
    /// (the API serves its own signed upload URLs then).
    pub fn presign_put(&self, key: &str, content_type: &str, content_length: u64, expires_secs: u32) -> Option<String> {
        let (bucket, s3) = self.s3.as_ref()?;
        let aws;
        let endpoint = if s3.endpoint.is_empty() {
            aws = format!("https://s3.{}.amazonaws.com", s3.region);
            &aws
        } else {
            &s3.endpoint
        };
        let signer = presign::Signer {
            endpoint,
            bucket,
            region: &s3.region,
            access_key_id: &s3.access_key_id,
            secret_access_key: &s3.secret_access_key,
        };
        let upload = presign::Upload {
            key,
            content_type,
            content_length,
            expires_secs,
        };
        Some(signer.put_url(&upload, chrono::Utc::now()))
    }

    fn path(key: &str) -> Result<Path, StorageError> {
        Path::parse(key).map_err(|e| StorageError::Other(format!("key {key:?}: {e}")))
    }

    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        self.store
            .put(&Self::path(key)?, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| StorageError::Other(e.to_string()))
    }

    pub async fn get(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        let found = self.store.get(&Self::path(key)?).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => StorageError::NotFound(key.to_string()),
            other => StorageError::Other(other.to_string()),
        })?;
        let bytes = found.bytes().await.map_err(|e| StorageError::Other(e.to_string()))?;
        Ok(bytes.to_vec())
    }

    /// Deletes `key`; one already gone is not an error (deleting twice is safe).
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Self::path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::Other(e.to_string())),
        }
    }

    /// Whether `key` exists.
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&Self::path(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(StorageError::Other(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_go_in_and_out_and_deleting_twice_is_safe() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::from_url(&format!("file://{}", dir.path().display())).unwrap();
        s.put("receipts/a/b.png", b"png".to_vec()).await.unwrap();
        assert_eq!(s.get("receipts/a/b.png").await.unwrap(), b"png");
        assert!(s.exists("receipts/a/b.png").await.unwrap());
        s.delete("receipts/a/b.png").await.unwrap();
        s.delete("receipts/a/b.png").await.unwrap();
        assert!(matches!(
            s.get("receipts/a/b.png").await,
            Err(StorageError::NotFound(_))
        ));
        assert!(Storage::from_url("ftp://host/folder").is_err());
        assert!(Storage::from_url("s3://").is_err(), "no bucket");
        assert!(Storage::from_url("file://relative").is_err());
    }
}
