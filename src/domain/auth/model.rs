//! Stored records of the auth module and the tables that hold them.

use serde::{Deserialize, Serialize};

use crate::core::{ApiKeyId, CustomerId, Timestamp};
use crate::storage::{Table, Value};

/// What an account may do. Ordered: admin ⊇ staff ⊇ customer.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A shopper.
    Customer,
    /// Shop staff: catalog, orders, customers.
    Staff,
    /// Everything, including settings, roles and API keys.
    Admin,
}

impl Role {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "customer" => Some(Role::Customer),
            "staff" => Some(Role::Staff),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// An account.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Customer {
    /// Id (`cus_…`).
    pub id: CustomerId,
    /// Normalised email (unique); erased on deletion.
    pub email: String,
    /// Display name; erased on deletion.
    pub name: String,
    /// Role.
    pub role: Role,
    /// argon2id PHC string; empty once deleted.
    pub password_hash: String,
    /// When the email was confirmed.
    pub email_verified_at: Option<Timestamp>,
    /// Last password change: reset links issued before it no longer work.
    pub password_changed_at: Timestamp,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Set when the customer deleted the account (the record stays for orders).
    pub deleted_at: Option<Timestamp>,
}
impl Value for Customer {}

/// State of one refresh token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RefreshToken {
    /// Owner.
    pub customer: CustomerId,
    /// Rotation family: every token minted from one login.
    pub family: Vec<u8>,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Already exchanged (presenting it again is reuse).
    pub used: bool,
}
impl Value for RefreshToken {}

/// A rotation family (one login session).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Family {
    /// Created at login.
    pub created_at: Timestamp,
    /// Revoked by logout, reuse detection, password change or reset.
    pub revoked_at: Option<Timestamp>,
}
impl Value for Family {}

/// What a one-time token is for.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Purpose {
    /// Email verification.
    VerifyEmail,
    /// Password reset.
    ResetPassword,
}

/// A single-use, expiring token (stored by hash).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OneTimeToken {
    /// Purpose.
    pub purpose: Purpose,
    /// Owner.
    pub customer: CustomerId,
    /// Issue time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// When it was used.
    pub used_at: Option<Timestamp>,
}
impl Value for OneTimeToken {}

/// An integration's API key (secret stored by hash only).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ApiKey {
    /// Id (`key_…`).
    pub id: ApiKeyId,
    /// Label given by the admin.
    pub name: String,
    /// Role the key acts with (staff or admin).
    pub role: Role,
    /// Allowed scopes (`*` for all).
    pub scopes: Vec<String>,
    /// First characters of the secret, to recognise it in lists.
    pub prefix: String,
    /// SHA-256 of the secret.
    pub hash: Vec<u8>,
    /// Who created it.
    pub created_by: Option<CustomerId>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last successful use (updated at most once a minute).
    pub last_used_at: Option<Timestamp>,
    /// Set when revoked.
    pub revoked_at: Option<Timestamp>,
}
impl Value for ApiKey {}

pub(super) const CUSTOMERS: Table<CustomerId, Customer> = Table::new("auth_customers");
pub(super) const EMAILS: Table<String, CustomerId> = Table::new("auth_emails");
pub(super) const REFRESH: Table<Vec<u8>, RefreshToken> = Table::new("auth_refresh_tokens");
pub(super) const FAMILIES: Table<(CustomerId, Vec<u8>), Family> = Table::new("auth_families");
pub(super) const ONE_TIME: Table<Vec<u8>, OneTimeToken> = Table::new("auth_one_time_tokens");
pub(super) const API_KEYS: Table<ApiKeyId, ApiKey> = Table::new("auth_api_keys");
pub(super) const API_KEY_HASHES: Table<Vec<u8>, ApiKeyId> = Table::new("auth_api_key_hashes");
/// Live admin accounts, so "is this the last admin?" is one short scan, never a scan of accounts.
pub(super) const ADMINS: Table<CustomerId, ()> = Table::new("auth_admins");
/// `setup_token` → hash of the first-start setup token; `admins` → count of admins.
pub(super) const AUTH_META: Table<String, Vec<u8>> = Table::new("auth_meta");
