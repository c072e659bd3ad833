//! API keys for integrations: creation (secret shown once, stored hashed), listing, revocation, and authentication with a throttled last-used stamp.

use super::model::{API_KEY_HASHES, API_KEYS};
use super::*;

impl Auth {
    pub(super) fn authenticate_api_key(&self, secret_text: &str) -> Result<Principal, AuthError> {
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
            let mut m = crate::core::sync::lock(&self.inner.key_touched);
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
        if let Some(bad) = scopes.iter().find(|s| !Scope::is_known(s)) {
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
}
