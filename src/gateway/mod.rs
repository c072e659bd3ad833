//! Payment providers behind one interface: create, confirm, capture, cancel, refund and fetch
//! a payment at the provider. Knows no domain: it speaks in provider references, amounts and
//! the provider's statuses, and `domain/payments` turns what it answers into state through the
//! one settle path.
//!
//! Every call that creates or moves money carries an [`OpKey`] derived from our payment id,
//! the operation and the attempt, so a retried call (after a timeout or a crash) is the same
//! call at the provider and never charges twice.

pub mod manual;
pub mod stripe;
pub mod test_cards;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::core::Money;

/// A boxed future, so providers can be trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a payment is at its provider (Stripe's PaymentIntent statuses, which every provider
/// maps onto).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = PaymentStatus)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Waiting for a card (or after a decline: waiting for another try).
    RequiresPaymentMethod,
    /// The customer must authenticate (3-D Secure).
    RequiresAction,
    /// The provider is still deciding.
    Processing,
    /// Authorized; the money is held until captured.
    RequiresCapture,
    /// Captured.
    Succeeded,
    /// Cancelled before any money moved.
    Canceled,
    /// Failed for good (the provider gave up).
    Failed,
}

impl PaymentStatus {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::RequiresPaymentMethod => "requires_payment_method",
            PaymentStatus::RequiresAction => "requires_action",
            PaymentStatus::Processing => "processing",
            PaymentStatus::RequiresCapture => "requires_capture",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Canceled => "canceled",
            PaymentStatus::Failed => "failed",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<PaymentStatus> {
        [
            PaymentStatus::RequiresPaymentMethod,
            PaymentStatus::RequiresAction,
            PaymentStatus::Processing,
            PaymentStatus::RequiresCapture,
            PaymentStatus::Succeeded,
            PaymentStatus::Canceled,
            PaymentStatus::Failed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// The money is secured (held or captured): the states that act on the order.
    pub fn is_secured(self) -> bool {
        matches!(
            self,
            PaymentStatus::RequiresCapture | PaymentStatus::Succeeded
        )
    }

    /// No provider event moves it any further.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            PaymentStatus::Succeeded | PaymentStatus::Canceled | PaymentStatus::Failed
        )
    }

    /// How far along the happy path: an observation of a lower rank than the payment's is
    /// stale (an event that arrived late) and changes nothing.
    pub fn rank(self) -> u8 {
        match self {
            PaymentStatus::RequiresPaymentMethod => 0,
            PaymentStatus::RequiresAction => 1,
            PaymentStatus::Processing => 2,
            PaymentStatus::RequiresCapture => 3,
            PaymentStatus::Succeeded | PaymentStatus::Canceled | PaymentStatus::Failed => 4,
        }
    }
}

/// Why the provider refused a charge: Stripe's error code and decline code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decline {
    /// `card_declined` for every refusal a customer can answer with another card.
    pub code: String,
    /// Stripe's decline code: `generic_decline`, `insufficient_funds`, `expired_card`,
    /// `incorrect_cvc`, `processing_error`, `authentication_failed`, …
    pub decline_code: String,
    /// Safe to show the customer.
    pub message: String,
}

/// A card as the test provider's form sends it (never stored: only its last four digits).
#[derive(Clone, Debug)]
pub struct Card {
    /// Digits only.
    pub number: String,
    /// 1–12.
    pub exp_month: u32,
    /// Four digits.
    pub exp_year: u32,
    /// Three or four digits.
    pub cvc: String,
}

/// What the provider says about one payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    /// The provider's id of the payment (PaymentIntent id, `test_…`).
    pub reference: String,
    /// Its status there.
    pub status: PaymentStatus,
    /// The amount the provider holds or took (compared with ours before anything is paid).
    pub amount: Money,
    /// The charge that moved the money, when one did (a second, different charge for the
    /// same order is a duplicate and is refunded).
    pub charge: Option<String>,
    /// Why the last attempt was refused.
    pub decline: Option<Decline>,
    /// What the browser needs to confirm (Stripe's client secret).
    pub client_secret: Option<String>,
    /// Where to send the browser (a hosted checkout page).
    pub redirect_url: Option<String>,
}

