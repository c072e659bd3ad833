//! Inbound Stripe webhooks. The signature is checked on the raw bytes before anything is
//! parsed (async-stripe's verifier: HMAC-SHA256 over `t.payload`, any `v1`, 300 s around the
//! store's clock, constant-time; each configured secret is tried, for rotation). The event id is
//! recorded in the same write as the event's effect, which goes through the settle path: a
//! duplicate is acknowledged and does nothing, events may come in any order (a stale state
//! changes nothing), and events about objects shopd does not know are acknowledged and
//! ignored. Nothing here calls Stripe, so the answer is fast.

use serde_json::Value as Json;

use super::model::{BY_REFERENCE, PAYMENTS, Payment};
use super::refund::finish_refund;
use super::settle::{self, Observation, Source};
use super::{PaymentError, Payments, REFRESH_JOB, RefreshJob, RefundJob};
use crate::core::{Currency, Money, PaymentId, RefundId, Timestamp};
use crate::gateway::{Decline, PaymentStatus};
use crate::jobs;
use crate::storage::{Reader, StorageError, Table, WriteTx};

/// Stripe event ids already applied, with when they arrived.
const SEEN: Table<String, Timestamp> = Table::new("payments_stripe_events");

/// What a webhook did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ack {
    /// Applied now.
    Applied,
    /// Seen before: nothing done.
    Duplicate,
    /// A type or object shopd does not handle: acknowledged, nothing done.
    Ignored,
}

/// What an event asks for, decided from its JSON alone.
#[derive(Clone, Debug, PartialEq)]
enum Action {
    Ignore,
    /// A PaymentIntent (or Checkout Session) state for the payment it names.
    Settle {
        reference: String,
        hint: Option<String>,
        link: Option<String>,
        status: PaymentStatus,
        amount: Option<Money>,
        charge: Option<String>,
        decline: Option<Decline>,
    },
    /// Stripe's answer to one of our refunds.
    Refund {
        payment: PaymentId,
        refund: RefundId,
        result: Result<String, String>,
    },
}

fn str_of<'a>(v: &'a Json, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Json::as_str)
}

/// An expandable field: its id whether it came as a string or an object.
fn id_of(v: &Json, k: &str) -> Option<String> {
    match v.get(k)? {
        Json::String(s) => Some(s.clone()),
        Json::Object(o) => o.get("id").and_then(Json::as_str).map(str::to_owned),
        _ => None,
    }
}

fn money(v: &Json, amount_key: &str) -> Option<Money> {
    let amount = v.get(amount_key)?.as_i64()?;
    let cur = Currency::parse(&str_of(v, "currency")?.to_ascii_uppercase()).ok()?;
    Some(Money::new(amount, cur))
}

fn intent(o: &Json, failed: bool) -> Action {
    let Some(reference) = str_of(o, "id") else {
        return Action::Ignore;
    };
    let status = match str_of(o, "status") {
        Some("requires_confirmation") => Some(PaymentStatus::RequiresPaymentMethod),
        Some(s) => PaymentStatus::parse(s),
        None => None,
    };
    let Some(status) = status else {
        return Action::Ignore;
    };
    let amount_key = match status {
        PaymentStatus::Succeeded => "amount_received",
        PaymentStatus::RequiresCapture => "amount_capturable",
        _ => "amount",
    };
    let decline = o
        .get("last_payment_error")
        .filter(|e| failed && e.is_object())
        .map(|e| Decline {
            code: str_of(e, "code").unwrap_or("card_declined").to_owned(),
            decline_code: str_of(e, "decline_code")
                .unwrap_or("generic_decline")
                .to_owned(),
            message: str_of(e, "message")
                .unwrap_or("Your card was declined.")
                .to_owned(),
        });
    Action::Settle {
        reference: reference.to_owned(),
        hint: o
            .get("metadata")
            .and_then(|m| str_of(m, "shopd_payment_id"))
            .map(str::to_owned),
        link: None,
        status,
        amount: money(o, amount_key),
        charge: id_of(o, "latest_charge"),
        decline,
    }
}

