//! Object storage for uploaded files (receipts, later images), through the
//! `object_store` crate: local files under the data directory by default
//! (`STORAGE_URL=file:///var/lib/kttipay/objects`).

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

/// Where uploaded files live.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    url: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").field("url", &self.url).finish()
    }
}

impl Storage {
    /// Storage at `url`: `file:///absolute/folder` (created if missing).
    pub fn from_url(url: &str) -> Result<Storage, StorageError> {
        let bad = |why: &str| StorageError::Config(url.to_string(), why.to_string());
        let Some(folder) = url.strip_prefix("file://") else {
            return Err(bad("only file:// storage is supported by this version"));
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
        })
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
        assert!(Storage::from_url("s3://bucket").is_err());
        assert!(Storage::from_url("file://relative").is_err());
    }
}
