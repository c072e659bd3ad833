//! The `stripe` provider: PaymentIntents (the browser confirms with Stripe's Payment Element
//! and `client_secret`) or a Checkout Session redirect, through async-stripe. Every call that
//! creates or moves money sends our [`OpKey`] as Stripe's `Idempotency-Key`, so a call retried
//! after a lost answer is the same call at Stripe (one PaymentIntent, one refund).

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use stripe::{IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_core::payment_intent::{
    CancelPaymentIntent, CapturePaymentIntent, CreatePaymentIntent,
    CreatePaymentIntentAutomaticPaymentMethods, RetrievePaymentIntent,
};
use stripe_core::refund::CreateRefund;
use stripe_core::{PaymentIntent, PaymentIntentCaptureMethod, PaymentIntentStatus};

use super::{
    BoxFuture, Card, CreateRequest, Decline, Gateway, GatewayError, OpKey, PaymentStatus, Remote,
    RemoteRefund,
};
use crate::core::{Currency, Money};

/// How the browser pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A PaymentIntent confirmed on the shop's page with Stripe's Payment Element.
    PaymentIntents,
    /// A redirect to a Stripe-hosted Checkout Session.
    Checkout,
}

/// Settings of the Stripe provider.
#[derive(Clone, Debug)]
pub struct StripeSettings {
    /// `sk_test_…` / `sk_live_…`.
    pub secret_key: String,
    /// API base URL, ending in `/`.
    pub api_base: String,
    /// PaymentIntents or Checkout.
    pub mode: Mode,
    /// Where Checkout sends the customer back (`{public_url}/orders/{order}`).
    pub public_url: String,
}

/// The `stripe` provider.
pub struct StripeGateway {
    client: stripe::Client,
    settings: StripeSettings,
}

impl std::fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeGateway")
            .field("api_base", &self.settings.api_base)
            .field("mode", &self.settings.mode)
            .finish_non_exhaustive()
    }
}

/// Each call's time limit (Stripe answers in well under a second).
const TIMEOUT: Duration = Duration::from_secs(20);

impl StripeGateway {
    /// A client for `settings`.
    pub fn new(settings: StripeSettings) -> Result<StripeGateway, String> {
        let mut base = settings.api_base.clone();
        if !base.ends_with('/') {
            base.push('/');
        }
        let client = stripe::ClientBuilder::new(settings.secret_key.clone())
            .url(base)
            .timeout(TIMEOUT)
            .request_strategy(RequestStrategy::Once)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(StripeGateway { client, settings })
    }
}

fn strategy(key: &OpKey) -> Result<RequestStrategy, GatewayError> {
    IdempotencyKey::new(&key.0)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| GatewayError::Refused(format!("idempotency key: {e}")))
}

/// A Stripe failure in the provider's terms: 5xx, 429, timeouts and connection errors may
/// pass; other API errors will not.
fn error(e: StripeError) -> GatewayError {
    match e {
        StripeError::Stripe(api, status) if status >= 500 || status == 429 => {
            GatewayError::Unavailable(format!("{status}: {}", api.message.unwrap_or_default()))
        }
        StripeError::Stripe(api, status) => {
            GatewayError::Refused(format!("{status}: {}", api.message.unwrap_or_default()))
        }
        StripeError::Timeout => GatewayError::Unavailable("timed out".into()),
        StripeError::ClientError(m) => GatewayError::Unavailable(m),
        StripeError::JSONDeserialize(m) => {
            GatewayError::Unavailable(format!("unreadable answer: {m}"))
        }
        StripeError::ConfigError(m) => GatewayError::Refused(m),
    }
}

/// Stripe's currency of ours (lower case ISO code).
fn currency(c: Currency) -> stripe_types::Currency {
    match stripe_types::Currency::from_str(&c.as_str().to_ascii_lowercase()) {
        Ok(c) => c,
        Err(never) => match never {},
    }
}

