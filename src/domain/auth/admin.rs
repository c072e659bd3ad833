//! Admin-only account operations: role changes and the first-admin setup token.

use super::model::AUTH_META;
use super::*;

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
}
