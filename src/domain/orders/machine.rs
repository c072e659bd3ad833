//! The order state machine as a pure function: the current state and amounts plus an event give
//! the next state and amounts, or the reason the event is not allowed. Every allowed move is a
//! row of [`TRANSITIONS`]; nothing else can happen to an order.

use serde::{Deserialize, Serialize};

/// Where an order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = OrderStatus)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created at checkout; stock reserved until paid or expired.
    PendingPayment,
    /// Paid in full; stock sold.
    Paid,
    /// Some units shipped.
    PartiallyFulfilled,
    /// Every unit shipped.
    Fulfilled,
    /// Closed after delivery.
    Completed,
    /// Cancelled before payment.
    Cancelled,
    /// Not paid within the reservation's lifetime.
    Expired,
    /// Part of the payment returned.
    PartiallyRefunded,
    /// The whole payment returned.
    Refunded,
}

impl Status {
    /// Every state, for indexes and tests.
    pub const ALL: [Status; 9] = [
        Status::PendingPayment,
        Status::Paid,
        Status::PartiallyFulfilled,
        Status::Fulfilled,
        Status::Completed,
        Status::Cancelled,
        Status::Expired,
        Status::PartiallyRefunded,
        Status::Refunded,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::PendingPayment => "pending_payment",
            Status::Paid => "paid",
            Status::PartiallyFulfilled => "partially_fulfilled",
            Status::Fulfilled => "fulfilled",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
            Status::PartiallyRefunded => "partially_refunded",
            Status::Refunded => "refunded",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// No event leaves a terminal state.
    pub fn is_terminal(self) -> bool {
        !TRANSITIONS.iter().any(|(from, _, _)| *from == self)
    }
}

/// What can happen to an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A payment of `amount` minor units succeeded (must settle the balance; 0 when nothing
    /// was left to pay).
    Pay {
        /// Minor units.
        amount: i64,
    },
    /// `quantity` units of line `line` shipped.
    Fulfil {
        /// Line index.
        line: usize,
        /// Units.
        quantity: i64,
    },
    /// The order is closed.
    Complete,
    /// Cancelled by the customer or staff.
    Cancel,
    /// The reservation lapsed unpaid.
    Expire,
    /// `amount` minor units returned to the customer.
    Refund {
        /// Minor units.
        amount: i64,
    },
    /// A payment of `amount` succeeded after the order expired or was cancelled, and its
    /// stock could be reserved again: the order is paid after all.
    Revive {
        /// Minor units (must settle the balance).
        amount: i64,
    },
}

/// Event names as they appear in [`TRANSITIONS`] and in order history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// [`Event::Pay`].
    Pay,
    /// [`Event::Fulfil`].
    Fulfil,
    /// [`Event::Complete`].
    Complete,
    /// [`Event::Cancel`].
    Cancel,
    /// [`Event::Expire`].
    Expire,
    /// [`Event::Refund`].
    Refund,
    /// [`Event::Revive`].
    Revive,
}

impl EventKind {
    /// Wire name (history entries, errors).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Pay => "pay",
            EventKind::Fulfil => "fulfil",
            EventKind::Complete => "complete",
            EventKind::Cancel => "cancel",
            EventKind::Expire => "expire",
            EventKind::Refund => "refund",
            EventKind::Revive => "revive",
        }
    }
}

impl Event {
    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Pay { .. } => EventKind::Pay,
            Event::Fulfil { .. } => EventKind::Fulfil,
            Event::Complete => EventKind::Complete,
            Event::Cancel => EventKind::Cancel,
            Event::Expire => EventKind::Expire,
            Event::Refund { .. } => EventKind::Refund,
            Event::Revive { .. } => EventKind::Revive,
        }
    }
}

use EventKind as K;
use Status as S;

