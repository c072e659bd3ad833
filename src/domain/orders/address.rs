//! Postal addresses as sent and their one validation, shared by checkout and the address book.

use serde::{Deserialize, Serialize};

use super::Address;
use crate::core::errors::FieldIssue;

/// An address as sent.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    /// Recipient.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// Apartment, suite, …
    #[serde(default)]
    pub line2: String,
    /// City.
    pub city: String,
    /// Region.
    #[serde(default)]
    pub region: String,
    /// Postal code.
    #[serde(default)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
}

/// Checks an address sent under `prefix` (e.g. `shipping_address`), adding a [`FieldIssue`]
/// per bad field; the trimmed address comes back either way, so a form can be shown again.
pub fn parse_address(prefix: &str, a: &AddressInput, issues: &mut Vec<FieldIssue>) -> Address {
    let mut field = |name: &str, v: &str, required: bool| -> String {
        let v = v.trim();
        if required && v.is_empty() {
            issues.push(FieldIssue {
                field: format!("{prefix}.{name}"),
                code: "required",
                message: "must not be empty".into(),
            });
        } else if v.chars().count() > 200 || v.chars().any(char::is_control) {
            issues.push(FieldIssue {
                field: format!("{prefix}.{name}"),
                code: "invalid",
                message: "must be at most 200 characters without control characters".into(),
            });
        }
        v.to_owned()
    };
    let out = Address {
        name: field("name", &a.name, true),
        line1: field("line1", &a.line1, true),
        line2: field("line2", &a.line2, false),
        city: field("city", &a.city, true),
        region: field("region", &a.region, false),
        postal_code: field("postal_code", &a.postal_code, false),
        country: a.country.trim().to_ascii_uppercase(),
    };
    if out.country.len() != 2 || !out.country.bytes().all(|b| b.is_ascii_uppercase()) {
        issues.push(FieldIssue {
            field: format!("{prefix}.country"),
            code: "invalid",
            message: "must be an ISO 3166-1 alpha-2 code such as US or DE".into(),
        });
    }
    out
}
