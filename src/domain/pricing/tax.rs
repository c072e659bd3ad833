//! Tax in the quote. Exclusive prices: tax = rate × (what the line costs after discounts).
//! Inclusive prices: the price a customer pays stays as entered wherever the line is taxed,
//! and the tax contained in it is rate / (1 + rate) of it; where the destination does not tax
//! the line (export, an exempt buyer, a zero rate), the home zone's tax is taken out of the
//! price first. Rounding per line, or once per rate and allocated back by largest remainder.

use std::collections::BTreeMap;

use super::input::Destination;
use super::quote::TaxLine;
use super::rate::{Rate, allocate};
use super::rules::{Rounding, STANDARD, ShippingTax, TaxRules, TaxZone};
use super::work::WorkLine;
use super::zones;
use crate::core::{Currency, Money};

/// The tax facts of one quote.
pub struct TaxContext<'a> {
    /// Destination zone (the home zone when no address is known yet).
    pub zone: Option<&'a TaxZone>,
    /// The zone inclusive prices are entered for.
    pub home: Option<&'a TaxZone>,
    /// Buyer is exempt.
    pub exempt: bool,
    /// Prices include tax.
    pub inclusive: bool,
    /// Rounding rule.
    pub rounding: Rounding,
}

impl<'a> TaxContext<'a> {
    /// Finds the zones for `destination` under `rules`.
    pub fn new(rules: &'a TaxRules, destination: Option<&Destination>, exempt: bool) -> Self {
        let home = rules
            .home_zone
            .and_then(|id| rules.zones.iter().find(|z| z.id == id));
        let zone = match destination {
            Some(d) => zones::best(&rules.zones, d, |z| &z.areas, |z| z.id),
            None => home,
        };
        TaxContext {
            zone,
            home,
            exempt,
            inclusive: rules.prices_include_tax,
            rounding: rules.rounding,
        }
    }

    /// The rate a line of `category` is taxed at.
    pub fn rate(&self, category: &str) -> Rate {
        if self.exempt {
            return Rate::ZERO;
        }
        self.zone.map_or(Rate::ZERO, |z| z.rate(category))
    }

    /// The price charged for a unit entered at `entered`: with inclusive prices and a line the
    /// destination does not tax, the home zone's tax comes out.
    pub fn charged(&self, entered: i128, category: &str, rate: Rate) -> i128 {
        match self.home {
            Some(home) if self.inclusive && rate.is_zero() => {
                entered - home.rate(category).contained_in(entered)
            }
            _ => entered,
        }
    }

    /// Tax on `base` at `rate`.
    fn on(&self, rate: Rate, base: i128) -> i128 {
        if self.inclusive {
            rate.contained_in(base)
        } else {
            rate.of(base)
        }
    }

    /// Taxes every line (into `WorkLine::tax`) and the shipping `base`; returns the shipping
    /// tax and the tax lines.
    pub fn apply(
        &self,
        lines: &mut [WorkLine<'_>],
        shipping_base: i128,
        currency: Currency,
    ) -> (i128, Vec<TaxLine>) {
        let Some(zone) = self.zone.filter(|_| !self.exempt) else {
            return (0, Vec::new());
        };
        self.tax_lines_of_goods(lines);
        let mut groups: BTreeMap<(String, Rate), (i128, i128)> = BTreeMap::new();
        for l in lines.iter() {
            let g = groups.entry((l.category.to_owned(), l.rate)).or_default();
            g.0 += l.remaining;
            g.1 += l.tax;
        }
        let mut shipping_tax = 0;
        for (rate, part) in self.shipping_parts(zone, lines, shipping_base) {
            let tax = self.on(rate, part);
            shipping_tax += tax;
            let g = groups.entry(("shipping".to_owned(), rate)).or_default();
            g.0 += part;
            g.1 += tax;
        }
        let money = |a: i128| Money::new(i64::try_from(a).unwrap_or(i64::MAX), currency);
        let tax_lines = groups
            .into_iter()
            .filter(|(_, (base, _))| *base > 0)
            .map(|((category, rate), (base, amount))| TaxLine {
                zone_id: zone.id,
                name: format!("{} {category} {rate}%", zone.name),
                category,
                rate,
                base: money(base),
                amount: money(amount),
            })
            .collect();
        (shipping_tax, tax_lines)
    }

    fn tax_lines_of_goods(&self, lines: &mut [WorkLine<'_>]) {
        match self.rounding {
            Rounding::PerLine => {
                for l in lines.iter_mut() {
                    l.tax = self.on(l.rate, l.remaining);
                }
            }
            Rounding::PerTotal => {
                let mut by_rate: BTreeMap<Rate, Vec<usize>> = BTreeMap::new();
                for (i, l) in lines.iter().enumerate() {
                    by_rate.entry(l.rate).or_default().push(i);
                }
                for (rate, idx) in by_rate {
                    let base: i128 = idx.iter().map(|&i| lines[i].remaining).sum();
                    let weights: Vec<_> = idx
                        .iter()
                        .map(|&i| (lines[i].input.variant_id, lines[i].remaining))
                        .collect();
                    for (&i, t) in idx.iter().zip(allocate(self.on(rate, base), &weights)) {
                        lines[i].tax = t;
                    }
                }
            }
        }
    }

    /// Shipping's taxable amount split by rate, per the zone's setting.
    fn shipping_parts(
        &self,
        zone: &TaxZone,
        lines: &[WorkLine<'_>],
        base: i128,
    ) -> Vec<(Rate, i128)> {
        let goods: i128 = lines.iter().map(|l| l.remaining).sum();
        match zone.shipping {
            _ if base <= 0 => Vec::new(),
            ShippingTax::None => Vec::new(),
            ShippingTax::Proportional if goods > 0 => {
                let weights: Vec<_> = lines
                    .iter()
                    .map(|l| (l.input.variant_id, l.remaining))
                    .collect();
                let mut by_rate: BTreeMap<Rate, i128> = BTreeMap::new();
                for (l, part) in lines.iter().zip(allocate(base, &weights)) {
                    *by_rate.entry(l.rate).or_default() += part;
                }
                by_rate.into_iter().filter(|(_, p)| *p > 0).collect()
            }
            ShippingTax::Standard | ShippingTax::Proportional => {
                vec![(zone.rate(STANDARD), base)]
            }
        }
    }
}
