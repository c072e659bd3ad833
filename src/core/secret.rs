//! Random opaque tokens and their hashes: only hashes are stored, so a database leak does not
//! leak usable tokens (refresh tokens, cart tokens, order tokens).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A fresh random token: `prefix` + 256 bits in URL-safe base64.
pub fn new_token(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of a token, the only form stored (tokens carry 256 bits, so no salt is needed).
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Lower-case hex, for hashes shown in keys, scopes and ETags.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Random bytes for ids that never leave the server.
pub fn random_id() -> Vec<u8> {
    let b: [u8; 16] = rand::random();
    b.to_vec()
}

/// A setting that holds a secret (signing key, SMTP password, API key). It never prints: Debug
/// shows `Secret(<set>)`, and serialising (`check-config`, `config example`) writes `<set>` or
/// `<unset>`, never the value. Reading accepts the real value; `""` and `<unset>` mean unset, and
/// `<set>` (the placeholder, pasted back by mistake) is refused.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Placeholder written for a secret that is set.
    pub const SET: &'static str = "<set>";
    /// Placeholder written for a secret that is not.
    pub const UNSET: &'static str = "<unset>";

    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that needs it (a signer, a transport).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no value is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.is_empty() {
            Self::UNSET
        } else {
            Self::SET
        };
        write!(f, "Secret({shown})")
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.is_empty() {
            Self::UNSET
        } else {
            Self::SET
        })
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "" | Secret::UNSET => Ok(Secret::default()),
            Secret::SET => Err(serde::de::Error::custom(
                "`<set>` is the placeholder check-config prints; put the secret itself here",
            )),
            _ => Ok(Secret(s)),
        }
    }
}

/// Several secrets (webhook signing secrets during a rotation): never printed, like [`Secret`];
/// written as a list of placeholders.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretList(Vec<String>);

impl SecretList {
    /// Wraps values.
    pub fn new(values: Vec<String>) -> Self {
        SecretList(values)
    }

    /// The values, for the one place that needs them.
    pub fn expose(&self) -> &[String] {
        &self.0
    }
}

impl std::fmt::Debug for SecretList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretList({} set)", self.0.len())
    }
}

impl serde::Serialize for SecretList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for _ in &self.0 {
            seq.serialize_element(Secret::SET)?;
        }
        seq.end()
    }
}

impl<'de> serde::Deserialize<'de> for SecretList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items = Vec::<String>::deserialize(d)?;
        if items.iter().any(|s| s == Secret::SET) {
            return Err(serde::de::Error::custom(
                "`<set>` is the placeholder check-config prints; put the secret itself here",
            ));
        }
        Ok(SecretList(
            items.into_iter().filter(|s| !s.is_empty()).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let a = new_token("rt_");
        let b = new_token("rt_");
        assert_ne!(a, b);
        assert!(a.starts_with("rt_") && a.len() == 3 + 43);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}
