//! Builders that seed people straight through `db`, writing the rows the app's own
//! routes would write. Tests about money, cards or membership start from a proven,
//! KYC-verified user without replaying registration and KYC over HTTP; the
//! onboarding tests (`auth`, `kyc`, `social`, `personal_ktti`) keep that path and
//! use [`TestApp::signed_up`] and [`TestApp::onboarded_over_http`].

use super::{PASSWORD, TestApp, Tokens};
use kttipay_api::auth::password::PasswordHasher;
use kttipay_db::{jobs, kyc, users};
use kttipay_domain::ids::UserId;
use kttipay_jobs::kinds::SubmitKyc;
use serde_json::{Value, json};

impl TestApp {
    /// A user whose address is proven and whose password is [`PASSWORD`], signed in.
    pub async fn user(&self, email: &str) -> Tokens {
        self.seed_user(email, "Ann", "Lee").await;
        self.login(email, PASSWORD).await
    }

    /// Inserts a user as a finished registration leaves it: address proven,
    /// password set (hashed with the app's own argon2 settings).
    pub async fn seed_user(&self, email: &str, first: &str, last: &str) -> UserId {
        let hasher = PasswordHasher::new(self.config.argon2_memory_kib, self.config.argon2_iterations)
            .expect("test argon2 parameters");
        let hash = hasher.hash(PASSWORD.into()).await.expect("hashing");
        let id = UserId::new();
        let mut tx = self.pool.begin().await.unwrap();
        let new = users::NewUser {
            id,
            email,
            first_name: first,
            last_name: last,
            phone: "+61412345678",
            date_of_birth: chrono::NaiveDate::from_ymd_opt(1990, 4, 1),
            email_verified: true,
        };
        users::insert(&mut tx, &new)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{email} is already taken"));
        users::set_password(&mut tx, id, &hash, true).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// A signed-in user whose KYC-verified name is `first last`, with an active
    /// personal ktti. The KYC submission is written as the KYC route writes it (row,
    /// status and job in one transaction); from there the real path runs: the job
    /// creates the customer at the sandbox bank, whose decision webhook opens the
    /// personal ktti, which a job sets up at the bank.
    pub async fn verified_named(&self, email: &str, first: &str, last: &str) -> (Tokens, Value) {
        let user = self.seed_user(email, first, last).await;
        let submission = uuid::Uuid::now_v7();
        let mut tx = self.pool.begin().await.unwrap();
        let address =
            json!({"line1": "5 Pitt St", "suburb": "Sydney", "state": "NSW", "postcode": "2000", "country": "AU"});
        kyc::insert(
            &mut tx,
            &kyc::NewSubmission {
                id: submission,
                user,
                first_name: first,
                last_name: last,
                date_of_birth: chrono::NaiveDate::from_ymd_opt(1991, 2, 3).unwrap(),
                address,
                id_document_type: "passport",
                id_document_number: "PA1234567",
            },
        )
        .await
        .unwrap();
        kyc::set_status(&mut tx, user, kttipay_domain::lifecycle::KycStatus::Pending)
            .await
            .unwrap();
        jobs::enqueue(
            &mut tx,
            &SubmitKyc {
                submission_id: kttipay_domain::ids::KycSubmissionId(submission),
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let tokens = self.login(email, PASSWORD).await;
        let ktti = self.personal_ktti_active(&tokens).await;
        (tokens, ktti)
    }
}
