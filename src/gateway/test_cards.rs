//! The built-in `test` provider: Stripe's test card numbers with Stripe's meanings, decided
//! offline and deterministically, so the whole shop (and every test suite) can take a payment
//! with no network. It keeps no state of its own: shopd's payment record is the truth, and the
//! same key always gives the same answer (as a retried call does at Stripe).

use super::{
    BoxFuture, Card, CreateRequest, Decline, Gateway, GatewayError, OpKey, PaymentStatus, Remote,
    RemoteRefund,
};
use crate::core::Money;

/// What a test card does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Succeeds.
    Succeeds,
    /// Refused with this decline code.
    Declines(&'static str),
    /// Needs 3-D Secure (`requires_action`, then approve or deny).
    Authenticates,
}

/// Stripe's documented test numbers and what each does.
pub const CARDS: &[(&str, Behaviour)] = &[
    ("4242424242424242", Behaviour::Succeeds),
    ("5555555555554444", Behaviour::Succeeds),
    ("378282246310005", Behaviour::Succeeds),
    ("4000000000000002", Behaviour::Declines("generic_decline")),
    (
        "4000000000009995",
        Behaviour::Declines("insufficient_funds"),
    ),
    ("4000000000000069", Behaviour::Declines("expired_card")),
    ("4000000000000127", Behaviour::Declines("incorrect_cvc")),
    ("4000000000000119", Behaviour::Declines("processing_error")),
    ("4000002760003184", Behaviour::Authenticates),
];

/// The provider's reference of our payment.
pub fn reference(payment_id: &str) -> String {
    format!("test_{payment_id}")
}

/// What a card number does: a listed number as listed, a number failing the Luhn check
/// `incorrect_number`, any other number `card_declined` (`test_mode_live_card`), as in
/// Stripe's test mode.
pub fn behaviour(number: &str) -> Behaviour {
    if let Some((_, b)) = CARDS.iter().find(|(n, _)| *n == number) {
        return *b;
    }
    if !luhn(number) {
        return Behaviour::Declines("incorrect_number");
    }
    Behaviour::Declines("test_mode_live_card")
}

fn luhn(number: &str) -> bool {
    let digits: Option<Vec<u32>> = number.chars().map(|c| c.to_digit(10)).collect();
    let Some(digits) = digits else { return false };
    if digits.len() < 12 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The message Stripe shows for a decline code.
pub fn message(decline_code: &str) -> &'static str {
    match decline_code {
        "insufficient_funds" => "Your card has insufficient funds.",
        "expired_card" => "Your card has expired.",
        "incorrect_cvc" => "Your card's security code is incorrect.",
        "processing_error" => "An error occurred while processing your card. Try again.",
        "incorrect_number" => "Your card number is incorrect.",
        "authentication_failed" => "The card could not be authenticated.",
        "test_mode_live_card" => "Your card was declined: this shop takes test cards only.",
        _ => "Your card was declined.",
    }
}

fn decline(code: &str) -> Decline {
    Decline {
        code: "card_declined".into(),
        decline_code: code.into(),
        message: message(code).into(),
    }
}

fn remote(reference: &str, status: PaymentStatus, amount: Money, key: &OpKey) -> Remote {
    Remote {
        charge: status.is_secured().then(|| charge_of(key)),
        ..Remote::plain(reference, status, amount)
    }
}

/// The charge a successful attempt made: named after the attempt's key, so a retry of the
/// same attempt names the same charge.
fn charge_of(key: &OpKey) -> String {
    format!("ch_{}", key.0.replace(':', "_"))
}

/// Confirms `card` for `amount`. `manual_capture` holds the money instead of taking it.
/// `today` is (year, month): a card that expired before it is `expired_card`.
pub fn confirm(
    reference: &str,
    card: &Card,
    amount: Money,
    manual_capture: bool,
    today: (u32, u32),
    key: &OpKey,
) -> Remote {
    let secured = if manual_capture {
        PaymentStatus::RequiresCapture
    } else {
        PaymentStatus::Succeeded
    };
    if (card.exp_year, card.exp_month) < today {
        let mut r = remote(reference, PaymentStatus::RequiresPaymentMethod, amount, key);
        r.decline = Some(decline("expired_card"));
        return r;
    }
    match behaviour(&card.number) {
        Behaviour::Succeeds => remote(reference, secured, amount, key),
        Behaviour::Authenticates => remote(reference, PaymentStatus::RequiresAction, amount, key),
        Behaviour::Declines(code) => {
            let mut r = remote(reference, PaymentStatus::RequiresPaymentMethod, amount, key);
            r.decline = Some(decline(code));
            r
        }
    }
}

