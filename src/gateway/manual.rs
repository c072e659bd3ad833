//! The `manual` provider: bank transfer or cash on delivery. No money moves through shopd;
//! staff record it with `mark-paid`, which goes through the same settle path as a card.

use super::{
    BoxFuture, Card, CreateRequest, Gateway, GatewayError, OpKey, PaymentStatus, Remote,
    RemoteRefund,
};
use crate::core::Money;

/// The `manual` provider.
#[derive(Debug, Default)]
pub struct ManualGateway;

fn state(reference: &str, status: PaymentStatus, amount: Money) -> Remote {
    Remote::plain(reference, status, amount)
}

impl Gateway for ManualGateway {
    fn name(&self) -> &'static str {
        "manual"
    }

    fn create(&self, req: CreateRequest) -> BoxFuture<'_, Result<Remote, GatewayError>> {
        let r = state(
            &format!("manual_{}", req.payment_id),
            PaymentStatus::RequiresPaymentMethod,
            req.amount,
        );
        Box::pin(async move { Ok(r) })
    }

    fn confirm<'a>(
        &'a self,
        _reference: &'a str,
        _amount: Money,
        _card: Option<&'a Card>,
        _key: OpKey,
    ) -> BoxFuture<'a, Result<Remote, GatewayError>> {
        Box::pin(async {
            Err(GatewayError::Unsupported(
                "a manual payment is recorded by staff (mark-paid), not confirmed by card",
            ))
        })
    }

    fn capture<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        _key: OpKey,
    ) -> BoxFuture<'a, Result<Remote, GatewayError>> {
        Box::pin(async move { Ok(state(reference, PaymentStatus::Succeeded, amount)) })
    }

    fn cancel<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        _key: OpKey,
    ) -> BoxFuture<'a, Result<Remote, GatewayError>> {
        Box::pin(async move { Ok(state(reference, PaymentStatus::Canceled, amount)) })
    }

    /// Money paid by hand goes back by hand: the refund is recorded as done.
    fn refund<'a>(
        &'a self,
        _reference: &'a str,
        _charge: Option<&'a str>,
        _amount: Money,
        key: OpKey,
    ) -> BoxFuture<'a, Result<RemoteRefund, GatewayError>> {
        Box::pin(async move { Ok(super::local_refund("manual", &key)) })
    }

    fn fetch<'a>(
        &'a self,
        _reference: &'a str,
        _amount: Money,
    ) -> BoxFuture<'a, Result<Option<Remote>, GatewayError>> {
        Box::pin(async { Ok(None) })
    }
}
