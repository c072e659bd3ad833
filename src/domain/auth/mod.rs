//! Identity: customer and staff accounts, passwords, access and refresh tokens, email
//! verification, password reset, roles and API keys. Every mail it causes is a durable job
//! enqueued in the same transaction.

pub mod email;
pub mod hasher;
pub mod jwt;
pub mod model;
pub mod password;
pub mod secret;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::core::{ApiKeyId, Clock, CustomerId, Page, RateLimiter, RetryAfter, Timestamp, page};
use crate::mailer::{self, Mail};
use crate::storage::{Order, Reader, StorageError, Store, WriteTx};

pub use email::Email;
pub use jwt::Keys;
pub use model::{ApiKey, Customer, Role};
pub use password::{HashParams, PolicyError};

use model::{
    API_KEY_HASHES, API_KEYS, AUTH_META, CUSTOMERS, EMAILS, FAMILIES, Family, ONE_TIME,
    OneTimeToken, Purpose, REFRESH, RefreshToken,
};

/// Prefix of API key secrets, so they are recognisable (and scannable by secret scanners).
pub const API_KEY_PREFIX: &str = "shopd_sk_";

/// Settings of the auth module.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// Access token lifetime in seconds.
    pub access_ttl_secs: u64,
    /// Refresh token lifetime.
    pub refresh_ttl: Duration,
    /// Verification link lifetime.
    pub verify_ttl: Duration,
    /// Reset link lifetime.
    pub reset_ttl: Duration,
    /// argon2id parameters for new hashes.
    pub hash: HashParams,
    /// Hashes computed at once.
    pub hashing_concurrency: usize,
    /// Failed logins per hour per account.
    pub account_failures_per_hour: u32,
    /// Base URL for links in mails.
    pub public_url: String,
    /// Shop name in mails.
    pub shop_name: String,
}

/// Why an auth operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Bad input on one field.
    #[error("{field}: {message}")]
    Invalid {
        /// Field.
        field: &'static str,
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
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

impl From<hasher::PoolError> for AuthError {
    fn from(e: hasher::PoolError) -> Self {
        match e {
            hasher::PoolError::Busy => AuthError::Busy,
            hasher::PoolError::Stopped => AuthError::Internal("hashing pool stopped".into()),
        }
    }
}

fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> AuthError {
    AuthError::Invalid {
        field,
        code,
        message: message.into(),
    }
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

    /// Whether the principal may use `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == "*" || s == scope)
    }
}

/// Tokens returned by login and refresh, in OAuth 2.0 field names.
#[derive(Clone, Debug, Serialize, PartialEq)]
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
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CustomerView {
    /// Id.
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
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ApiKeyView {
    /// Id.
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
    pub created_at: Timestamp,
    /// Last use.
    pub last_used_at: Option<Timestamp>,
    /// Revocation time.
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

/// Scopes an API key may carry.
pub const SCOPES: &[&str] = &[
    "*",
    "catalog",
    "orders",
    "customers",
    "inventory",
    "diagnostics",
];

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    keys: Keys,
    settings: AuthSettings,
    hashing: hasher::Hasher,
    dummy_hash: String,
    failures: RateLimiter,
    mails_per_address: RateLimiter,
    key_touched: Mutex<HashMap<ApiKeyId, Timestamp>>,
}

/// The auth service.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("keys", &self.inner.keys)
            .finish()
    }
}

fn validate_name(name: &str) -> Result<String, AuthError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) {
        return Err(invalid("name", "invalid", "must be 1 to 100 characters"));
    }
    Ok(n.to_owned())
}

fn live_customer(r: &impl Reader, id: CustomerId) -> Result<Option<Customer>, StorageError> {
    Ok(r.get(&CUSTOMERS, &id)?.filter(|c| c.deleted_at.is_none()))
}

fn customer_by_email(r: &impl Reader, email: &str) -> Result<Option<Customer>, StorageError> {
    match r.get(&EMAILS, &email.to_owned())? {
        Some(id) => live_customer(r, id),
        None => Ok(None),
    }
}

