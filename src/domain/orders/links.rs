//! Links to an order's page in its mails. The confirmation goes out when the payment settles,
//! where only the hash of the guest's order token is kept, so the link carries its own proof:
//! `ol_` and an HMAC-SHA256 of the order id under the shop's link key (`<data_dir>/secrets/
//! order-links.key`). Whoever holds the mail may see that order, and nothing else.

use ring::hmac;

use super::{Orders, Viewer};
use crate::core::OrderId;

/// Prefix of order links' tokens.
pub const LINK_PREFIX: &str = "ol_";

/// Proof that a viewer holds the mailed link of one order (made only by [`Orders::link_viewer`]).
#[derive(Clone, Debug)]
pub struct LinkProof {
    order: OrderId,
}

impl LinkProof {
    /// The order the link is for.
    pub fn order(&self) -> OrderId {
        self.order
    }
}

fn mac(key: &[u8], id: OrderId) -> hmac::Tag {
    hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, key),
        id.to_string().as_bytes(),
    )
}

/// The token of order `id`'s link under `key`.
pub fn link_token(key: &[u8], id: OrderId) -> String {
    let tag = mac(key, id);
    format!(
        "{LINK_PREFIX}{}",
        crate::core::secret::hex(&tag.as_ref()[..16])
    )
}

impl Orders {
    /// The viewer a mailed link's `token` makes of its holder, if it is order `id`'s.
    pub fn link_viewer(&self, id: &str, token: &str) -> Option<Viewer> {
        let key = self.settings.link_key.expose().as_bytes();
        let id = OrderId::parse(id).ok()?;
        if key.is_empty() || !token.starts_with(LINK_PREFIX) {
            return None;
        }
        let expected = link_token(key, id);
        let same = expected.len() == token.len()
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                expected.as_bytes(),
                token.as_bytes(),
            ));
        same.then_some(Viewer::Linked(LinkProof { order: id }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Timestamp;

    #[test]
    fn a_link_opens_its_own_order_only() {
        let key = b"0123456789abcdef0123456789abcdef";
        let a = OrderId::new(Timestamp::from_millis(1));
        let b = OrderId::new(Timestamp::from_millis(2));
        let t = link_token(key, a);
        assert!(t.starts_with(LINK_PREFIX) && t.len() == 3 + 32);
        assert_eq!(t, link_token(key, a), "stable");
        assert_ne!(t, link_token(key, b));
        assert_ne!(t, link_token(b"another key of thirty-two bytes!", a));
    }
}