fn session(o: &Json, expired: bool) -> Action {
    let Some(reference) = str_of(o, "id") else {
        return Action::Ignore;
    };
    let status = if expired {
        PaymentStatus::Canceled
    } else if str_of(o, "payment_status") == Some("paid") {
        PaymentStatus::Succeeded
    } else {
        PaymentStatus::Processing
    };
    Action::Settle {
        reference: reference.to_owned(),
        hint: str_of(o, "client_reference_id").map(str::to_owned),
        link: id_of(o, "payment_intent"),
        status,
        amount: money(o, "amount_total"),
        charge: None,
        decline: None,
    }
}

/// Our refund a Stripe refund object answers: its `shopd_key` metadata is the call's key,
/// `<payment>:refund_<refund>:<n>`.
fn refund(o: &Json) -> Action {
    let key = o
        .get("metadata")
        .and_then(|m| str_of(m, "shopd_key"))
        .unwrap_or_default();
    let mut parts = key.split(':');
    let (Some(p), Some(r)) = (parts.next(), parts.next()) else {
        return Action::Ignore;
    };
    let (Ok(payment), Ok(refund)) = (
        PaymentId::parse(p),
        RefundId::parse(r.trim_start_matches("refund_")),
    ) else {
        return Action::Ignore;
    };
    let result = match str_of(o, "status") {
        Some("succeeded") => Ok(str_of(o, "id").unwrap_or_default().to_owned()),
        Some("failed") | Some("canceled") => Err(str_of(o, "failure_reason")
            .unwrap_or("refused by Stripe")
            .to_owned()),
        _ => return Action::Ignore,
    };
    Action::Refund {
        payment,
        refund,
        result,
    }
}

fn action(type_: &str, object: &Json) -> Action {
    match type_ {
        "payment_intent.succeeded"
        | "payment_intent.amount_capturable_updated"
        | "payment_intent.processing"
        | "payment_intent.canceled" => intent(object, false),
        "payment_intent.payment_failed" => intent(object, true),
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            session(object, false)
        }
        "checkout.session.expired" => session(object, true),
        "refund.updated" | "refund.created" => refund(object),
        "charge.refunded" => object
            .get("refunds")
            .and_then(|r| r.get("data"))
            .and_then(Json::as_array)
            .and_then(|rs| rs.iter().map(refund).find(|a| *a != Action::Ignore))
            .unwrap_or(Action::Ignore),
        _ => Action::Ignore,
    }
}

/// The payment a Stripe object names: by its reference, else by our id in its metadata (a
/// PaymentIntent made by Checkout, an answer that arrived before we stored the reference).
fn find(
    tx: &mut WriteTx<'_>,
    reference: &str,
    hint: Option<&str>,
) -> Result<Option<Payment>, StorageError> {
    if let Some(id) = tx.get(&BY_REFERENCE, &("stripe".to_owned(), reference.to_owned()))? {
        return tx.get(&PAYMENTS, &id);
    }
    let Some(id) = hint.and_then(|h| PaymentId::parse(h).ok()) else {
        return Ok(None);
    };
    Ok(tx.get(&PAYMENTS, &id)?.filter(|p| p.provider == "stripe"))
}