fn new_session(
    tx: &mut WriteTx<'_>,
    customer: CustomerId,
    ttl: Duration,
) -> Result<(String, Vec<u8>), StorageError> {
    let now = tx.now();
    let family = secret::random_id();
    tx.insert(
        &FAMILIES,
        &(customer, family.clone()),
        &Family {
            created_at: now,
            revoked_at: None,
        },
    )?;
    let token = secret::new_token("rt_");
    tx.insert(
        &REFRESH,
        &secret::hash_token(&token),
        &RefreshToken {
            customer,
            family: family.clone(),
            expires_at: now.plus(ttl),
            used: false,
        },
    )?;
    Ok((token, family))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 64 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn revoke_all_sessions(tx: &mut WriteTx<'_>, customer: CustomerId) -> Result<usize, StorageError> {
    let now = tx.now();
    let mut n = 0;
    let mut after: Option<(CustomerId, Vec<u8>)> = None;
    loop {
        let rows = tx.prefix(&FAMILIES, &customer, after.as_ref(), Order::Asc, 500)?;
        let Some(last) = rows.last() else { break };
        after = Some(last.0.clone());
        for (k, mut f) in rows {
            if f.revoked_at.is_none() {
                f.revoked_at = Some(now);
                tx.insert(&FAMILIES, &k, &f)?;
                n += 1;
            }
        }
    }
    Ok(n)
}

fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 2 * 3600 && s.is_multiple_of(3600) {
        format!("{} hours", s / 3600)
    } else if s >= 3600 && s.is_multiple_of(3600) {
        "1 hour".into()
    } else {
        format!("{} minutes", s.div_ceil(60))
    }
}

enum RefreshOutcome {
    Rotated(Box<Customer>, String, Vec<u8>),
    Reused,
    Invalid,
}

