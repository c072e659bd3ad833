//! shopd: a complete online shop in one self-contained binary.
#![deny(clippy::unwrap_used)]
#![warn(missing_docs)]

pub mod core;
pub mod storage;
pub mod jobs;
pub mod config;
pub mod observability;
pub mod domain;
pub mod http;
pub mod app;
pub mod cli;