/// Every allowed move: (from, event, to).
pub const TRANSITIONS: &[(Status, EventKind, Status)] = &[
    (S::PendingPayment, K::Pay, S::Paid),
    (S::PendingPayment, K::Cancel, S::Cancelled),
    (S::PendingPayment, K::Expire, S::Expired),
    (S::Paid, K::Fulfil, S::PartiallyFulfilled),
    (S::Paid, K::Fulfil, S::Fulfilled),
    (S::PartiallyFulfilled, K::Fulfil, S::PartiallyFulfilled),
    (S::PartiallyFulfilled, K::Fulfil, S::Fulfilled),
    (S::Fulfilled, K::Complete, S::Completed),
    (S::Paid, K::Refund, S::PartiallyRefunded),
    (S::Paid, K::Refund, S::Refunded),
    (S::PartiallyFulfilled, K::Refund, S::PartiallyRefunded),
    (S::PartiallyFulfilled, K::Refund, S::Refunded),
    (S::Fulfilled, K::Refund, S::PartiallyRefunded),
    (S::Fulfilled, K::Refund, S::Refunded),
    (S::Completed, K::Refund, S::PartiallyRefunded),
    (S::Completed, K::Refund, S::Refunded),
    (S::PartiallyRefunded, K::Refund, S::PartiallyRefunded),
    (S::PartiallyRefunded, K::Refund, S::Refunded),
    // What is left of a partly refunded order still ships.
    (S::PartiallyRefunded, K::Fulfil, S::PartiallyRefunded),
    // Money that arrives after expiry or cancellation revives the order when its stock can
    // be reserved again (otherwise the payment is refunded and the order stays as it is).
    (S::Expired, K::Revive, S::Paid),
    (S::Cancelled, K::Revive, S::Paid),
];

/// The part of an order the machine reasons about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// Status.
    pub status: Status,
    /// Order total in minor units.
    pub total: i64,
    /// Paid so far.
    pub paid: i64,
    /// Refunded so far.
    pub refunded: i64,
    /// Units ordered per line.
    pub ordered: Vec<i64>,
    /// Units shipped per line.
    pub fulfilled: Vec<i64>,
}

/// Why an event was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The event is not allowed in the current state.
    #[error("cannot {} an order that is {}", .event.as_str(), .status.as_str())]
    NotAllowed {
        /// Current state.
        status: Status,
        /// Refused event.
        event: EventKind,
    },
    /// Allowed in this state, but the amounts are wrong (over-fulfilment, over-refund, …).
    #[error("{0}")]
    Invalid(String),
}