impl Auth {
    /// The service over `store`, signing with `keys`.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        keys: Keys,
        settings: AuthSettings,
    ) -> Result<Auth, String> {
        let dummy_hash = settings.hash.hash("timing-equaliser-not-a-real-password")?;
        Ok(Auth {
            inner: Arc::new(Inner {
                store,
                clock,
                keys,
                hashing: hasher::Hasher::new(
                    settings.hashing_concurrency,
                    64 * settings.hashing_concurrency.max(1),
                )?,
                mails_per_address: RateLimiter::new(3, Duration::from_secs(3600)),
                failures: RateLimiter::new(
                    settings.account_failures_per_hour,
                    Duration::from_secs(3600),
                ),
                settings,
                dummy_hash,
                key_touched: Mutex::new(HashMap::new()),
            }),
        })
    }

    fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    fn link(&self, path: &str, token: &str) -> String {
        format!(
            "{}{path}?token={token}",
            self.inner.settings.public_url.trim_end_matches('/')
        )
    }

    /// Hashes on the dedicated low-priority pool, off the async workers.
    async fn hash(&self, password: &str) -> Result<String, AuthError> {
        let params = self.inner.settings.hash;
        let pw = password.to_owned();
        self.inner
            .hashing
            .run(move || params.hash(&pw))
            .await?
            .map_err(AuthError::Internal)
    }

    async fn verify(&self, password: &str, phc: &str) -> Result<bool, AuthError> {
        let params = self.inner.settings.hash;
        let (pw, h) = (password.to_owned(), phc.to_owned());
        Ok(self
            .inner
            .hashing
            .run(move || params.verify(&pw, &h))
            .await?)
    }

    /// Checks `password` for an account, counting failures against the account's budget.
    async fn check_password(&self, c: &Customer, password: &str) -> Result<bool, AuthError> {
        let now = self.now();
        self.inner
            .failures
            .check(&c.email, now)
            .map_err(AuthError::RateLimited)?;
        let ok = self.verify(password, &c.password_hash).await?;
        if !ok {
            self.inner.failures.record(&c.email, now);
        }
        Ok(ok)
    }

    fn tokens(
        &self,
        c: &Customer,
        refresh_token: String,
        family: &[u8],
    ) -> Result<TokenPair, AuthError> {
        let ttl = self.inner.settings.access_ttl_secs;
        let (access_token, _) = self
            .inner
            .keys
            .sign(
                &c.id.to_string(),
                &hex(family),
                c.role.as_str(),
                self.now(),
                ttl,
            )
            .map_err(AuthError::Internal)?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            refresh_token,
        })
    }

    /// Creates a customer account and sends the verification mail.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        name: &str,
    ) -> Result<CustomerView, AuthError> {
        self.create_account(email, password, name, Role::Customer)
            .await
    }

    /// Creates an account with `role` (admins are created verified, without mail).
    pub async fn create_account(
        &self,
        email: &str,
        password: &str,
        name: &str,
        role: Role,
    ) -> Result<CustomerView, AuthError> {
        self.create_account_checked(email, password, name, role, None)
            .await
    }

    /// [`Auth::create_account`]; with `setup`, the write also proves (atomically) that the
    /// setup token matches and no admin exists yet, so the token works exactly once.
    async fn create_account_checked(
        &self,
        email: &str,
        password: &str,
        name: &str,
        role: Role,
        setup: Option<Vec<u8>>,
    ) -> Result<CustomerView, AuthError> {
        let email = Email::parse(email)
            .ok_or_else(|| invalid("email", "invalid", "is not a valid email address"))?;
        let name = validate_name(name)?;
        password::check_policy(password, email.as_str())
            .map_err(|e| invalid("password", e.code(), e.message()))?;
        if customer_by_email(&self.inner.store.read()?, email.as_str())?.is_some()
            || self
                .inner
                .store
                .read()?
                .contains(&EMAILS, &email.as_str().to_owned())?
        {
            return Err(AuthError::EmailTaken);
        }
        let hash = self.hash(password).await?;
        let token = secret::new_token("ev_");
        let link = self.link("/verify-email", &token);
        let s = self.inner.settings.clone();
        self.inner
            .store
            .write(move |tx| {
                                let key = email.as_str().to_owned();
                if let Some(presented) = &setup {
                    let stored = tx.get(&AUTH_META, &"setup_token".to_owned())?;
                    let matches = stored.is_some_and(|h| {
                        bool::from(subtle::ConstantTimeEq::ct_eq(h.as_slice(), presented.as_slice()))
                    });
                    if !matches || tx.contains(&AUTH_META, &"has_admin".to_owned())? {
                        return Err(AuthError::InvalidToken);
                    }
                }
                if tx.contains(&EMAILS, &key)? {
                    return Err(AuthError::EmailTaken);
                }
                let now = tx.now();
                let c = Customer {
                    id: CustomerId::new(now),
                    email: key.clone(),
                    name: name.clone(),
                    role,
                    password_hash: hash,
                    email_verified_at: (role == Role::Admin).then_some(now),
                    password_changed_at: now,
                    created_at: now,
                    updated_at: now,
                    deleted_at: None,
                };
                tx.insert(&CUSTOMERS, &c.id, &c)?;
                tx.insert(&EMAILS, &key, &c.id)?;
                if role == Role::Admin {
                    tx.insert(&AUTH_META, &"has_admin".to_owned(), &vec![1])?;
                    tx.remove(&AUTH_META, &"setup_token".to_owned())?;
                } else {
                    tx.insert(
                        &ONE_TIME,
                        &secret::hash_token(&token),
                        &OneTimeToken {
                            purpose: Purpose::VerifyEmail,
                            customer: c.id,
                            created_at: now,
                            expires_at: now.plus(s.verify_ttl),
                            used_at: None,
                        },
                    )?;
                    let vars = json!({"name": name, "link": link, "shop_name": s.shop_name, "expires_in": human_duration(s.verify_ttl)});
                    mailer::enqueue(tx, &Mail::new(&key, None, "verify_email", vars, now))?;
                }
                Ok(CustomerView::from(&c))
            })
            .await
    }

    /// Checks credentials and opens a session. Unknown emails cost the same hashing time as
    /// known ones, and repeated failures for one email are throttled.
    pub async fn login(&self, email: &str, password: &str) -> Result<TokenPair, AuthError> {
        let now = self.now();
        let Some(email) = Email::parse(email) else {
            // Not an address: no account can match; spend the same time, count nothing.
            let _ = self.verify(password, &self.inner.dummy_hash).await?;
            return Err(AuthError::InvalidCredentials);
        };
        let key = email.as_str().to_owned();
        self.inner
            .failures
            .check(&key, now)
            .map_err(AuthError::RateLimited)?;
        let found = customer_by_email(&self.inner.store.read()?, &key)?;
        let ok = match &found {
            Some(c) => self.verify(password, &c.password_hash).await?,
            None => {
                let _ = self.verify(password, &self.inner.dummy_hash).await?;
                false
            }
        };
        let Some(c) = found.filter(|_| ok) else {
            self.inner.failures.record(&key, now);
            return Err(AuthError::InvalidCredentials);
        };
        let rehash = if self.inner.settings.hash.needs_rehash(&c.password_hash) {
            Some(self.hash(password).await?)
        } else {
            None
        };
        let ttl = self.inner.settings.refresh_ttl;
        let id = c.id;
        let (c, rt, fam) = self
            .inner
            .store
            .write(move |tx| {
                let mut c = live_customer(tx, id)?.ok_or(AuthError::InvalidCredentials)?;
                if let Some(h) = rehash {
                    c.password_hash = h;
                    c.updated_at = tx.now();
                    tx.insert(&CUSTOMERS, &c.id, &c)?;
                }
                let (rt, fam) = new_session(tx, c.id, ttl)?;
                Ok::<_, AuthError>((c, rt, fam))
            })
            .await?;
        self.tokens(&c, rt, &fam)
    }

    /// Exchanges a refresh token for a new pair. Presenting a token that was already exchanged
    /// revokes its whole family (OAuth 2.0 Security BCP, refresh token rotation).
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        let h = secret::hash_token(refresh_token);
        let ttl = self.inner.settings.refresh_ttl;
        let outcome = self
            .inner
            .store
            .write(move |tx| {
                let now = tx.now();
                let Some(mut rec) = tx.get(&REFRESH, &h)? else {
                    return Ok::<_, AuthError>(RefreshOutcome::Invalid);
                };
                let fkey = (rec.customer, rec.family.clone());
                let Some(mut fam) = tx.get(&FAMILIES, &fkey)? else {
                    return Ok(RefreshOutcome::Invalid);
                };
                if fam.revoked_at.is_some() {
                    return Ok(RefreshOutcome::Invalid);
                }
                if rec.used {
                    fam.revoked_at = Some(now);
                    tx.insert(&FAMILIES, &fkey, &fam)?;
                    return Ok(RefreshOutcome::Reused);
                }
                // Sessions end `refresh_ttl` after sign-in however often they rotate (ASVS 3.3.2).
                let session_end = fam.created_at.plus(ttl);
                if rec.expires_at <= now || session_end <= now {
                    return Ok(RefreshOutcome::Invalid);
                }
                let Some(c) = live_customer(tx, rec.customer)? else {
                    return Ok(RefreshOutcome::Invalid);
                };
                rec.used = true;
                tx.insert(&REFRESH, &h, &rec)?;
                let token = secret::new_token("rt_");
                tx.insert(
                    &REFRESH,
                    &secret::hash_token(&token),
                    &RefreshToken {
                        customer: rec.customer,
                        family: rec.family.clone(),
                        expires_at: now.plus(ttl).min(session_end),
                        used: false,
                    },
                )?;
                Ok(RefreshOutcome::Rotated(
                    Box::new(c),
                    token,
                    rec.family.clone(),
                ))
            })
            .await?;
        match outcome {
            RefreshOutcome::Rotated(c, rt, fam) => self.tokens(&c, rt, &fam),
            RefreshOutcome::Reused => {
                tracing::warn!("refresh token reuse detected; session family revoked");
                Err(AuthError::TokenReused)
            }
            RefreshOutcome::Invalid => Err(AuthError::Unauthenticated),
        }
    }

    /// Revokes the session of `refresh_token` (idempotent).
    pub async fn logout(&self, refresh_token: &str) -> Result<(), AuthError> {
        let h = secret::hash_token(refresh_token);
        self.inner
            .store
            .write(move |tx| {
                if let Some(rec) = tx.get(&REFRESH, &h)? {
                    let fkey = (rec.customer, rec.family.clone());
                    if let Some(mut f) = tx.get(&FAMILIES, &fkey)?
                        && f.revoked_at.is_none()
                    {
                        f.revoked_at = Some(tx.now());
                        tx.insert(&FAMILIES, &fkey, &f)?;
                    }
                }
                Ok::<_, AuthError>(())
            })
            .await
    }

    /// Establishes the principal of a bearer credential (access token or API key).
    pub fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        if bearer.starts_with(API_KEY_PREFIX) {
            return self.authenticate_api_key(bearer);
        }
        let claims = self
            .inner
            .keys
            .verify(bearer, self.now())
            .ok_or(AuthError::Unauthenticated)?;
        let id = CustomerId::parse(&claims.sub).map_err(|_| AuthError::Unauthenticated)?;
        let family = unhex(&claims.sid).ok_or(AuthError::Unauthenticated)?;
        let r = self.inner.store.read()?;
        // Logout, reuse detection, password change and reset revoke the session, and with it
        // every access token issued in it.
        let live_session = r
            .get(&FAMILIES, &(id, family))?
            .is_some_and(|f| f.revoked_at.is_none());
        if !live_session {
            return Err(AuthError::Unauthenticated);
        }
        let c = live_customer(&r, id)?.ok_or(AuthError::Unauthenticated)?;
        Ok(Principal {
            kind: PrincipalKind::Customer(c.id),
            role: c.role,
            scopes: vec!["*".into()],
        })
    }

    fn authenticate_api_key(&self, secret_text: &str) -> Result<Principal, AuthError> {
        if secret_text.len() > 200 {
            return Err(AuthError::Unauthenticated);
        }
        let r = self.inner.store.read()?;
        let id = r
            .get(&API_KEY_HASHES, &secret::hash_token(secret_text))?
            .ok_or(AuthError::Unauthenticated)?;
        let key = r
            .get(&API_KEYS, &id)?
            .filter(|k| k.revoked_at.is_none())
            .ok_or(AuthError::Unauthenticated)?;
        // A key never outlives its creator's authority: a deleted or demoted admin's keys stop.
        if let Some(creator) = key.created_by {
            let still = live_customer(&r, creator)?.is_some_and(|c| c.role >= Role::Admin);
            if !still {
                return Err(AuthError::Unauthenticated);
            }
        }
        self.touch_api_key(id);
        Ok(Principal {
            kind: PrincipalKind::ApiKey(id),
            role: key.role,
            scopes: key.scopes,
        })
    }

    /// Records the key's last use, at most once a minute, without delaying the request.
    fn touch_api_key(&self, id: ApiKeyId) {
        let now = self.now();
        {
            let mut m = match self.inner.key_touched.lock() {
                Ok(m) => m,
                Err(p) => p.into_inner(),
            };
            if m.get(&id)
                .is_some_and(|t| now.since(*t) < Duration::from_secs(60))
            {
                return;
            }
            m.insert(id, now);
        }
        let store = self.inner.store.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = store
                    .write(move |tx| {
                        if let Some(mut k) = tx.get(&API_KEYS, &id)? {
                            k.last_used_at = Some(tx.now());
                            tx.insert(&API_KEYS, &id, &k)?;
                        }
                        Ok::<_, StorageError>(())
                    })
                    .await;
            });
        }
    }

    /// The caller's own account.
    pub fn me(&self, p: &Principal) -> Result<CustomerView, AuthError> {
        let id = p.customer_id().ok_or(AuthError::NotFound)?;
        let c = live_customer(&self.inner.store.read()?, id)?.ok_or(AuthError::NotFound)?;
        Ok(CustomerView::from(&c))
    }

    fn visible(&self, p: &Principal, id: CustomerId) -> Result<(), AuthError> {
        // Customers only see themselves; anything else is "not found", never "forbidden".
        if p.role >= Role::Staff || p.customer_id() == Some(id) {
            Ok(())
        } else {
            Err(AuthError::NotFound)
        }
    }

    /// One account, for its owner or staff.
    pub fn get_customer(&self, p: &Principal, id: CustomerId) -> Result<CustomerView, AuthError> {
        self.visible(p, id)?;
        let c = live_customer(&self.inner.store.read()?, id)?.ok_or(AuthError::NotFound)?;
        Ok(CustomerView::from(&c))
    }

    /// Renames an account (owner or staff).
    pub async fn update_customer(
        &self,
        p: &Principal,
        id: CustomerId,
        name: &str,
    ) -> Result<CustomerView, AuthError> {
        self.visible(p, id)?;
        let name = validate_name(name)?;
        self.inner
            .store
            .write(move |tx| {
                let mut c = live_customer(tx, id)?.ok_or(AuthError::NotFound)?;
                c.name = name;
                c.updated_at = tx.now();
                tx.insert(&CUSTOMERS, &id, &c)?;
                Ok(CustomerView::from(&c))
            })
            .await
    }

    /// Lists accounts for staff, newest last, with cursor pagination.
    pub fn list_customers(
        &self,
        per_page: usize,
        cursor: Option<&str>,
    ) -> Result<Page<CustomerView>, AuthError> {
        let after = match cursor {
            Some(c) => Some(
                page::decode_cursor(c)
                    .and_then(|b| <[u8; 16]>::try_from(b).ok())
                    .map(CustomerId::from_bytes)
                    .ok_or_else(|| {
                        invalid("cursor", "invalid", "is not a cursor returned by this list")
                    })?,
            ),
            None => None,
        };
        let r = self.inner.store.read()?;
        let mut rows = r.prefix(&CUSTOMERS, &(), after.as_ref(), Order::Asc, per_page + 1)?;
        let has_more = rows.len() > per_page;
        rows.truncate(per_page);
        Ok(Page {
            next_cursor: if has_more {
                rows.last()
                    .map(|(id, _)| page::encode_cursor(&id.to_bytes()))
            } else {
                None
            },
            has_more,
            data: rows
                .iter()
                .filter(|(_, c)| c.deleted_at.is_none())
                .map(|(_, c)| CustomerView::from(c))
                .collect(),
        })
    }

    /// Consumes an email verification token; sends the welcome mail.
    pub async fn verify_email(&self, token: &str) -> Result<CustomerView, AuthError> {
        let h = secret::hash_token(token);
        let s = self.inner.settings.clone();
        self.inner
            .store
            .write(move |tx| {
                let now = tx.now();
                let mut t = tx
                    .get(&ONE_TIME, &h)?
                    .filter(|t| {
                        t.purpose == Purpose::VerifyEmail
                            && t.used_at.is_none()
                            && t.expires_at > now
                    })
                    .ok_or(AuthError::InvalidToken)?;
                let mut c = live_customer(tx, t.customer)?.ok_or(AuthError::InvalidToken)?;
                t.used_at = Some(now);
                tx.insert(&ONE_TIME, &h, &t)?;
                if c.email_verified_at.is_none() {
                    c.email_verified_at = Some(now);
                    c.updated_at = now;
                    tx.insert(&CUSTOMERS, &c.id, &c)?;
                    let vars =
                        json!({"name": c.name, "link": s.public_url, "shop_name": s.shop_name});
                    mailer::enqueue(
                        tx,
                        &Mail::new(&c.email, Some(&c.name), "welcome", vars, now),
                    )?;
                }
                Ok(CustomerView::from(&c))
            })
            .await
    }

    /// Sends a new verification mail if the address belongs to an unverified account. Answers
    /// the same either way.
    pub async fn resend_verification(&self, email: &str) -> Result<(), AuthError> {
        let Some(email) = Email::parse(email) else {
            return Ok(());
        };
        if self
            .inner
            .mails_per_address
            .hit(email.as_str(), self.now())
            .is_err()
        {
            return Ok(()); // answer the same, send nothing: no mail flooding of one address
        }
        let token = secret::new_token("ev_");
        let link = self.link("/verify-email", &token);
        let s = self.inner.settings.clone();
        self.inner
            .store
            .write(move |tx| {
                let now = tx.now();
                if let Some(c) = customer_by_email(tx, email.as_str())?.filter(|c| c.email_verified_at.is_none()) {
                    tx.insert(
                        &ONE_TIME,
                        &secret::hash_token(&token),
                        &OneTimeToken {
                            purpose: Purpose::VerifyEmail,
                            customer: c.id,
                            created_at: now,
                            expires_at: now.plus(s.verify_ttl),
                            used_at: None,
                        },
                    )?;
                    let vars = json!({"name": c.name, "link": link, "shop_name": s.shop_name, "expires_in": human_duration(s.verify_ttl)});
                    mailer::enqueue(tx, &Mail::new(&c.email, None, "verify_email", vars, now))?;
                }
                Ok::<_, AuthError>(())
            })
            .await
    }

    /// Sends a password reset mail if the address belongs to an account. Answers the same
    /// either way.
    pub async fn request_password_reset(&self, email: &str) -> Result<(), AuthError> {
        let Some(email) = Email::parse(email) else {
            return Ok(());
        };
        if self
            .inner
            .mails_per_address
            .hit(email.as_str(), self.now())
            .is_err()
        {
            return Ok(());
        }
        let token = secret::new_token("pr_");
        let link = self.link("/reset-password", &token);
        let s = self.inner.settings.clone();
        self.inner
            .store
            .write(move |tx| {
                let now = tx.now();
                if let Some(c) = customer_by_email(tx, email.as_str())? {
                    tx.insert(
                        &ONE_TIME,
                        &secret::hash_token(&token),
                        &OneTimeToken {
                            purpose: Purpose::ResetPassword,
                            customer: c.id,
                            created_at: now,
                            expires_at: now.plus(s.reset_ttl),
                            used_at: None,
                        },
                    )?;
                    let vars = json!({"name": c.name, "link": link, "shop_name": s.shop_name, "expires_in": human_duration(s.reset_ttl)});
                    mailer::enqueue(tx, &Mail::new(&c.email, Some(&c.name), "reset_password", vars, now))?;
                }
                Ok::<_, AuthError>(())
            })
            .await
    }

    /// Sets a new password with a reset token and revokes every session of the account.
    pub async fn reset_password(&self, token: &str, new_password: &str) -> Result<(), AuthError> {
        let h = secret::hash_token(token);
        let now = self.now();
        let r = self.inner.store.read()?;
        let t = r
            .get(&ONE_TIME, &h)?
            .filter(|t| {
                t.purpose == Purpose::ResetPassword && t.used_at.is_none() && t.expires_at > now
            })
            .ok_or(AuthError::InvalidToken)?;
        let c = live_customer(&r, t.customer)?
            .filter(|c| t.created_at >= c.password_changed_at)
            .ok_or(AuthError::InvalidToken)?;
        drop(r);
        password::check_policy(new_password, &c.email)
            .map_err(|e| invalid("new_password", e.code(), e.message()))?;
        let hash = self.hash(new_password).await?;
        self.inner
            .store
            .write(move |tx| {
                let now = tx.now();
                let mut t = tx
                    .get(&ONE_TIME, &h)?
                    .filter(|t| t.used_at.is_none() && t.expires_at > now)
                    .ok_or(AuthError::InvalidToken)?;
                // Links issued before the last password change are void.
                let mut c = live_customer(tx, t.customer)?
                    .filter(|c| t.created_at >= c.password_changed_at)
                    .ok_or(AuthError::InvalidToken)?;
                t.used_at = Some(now);
                tx.insert(&ONE_TIME, &h, &t)?;
                c.password_hash = hash;
                c.password_changed_at = now;
                c.updated_at = now;
                // Proving control of the mailbox also proves the address.
                c.email_verified_at.get_or_insert(now);
                tx.insert(&CUSTOMERS, &c.id, &c)?;
                revoke_all_sessions(tx, c.id)?;
                Ok(())
            })
            .await
    }

    /// Changes the caller's password (current one required), revokes all sessions, and opens a
    /// fresh one for the caller.
    pub async fn change_password(
        &self,
        p: &Principal,
        current: &str,
        new_password: &str,
    ) -> Result<TokenPair, AuthError> {
        let id = p.customer_id().ok_or(AuthError::Forbidden)?;
        let c = live_customer(&self.inner.store.read()?, id)?.ok_or(AuthError::Unauthenticated)?;
        if !self.check_password(&c, current).await? {
            return Err(invalid(
                "current_password",
                "incorrect",
                "is not the current password",
            ));
        }
        password::check_policy(new_password, &c.email)
            .map_err(|e| invalid("new_password", e.code(), e.message()))?;
        let hash = self.hash(new_password).await?;
        let ttl = self.inner.settings.refresh_ttl;
        let (c, rt, fam) = self
            .inner
            .store
            .write(move |tx| {
                let mut c = live_customer(tx, id)?.ok_or(AuthError::Unauthenticated)?;
                c.password_hash = hash;
                c.password_changed_at = tx.now();
                c.updated_at = tx.now();
                tx.insert(&CUSTOMERS, &id, &c)?;
                revoke_all_sessions(tx, id)?;
                let (rt, fam) = new_session(tx, id, ttl)?;
                Ok::<_, AuthError>((c, rt, fam))
            })
            .await?;
        self.tokens(&c, rt, &fam)
    }

    /// Deletes the caller's account: personal fields are erased, sessions revoked; the record
    /// itself stays so past orders keep their customer id.
    pub async fn delete_account(&self, p: &Principal, password: &str) -> Result<(), AuthError> {
        let id = p.customer_id().ok_or(AuthError::Forbidden)?;
        let c = live_customer(&self.inner.store.read()?, id)?.ok_or(AuthError::Unauthenticated)?;
        if !self.check_password(&c, password).await? {
            return Err(invalid(
                "password",
                "incorrect",
                "is not the current password",
            ));
        }
        self.inner
            .store
            .write(move |tx| {
                let mut c = live_customer(tx, id)?.ok_or(AuthError::Unauthenticated)?;
                let now = tx.now();
                tx.remove(&EMAILS, &c.email)?;
                c.email = format!("deleted+{}@invalid", c.id);
                c.name = String::new();
                c.password_hash = String::new();
                c.deleted_at = Some(now);
                c.updated_at = now;
                tx.insert(&CUSTOMERS, &id, &c)?;
                revoke_all_sessions(tx, id)?;
                Ok(())
            })
            .await
    }

    /// Changes an account's role (admins only).
    pub async fn set_role(
        &self,
        p: &Principal,
        id: CustomerId,
        role: Role,
    ) -> Result<CustomerView, AuthError> {
        // Keys and roles are managed by signed-in admins only, never by API keys.
        if p.role < Role::Admin || p.customer_id().is_none() {
            return Err(AuthError::Forbidden);
        }
        self.inner
            .store
            .write(move |tx| {
                let mut c = live_customer(tx, id)?.ok_or(AuthError::NotFound)?;
                c.role = role;
                c.updated_at = tx.now();
                tx.insert(&CUSTOMERS, &id, &c)?;
                if role == Role::Admin {
                    tx.insert(&AUTH_META, &"has_admin".to_owned(), &vec![1])?;
                }
                Ok(CustomerView::from(&c))
            })
            .await
    }

    /// Whether any admin exists yet.
    pub fn has_admin(&self) -> Result<bool, AuthError> {
        Ok(self
            .inner
            .store
            .read()?
            .contains(&AUTH_META, &"has_admin".to_owned())?)
    }

    /// At first start (no admin yet) mints a one-time setup token, replacing any earlier one,
    /// and returns it for the start-up log. `None` once an admin exists.
    pub async fn issue_setup_token(&self) -> Result<Option<String>, AuthError> {
        if self.has_admin()? {
            return Ok(None);
        }
        let token = secret::new_token("setup_");
        let h = secret::hash_token(&token);
        self.inner
            .store
            .write(move |tx| tx.insert(&AUTH_META, &"setup_token".to_owned(), &h))
            .await?;
        Ok(Some(token))
    }

    /// Creates the first admin with the setup token printed at start.
    pub async fn complete_setup(
        &self,
        token: &str,
        email: &str,
        password: &str,
        name: &str,
    ) -> Result<CustomerView, AuthError> {
        let r = self.inner.store.read()?;
        let stored = r.get(&AUTH_META, &"setup_token".to_owned())?;
        let ok = stored.is_some_and(|h| {
            subtle::ConstantTimeEq::ct_eq(h.as_slice(), secret::hash_token(token).as_slice()).into()
        });
        if !ok || r.contains(&AUTH_META, &"has_admin".to_owned())? {
            return Err(AuthError::InvalidToken);
        }
        drop(r);
        let presented = secret::hash_token(token);
        self.create_account_checked(email, password, name, Role::Admin, Some(presented))
            .await
    }

    /// Creates an API key; the secret is returned once and stored only as a hash.
    pub async fn create_api_key(
        &self,
        p: &Principal,
        name: &str,
        role: Role,
        scopes: Vec<String>,
    ) -> Result<(ApiKeyView, String), AuthError> {
        // Keys and roles are managed by signed-in admins only, never by API keys.
        if p.role < Role::Admin || p.customer_id().is_none() {
            return Err(AuthError::Forbidden);
        }
        let name = validate_name(name)?;
        if role == Role::Customer {
            return Err(invalid("role", "invalid", "must be staff or admin"));
        }
        let scopes = if scopes.is_empty() {
            vec!["*".to_owned()]
        } else {
            scopes
        };
        if let Some(bad) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
            return Err(invalid(
                "scopes",
                "unknown_scope",
                format!("unknown scope `{bad}`; known: {}", SCOPES.join(", ")),
            ));
        }
        let secret_text = secret::new_token(API_KEY_PREFIX);
        let hash = secret::hash_token(&secret_text);
        let prefix: String = secret_text.chars().take(API_KEY_PREFIX.len() + 6).collect();
        let created_by = p.customer_id();
        let view = self
            .inner
            .store
            .write(move |tx| {
                let now = tx.now();
                let key = ApiKey {
                    id: ApiKeyId::new(now),
                    name,
                    role,
                    scopes,
                    prefix,
                    hash: hash.clone(),
                    created_by,
                    created_at: now,
                    last_used_at: None,
                    revoked_at: None,
                };
                tx.insert(&API_KEYS, &key.id, &key)?;
                tx.insert(&API_KEY_HASHES, &hash, &key.id)?;
                Ok::<_, AuthError>(ApiKeyView::from(&key))
            })
            .await?;
        Ok((view, secret_text))
    }

    /// Lists API keys (admins).
    pub fn list_api_keys(&self, p: &Principal) -> Result<Vec<ApiKeyView>, AuthError> {
        // Keys and roles are managed by signed-in admins only, never by API keys.
        if p.role < Role::Admin || p.customer_id().is_none() {
            return Err(AuthError::Forbidden);
        }
        let r = self.inner.store.read()?;
        Ok(r.prefix(&API_KEYS, &(), None, Order::Asc, 1000)?
            .iter()
            .map(|(_, k)| ApiKeyView::from(k))
            .collect())
    }

    /// Revokes an API key (admins).
    pub async fn revoke_api_key(
        &self,
        p: &Principal,
        id: ApiKeyId,
    ) -> Result<ApiKeyView, AuthError> {
        // Keys and roles are managed by signed-in admins only, never by API keys.
        if p.role < Role::Admin || p.customer_id().is_none() {
            return Err(AuthError::Forbidden);
        }
        self.inner
            .store
            .write(move |tx| {
                let mut k = tx.get(&API_KEYS, &id)?.ok_or(AuthError::NotFound)?;
                if k.revoked_at.is_none() {
                    k.revoked_at = Some(tx.now());
                    tx.insert(&API_KEYS, &id, &k)?;
                    tx.remove(&API_KEY_HASHES, &k.hash)?;
                }
                Ok(ApiKeyView::from(&k))
            })
            .await
    }

    /// The stored PHC string of an account (for operators verifying hash parameters).
    pub fn password_hash_of(&self, email: &str) -> Result<Option<String>, AuthError> {
        let Some(e) = Email::parse(email) else {
            return Ok(None);
        };
        Ok(customer_by_email(&self.inner.store.read()?, e.as_str())?.map(|c| c.password_hash))
    }
}
