//! Shipping zones and their methods: staff writes, each bumping the rules version. Method
//! codes are unique within a zone (checkout names a method by code, looked up in the zone of
//! the address, so `standard` can cost differently per zone) and keep their id across edits.

use std::ops::Bound::Unbounded;

use super::model::{
    MAX_ZONES, SHIPPING_ZONES, ShippingZoneInput, ShippingZoneRecord, ShippingZoneView,
};
use super::wire::{self, Issues};
use super::{PricingRules, RulesError, bump, invalid_if};
use crate::core::{Money, Page, ShippingMethodId, ShippingZoneId};
use crate::domain::pricing as p;
use crate::storage::{Order, Reader, WriteTx};

/// Creates the default zone (everywhere, one flat `standard` method) when there is no zone.
pub(super) fn ensure_default(tx: &mut WriteTx<'_>, flat: Money) -> Result<bool, RulesError> {
    if !tx
        .range(&SHIPPING_ZONES, Unbounded, Unbounded, Order::Asc, 1)?
        .is_empty()
    {
        return Ok(false);
    }
    let now = tx.now();
    let zone = p::ShippingZone {
        id: ShippingZoneId::new(now),
        name: "Everywhere".into(),
        areas: Vec::new(),
        methods: vec![p::ShippingMethod {
            id: ShippingMethodId::new(now),
            code: "standard".into(),
            name: "Standard shipping".into(),
            rate: p::RateKind::Flat { price: flat },
            conditions: p::MethodConditions::default(),
            pickup: false,
        }],
    };
    let rec = ShippingZoneRecord {
        zone,
        created_at: now,
        updated_at: now,
    };
    tx.insert(&SHIPPING_ZONES, &rec.zone.id, &rec)?;
    bump(tx)?;
    Ok(true)
}

impl PricingRules {
    /// Every shipping zone, oldest first (at most 200).
    pub fn shipping_zones(&self) -> Result<Page<ShippingZoneView>, RulesError> {
        let r = self.store.read()?;
        let all = r.range(&SHIPPING_ZONES, Unbounded, Unbounded, Order::Asc, MAX_ZONES)?;
        Ok(Page::whole(
            all.iter().map(|(_, z)| ShippingZoneView::of(z)).collect(),
        ))
    }

    /// One shipping zone.
    pub fn shipping_zone(&self, id: &str) -> Result<ShippingZoneView, RulesError> {
        let id = ShippingZoneId::parse(id).map_err(|_| RulesError::NotFound)?;
        let r = self.store.read()?;
        r.get(&SHIPPING_ZONES, &id)?
            .map(|z| ShippingZoneView::of(&z))
            .ok_or(RulesError::NotFound)
    }

    /// Creates a shipping zone with its methods.
    pub async fn create_shipping_zone(
        &self,
        input: ShippingZoneInput,
    ) -> Result<ShippingZoneView, RulesError> {
        let currency = self.currency;
        self.store
            .write(move |tx| {
                let all = tx.range(&SHIPPING_ZONES, Unbounded, Unbounded, Order::Asc, MAX_ZONES)?;
                if all.len() >= MAX_ZONES {
                    return Err(RulesError::Conflict(format!(
                        "at most {MAX_ZONES} shipping zones"
                    )));
                }
                let now = tx.now();
                let id = ShippingZoneId::new(now);
                let zone = parse_zone(tx, id, None, &input, currency)?;
                let rec = ShippingZoneRecord {
                    zone,
                    created_at: now,
                    updated_at: now,
                };
                tx.insert(&SHIPPING_ZONES, &id, &rec)?;
                bump(tx)?;
                Ok(ShippingZoneView::of(&rec))
            })
            .await
    }

    /// Replaces a zone's name, areas and methods (a method keeps its id when its code stays).
    pub async fn update_shipping_zone(
        &self,
        id: &str,
        input: ShippingZoneInput,
    ) -> Result<ShippingZoneView, RulesError> {
        let id = ShippingZoneId::parse(id).map_err(|_| RulesError::NotFound)?;
        let currency = self.currency;
        self.store
            .write(move |tx| {
                let mut rec = tx.get(&SHIPPING_ZONES, &id)?.ok_or(RulesError::NotFound)?;
                rec.zone = parse_zone(tx, id, Some(&rec.zone), &input, currency)?;
                rec.updated_at = tx.now();
                tx.insert(&SHIPPING_ZONES, &id, &rec)?;
                bump(tx)?;
                Ok(ShippingZoneView::of(&rec))
            })
            .await
    }

    /// Removes a shipping zone.
    pub async fn delete_shipping_zone(&self, id: &str) -> Result<(), RulesError> {
        let id = ShippingZoneId::parse(id).map_err(|_| RulesError::NotFound)?;
        self.store
            .write(move |tx| {
                if !tx.contains(&SHIPPING_ZONES, &id)? {
                    return Err(RulesError::NotFound);
                }
                tx.remove(&SHIPPING_ZONES, &id)?;
                Ok(bump(tx)?)
            })
            .await
    }
}

fn parse_zone(
    tx: &WriteTx<'_>,
    id: ShippingZoneId,
    before: Option<&p::ShippingZone>,
    input: &ShippingZoneInput,
    currency: crate::core::Currency,
) -> Result<p::ShippingZone, RulesError> {
    let mut i = Issues::default();
    let name = i.name("name", &input.name);
    let areas = wire::areas(&mut i, "areas", &input.areas);
    if input.methods.is_empty() || input.methods.len() > 20 {
        i.add("methods", "invalid", "1 to 20 methods");
    }
    let now = tx.now();
    let mut methods: Vec<p::ShippingMethod> = Vec::new();
    for (k, m) in input.methods.iter().enumerate().take(20) {
        let f = |s: &str| format!("methods[{k}].{s}");
        let code = m.code.trim().to_ascii_lowercase();
        if code.is_empty()
            || code.len() > 50
            || !code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            i.add(f("code"), "invalid", "must be 1 to 50 of a-z, 0-9, _ and -");
        } else if methods.iter().any(|x| x.code == code) {
            i.add(
                f("code"),
                "duplicate",
                "another method of this zone has this code",
            );
        }
        let c = &m.conditions;
        let conditions = p::MethodConditions {
            max_weight_grams: c.max_weight_grams,
            min_subtotal: c
                .min_subtotal
                .map(|x| i.money(&f("conditions.min_subtotal"), x, currency)),
            max_subtotal: c
                .max_subtotal
                .map(|x| i.money(&f("conditions.max_subtotal"), x, currency)),
        };
        let keep = before
            .and_then(|b| b.methods.iter().find(|x| x.code == code))
            .map(|x| x.id);
        methods.push(p::ShippingMethod {
            id: keep.unwrap_or_else(|| ShippingMethodId::new(now)),
            name: i.name(&f("name"), &m.name),
            rate: m.rate.parse(&mut i, &f("rate"), currency),
            conditions,
            pickup: m.pickup,
            code,
        });
    }
    invalid_if(i)?;
    Ok(p::ShippingZone {
        id,
        name,
        areas,
        methods,
    })
}
