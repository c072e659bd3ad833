//! The integration suite as one test binary (linking the crate once instead of once per file):
//! the real server on port 0 with a temporary data dir, the real binary for CLI and crash tests.

mod addresses;
mod admin_pages;
mod admin_products;
mod admin_rules;
mod architecture;
mod auth;
mod auth_roles;
mod browser;
mod cart;
mod catalog;
mod checkout;
mod cli;
mod cluster;
mod cluster_kill;
mod common;
mod crash;
mod crash_checkout;
mod crash_payments;
mod csv;
mod error_codes;
mod events;
mod experiments;
mod experiments_builtin;
mod experiments_stats;
mod experiments_visitors;
mod fault;
mod giftcards;
mod http_errors;
mod inventory;
mod jobs;
mod jobs_admin;
mod listings;
mod mail;
mod metrics;
mod openapi;
mod orders;
mod pages;
mod payments;
mod postgres_tls;
mod pricing;
mod proxy;
mod recommend;
mod recommend_cli;
mod recommend_strategies;
mod search;
mod shopify;
mod storage;
mod stripe;
mod systemd;
mod webhooks;

/// reqwest is built with the shop's TLS feature (rustls without a built-in crypto provider), so
/// every client, even a plain-HTTP one in a test, needs a process-wide provider: installed once,
/// before any test runs, as the shop itself does at start.
#[used]
#[unsafe(link_section = ".init_array")]
static INSTALL_TLS_PROVIDER: extern "C" fn() = {
    extern "C" fn install() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    install
};
