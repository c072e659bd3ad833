//! Identity: customer and staff accounts, passwords, access and refresh tokens, email
//! verification, password reset, roles and API keys. Every mail it causes is a durable job
//! enqueued in the same transaction.

pub mod email;
pub mod jwt;
pub mod model;
pub mod password;
use crate::core::page::Cursor;
pub use crate::core::secret;
use crate::core::secret::hex;

pub mod addresses;
mod admin;
pub use admin::{MIGRATIONS, admin_contacts, migrate_admin_index};
mod api_keys;
mod recovery;
mod types;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::core::{ApiKeyId, Clock, CustomerId, FailureDelay, Page, RateLimiter, Timestamp, page};
use crate::mailer::{self, Mail};
use crate::storage::{Order, Reader, StorageError, Store, WriteTx};

pub use email::Email;
pub use jwt::{KEY_FILE, Keys, fresh_key_file};
pub use model::{ApiKey, Customer, Role};
pub use password::{HashParams, PolicyError};
use types::invalid;
pub use types::{
    ApiKeyView, AuthError, CustomerView, Principal, PrincipalKind, SCOPES, Scope, TokenPair,
};

use model::{AUTH_META, CUSTOMERS, EMAILS, FAMILIES, Family, Purpose, REFRESH, RefreshToken};

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
    /// Failed password checks per account and client network within an hour before each
    /// further attempt from that network waits (1 s, doubling, up to [`MAX_FAILURE_DELAY`]).
    pub account_failures_per_hour: u32,
    /// Base URL for links in mails.
    pub public_url: String,
    /// Shop name in mails.
    pub shop_name: String,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    keys: Keys,
    settings: AuthSettings,
    hashing: crate::core::WorkPool,
    dummy_hash: String,
    failures: FailureDelay,
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

/// Longest wait after repeated password failures from one network.
pub const MAX_FAILURE_DELAY: Duration = Duration::from_secs(15 * 60);

