//! Password hashing with argon2id. Hashing takes tens of milliseconds of CPU and
//! ~19 MiB of memory by design, so it runs on the blocking pool (never on the async
//! threads), at most one hash per core at a time: a burst of logins queues instead
//! of allocating memory for every one at once and thrashing.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct PasswordHasher {
    argon: Arc<Argon2<'static>>,
    /// One permit per core.
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the account does not
    /// exist, so a login for an unknown email costs the same as a wrong password.
    dummy: Arc<OnceLock<String>>,
}

impl PasswordHasher {
    pub fn new(memory_kib: u32, iterations: u32) -> Result<PasswordHasher, String> {
        let params = Params::new(memory_kib, iterations, 1, None).map_err(|e| format!("argon2 parameters: {e}"))?;
        Ok(PasswordHasher {
            argon: Arc::new(Argon2::new(Algorithm::Argon2id, Version::V0x13, params)),
            permits: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
            dummy: Arc::new(OnceLock::new()),
        })
    }

    pub async fn hash(&self, password: String) -> Result<String, String> {
        let argon = self.argon.clone();
        let _permit = self.permits.acquire().await.map_err(|e| e.to_string())?;
        tokio::task::spawn_blocking(move || {
            argon
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| format!("argon2: {e}"))
        })
        .await
        .map_err(|e| format!("hashing task: {e}"))?
    }

    /// True when `password` matches `hash`. `None` verifies against a dummy hash and
    /// returns false, taking as long as a real check.
    pub async fn verify(&self, password: String, hash: Option<String>) -> bool {
        let argon = self.argon.clone();
        let hash = match hash {
            Some(h) => h,
            None => self.dummy_hash().await,
        };
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return false;
            };
            argon.verify_password(password.as_bytes(), &parsed).is_ok()
        })
        .await
        .unwrap_or(false)
    }

    async fn dummy_hash(&self) -> String {
        if let Some(h) = self.dummy.get() {
            return h.clone();
        }
        let random: [u8; 16] = rand::random();
        let h = self.hash(hex::encode(random)).await.unwrap_or_default();
        self.dummy.get_or_init(|| h).clone()
    }
}