/// Maps Stripe's PaymentIntent status onto ours.
pub fn status_of(s: &PaymentIntentStatus) -> PaymentStatus {
    match s {
        PaymentIntentStatus::RequiresPaymentMethod | PaymentIntentStatus::RequiresConfirmation => {
            PaymentStatus::RequiresPaymentMethod
        }
        PaymentIntentStatus::RequiresAction => PaymentStatus::RequiresAction,
        PaymentIntentStatus::Processing => PaymentStatus::Processing,
        PaymentIntentStatus::RequiresCapture => PaymentStatus::RequiresCapture,
        PaymentIntentStatus::Succeeded => PaymentStatus::Succeeded,
        PaymentIntentStatus::Canceled => PaymentStatus::Canceled,
        // A status newer than this build knows: wait for a known one.
        _ => PaymentStatus::Processing,
    }
}

/// What a PaymentIntent says, in the provider's terms.
fn remote(pi: &PaymentIntent, ours: Currency) -> Remote {
    let status = status_of(&pi.status);
    let amount = match status {
        PaymentStatus::Succeeded => pi.amount_received,
        PaymentStatus::RequiresCapture => pi.amount_capturable,
        _ => pi.amount,
    };
    let cur = if pi.currency.to_string().eq_ignore_ascii_case(ours.as_str()) {
        ours
    } else {
        Currency::parse(&pi.currency.to_string().to_ascii_uppercase()).unwrap_or(ours)
    };
    Remote {
        reference: pi.id.as_str().to_owned(),
        status,
        amount: Money::new(amount, cur),
        charge: pi
            .latest_charge
            .as_ref()
            .map(|c| c.id().as_str().to_owned()),
        decline: pi
            .last_payment_error
            .as_ref()
            .filter(|_| status == PaymentStatus::RequiresPaymentMethod)
            .map(|e| Decline {
                code: e
                    .code
                    .as_ref()
                    .map_or_else(|| "card_declined".to_owned(), |c| c.as_str().to_owned()),
                decline_code: e
                    .decline_code
                    .clone()
                    .unwrap_or_else(|| "generic_decline".into()),
                message: e
                    .message
                    .clone()
                    .unwrap_or_else(|| "Your card was declined.".into()),
            }),
        client_secret: pi.client_secret.clone(),
        redirect_url: None,
    }
}

fn metadata(req: &CreateRequest) -> HashMap<String, String> {
    HashMap::from([
        ("shopd_payment_id".to_owned(), req.payment_id.clone()),
        ("shopd_order_id".to_owned(), req.order_id.clone()),
    ])
}

impl StripeGateway {
    async fn create_intent(&self, req: CreateRequest) -> Result<Remote, GatewayError> {
        let capture = if req.manual_capture {
            PaymentIntentCaptureMethod::Manual
        } else {
            PaymentIntentCaptureMethod::Automatic
        };
        let mut create = CreatePaymentIntent::new(req.amount.amount, currency(req.amount.currency))
            .capture_method(capture)
            .metadata(metadata(&req))
            .automatic_payment_methods(CreatePaymentIntentAutomaticPaymentMethods::new(true));
        if !req.email.is_empty() {
            create = create.receipt_email(req.email.clone());
        }
        let pi = create
            .customize()
            .request_strategy(strategy(&req.key)?)
            .send(&self.client)
            .await
            .map_err(error)?;
        Ok(remote(&pi, req.amount.currency))
    }

    async fn create_session(&self, req: CreateRequest) -> Result<Remote, GatewayError> {
        use stripe_checkout::checkout_session::{
            CreateCheckoutSession, CreateCheckoutSessionLineItems,
            CreateCheckoutSessionLineItemsPriceData, CreateCheckoutSessionPaymentIntentData,
            CreateCheckoutSessionPaymentIntentDataCaptureMethod, ProductData,
        };
        let mut price = CreateCheckoutSessionLineItemsPriceData::new(currency(req.amount.currency));
        price.unit_amount = Some(req.amount.amount);
        price.product_data = Some(ProductData::new(format!("Order {}", req.order_id)));
        let mut line = CreateCheckoutSessionLineItems::new();
        line.price_data = Some(price);
        line.quantity = Some(1);
        let mut intent = CreateCheckoutSessionPaymentIntentData::new();
        intent.metadata = Some(metadata(&req));
        intent.capture_method = Some(if req.manual_capture {
            CreateCheckoutSessionPaymentIntentDataCaptureMethod::Manual
        } else {
            CreateCheckoutSessionPaymentIntentDataCaptureMethod::Automatic
        });
        let back = format!("{}/orders/{}", self.settings.public_url, req.order_id);
        let session = CreateCheckoutSession::new()
            .mode(stripe_checkout::CheckoutSessionMode::Payment)
            .line_items(vec![line])
            .client_reference_id(req.payment_id.clone())
            .metadata(metadata(&req))
            .payment_intent_data(intent)
            .success_url(format!("{back}?paid=1"))
            .cancel_url(back)
            .customer_email(req.email.clone())
            .customize()
            .request_strategy(strategy(&req.key)?)
            .send(&self.client)
            .await
            .map_err(error)?;
        Ok(Remote {
            reference: session.id.as_str().to_owned(),
            status: PaymentStatus::RequiresPaymentMethod,
            amount: req.amount,
            charge: None,
            decline: None,
            client_secret: None,
            redirect_url: session.url.clone(),
        })
    }
}

