//! Email verification and password reset: single-use, expiring, hashed tokens sent by mail.

use serde_json::json;

use super::model::{ONE_TIME, OneTimeToken, Purpose};
use super::*;

impl Auth {
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
                if let Some(c) =
                    customer_by_email(tx, email.as_str())?.filter(|c| c.email_verified_at.is_none())
                {
                    mail_one_time_token(tx, &c, Purpose::VerifyEmail, &token, &link, &s)?;
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
                if let Some(c) = customer_by_email(tx, email.as_str())? {
                    mail_one_time_token(tx, &c, Purpose::ResetPassword, &token, &link, &s)?;
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
}

/// Stores the hash of a single-use `token` for `c` and queues the mail carrying its `link`, in
/// the caller's transaction. Verification mails go to addresses not yet proven, so they never
/// echo the (caller-chosen) name.
pub(super) fn mail_one_time_token(
    tx: &mut WriteTx<'_>,
    c: &Customer,
    purpose: Purpose,
    token: &str,
    link: &str,
    s: &AuthSettings,
) -> Result<(), StorageError> {
    let now = tx.now();
    let (ttl, template, to_name) = match purpose {
        Purpose::VerifyEmail => (s.verify_ttl, "verify_email", None),
        Purpose::ResetPassword => (s.reset_ttl, "reset_password", Some(c.name.as_str())),
    };
    tx.insert(
        &ONE_TIME,
        &secret::hash_token(token),
        &OneTimeToken {
            purpose,
            customer: c.id,
            created_at: now,
            expires_at: now.plus(ttl),
            used_at: None,
        },
    )?;
    let vars = json!({"name": c.name, "link": link, "shop_name": s.shop_name, "expires_in": human_duration(ttl)});
    mailer::enqueue(tx, &Mail::new(&c.email, to_name, template, vars, now))?;
    Ok(())
}
