//! The integration tests: one binary, one module per area, so the app links once.
//! Each test starts the real app on port 0 against real PostgreSQL and Redis
//! (`common`), in its own database and queue namespace, and drives it over HTTP.

mod common;

mod attribution;
mod auth;
mod auth_abuse;
mod bank_truth;
mod billing;
mod cards_and_notes;
mod chat;
mod cli;
mod closure;
mod closure_chaos;
mod compose;
mod devices;
mod disbursements;
mod document_truth;
mod groups;
mod holds;
mod idempotent_routes;
mod jobs;
mod kyc;
mod ledger;
mod membership;
mod moments;
mod money;
mod money_property;
mod notifications;
mod ops;
mod ops_dashboard;
mod payout_account;
mod personal_ktti;
mod provider_messages;
mod quotas;
mod races;
mod receipts;
mod replicas;
mod retention;
mod s3;
mod schema_fuzz;
mod social;
mod splits;
mod uploads;
