//! Short-lived access tokens: HS256 JWTs with a pinned algorithm, `typ: at+jwt` (RFC 9068),
//! issuer, audience and expiry checked (RFC 8725), and a `kid` so keys can rotate. Expiry is
//! checked against the time passed in, never the system clock.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::Timestamp;

/// Name of the signing-key file in the secrets directory.
pub const KEY_FILE: &str = "jwt.key";

/// The contents of a new key file: one random 256-bit key, base64url, one line.
pub fn fresh_key_file() -> Vec<u8> {
    let key: [u8; 32] = rand::random();
    format!("{}\n", URL_SAFE_NO_PAD.encode(key)).into_bytes()
}

/// JOSE `typ` of access tokens.
pub const ACCESS_TYP: &str = "at+jwt";

/// How far a token's `iat` may lie ahead of this clock, and its life beyond the configured TTL
/// (clocks of several nodes drift a little).
pub const CLOCK_SKEW_SECS: i64 = 60;

/// Claims of an access token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Subject: the customer id.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// Role at issue time (informative; the current role is read from the store).
    pub role: String,
    /// Session (refresh family) the token belongs to: revoking the session revokes the token.
    pub sid: String,
}

struct Key {
    kid: String,
    enc: EncodingKey,
    dec: DecodingKey,
}

