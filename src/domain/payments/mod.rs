//! Payments: a record per payment of an order (`pay_…`), created by checkout in the same write
//! as the order, moved only by the one settle path ([`settle::settle`]) whoever reports the
//! provider's state, and refunded through queued provider calls with idempotency keys.
//! Providers sit behind [`crate::gateway::Gateway`]; the `test` provider decides offline.

pub mod model;
mod payload;
mod reconcile;
mod refund;
pub mod settle;
mod stripe_events;

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::core::errors::{self as codes, Code, ErrorCode, FieldIssue};
use crate::core::secret::new_token;
use crate::core::{Money, OrderId, PaymentId, RefundId};
use crate::domain::orders::{self, Order, OrderError, OrderView, Status, Viewer};
use crate::domain::{idempotency, inventory};
use crate::gateway::{
    self, Card, Decline, Gateway, GatewayError, OpKey, PaymentStatus, test_cards,
};
use crate::jobs;
use crate::storage::{Order as ScanOrder, Reader, StorageError, Store, WriteTx};

pub use model::{
    Attempt, Capture, MAX_ATTEMPTS, Payment, PaymentRef, PaymentView, Refund, RefundKind,
    RefundStatus, Restocked,
};
use model::{BY_ORDER, PAYMENTS};
pub use payload::{PaymentEventV1, RefundEventV1};
pub use reconcile::{RECONCILE_EVERY, RECONCILE_JOB, Reconciled};
pub use refund::{RefundInput, RefundOutcome, RefundView, RestockLine};
pub use settle::{Effect, Observation, SettleSettings, Source};
pub use stripe_events::Ack;

/// Job kind of one refund's provider call.
pub const REFUND_JOB: &str = "payment.refund";

/// Job kind that asks the provider for a payment's state and settles it (a webhook whose
/// meaning depends on the order of events).
pub const REFRESH_JOB: &str = "payment.refresh";

/// Payload of [`REFRESH_JOB`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RefreshJob {
    /// The payment.
    pub payment_id: PaymentId,
}

/// Payload of [`REFUND_JOB`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RefundJob {
    /// The payment.
    pub payment_id: PaymentId,
    /// Its refund.
    pub refund_id: RefundId,
}