/// The next state after `event`, or why not. Pure: no I/O, no clock.
pub fn apply(s: &State, event: &Event) -> Result<State, TransitionError> {
    let not_allowed = || TransitionError::NotAllowed {
        status: s.status,
        event: event.kind(),
    };
    if !TRANSITIONS
        .iter()
        .any(|(from, k, _)| *from == s.status && *k == event.kind())
    {
        return Err(not_allowed());
    }
    let mut next = s.clone();
    let to = match *event {
        Event::Pay { amount } | Event::Revive { amount } => {
            // A payment settles the balance exactly; nothing is due (gift cards and discounts
            // covered the order) only settles a balance of zero.
            if amount < 0 || s.paid.checked_add(amount) != Some(s.total) {
                return Err(TransitionError::Invalid(format!(
                    "a payment must settle the balance of {}",
                    s.total - s.paid
                )));
            }
            next.paid = s.total;
            S::Paid
        }
        Event::Fulfil { line, quantity } => {
            let ordered = *s
                .ordered
                .get(line)
                .ok_or_else(|| TransitionError::Invalid(format!("no line {line}")))?;
            let done = s.fulfilled.get(line).copied().unwrap_or(0);
            if quantity <= 0 || done.checked_add(quantity).is_none_or(|t| t > ordered) {
                return Err(TransitionError::Invalid(format!(
                    "line {line} has {} unit(s) left to fulfil",
                    ordered - done
                )));
            }
            next.fulfilled[line] = done + quantity;
            if s.status == S::PartiallyRefunded {
                S::PartiallyRefunded
            } else if next.fulfilled == next.ordered {
                S::Fulfilled
            } else {
                S::PartiallyFulfilled
            }
        }
        Event::Complete => S::Completed,
        Event::Cancel => S::Cancelled,
        Event::Expire => S::Expired,
        Event::Refund { amount } => {
            let left = s.paid - s.refunded;
            if amount <= 0 || amount > left {
                return Err(TransitionError::Invalid(format!(
                    "at most {left} can be refunded"
                )));
            }
            next.refunded += amount;
            if next.refunded == next.paid {
                S::Refunded
            } else {
                S::PartiallyRefunded
            }
        }
    };
    // The computed target must itself be a row of the table.
    if !TRANSITIONS
        .iter()
        .any(|&(from, k, t)| from == s.status && k == event.kind() && t == to)
    {
        return Err(not_allowed());
    }
    next.status = to;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fresh(total: i64, ordered: Vec<i64>) -> State {
        State {
            status: Status::PendingPayment,
            total,
            paid: 0,
            refunded: 0,
            fulfilled: vec![0; ordered.len()],
            ordered,
        }
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            (0i64..20_000).prop_map(|amount| Event::Pay { amount }),
            (0usize..4, -1i64..6).prop_map(|(line, quantity)| Event::Fulfil { line, quantity }),
            Just(Event::Complete),
            Just(Event::Cancel),
            Just(Event::Expire),
            (-5i64..12_000).prop_map(|amount| Event::Refund { amount }),
            (0i64..20_000).prop_map(|amount| Event::Revive { amount }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Any sequence of events keeps the invariants.
        #[test]
        fn invariants_hold_for_any_event_sequence(
            total in 1i64..10_000,
            ordered in proptest::collection::vec(1i64..5, 1..4),
            events in proptest::collection::vec(event(), 0..40),
            settle in any::<bool>(),
        ) {
            let mut s = fresh(total, ordered);
            let mut events = events;
            if settle {
                events.insert(0, Event::Pay { amount: total });
            }
            for e in &events {
                let before = s.clone();
                match apply(&s, e) {
                    Ok(next) => {
                        prop_assert!(TRANSITIONS.contains(&(before.status, e.kind(), next.status)));
                        prop_assert!(!before.status.is_terminal());
                        s = next;
                    }
                    Err(_) => prop_assert_eq!(&s, &before),
                }
                prop_assert!(s.paid >= s.refunded, "paid {} < refunded {}", s.paid, s.refunded);
                prop_assert!(s.refunded >= 0 && s.paid <= s.total);
                for (f, o) in s.fulfilled.iter().zip(&s.ordered) {
                    prop_assert!(0 <= *f && f <= o, "fulfilled {f} of {o}");
                }
                if before.status.is_terminal() {
                    prop_assert_eq!(s.status, before.status, "terminal states stay terminal");
                }
                // Money only moves once paid; units only ship once paid.
                if s.status == Status::PendingPayment {
                    prop_assert_eq!(s.paid, 0);
                    prop_assert!(s.fulfilled.iter().all(|f| *f == 0));
                }
                if s.status == Status::Fulfilled {
                    prop_assert_eq!(&s.fulfilled, &s.ordered);
                }
                // Expired and cancelled orders hold no money; a revival settles in full.
                if matches!(s.status, Status::Expired | Status::Cancelled) {
                    prop_assert_eq!(s.paid, 0);
                }
                if s.status == Status::Refunded {
                    prop_assert_eq!(s.refunded, s.paid);
                }
            }
        }
    }

    #[test]
    fn refused_events_name_the_state() {
        let s = fresh(100, vec![1]);
        let e = apply(&s, &Event::Complete).expect_err("not allowed");
        assert_eq!(
            e.to_string(),
            "cannot complete an order that is pending_payment"
        );
        // A completed order can still be refunded (a return); a late payment can still revive
        // a cancelled or expired one.
        assert!(!Status::Completed.is_terminal());
        assert!(!Status::Cancelled.is_terminal());
        assert!(!Status::Expired.is_terminal());
        assert!(Status::Refunded.is_terminal());
        assert!(!Status::Paid.is_terminal());
    }

    #[test]
    fn a_happy_path_walks_the_table() {
        let mut s = fresh(500, vec![2, 1]);
        for e in [
            Event::Pay { amount: 500 },
            Event::Fulfil {
                line: 0,
                quantity: 1,
            },
            Event::Fulfil {
                line: 0,
                quantity: 1,
            },
            Event::Fulfil {
                line: 1,
                quantity: 1,
            },
            Event::Complete,
        ] {
            s = apply(&s, &e).expect("allowed");
        }
        assert_eq!(s.status, Status::Completed);
    }
}