/// The signing key and the older keys still accepted for verification.
pub struct Keys {
    keys: Vec<Key>,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field(
                "kids",
                &self.keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn kid_of(secret: &[u8]) -> String {
    let d = Sha256::digest(secret);
    d[..6].iter().map(|b| format!("{b:02x}")).collect()
}

impl Keys {
    /// Keys from secrets, newest (signing) first.
    pub fn new(secrets: &[Vec<u8>], issuer: &str, audience: &str) -> Result<Keys, String> {
        if secrets.is_empty() {
            return Err("no signing key".into());
        }
        let mut keys = Vec::new();
        for s in secrets {
            if s.len() < 32 {
                return Err("signing keys must be at least 32 bytes".into());
            }
            keys.push(Key {
                kid: kid_of(s),
                enc: EncodingKey::from_secret(s),
                dec: DecodingKey::from_secret(s),
            });
        }
        Ok(Keys {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// Loads `<dir>/jwt.key` (one base64url key per line, newest first; prepend a line to rotate),
    /// creating it with a fresh random key (mode 0600) on first start. A configured secret, when
    /// given, signs instead and the file's keys still verify.
    pub fn load_or_create(
        dir: &Path,
        configured: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<Keys, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(KEY_FILE);
        if !path.exists() {
            write_private(&path, &fresh_key_file())
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut secrets: Vec<Vec<u8>> = Vec::new();
        if !configured.is_empty() {
            secrets.push(configured.as_bytes().to_vec());
        }
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            secrets.push(
                URL_SAFE_NO_PAD
                    .decode(line)
                    .map_err(|_| format!("{}: a line is not base64url", path.display()))?,
            );
        }
        Keys::new(&secrets, issuer, audience)
    }

    /// Signs an access token for `sub` valid from `now` for `ttl_secs`.
    pub fn sign(
        &self,
        sub: &str,
        sid: &str,
        role: &str,
        now: Timestamp,
        ttl_secs: u64,
    ) -> Result<(String, Claims), String> {
        let key = self.keys.first().ok_or("no signing key")?;
        let iat = now.as_millis() / 1000;
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: sub.to_owned(),
            exp: iat + i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2),
            iat,
            jti: super::secret::new_token(""),
            role: role.to_owned(),
            sid: sid.to_owned(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TYP.into());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.enc)
            .map(|t| (t, claims))
            .map_err(|e| e.to_string())
    }

    /// Verifies signature, algorithm, `typ`, `kid`, issuer, audience and expiry at `now`, and
    /// that the token claims no longer a life than this server issues (`max_ttl_secs` plus
    /// [`CLOCK_SKEW_SECS`]): a token with `exp` years ahead, even signed with the real key (a
    /// leaked key, an old build, a misconfigured peer), is refused.
    pub fn verify(&self, token: &str, now: Timestamp, max_ttl_secs: u64) -> Option<Claims> {
        if token.len() > 4096 {
            return None;
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::HS256 || header.typ.as_deref() != Some(ACCESS_TYP) {
            return None;
        }
        let kid = header.kid?;
        let key = self.keys.iter().find(|k| k.kid == kid)?;
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = false; // checked below against the injected clock
        v.set_issuer(&[self.issuer.as_str()]);
        v.set_audience(&[self.audience.as_str()]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = 0;
        let c = jsonwebtoken::decode::<Claims>(token, &key.dec, &v)
            .ok()?
            .claims;
        let now = now.as_millis() / 1000;
        let max = i64::try_from(max_ttl_secs).unwrap_or(i64::MAX / 4) + CLOCK_SKEW_SECS;
        let plausible =
            c.iat <= now + CLOCK_SKEW_SECS && c.exp - c.iat <= max && c.exp - now <= max;
        (c.exp > now && plausible).then_some(c)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &[u8]) -> Keys {
        Keys::new(&[secret.to_vec()], "shopd", "shopd-api").expect("keys")
    }

    #[test]
    fn round_trip_and_rejections() {
        let k = keys(&[7u8; 32]);
        let now = Timestamp::from_millis(1_800_000_000_000);
        let (t, c) = k.sign("cus_x", "00", "customer", now, 900).expect("sign");
        assert_eq!(k.verify(&t, now, 900).map(|c| c.sub), Some("cus_x".into()));
        assert_eq!(c.exp - c.iat, 900);
        // expired
        assert!(
            k.verify(&t, now.plus(std::time::Duration::from_secs(900)), 900)
                .is_none()
        );
        // other key
        assert!(keys(&[8u8; 32]).verify(&t, now, 900).is_none());
        // other audience
        let other = Keys::new(&[vec![7u8; 32]], "shopd", "elsewhere").expect("keys");
        assert!(other.verify(&t, now, 900).is_none());
        // tampered payload
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(br#"{"iss":"shopd","aud":"shopd-api","sub":"cus_admin","exp":9999999999,"iat":0,"jti":"x","role":"admin","sid":"00"}"#);
        assert!(k.verify(&parts.join("."), now, 900).is_none());
        // alg none
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt","kid":"x"}"#);
        assert!(
            k.verify(&format!("{none_header}.{}.", parts[1]), now, 900)
                .is_none()
        );
    }

    #[test]
    fn lifetimes_beyond_the_configured_ttl_are_refused() {
        let k = keys(&[7u8; 32]);
        let now = Timestamp::from_millis(1_800_000_000_000);
        let year = 365 * 24 * 3600;
        let (long, _) = k.sign("cus_x", "00", "admin", now, year).expect("sign");
        assert!(k.verify(&long, now, 900).is_none(), "a year-long token");
        let (ok, _) = k.sign("cus_x", "00", "admin", now, 900).expect("sign");
        assert!(k.verify(&ok, now, 900).is_some());
        // Issued in the future beyond the skew.
        let later = now.plus(std::time::Duration::from_secs(3600));
        let (future, _) = k.sign("cus_x", "00", "admin", later, 900).expect("sign");
        assert!(k.verify(&future, now, 900).is_none(), "iat an hour ahead");
        let soon = now.plus(std::time::Duration::from_secs(30));
        let (skewed, _) = k.sign("cus_x", "00", "admin", soon, 900).expect("sign");
        assert!(
            k.verify(&skewed, now, 900).is_some(),
            "within the clock skew"
        );
    }

    #[test]
    fn rotation_keeps_old_tokens_valid() {
        let old = vec![1u8; 32];
        let new = vec![2u8; 32];
        let now = Timestamp::from_millis(1_800_000_000_000);
        let (t, _) = Keys::new(std::slice::from_ref(&old), "i", "a")
            .expect("k")
            .sign("s", "00", "customer", now, 60)
            .expect("sign");
        let rotated = Keys::new(&[new, old], "i", "a").expect("k");
        assert!(rotated.verify(&t, now, 60).is_some());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = Timestamp::from_millis(1_800_000_000_000);
        let a = Keys::load_or_create(dir.path(), "", "i", "a").expect("create");
        let (t, _) = a.sign("s", "00", "customer", now, 60).expect("sign");
        let b = Keys::load_or_create(dir.path(), "", "i", "a").expect("reload");
        assert!(b.verify(&t, now, 60).is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("jwt.key"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