/// The customer's answer to 3-D Secure: approval secures the money, denial is a decline the
/// customer may answer with another card.
pub fn authenticate(
    reference: &str,
    approve: bool,
    amount: Money,
    manual_capture: bool,
    key: &OpKey,
) -> Remote {
    if approve {
        let s = if manual_capture {
            PaymentStatus::RequiresCapture
        } else {
            PaymentStatus::Succeeded
        };
        remote(reference, s, amount, key)
    } else {
        let mut r = remote(reference, PaymentStatus::RequiresPaymentMethod, amount, key);
        r.decline = Some(decline("authentication_failed"));
        r
    }
}

/// The `test` provider as a [`Gateway`]: capture, cancel and refund always succeed.
#[derive(Debug, Default)]
pub struct TestGateway;

impl Gateway for TestGateway {
    fn name(&self) -> &'static str {
        "test"
    }

    fn create(&self, req: CreateRequest) -> BoxFuture<'_, Result<Remote, GatewayError>> {
        let r = Remote {
            reference: reference(&req.payment_id),
            status: PaymentStatus::RequiresPaymentMethod,
            amount: req.amount,
            charge: None,
            decline: None,
            client_secret: Some(format!("{}_secret_test", req.payment_id)),
            redirect_url: None,
        };
        Box::pin(async move { Ok(r) })
    }

    fn confirm<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        card: Option<&'a Card>,
        key: OpKey,
    ) -> BoxFuture<'a, Result<Remote, GatewayError>> {
        Box::pin(async move {
            let card = card.ok_or(GatewayError::Unsupported("the test provider needs a card"))?;
            Ok(confirm(reference, card, amount, false, (0, 0), &key))
        })
    }

    fn capture<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        key: OpKey,
    ) -> BoxFuture<'a, Result<Remote, GatewayError>> {
        Box::pin(async move { Ok(remote(reference, PaymentStatus::Succeeded, amount, &key)) })
    }

    fn cancel<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        key: OpKey,
    ) -> BoxFuture<'a, Result<Remote, GatewayError>> {
        Box::pin(async move { Ok(remote(reference, PaymentStatus::Canceled, amount, &key)) })
    }

    fn refund<'a>(
        &'a self,
        _reference: &'a str,
        _charge: Option<&'a str>,
        _amount: Money,
        key: OpKey,
    ) -> BoxFuture<'a, Result<RemoteRefund, GatewayError>> {
        Box::pin(async move { Ok(super::local_refund("re", &key)) })
    }

    fn fetch<'a>(
        &'a self,
        _reference: &'a str,
        _amount: Money,
    ) -> BoxFuture<'a, Result<Option<Remote>, GatewayError>> {
        Box::pin(async move { Ok(None) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Currency;

    fn card(n: &str) -> Card {
        Card {
            number: n.into(),
            exp_month: 12,
            exp_year: 2034,
            cvc: "123".into(),
        }
    }

    #[test]
    fn every_listed_card_passes_luhn_and_does_what_stripe_documents() {
        for (n, _) in CARDS {
            assert!(luhn(n), "{n}");
        }
        let usd = Money::new(1000, Currency::USD);
        let key = OpKey::new("pay_1", "confirm", 1);
        let ok = confirm(
            "test_pay_1",
            &card("4242424242424242"),
            usd,
            false,
            (2026, 12),
            &key,
        );
        assert_eq!(ok.status, PaymentStatus::Succeeded);
        assert_eq!(ok.charge.as_deref(), Some("ch_pay_1_confirm_1"));
        let held = confirm(
            "test_pay_1",
            &card("4242424242424242"),
            usd,
            true,
            (2026, 12),
            &key,
        );
        assert_eq!(held.status, PaymentStatus::RequiresCapture);
        let no = confirm(
            "test_pay_1",
            &card("4000000000009995"),
            usd,
            false,
            (2026, 12),
            &key,
        );
        assert_eq!(no.status, PaymentStatus::RequiresPaymentMethod);
        assert_eq!(no.charge, None);
        assert_eq!(
            no.decline.map(|d| d.decline_code),
            Some("insufficient_funds".into())
        );
        let three_ds = confirm("t", &card("4000002760003184"), usd, false, (2026, 12), &key);
        assert_eq!(three_ds.status, PaymentStatus::RequiresAction);
        assert_eq!(
            behaviour("4242424242424241"),
            Behaviour::Declines("incorrect_number")
        );
        assert_eq!(
            behaviour("4111111111111111"),
            Behaviour::Declines("test_mode_live_card")
        );
        let mut old = card("4242424242424242");
        old.exp_year = 2026;
        old.exp_month = 11;
        let expired = confirm("t", &old, usd, false, (2026, 12), &key);
        assert_eq!(
            expired.decline.map(|d| d.decline_code),
            Some("expired_card".into())
        );
    }
}