/// Why a payment operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// No such payment or order, or not the caller's.
    #[error("no such payment")]
    NotFound,
    /// The card was refused; the payment waits for another try.
    #[error("{}", .0.message)]
    Declined(Decline),
    /// The payment cannot be confirmed or captured now.
    #[error("{0}")]
    NotPayable(String),
    /// Invalid input fields.
    #[error("invalid payment request")]
    Invalid(Vec<FieldIssue>),
    /// The order refused the change.
    #[error(transparent)]
    Order(#[from] OrderError),
    /// The `Idempotency-Key` cannot be used.
    #[error(transparent)]
    Key(#[from] idempotency::KeyError),
    /// The provider could not be reached; nothing changed.
    #[error("payment provider unavailable: {0}")]
    Provider(String),
    /// A webhook whose signature does not verify (or that cannot be read): nothing done.
    #[error("{0}")]
    Signature(String),
    /// A fault that is not storage's.
    #[error("internal: {0}")]
    Internal(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ErrorCode for PaymentError {
    fn code(&self) -> Code {
        match self {
            PaymentError::NotFound => codes::NOT_FOUND,
            PaymentError::Declined(_) => codes::CARD_DECLINED,
            PaymentError::NotPayable(_) => codes::PAYMENT_NOT_PAYABLE,
            PaymentError::Invalid(_) => codes::VALIDATION_FAILED,
            PaymentError::Order(o) => o.code(),
            PaymentError::Key(k) => k.code(),
            PaymentError::Provider(_) => codes::PAYMENT_PROVIDER_UNAVAILABLE,
            PaymentError::Signature(_) => codes::WEBHOOK_SIGNATURE_INVALID,
            PaymentError::Internal(_) => codes::INTERNAL_ERROR,
            PaymentError::Storage(s) => s.code(),
        }
    }
    fn message(&self) -> String {
        match self {
            PaymentError::Order(o) => o.message(),
            PaymentError::Invalid(i) => codes::joined(i),
            PaymentError::Internal(_) => codes::INTERNAL_MESSAGE.into(),
            PaymentError::Storage(s) => s.message(),
            other => other.to_string(),
        }
    }
    fn fields(&self) -> Vec<FieldIssue> {
        match self {
            PaymentError::Invalid(i) => i.clone(),
            PaymentError::Order(o) => o.fields(),
            _ => Vec::new(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            PaymentError::Provider(_) => Some(5),
            PaymentError::Storage(s) => s.retry_after(),
            _ => None,
        }
    }
    fn decline_code(&self) -> Option<String> {
        match self {
            PaymentError::Declined(d) => Some(d.decline_code.clone()),
            _ => None,
        }
    }
}

impl From<inventory::InventoryError> for PaymentError {
    fn from(e: inventory::InventoryError) -> Self {
        match e {
            inventory::InventoryError::Storage(s) => PaymentError::Storage(s),
            other => PaymentError::Internal(other.to_string()),
        }
    }
}

impl From<orders::TransitionError> for PaymentError {
    fn from(e: orders::TransitionError) -> Self {
        PaymentError::Order(e.into())
    }
}

fn invalid(field: &str, message: impl Into<String>) -> PaymentError {
    PaymentError::Invalid(vec![FieldIssue::new(field, "invalid", message.into())])
}

/// Payment settings.
#[derive(Clone, Debug)]
pub struct PaymentSettings {
    /// Provider of new payments: `test`, `stripe` or `manual`.
    pub provider: String,
    /// When new payments take the money.
    pub capture: Capture,
    /// What the settle path needs.
    pub settle: SettleSettings,
    /// Stripe webhook signing secrets (several during a rotation).
    pub stripe_webhook_secrets: Vec<String>,
    /// How long a payment may stay open before reconciliation asks its provider.
    pub reconcile_after: std::time::Duration,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        PaymentSettings {
            provider: "test".into(),
            capture: Capture::Automatic,
            settle: SettleSettings::default(),
            stripe_webhook_secrets: Vec::new(),
            reconcile_after: std::time::Duration::from_secs(300),
        }
    }
}

/// The providers payments can be made with, by name.
#[derive(Clone, Debug, Default)]
pub struct Gateways {
    by_name: HashMap<&'static str, Arc<dyn Gateway>>,
}

impl Gateways {
    /// The built-in `test` and `manual` providers.
    pub fn builtin() -> Gateways {
        let mut g = Gateways::default();
        g.add(Arc::new(test_cards::TestGateway));
        g.add(Arc::new(gateway::manual::ManualGateway));
        g
    }

    /// Adds (or replaces) a provider.
    pub fn add(&mut self, g: Arc<dyn Gateway>) {
        self.by_name.insert(g.name(), g);
    }

    fn get(&self, name: &str) -> Result<&Arc<dyn Gateway>, PaymentError> {
        self.by_name
            .get(name)
            .ok_or_else(|| PaymentError::Internal(format!("no provider `{name}` configured")))
    }
}

/// Creates the payment of a new order inside the checkout's write: the amount is the order's
/// total due, never a client's figure. The built-in providers need no call to be made; a
/// remote provider's reference is added by the first call that creates it there.
pub fn create(
    tx: &mut WriteTx<'_>,
    order: &Order,
    s: &PaymentSettings,
) -> Result<Payment, StorageError> {
    let now = tx.now();
    let id = PaymentId::new(now);
    let (reference, client_secret) = match s.provider.as_str() {
        "test" => (
            Some(test_cards::reference(&id.to_string())),
            Some(format!("{id}_secret_{}", &new_token("")[..24])),
        ),
        "manual" => (Some(format!("manual_{id}")), None),
        _ => (None, None),
    };
    let amount = order.totals.amount_due();
    let p = Payment {
        id,
        order_id: order.id,
        provider: s.provider.clone(),
        amount,
        status: PaymentStatus::RequiresPaymentMethod,
        capture: s.capture,
        reference,
        client_secret,
        redirect_url: None,
        charge: None,
        paid_order: false,
        captured: Money::zero(amount.currency),
        attempts: Vec::new(),
        refunds: Vec::new(),
        review: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    tx.insert(&BY_ORDER, &(order.id, id), &())?;
    settle::insert(tx, &p)?;
    Ok(p)
}

/// The card fields of the test provider's confirm call, as sent.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardInput {
    /// Card number (spaces allowed).
    pub card_number: String,
    /// 1–12.
    pub exp_month: u32,
    /// Four digits (two are read as 20xx).
    pub exp_year: u32,
    /// Three or four digits.
    pub cvc: String,
}

impl CardInput {
    fn parse(&self) -> Result<Card, PaymentError> {
        let number: String = self
            .card_number
            .chars()
            .filter(|c| *c != ' ' && *c != '-')
            .collect();
        let mut issues = Vec::new();
        if !(12..=19).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
            issues.push(FieldIssue::new(
                "card_number",
                "invalid",
                "must be 12 to 19 digits",
            ));
        }
        if !(1..=12).contains(&self.exp_month) {
            issues.push(FieldIssue::new("exp_month", "invalid", "must be 1 to 12"));
        }
        let year = if self.exp_year < 100 {
            2000 + self.exp_year
        } else {
            self.exp_year
        };
        if !(2000..=2100).contains(&year) {
            issues.push(FieldIssue::new(
                "exp_year",
                "invalid",
                "must be a year such as 2030",
            ));
        }
        if !(3..=4).contains(&self.cvc.len()) || !self.cvc.bytes().all(|b| b.is_ascii_digit()) {
            issues.push(FieldIssue::new("cvc", "invalid", "must be 3 or 4 digits"));
        }
        if !issues.is_empty() {
            return Err(PaymentError::Invalid(issues));
        }
        Ok(Card {
            number,
            exp_month: self.exp_month,
            exp_year: year,
            cvc: self.cvc.clone(),
        })
    }
}

/// The payment service.
#[derive(Clone, Debug)]
pub struct Payments {
    store: Store,
    gateways: Arc<Gateways>,
    settings: PaymentSettings,
}

fn load(r: &impl Reader, id: PaymentId) -> Result<Payment, PaymentError> {
    r.get(&PAYMENTS, &id)?.ok_or(PaymentError::NotFound)
}

fn parse_id(id: &str) -> Result<PaymentId, PaymentError> {
    PaymentId::parse(id).map_err(|_| PaymentError::NotFound)
}

/// An order's payments, oldest first (an order has one, or a few after staff recorded a
/// manual payment; the list is bounded by the attempts a customer can make).
fn of_order(r: &impl Reader, order: OrderId) -> Result<Vec<Payment>, StorageError> {
    let rows = r.prefix(&BY_ORDER, &order, None, ScanOrder::Asc, 100)?;
    let mut out = Vec::with_capacity(rows.len());
    for ((_, id), ()) in rows {
        if let Some(p) = r.get(&PAYMENTS, &id)? {
            out.push(p);
        }
    }
    Ok(out)
}

impl Payments {
    /// Wires the service.
    pub fn new(store: Store, gateways: Gateways, settings: PaymentSettings) -> Self {
        Payments {
            store,
            gateways: Arc::new(gateways),
            settings,
        }
    }

    /// The settings in force (checkout creates payments with them).
    pub fn settings(&self) -> &PaymentSettings {
        &self.settings
    }

    /// A payment `who` may see (through its order), and the order.
    fn visible(&self, id: PaymentId, who: &Viewer) -> Result<(Payment, Order), PaymentError> {
        let r = self.store.read()?;
        let p = load(&r, id)?;
        let o = orders::find(&r, p.order_id)?.ok_or(PaymentError::NotFound)?;
        if !orders::visible(&o, who) {
            return Err(PaymentError::NotFound);
        }
        Ok((p, o))
    }

    fn view(p: &Payment, who: &Viewer) -> PaymentView {
        match who {
            Viewer::Staff => PaymentView::staff(p),
            _ => PaymentView::of(p),
        }
    }

    /// One payment.
    pub fn get(&self, id: &str, who: &Viewer) -> Result<PaymentView, PaymentError> {
        let (p, _) = self.visible(parse_id(id)?, who)?;
        Ok(Self::view(&p, who))
    }

    /// An order's payments, oldest first.
    pub fn for_order(&self, order: &str, who: &Viewer) -> Result<Vec<PaymentView>, PaymentError> {
        let oid = OrderId::parse(order).map_err(|_| PaymentError::NotFound)?;
        let r = self.store.read()?;
        let o = orders::find(&r, oid)?.ok_or(PaymentError::NotFound)?;
        if !orders::visible(&o, who) {
            return Err(PaymentError::NotFound);
        }
        Ok(of_order(&r, oid)?
            .iter()
            .map(|p| Self::view(p, who))
            .collect())
    }

    /// Makes sure a remote provider knows the payment: creates it there (key
    /// `<payment>:create:1`, so a retry after a lost answer creates nothing new) and stores its
    /// reference and client secret or redirect. Built-in providers need nothing.
    pub async fn prepare(&self, id: PaymentId) -> Result<PaymentRef, PaymentError> {
        let r = self.store.read()?;
        let p = load(&r, id)?;
        if p.reference.is_some() || matches!(p.provider.as_str(), "test" | "manual") {
            return Ok(PaymentRef::of(&p));
        }
        let order = orders::find(&r, p.order_id)?.ok_or(PaymentError::NotFound)?;
        drop(r);
        let g = self.gateways.get(&p.provider)?;
        let remote = g
            .create(gateway::CreateRequest {
                payment_id: p.id.to_string(),
                order_id: p.order_id.to_string(),
                amount: p.amount,
                manual_capture: p.capture == Capture::Manual,
                email: order.email.clone(),
                key: OpKey::new(&p.id.to_string(), "create", 1),
            })
            .await
            .map_err(provider_error)?;
        self.store
            .write(move |tx| {
                let before = load(tx, id)?;
                if before.reference.is_some() {
                    return Ok(PaymentRef::of(&before));
                }
                let mut p = before.clone();
                p.reference = Some(remote.reference);
                p.client_secret = remote.client_secret;
                p.redirect_url = remote.redirect_url;
                settle::store(tx, &before, &mut p)?;
                Ok(PaymentRef::of(&p))
            })
            .await
    }

    /// The customer's return from the provider (or a client's check): the provider's current
    /// state of the payment goes through the settle path.
    pub async fn refresh(&self, id: &str, who: &Viewer) -> Result<PaymentView, PaymentError> {
        let (p, _) = self.visible(parse_id(id)?, who)?;
        let Some(reference) = p.reference.clone() else {
            return Ok(Self::view(&p, who));
        };
        if p.status.is_terminal() {
            return Ok(Self::view(&p, who));
        }
        let g = self.gateways.get(&p.provider)?;
        let Some(remote) = g
            .fetch(&reference, p.amount)
            .await
            .map_err(provider_error)?
        else {
            return Ok(Self::view(&p, who));
        };
        let obs = Observation {
            status: remote.status,
            amount: remote.amount,
            charge: remote.charge,
            decline: remote.decline,
            attempt: None,
            source: Source::Client,
        };
        let (p, _) = self.apply(p.id, obs).await?;
        Ok(Self::view(&p, who))
    }

    /// Applies `obs` to payment `id` through the settle path, in one write.
    pub async fn apply(
        &self,
        id: PaymentId,
        obs: Observation,
    ) -> Result<(Payment, Effect), PaymentError> {
        let s = self.settings.settle.clone();
        self.store
            .write(move |tx| {
                let p = load(tx, id)?;
                settle::settle(tx, p, &obs, &s)
            })
            .await
    }

    /// Confirms a `test` payment with a card: Stripe's test numbers decide. A refusal is
    /// [`PaymentError::Declined`] after the attempt is recorded; the payment stays payable.
    /// A payment already secured answers as it is (a double click pays once).
    pub async fn confirm(
        &self,
        id: &str,
        who: &Viewer,
        card: &CardInput,
    ) -> Result<PaymentView, PaymentError> {
        let (p, order) = self.visible(parse_id(id)?, who)?;
        if p.status.is_secured() {
            return Ok(Self::view(&p, who));
        }
        payable(&p)?;
        if !matches!(
            order.status,
            Status::PendingPayment | Status::Expired | Status::Cancelled
        ) {
            // Paid by another payment meanwhile: take no more money (if a charge still races
            // in, the settle path refunds it).
            return Err(PaymentError::NotPayable(format!(
                "the order is already {}",
                order.status.as_str()
            )));
        }
        if p.provider != "test" {
            return Err(PaymentError::NotPayable(format!(
                "a `{}` payment is not confirmed with a card here",
                p.provider
            )));
        }
        if p.status == PaymentStatus::RequiresAction {
            return Err(PaymentError::NotPayable(
                "the payment waits for authentication (POST …/authenticate)".into(),
            ));
        }
        let card = card.parse()?;
        let n = attempt_number(&p)?;
        let key = OpKey::new(&p.id.to_string(), "confirm", n);
        let reference = p.reference.clone().unwrap_or_default();
        let manual = p.capture == Capture::Manual;
        let today = self.store.now().year_month();
        let remote = test_cards::confirm(&reference, &card, p.amount, manual, today, &key);
        let last4 = card.number[card.number.len() - 4..].to_owned();
        self.answer(p.id, remote, Some((n, Some(last4))), who).await
    }

    /// The customer's answer to 3-D Secure on a `test` payment that requires action.
    pub async fn authenticate(
        &self,
        id: &str,
        who: &Viewer,
        approve: bool,
    ) -> Result<PaymentView, PaymentError> {
        let (p, _) = self.visible(parse_id(id)?, who)?;
        if p.status.is_secured() {
            return Ok(Self::view(&p, who));
        }
        if p.status != PaymentStatus::RequiresAction || p.provider != "test" {
            return Err(PaymentError::NotPayable(
                "the payment does not wait for authentication".into(),
            ));
        }
        payable(&p)?;
        let n = attempt_number(&p)?;
        let key = OpKey::new(&p.id.to_string(), "authenticate", n);
        let reference = p.reference.clone().unwrap_or_default();
        let manual = p.capture == Capture::Manual;
        let remote = test_cards::authenticate(&reference, approve, p.amount, manual, &key);
        let last4 = p.attempts.last().and_then(|a| a.card_last4.clone());
        self.answer(p.id, remote, Some((n, last4)), who).await
    }

    async fn answer(
        &self,
        id: PaymentId,
        remote: gateway::Remote,
        attempt: Option<(u32, Option<String>)>,
        who: &Viewer,
    ) -> Result<PaymentView, PaymentError> {
        let decline = remote.decline.clone();
        let obs = Observation {
            status: remote.status,
            amount: remote.amount,
            charge: remote.charge,
            decline: remote.decline,
            attempt,
            source: Source::Client,
        };
        let (p, _) = self.apply(id, obs).await?;
        match decline {
            Some(d) if !p.status.is_secured() => Err(PaymentError::Declined(d)),
            _ => Ok(Self::view(&p, who)),
        }
    }

    /// Staff record money received outside shopd (bank transfer, cash) for an order: a
    /// `manual` payment (the order's own, or a new one) is settled as succeeded through the
    /// settle path, so the order is paid once, revived if it had lapsed, or the money refunded
    /// if it cannot be filled.
    pub async fn mark_paid(&self, order: &str, actor: String) -> Result<OrderView, PaymentError> {
        let oid = OrderId::parse(order).map_err(|_| PaymentError::NotFound)?;
        let s = self.settings.clone();
        self.store
            .write(move |tx| {
                let o = orders::find(tx, oid)?.ok_or(PaymentError::NotFound)?;
                if !matches!(
                    o.status,
                    Status::PendingPayment | Status::Expired | Status::Cancelled
                ) {
                    return Err(orders::TransitionError::NotAllowed {
                        status: o.status,
                        event: orders::EventKind::Pay,
                    }
                    .into());
                }
                let open = of_order(tx, oid)?
                    .into_iter()
                    .rev()
                    .find(|p| p.provider == "manual" && !p.status.is_terminal());
                let p = match open {
                    Some(p) => p,
                    None => {
                        let manual = PaymentSettings {
                            provider: "manual".into(),
                            capture: Capture::Automatic,
                            ..s.clone()
                        };
                        create(tx, &o, &manual)?
                    }
                };
                let obs = Observation {
                    status: PaymentStatus::Succeeded,
                    amount: p.amount,
                    charge: Some(format!("manual_{}", p.id)),
                    decline: None,
                    attempt: None,
                    source: Source::Staff(actor),
                };
                settle::settle(tx, p, &obs, &s.settle)?;
                let o = orders::find(tx, oid)?.ok_or(PaymentError::NotFound)?;
                Ok(OrderView::staff(&o))
            })
            .await
    }

    /// Captures an authorized payment (staff, or the order's first fulfilment).
    pub async fn capture(&self, id: &str, actor: String) -> Result<PaymentView, PaymentError> {
        let p = load(&self.store.read()?, parse_id(id)?)?;
        Ok(PaymentView::staff(&self.capture_payment(p, actor).await?))
    }

    async fn capture_payment(&self, p: Payment, actor: String) -> Result<Payment, PaymentError> {
        match p.status {
            PaymentStatus::Succeeded => return Ok(p),
            PaymentStatus::RequiresCapture => {}
            other => {
                return Err(PaymentError::NotPayable(format!(
                    "only an authorized payment can be captured (this one is {})",
                    other.as_str()
                )));
            }
        }
        let g = self.gateways.get(&p.provider)?;
        let reference = p.reference.clone().unwrap_or_default();
        let key = OpKey::new(&p.id.to_string(), "capture", 1);
        let remote = g
            .capture(&reference, p.amount, key)
            .await
            .map_err(provider_error)?;
        let obs = Observation {
            status: remote.status,
            amount: remote.amount,
            // The capture takes the authorized charge itself.
            charge: p.charge.clone(),
            decline: remote.decline,
            attempt: None,
            source: Source::Capture(actor),
        };
        Ok(self.apply(p.id, obs).await?.0)
    }

    /// The payment module's background work: refund calls, captures on first fulfilment, and
    /// the reconciliation pass every minute.
    pub fn work(&self) -> jobs::Work {
        let (a, b, c, d) = (self.clone(), self.clone(), self.clone(), self.clone());
        jobs::Work::new()
            .handler(
                REFUND_JOB,
                4,
                jobs::handler_fn(move |ctx| a.clone().run_refund(ctx)),
            )
            .handler(
                orders::FIRST_FULFILMENT_JOB,
                4,
                jobs::handler_fn(move |ctx| b.clone().run_first_fulfilment(ctx)),
            )
            .handler(
                RECONCILE_JOB,
                1,
                jobs::handler_fn(move |ctx| c.clone().run_reconcile(ctx)),
            )
            .handler(
                REFRESH_JOB,
                4,
                jobs::handler_fn(move |ctx| d.clone().run_refresh(ctx)),
            )
            .every(RECONCILE_JOB, RECONCILE_EVERY)
    }

    /// Job handler of [`REFRESH_JOB`]: the provider's current state of the payment, settled.
    pub async fn run_refresh(
        self,
        ctx: jobs::JobContext,
    ) -> Result<jobs::JobOutcome, jobs::JobError> {
        let job: RefreshJob = ctx.payload()?;
        let p = match load(&self.store.read()?, job.payment_id) {
            Ok(p) => p,
            Err(PaymentError::NotFound) => return Ok(jobs::JobOutcome::Done),
            Err(e) => return Err(jobs::JobError::retry(e.to_string())),
        };
        let (Some(reference), false) = (p.reference.clone(), p.status.is_terminal()) else {
            return Ok(jobs::JobOutcome::Done);
        };
        let g = self
            .gateways
            .get(&p.provider)
            .map_err(|e| jobs::JobError::permanent(e.to_string()))?;
        let remote = g
            .fetch(&reference, p.amount)
            .await
            .map_err(|e| jobs::JobError::retry(e.to_string()))?;
        if let Some(r) = remote {
            self.apply(p.id, reconcile::observe(r))
                .await
                .map_err(|e| jobs::JobError::retry(e.to_string()))?;
        }
        Ok(jobs::JobOutcome::Done)
    }

    /// Job handler of [`orders::FIRST_FULFILMENT_JOB`]: captures the order's authorized payment.
    pub async fn run_first_fulfilment(
        self,
        ctx: jobs::JobContext,
    ) -> Result<jobs::JobOutcome, jobs::JobError> {
        let job: orders::ExpireJob = ctx.payload()?;
        let held: Vec<Payment> = of_order(&self.store.read()?, job.order_id)?
            .into_iter()
            .filter(|p| p.status == PaymentStatus::RequiresCapture && p.paid_order)
            .collect();
        for p in held {
            self.capture_payment(p, "system".into())
                .await
                .map_err(|e| jobs::JobError::retry(e.to_string()))?;
        }
        Ok(jobs::JobOutcome::Done)
    }
}

fn payable(p: &Payment) -> Result<(), PaymentError> {
    if p.review.is_some() {
        return Err(PaymentError::NotPayable(
            "the payment is held for staff review".into(),
        ));
    }
    if p.status.is_terminal() {
        return Err(PaymentError::NotPayable(format!(
            "the payment is {}",
            p.status.as_str()
        )));
    }
    Ok(())
}

fn attempt_number(p: &Payment) -> Result<u32, PaymentError> {
    if p.attempts.len() >= MAX_ATTEMPTS {
        return Err(PaymentError::NotPayable(format!(
            "the payment has had {MAX_ATTEMPTS} attempts; check out again"
        )));
    }
    Ok(u32::try_from(p.attempts.len()).unwrap_or(u32::MAX) + 1)
}

pub(crate) fn provider_error(e: GatewayError) -> PaymentError {
    match e {
        GatewayError::Unavailable(m) => PaymentError::Provider(m),
        other => PaymentError::NotPayable(other.to_string()),
    }
}

/// The payment module's own schema steps.
pub const MIGRATIONS: &[crate::storage::Migration] = &[crate::storage::Migration {
    to: 10,
    description: "payments as records (new tables; checkout outcomes carry the payment)",
    run: |_| Ok(()),
}];
