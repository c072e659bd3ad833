//! Public types of the auth service: errors, the caller (principal), tokens and views.

use crate::core::errors::{self as codes, Code, ErrorCode, FieldIssue};
use serde::Serialize;

use super::model::{ApiKey, Customer, Role};
use crate::core::{ApiKeyId, CustomerId, RetryAfter, Timestamp};
use crate::storage::StorageError;

/// Why an auth operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Bad input on one field.
    #[error("{0}")]
    Invalid(FieldIssue),
    /// The email belongs to an account already.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Wrong email or password (never says which).
    #[error("email or password is incorrect")]
    InvalidCredentials,
    /// Missing, expired, revoked or malformed credentials.
    #[error("missing or invalid credentials")]
    Unauthenticated,
    /// A rotated refresh token was presented again; its whole family is now revoked.
    #[error("refresh token reuse detected; the session has been revoked")]
    TokenReused,
    /// A verification or reset token that is unknown, used or expired.
    #[error("the link is invalid, expired or already used")]
    InvalidToken,
    /// Too many attempts.
    #[error("too many attempts")]
    RateLimited(RetryAfter),
    /// No such object (or not visible to the caller).
    #[error("not found")]
    NotFound,
    /// Authenticated but not allowed.
    #[error("not allowed")]
    Forbidden,
    /// Bad input on several fields (an address).
    #[error("invalid")]
    Fields(Vec<FieldIssue>),
    /// The account already keeps [`super::addresses::MAX_ADDRESSES`] addresses.
    #[error("the address book is full")]
    AddressBookFull,
    /// The change would leave the shop without an active admin.
    #[error("the last active admin cannot be demoted or deleted")]
    LastAdmin,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The password hashing queue is full; retry shortly.
    #[error("busy")]
    Busy,
    /// Unexpected internal failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ErrorCode for AuthError {
    fn code(&self) -> Code {
        match self {
            AuthError::Invalid(_) => codes::VALIDATION_FAILED,
            AuthError::EmailTaken => codes::EMAIL_TAKEN,
            AuthError::InvalidCredentials => codes::INVALID_CREDENTIALS,
            AuthError::Unauthenticated => codes::UNAUTHENTICATED,
            AuthError::TokenReused => codes::REFRESH_TOKEN_REUSED,
            AuthError::InvalidToken => codes::INVALID_TOKEN,
            AuthError::RateLimited(_) => codes::RATE_LIMITED,
            AuthError::NotFound => codes::NOT_FOUND,
            AuthError::Forbidden => codes::FORBIDDEN,
            AuthError::LastAdmin => codes::LAST_ADMIN,
            AuthError::Fields(_) => codes::VALIDATION_FAILED,
            AuthError::AddressBookFull => codes::ADDRESS_BOOK_FULL,
            AuthError::Storage(s) => s.code(),
            AuthError::Busy => codes::BUSY,
            AuthError::Internal(_) => codes::INTERNAL_ERROR,
        }
    }
    fn message(&self) -> String {
        match self {
            AuthError::Invalid(i) => i.to_string(),
            AuthError::EmailTaken => "an account with this email already exists".into(),
            AuthError::InvalidCredentials => "email or password is incorrect".into(),
            AuthError::Unauthenticated => "missing, expired or invalid credentials".into(),
            AuthError::TokenReused => {
                "this refresh token was already used; the session has been revoked, sign in again"
                    .into()
            }
            AuthError::InvalidToken => "the link is invalid, expired or already used".into(),
            AuthError::RateLimited(r) => format!("too many attempts; retry in {} s", r.0),
            AuthError::NotFound => "no such resource".into(),
            AuthError::Forbidden => "your role does not allow this".into(),
            AuthError::LastAdmin => {
                "this is the last active admin; make another account admin first".into()
            }
            AuthError::Fields(i) => codes::joined(i),
            AuthError::AddressBookFull => format!(
                "an account keeps at most {} addresses; remove one first",
                super::addresses::MAX_ADDRESSES
            ),
            AuthError::Storage(s) => s.message(),
            AuthError::Busy => "too many sign-ins are being processed; retry in a moment".into(),
            AuthError::Internal(_) => codes::INTERNAL_MESSAGE.into(),
        }
    }
    fn fields(&self) -> Vec<FieldIssue> {
        match self {
            AuthError::Invalid(i) => vec![i.clone()],
            AuthError::Fields(i) => i.clone(),
            _ => Vec::new(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            AuthError::RateLimited(r) => Some(r.0),
            AuthError::Busy => Some(1),
            AuthError::Storage(s) => s.retry_after(),
            _ => None,
        }
    }
}