impl Payments {
    /// Handles one delivery of Stripe's webhook: 400 (nothing done) unless the signature
    /// verifies with a configured secret; otherwise the event is applied once.
    pub async fn stripe_webhook(
        &self,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<Ack, PaymentError> {
        let secrets = &self.settings.stripe_webhook_secrets;
        if secrets.is_empty() {
            return Err(PaymentError::Signature(
                "no Stripe webhook secret is configured".into(),
            ));
        }
        let sig = signature
            .ok_or_else(|| PaymentError::Signature("no Stripe-Signature header".into()))?;
        let payload = std::str::from_utf8(body)
            .map_err(|_| PaymentError::Signature("the body is not UTF-8".into()))?;
        let now = self.store.now().as_millis().div_euclid(1000);
        let verified = secrets.iter().any(|s| {
            // A signature that verifies but an object async-stripe cannot type (another API
            // version) is still Stripe's: shopd reads the fields it needs itself.
            matches!(
                stripe_webhook::Webhook::construct_event_with_timestamp(payload, sig, s, now),
                Ok(_) | Err(stripe_webhook::WebhookError::BadParse(_))
            )
        });
        if !verified {
            return Err(PaymentError::Signature("the signature does not verify (wrong secret, altered body or a timestamp outside 300 s)".into()));
        }
        let ev: Json = serde_json::from_str(payload)
            .map_err(|e| PaymentError::Signature(format!("not JSON: {e}")))?;
        let Some(id) = str_of(&ev, "id").map(str::to_owned) else {
            return Err(PaymentError::Signature("an event without id".into()));
        };
        let type_ = str_of(&ev, "type").unwrap_or_default().to_owned();
        let act = action(
            &type_,
            ev.get("data")
                .and_then(|d| d.get("object"))
                .unwrap_or(&Json::Null),
        );
        let s = self.settings.settle.clone();
        self.store
            .write(move |tx| {
                if tx.get(&SEEN, &id)?.is_some() {
                    return Ok(Ack::Duplicate);
                }
                tx.insert(&SEEN, &id, &tx.now())?;
                apply(tx, act, &id, &s)
            })
            .await
    }
}

fn apply(
    tx: &mut WriteTx<'_>,
    act: Action,
    event: &str,
    s: &settle::SettleSettings,
) -> Result<Ack, PaymentError> {
    match act {
        Action::Ignore => Ok(Ack::Ignored),
        Action::Refund {
            payment,
            refund,
            result,
        } => {
            if tx.get(&PAYMENTS, &payment)?.is_none() {
                return Ok(Ack::Ignored);
            }
            finish_refund(
                tx,
                RefundJob {
                    payment_id: payment,
                    refund_id: refund,
                },
                result,
                &s.orders,
            )?;
            Ok(Ack::Applied)
        }
        Action::Settle {
            reference,
            hint,
            link,
            status,
            amount,
            charge,
            decline,
        } => {
            let Some(mut p) = find(tx, &reference, hint.as_deref())? else {
                return Ok(Ack::Ignored);
            };
            if let Some(pi) = link.filter(|pi| p.reference.as_deref() != Some(pi.as_str())) {
                // A completed Checkout Session names its PaymentIntent: refunds and captures
                // address the intent from now on (stored whatever the settle path decides).
                let before = p.clone();
                p.reference = Some(pi);
                settle::store(tx, &before, &mut p)?;
            }
            if decline.is_some()
                && matches!(
                    p.status,
                    PaymentStatus::Processing | PaymentStatus::RequiresAction
                )
            {
                // A refusal while a later attempt is under way may be the older attempt's:
                // here the order of events matters, so ask Stripe for the intent as it is now.
                let job = jobs::NewJob::new(REFRESH_JOB, &RefreshJob { payment_id: p.id })?
                    .dedupe(format!("refresh:{event}"));
                jobs::enqueue(tx, job)?;
                return Ok(Ack::Applied);
            }
            let obs = Observation {
                status,
                amount: amount.unwrap_or(p.amount),
                charge,
                decline,
                attempt: None,
                source: Source::Webhook(event.to_owned()),
            };
            settle::settle(tx, p, &obs, s)?;
            Ok(Ack::Applied)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_map_to_what_they_ask() {
        let pi = serde_json::json!({"id": "pi_1", "status": "succeeded", "amount": 1500,
            "amount_received": 1500, "currency": "usd", "latest_charge": "ch_1",
            "metadata": {"shopd_payment_id": "pay_x"}});
        let Action::Settle {
            status,
            amount,
            charge,
            hint,
            ..
        } = action("payment_intent.succeeded", &pi)
        else {
            panic!("settle");
        };
        assert_eq!(status, PaymentStatus::Succeeded);
        assert_eq!(amount, Some(Money::new(1500, Currency::USD)));
        assert_eq!(charge.as_deref(), Some("ch_1"));
        assert_eq!(hint.as_deref(), Some("pay_x"));
        assert_eq!(action("customer.created", &pi), Action::Ignore);
        let failed = serde_json::json!({"id": "pi_1", "status": "requires_payment_method", "amount": 10,
            "currency": "usd", "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds"}});
        let Action::Settle { decline, .. } = action("payment_intent.payment_failed", &failed)
        else {
            panic!()
        };
        assert_eq!(
            decline.map(|d| d.decline_code),
            Some("insufficient_funds".into())
        );
    }
}
