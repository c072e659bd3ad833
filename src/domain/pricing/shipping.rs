//! Shipping methods in the quote: the zone of the destination offers its methods whose
//! conditions hold; each method's price comes from its rate kind over the goods subtotal
//! (after discounts) and the parcel's weight.

use super::input::Destination;
use super::rules::{RateKind, ShippingMethod, ShippingZone};
use super::zones;
use crate::core::{Currency, Money};

/// A method offered for a cart, with its price before discounts and tax.
#[derive(Clone, Debug)]
pub struct Offer<'a> {
    /// Zone.
    pub zone: &'a ShippingZone,
    /// Method.
    pub method: &'a ShippingMethod,
    /// Price in minor units.
    pub price: i128,
}

/// The zone whose methods `destination` is offered.
pub fn zone_for<'a>(zones_: &'a [ShippingZone], d: &Destination) -> Option<&'a ShippingZone> {
    zones::best(zones_, d, |z| &z.areas, |z| z.id)
}

/// The methods offered to `destination` for goods worth `subtotal` weighing `grams`.
pub fn offers<'a>(
    zones_: &'a [ShippingZone],
    destination: &Destination,
    subtotal: i128,
    grams: u64,
    currency: Currency,
) -> Vec<Offer<'a>> {
    let Some(zone) = zone_for(zones_, destination) else {
        return Vec::new();
    };
    zone.methods
        .iter()
        .filter(|m| conditions_hold(m, subtotal, grams, currency))
        .filter_map(|m| {
            price(&m.rate, subtotal, grams, currency).map(|price| Offer {
                zone,
                method: m,
                price,
            })
        })
        .collect()
}

fn conditions_hold(m: &ShippingMethod, subtotal: i128, grams: u64, currency: Currency) -> bool {
    let c = &m.conditions;
    let money_ok = |bound: &Option<Money>, ok: fn(i128, i128) -> bool| {
        bound.is_none_or(|b| b.currency == currency && ok(subtotal, i128::from(b.amount)))
    };
    c.max_weight_grams.is_none_or(|w| grams <= w)
        && money_ok(&c.min_subtotal, |s, b| s >= b)
        && money_ok(&c.max_subtotal, |s, b| s <= b)
}

/// The price of a rate kind, or none when it has no price for this parcel or currency.
pub fn price(kind: &RateKind, subtotal: i128, grams: u64, currency: Currency) -> Option<i128> {
    let of = |m: &Money| (m.currency == currency).then(|| i128::from(m.amount.max(0)));
    match kind {
        RateKind::Flat { price } => of(price),
        RateKind::Weight { brackets } => brackets
            .iter()
            .filter(|b| grams <= b.up_to_grams)
            .min_by_key(|b| b.up_to_grams)
            .and_then(|b| of(&b.price)),
        RateKind::Subtotal { brackets } => brackets
            .iter()
            .filter(|b| b.min_subtotal.currency == currency)
            .filter(|b| subtotal >= i128::from(b.min_subtotal.amount))
            .max_by_key(|b| b.min_subtotal.amount)
            .and_then(|b| of(&b.price)),
        RateKind::FreeOver { price, threshold } => {
            if threshold.currency != currency {
                return None;
            }
            if subtotal >= i128::from(threshold.amount) {
                Some(0)
            } else {
                of(price)
            }
        }
    }
}