impl Remote {
    /// A payment in `status` with nothing else to say (the built-in providers' answers).
    pub fn plain(reference: &str, status: PaymentStatus, amount: Money) -> Remote {
        Remote {
            reference: reference.to_owned(),
            status,
            amount,
            charge: None,
            decline: None,
            client_secret: None,
            redirect_url: None,
        }
    }
}

/// A refund the built-in providers record as done at once (`<prefix>_<key>`).
pub fn local_refund(prefix: &str, key: &OpKey) -> RemoteRefund {
    RemoteRefund {
        reference: format!("{prefix}_{}", key.0.replace(':', "_")),
        succeeded: true,
        failure: None,
    }
}

/// What the provider says about one refund.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteRefund {
    /// The provider's refund id.
    pub reference: String,
    /// `true` once the money went back; `false` while pending.
    pub succeeded: bool,
    /// Why it failed, when it did.
    pub failure: Option<String>,
}

/// The idempotency key of one money-moving call: `<payment id>:<operation>:<attempt>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpKey(pub String);

impl OpKey {
    /// The key of `operation` (`create`, `confirm`, `capture`, `cancel`, `refund`) number
    /// `attempt` on `payment`.
    pub fn new(payment: &str, operation: &str, attempt: u32) -> OpKey {
        OpKey(format!("{payment}:{operation}:{attempt}"))
    }
}

/// Why a provider call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The provider could not be reached or answered 5xx: retrying may help.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request itself (bad parameters, unknown object): retrying
    /// the same call cannot help.
    #[error("provider refused the request: {0}")]
    Refused(String),
    /// The operation does not exist for this provider (a manual payment has no card).
    #[error("{0}")]
    Unsupported(&'static str),
}

/// What creating a payment needs.
#[derive(Clone, Debug)]
pub struct CreateRequest {
    /// Our payment id (in the provider's metadata, so its events lead back to us).
    pub payment_id: String,
    /// Our order id (metadata).
    pub order_id: String,
    /// The order's total due.
    pub amount: Money,
    /// Authorize only; capture later.
    pub manual_capture: bool,
    /// The customer's email (receipts).
    pub email: String,
    /// Key of this creation.
    pub key: OpKey,
}

/// One payment provider.
pub trait Gateway: Send + Sync + std::fmt::Debug {
    /// `test`, `stripe` or `manual`.
    fn name(&self) -> &'static str;
    /// Creates the payment at the provider.
    fn create(&self, req: CreateRequest) -> BoxFuture<'_, Result<Remote, GatewayError>>;
    /// Confirms with a card (the test provider's form); providers whose browser flow confirms
    /// by itself answer the current state.
    fn confirm<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        card: Option<&'a Card>,
        key: OpKey,
    ) -> BoxFuture<'a, Result<Remote, GatewayError>>;
    /// Captures an authorization.
    fn capture<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        key: OpKey,
    ) -> BoxFuture<'a, Result<Remote, GatewayError>>;
    /// Cancels a payment that took no money.
    fn cancel<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        key: OpKey,
    ) -> BoxFuture<'a, Result<Remote, GatewayError>>;
    /// Returns `amount` of a captured payment (or of one `charge` of it).
    fn refund<'a>(
        &'a self,
        reference: &'a str,
        charge: Option<&'a str>,
        amount: Money,
        key: OpKey,
    ) -> BoxFuture<'a, Result<RemoteRefund, GatewayError>>;
    /// The payment as the provider knows it now; `None` when the provider keeps no state of
    /// its own (the test and manual providers: shopd's record is the truth).
    fn fetch<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
    ) -> BoxFuture<'a, Result<Option<Remote>, GatewayError>>;
}
