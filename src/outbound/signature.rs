//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): secrets are `whsec_`
//! followed by base64 of random bytes; the signature of a message is
//! `v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>`, several separated by spaces
//! while a rotated secret overlaps its successor. Receivers verify with any Standard Webhooks
//! library.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Prefix of every secret.
pub const PREFIX: &str = "whsec_";

/// A new secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// The key bytes of a secret (`None` when it is not `whsec_` + base64).
pub fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix(PREFIX)?).ok()
}

/// `v1,<base64>` for one secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key_of(secret)?);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    Some(format!("v1,{}", STANDARD.encode(ctx.sign().as_ref())))
}

/// The `webhook-signature` header for every secret in force.
pub fn header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|s| sign(s, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference tests.
    #[test]
    fn matches_the_reference_implementation() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).expect("sign");
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(new_secret().starts_with(PREFIX));
        assert_eq!(key_of(&new_secret()).map(|k| k.len()), Some(32));
        assert_eq!(
            header(&[secret, secret], "a", 1, b"x").split(' ').count(),
            2
        );
    }
}