/// Failures are counted per account and client network.
fn failure_key(email: &str, network: &str) -> String {
    format!("{email}\u{0}{network}")
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
                hashing: crate::core::WorkPool::new(
                    "shopd-hash",
                    settings.hashing_concurrency,
                    64 * settings.hashing_concurrency.max(1),
                    crate::core::Priority::Low,
                )?,
                mails_per_address: RateLimiter::new(3, Duration::from_secs(3600)),
                failures: FailureDelay::new(
                    settings.account_failures_per_hour,
                    Duration::from_secs(3600),
                    MAX_FAILURE_DELAY,
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

    /// Checks `password` for an account, counting failures against the account as seen from
    /// `network`.
    async fn check_password(
        &self,
        c: &Customer,
        password: &str,
        network: &str,
    ) -> Result<bool, AuthError> {
        let now = self.now();
        let key = failure_key(&c.email, network);
        self.inner
            .failures
            .check(&key, now)
            .map_err(AuthError::RateLimited)?;
        let ok = self.verify(password, &c.password_hash).await?;
        if ok {
            self.inner.failures.succeed(&key);
        } else {
            self.inner.failures.fail(&key, now);
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
                    let matches =
                        stored.is_some_and(|kept| admin::setup_token_matches(&kept, presented));
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
                admin::index_admin(tx, &c)?;
                if role == Role::Admin {
                    tx.insert(&AUTH_META, &"has_admin".to_owned(), &vec![1])?;
                    tx.remove(&AUTH_META, &"setup_token".to_owned())?;
                } else {
                    recovery::mail_one_time_token(tx, &c, Purpose::VerifyEmail, &token, &link, &s)?;
                }
                Ok(CustomerView::from(&c))
            })
            .await
    }

    /// Checks credentials and opens a session. Unknown emails cost the same hashing time as
    /// known ones, and repeated failures for one email from one client `network` (an IPv4
    /// address or an IPv6 /64) are slowed down with growing delays for that network only.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        network: &str,
    ) -> Result<TokenPair, AuthError> {
        let now = self.now();
        let Some(email) = Email::parse(email) else {
            // Not an address: no account can match; spend the same time, count nothing.
            let _ = self.verify(password, &self.inner.dummy_hash).await?;
            return Err(AuthError::InvalidCredentials);
        };
        let key = failure_key(email.as_str(), network);
        self.inner
            .failures
            .check(&key, now)
            .map_err(AuthError::RateLimited)?;
        let found = customer_by_email(&self.inner.store.read()?, email.as_str())?;
        let ok = match &found {
            Some(c) => self.verify(password, &c.password_hash).await?,
            None => {
                let _ = self.verify(password, &self.inner.dummy_hash).await?;
                false
            }
        };
        let Some(c) = found.filter(|_| ok) else {
            self.inner.failures.fail(&key, now);
            return Err(AuthError::InvalidCredentials);
        };
        self.inner.failures.succeed(&key);
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
            .verify(bearer, self.now(), self.inner.settings.access_ttl_secs)
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

    /// The principal of a server-rendered page session, whose cookie holds the refresh token of
    /// the sign-in. Pages never rotate it (a browser loading several pages at once would trip
    /// reuse detection); the session still ends when the refresh token would (its TTL from
    /// sign-in), on logout, on a password change or reset, and once the token is exchanged
    /// elsewhere.
    pub fn session_principal(&self, refresh_token: &str) -> Result<Principal, AuthError> {
        let h = secret::hash_token(refresh_token);
        let now = self.now();
        let r = self.inner.store.read()?;
        let rec = r
            .get(&REFRESH, &h)?
            .filter(|rec| !rec.used && rec.expires_at > now)
            .ok_or(AuthError::Unauthenticated)?;
        let live = r
            .get(&FAMILIES, &(rec.customer, rec.family.clone()))?
            .is_some_and(|f| f.revoked_at.is_none());
        if !live {
            return Err(AuthError::Unauthenticated);
        }
        let c = live_customer(&r, rec.customer)?.ok_or(AuthError::Unauthenticated)?;
        Ok(Principal {
            kind: PrincipalKind::Customer(c.id),
            role: c.role,
            scopes: vec!["*".into()],
        })
    }

    /// The account using `email`, if any (the admin filters orders by a customer's address).
    pub fn customer_id_by_email(&self, email: &str) -> Result<Option<CustomerId>, AuthError> {
        let Some(e) = Email::parse(email) else {
            return Ok(None);
        };
        Ok(customer_by_email(&self.inner.store.read()?, e.as_str())?.map(|c| c.id))
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
        let after: Option<CustomerId> =
            page::after(cursor).map_err(|e| invalid("cursor", "invalid", e.to_string()))?;
        let r = self.inner.store.read()?;
        let rows = r.prefix(&CUSTOMERS, &(), after.as_ref(), Order::Asc, per_page + 1)?;
        let p = Page::from_overfetch(rows, per_page, |(id, _)| id.to_cursor());
        Ok(Page {
            next_cursor: p.next_cursor,
            has_more: p.has_more,
            data: p
                .data
                .iter()
                .filter(|(_, c)| c.deleted_at.is_none())
                .map(|(_, c)| CustomerView::from(c))
                .collect(),
        })
    }

    /// Changes the caller's password (current one required), revokes all sessions, and opens a
    /// fresh one for the caller.
    pub async fn change_password(
        &self,
        p: &Principal,
        current: &str,
        new_password: &str,
        network: &str,
    ) -> Result<TokenPair, AuthError> {
        let id = p.customer_id().ok_or(AuthError::Forbidden)?;
        let c = live_customer(&self.inner.store.read()?, id)?.ok_or(AuthError::Unauthenticated)?;
        if !self.check_password(&c, current, network).await? {
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
    pub async fn delete_account(
        &self,
        p: &Principal,
        password: &str,
        network: &str,
    ) -> Result<(), AuthError> {
        let id = p.customer_id().ok_or(AuthError::Forbidden)?;
        let c = live_customer(&self.inner.store.read()?, id)?.ok_or(AuthError::Unauthenticated)?;
        if !self.check_password(&c, password, network).await? {
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
                admin::keep_an_admin(tx, id)?;
                let now = tx.now();
                tx.remove(&EMAILS, &c.email)?;
                c.email = format!("deleted+{}@invalid", c.id);
                c.name = String::new();
                c.password_hash = String::new();
                c.deleted_at = Some(now);
                c.updated_at = now;
                tx.insert(&CUSTOMERS, &id, &c)?;
                admin::index_admin(tx, &c)?;
                addresses::erase(tx, id)?;
                revoke_all_sessions(tx, id)?;
                Ok(())
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
