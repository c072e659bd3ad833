//! Outgoing HTTP for merchants' webhook endpoints: the SSRF guard (which addresses shopd will
//! connect to), Standard Webhooks signatures, and the sender. Knows no domain: it takes a URL,
//! headers and bytes and reports what the endpoint answered.

pub mod guard;
pub mod sender;
pub mod signature;

pub use guard::{Policy, Refused};
pub use sender::{Answer, SendError, Sender};
