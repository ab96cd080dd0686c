//! The `kttipay` binary's library side: configuration and process assembly, shared
//! by `main.rs` and the integration tests (which start the real app in-process).
//!
//! - [`config`]: every setting, read from the environment and validated at start.
//! - [`runtime`]: starts the roles a process plays (API, relay, workers) and stops
//!   them gracefully.

pub mod config;
pub mod reconcile;
pub mod runtime;

pub use config::Config;
pub use runtime::{Roles, Running, prepare_database, start};
