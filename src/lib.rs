//! shopd: a complete online shop in one self-contained binary.
#![deny(clippy::unwrap_used)]
#![warn(missing_docs)]

pub mod app;
pub mod cli;
pub mod config;
pub mod core;
pub mod domain;
pub mod gateway;
pub mod http;
pub mod jobs;
pub mod mailer;
pub mod observability;
pub mod outbound;
pub mod pages;
pub mod storage;
