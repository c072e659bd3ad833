//! Business rules, one module per capability. Domain code never imports actix-web, clap or
//! prometheus and never reads the system clock: time comes from the write transaction.

pub mod auth;
pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod diagnostics;
pub mod events;
pub mod experiments;
pub mod giftcards;
pub mod idempotency;
pub mod inventory;
pub mod jobs_admin;
pub mod orders;
pub mod payments;
pub mod pricing;
pub mod recommend;
pub mod rules;
pub mod search;
pub mod webhooks;