impl Gateway for StripeGateway {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn create(&self, req: CreateRequest) -> BoxFuture<'_, Result<Remote, GatewayError>> {
        Box::pin(async move {
            match self.settings.mode {
                Mode::PaymentIntents => self.create_intent(req).await,
                Mode::Checkout => self.create_session(req).await,
            }
        })
    }

    /// The browser confirms with Stripe itself; confirming here reads the intent's state.
    fn confirm<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        _card: Option<&'a Card>,
        _key: OpKey,
    ) -> BoxFuture<'a, Result<Remote, GatewayError>> {
        Box::pin(async move {
            self.fetch(reference, amount)
                .await?
                .ok_or_else(|| GatewayError::Refused(format!("no PaymentIntent {reference}")))
        })
    }

    fn capture<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        key: OpKey,
    ) -> BoxFuture<'a, Result<Remote, GatewayError>> {
        Box::pin(async move {
            let pi = CapturePaymentIntent::new(reference)
                .amount_to_capture(amount.amount)
                .customize()
                .request_strategy(strategy(&key)?)
                .send(&self.client)
                .await
                .map_err(error)?;
            Ok(remote(&pi, amount.currency))
        })
    }

    fn cancel<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        key: OpKey,
    ) -> BoxFuture<'a, Result<Remote, GatewayError>> {
        Box::pin(async move {
            let pi = CancelPaymentIntent::new(reference)
                .customize()
                .request_strategy(strategy(&key)?)
                .send(&self.client)
                .await
                .map_err(error)?;
            Ok(remote(&pi, amount.currency))
        })
    }

    fn refund<'a>(
        &'a self,
        reference: &'a str,
        charge: Option<&'a str>,
        amount: Money,
        key: OpKey,
    ) -> BoxFuture<'a, Result<RemoteRefund, GatewayError>> {
        Box::pin(async move {
            let mut create = CreateRefund::new()
                .amount(amount.amount)
                .metadata(HashMap::from([("shopd_key".to_owned(), key.0.clone())]));
            create = match charge {
                Some(c) if c.starts_with("ch_") || c.starts_with("py_") => {
                    create.charge(c.to_owned())
                }
                _ => create.payment_intent(reference.to_owned()),
            };
            let r = create
                .customize()
                .request_strategy(strategy(&key)?)
                .send(&self.client)
                .await
                .map_err(error)?;
            let status = r.status.as_deref().unwrap_or("pending");
            Ok(RemoteRefund {
                reference: r.id.as_str().to_owned(),
                succeeded: status == "succeeded",
                failure: matches!(status, "failed" | "canceled").then(|| {
                    r.failure_reason
                        .clone()
                        .unwrap_or_else(|| status.to_owned())
                }),
            })
        })
    }

    fn fetch<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
    ) -> BoxFuture<'a, Result<Option<Remote>, GatewayError>> {
        Box::pin(async move {
            if !reference.starts_with("pi_") {
                // A Checkout Session not completed yet has no intent to read.
                return Ok(None);
            }
            let pi = RetrievePaymentIntent::new(reference)
                .customize()
                .send(&self.client)
                .await
                .map_err(error)?;
            Ok(Some(remote(&pi, amount.currency)))
        })
    }
}