impl From<crate::core::PoolError> for AuthError {
    fn from(e: crate::core::PoolError) -> Self {
        match e {
            crate::core::PoolError::Busy => AuthError::Busy,
            crate::core::PoolError::Stopped => AuthError::Internal("hashing pool stopped".into()),
            crate::core::PoolError::Panicked => AuthError::Internal("hashing panicked".into()),
        }
    }
}

pub(super) fn invalid(
    field: &'static str,
    code: &'static str,
    message: impl Into<String>,
) -> AuthError {
    AuthError::Invalid(FieldIssue::new(field, code, message))
}

/// The caller of a request, as established by a token or API key.
#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    /// The account or key acting.
    pub kind: PrincipalKind,
    /// Effective role.
    pub role: Role,
    /// Scopes (`*` for all); accounts have all scopes of their role.
    pub scopes: Vec<String>,
}

/// Who is acting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A logged-in account.
    Customer(CustomerId),
    /// An integration.
    ApiKey(ApiKeyId),
}

impl Principal {
    /// The account, when a person is acting.
    pub fn customer_id(&self) -> Option<CustomerId> {
        match self.kind {
            PrincipalKind::Customer(id) => Some(id),
            PrincipalKind::ApiKey(_) => None,
        }
    }

    /// The id recorded as the actor of a change (`cus_…` or `key_…`).
    pub fn actor(&self) -> String {
        match self.kind {
            PrincipalKind::Customer(id) => id.to_string(),
            PrincipalKind::ApiKey(id) => id.to_string(),
        }
    }

    /// Whether the principal may use `scope` (accounts carry `*`; keys what they were given).
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.iter().any(|s| s == "*" || s == scope.as_str())
    }
}

/// Tokens returned by login and refresh, in OAuth 2.0 field names.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct TokenPair {
    /// Short-lived JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque single-use refresh token.
    pub refresh_token: String,
}

/// An account as shown to its owner and to staff.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CustomerView {
    /// Id.
    #[schema(value_type = String)]
    pub id: CustomerId,
    /// Email.
    pub email: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Whether the email is confirmed.
    pub email_verified: bool,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<&Customer> for CustomerView {
    fn from(c: &Customer) -> Self {
        CustomerView {
            id: c.id,
            email: c.email.clone(),
            name: c.name.clone(),
            role: c.role,
            email_verified: c.email_verified_at.is_some(),
            created_at: c.created_at,
        }
    }
}

/// An API key as listed (never the secret).
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ApiKeyView {
    /// Id.
    #[schema(value_type = String)]
    pub id: ApiKeyId,
    /// Label.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Scopes.
    pub scopes: Vec<String>,
    /// First characters of the secret.
    pub prefix: String,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last use.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
    /// Revocation time.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(k: &ApiKey) -> Self {
        ApiKeyView {
            id: k.id,
            name: k.name.clone(),
            role: k.role,
            scopes: k.scopes.clone(),
            prefix: k.prefix.clone(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A part of the admin API an API key can be limited to; routes name theirs as a type, so a
/// handler cannot forget the check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Products, categories, collections, CSV.
    Catalog,
    /// Orders, fulfilments, notes, events.
    Orders,
    /// Accounts.
    Customers,
    /// Stock levels and movements.
    Inventory,
    /// The diagnostics routes.
    Diagnostics,
    /// Tax, shipping, promotions and gift cards.
    Pricing,
    /// Experiments and their results.
    Experiments,
}

impl Scope {
    /// Every scope, in documentation order.
    pub const ALL: [Scope; 7] = [
        Scope::Catalog,
        Scope::Orders,
        Scope::Customers,
        Scope::Inventory,
        Scope::Diagnostics,
        Scope::Pricing,
        Scope::Experiments,
    ];

    /// The name stored on keys and sent by clients.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Catalog => "catalog",
            Scope::Orders => "orders",
            Scope::Customers => "customers",
            Scope::Inventory => "inventory",
            Scope::Diagnostics => "diagnostics",
            Scope::Pricing => "pricing",
            Scope::Experiments => "experiments",
        }
    }

    /// Whether `name` is `*` or a known scope (what an API key may be created with).
    pub fn is_known(name: &str) -> bool {
        name == "*" || Scope::ALL.iter().any(|s| s.as_str() == name)
    }
}

/// Scopes an API key may carry, `*` first.
pub const SCOPES: &[&str] = &[
    "*",
    Scope::Catalog.as_str(),
    Scope::Orders.as_str(),
    Scope::Customers.as_str(),
    Scope::Inventory.as_str(),
    Scope::Diagnostics.as_str(),
    Scope::Pricing.as_str(),
    Scope::Experiments.as_str(),
];
