//! Admin-only account operations: role changes and the first-admin setup token.

use super::model::{ADMINS, AUTH_META};
use super::*;

/// Keeps [`ADMINS`] in step with an account just written: listed while it is a live admin.
pub(super) fn index_admin(tx: &mut WriteTx<'_>, c: &Customer) -> Result<(), StorageError> {
    if c.role == Role::Admin && c.deleted_at.is_none() {
        tx.insert(&ADMINS, &c.id, &())
    } else {
        tx.remove(&ADMINS, &c.id).map(|_| ())
    }
}

/// Refuses to demote or delete `id` when it is the only live admin (the shop would have no
/// admin and no setup token left).
pub(super) fn keep_an_admin(tx: &mut WriteTx<'_>, id: CustomerId) -> Result<(), AuthError> {
    if !tx.contains(&ADMINS, &id)? {
        return Ok(());
    }
    let two = tx.prefix(&ADMINS, &(), None, Order::Asc, 2)?;
    if two.iter().any(|(other, ())| *other != id) {
        Ok(())
    } else {
        Err(AuthError::LastAdmin)
    }
}

/// The auth module's own schema steps.
pub const MIGRATIONS: &[crate::storage::Migration] = &[
    crate::storage::Migration {
        to: 4,
        description: "index live admin accounts",
        run: migrate_admin_index,
    },
    crate::storage::Migration {
        to: 12,
        description: "customers' address books",
        run: super::addresses::migrate_address_book,
    },
];

/// Migration to schema 4: lists the live admins of an older data dir in [`ADMINS`].
pub fn migrate_admin_index(tx: &mut WriteTx<'_>) -> Result<(), StorageError> {
    tx.for_each_batch(&CUSTOMERS, 1000, |tx, rows| {
        rows.iter().try_for_each(|(_, c)| index_admin(tx, c))
    })
}

impl Auth {
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
                if role != Role::Admin {
                    keep_an_admin(tx, id)?;
                }
                c.role = role;
                c.updated_at = tx.now();
                tx.insert(&CUSTOMERS, &id, &c)?;
                index_admin(tx, &c)?;
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

    /// At first start (no admin yet) mints a one-time setup token and returns it for the
    /// start-up log. The last [`SETUP_TOKENS_KEPT`] stay valid, so each of several nodes
    /// starting on one database prints a link that works. `None` once an admin exists.
    pub async fn issue_setup_token(&self) -> Result<Option<String>, AuthError> {
        if self.has_admin()? {
            return Ok(None);
        }
        let token = secret::new_token("setup_");
        let h = secret::hash_token(&token);
        self.inner
            .store
            .write(move |tx| {
                let key = "setup_token".to_owned();
                let mut kept = tx.get(&AUTH_META, &key)?.unwrap_or_default();
                kept.extend_from_slice(&h);
                let excess = kept.len().saturating_sub(SETUP_TOKENS_KEPT * h.len());
                kept.drain(..excess);
                tx.insert(&AUTH_META, &key, &kept)
            })
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
        let ok = stored.is_some_and(|kept| setup_token_matches(&kept, &secret::hash_token(token)));
        if !ok || r.contains(&AUTH_META, &"has_admin".to_owned())? {
            return Err(AuthError::InvalidToken);
        }
        drop(r);
        let presented = secret::hash_token(token);
        self.create_account_checked(email, password, name, Role::Admin, Some(presented))
            .await
    }
}

/// Setup tokens that stay valid at once (one per node start, newest kept).
pub const SETUP_TOKENS_KEPT: usize = 8;

/// Whether `presented` (a token's hash) is one of the kept setup-token hashes (concatenated).
pub(super) fn setup_token_matches(kept: &[u8], presented: &[u8]) -> bool {
    kept.chunks(presented.len().max(1))
        .any(|h| bool::from(subtle::ConstantTimeEq::ct_eq(h, presented)))
}

/// The live admins' (email, name), at most `limit` (mails to the shop's admins: a webhook
/// endpoint disabled, …).
pub fn admin_contacts(
    r: &impl Reader,
    limit: usize,
) -> Result<Vec<(String, String)>, StorageError> {
    let mut out = Vec::new();
    for (id, ()) in r.prefix(&ADMINS, &(), None, Order::Asc, limit)? {
        if let Some(c) = r.get(&CUSTOMERS, &id)? {
            out.push((c.email, c.name));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::core::TestClock;
    use crate::storage::StoreOptions;

    fn account(id: CustomerId, role: Role, deleted: bool) -> Customer {
        let t = Timestamp::from_millis(1_000_000);
        Customer {
            id,
            email: format!("{id}@example.com"),
            name: String::new(),
            role,
            password_hash: String::new(),
            email_verified_at: None,
            password_changed_at: t,
            created_at: t,
            updated_at: t,
            deleted_at: deleted.then_some(t),
        }
    }

    /// A data dir from before schema 4 has admins but no index: the migration lists exactly the
    /// live admins, after which the last one is protected.
    #[tokio::test]
    async fn migration_indexes_live_admins_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(TestClock::new(Timestamp::from_millis(1_000_000)));
        let store = Store::open(StoreOptions::new(
            dir.path().to_path_buf(),
            clock,
            crate::storage::SCHEMA_V1,
        ))
        .expect("open");
        let t = Timestamp::from_millis(1_000_000);
        let (live, gone, staff) = (CustomerId::new(t), CustomerId::new(t), CustomerId::new(t));
        store
            .write(move |tx| {
                tx.insert(&CUSTOMERS, &live, &account(live, Role::Admin, false))?;
                tx.insert(&CUSTOMERS, &gone, &account(gone, Role::Admin, true))?;
                tx.insert(&CUSTOMERS, &staff, &account(staff, Role::Staff, false))?;
                migrate_admin_index(tx)
            })
            .await
            .expect("migrate");
        let r = store.read().expect("read");
        let listed: Vec<CustomerId> = r
            .prefix(&ADMINS, &(), None, Order::Asc, 10)
            .expect("scan")
            .into_iter()
            .map(|(id, ())| id)
            .collect();
        assert_eq!(listed, vec![live]);
        let refused = store.write(move |tx| keep_an_admin(tx, live)).await;
        assert!(matches!(refused, Err(AuthError::LastAdmin)), "{refused:?}");
        let other = store.write(move |tx| keep_an_admin(tx, staff)).await;
        assert!(other.is_ok(), "a non-admin can always change: {other:?}");
    }
}
