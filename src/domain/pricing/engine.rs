//! The one pricing function: (cart, buyer, destination, method, codes, gift cards, rules, now)
//! → a [`Quote`]. Pure: no storage, no clock, no I/O; the same input always gives the same
//! quote, whatever order the lines came in.

use super::input::QuoteInput;
use super::promotions::{self, Candidate, Refused};
use super::quote::{
    AppliedDiscount, Explanation, LineDiscount, Quote, QuoteLine, QuoteShipping, Refusal, Tender,
    Totals,
};
use super::rules::{Effect, Rules, STANDARD};
use super::shipping;
use super::tax::TaxContext;
use super::work::WorkLine;
use crate::core::{Currency, Money};

/// Why a cart cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// A line is priced in another currency than the cart.
    #[error("line {0} is priced in {1}, the cart in {2}")]
    CurrencyMismatch(String, Currency, Currency),
    /// An amount does not fit in 64 bits.
    #[error("an amount of the cart is too large")]
    Overflow,
    /// A quantity is zero or negative.
    #[error("line {0} has no units")]
    Quantity(String),
}

/// Prices a cart.
pub fn quote(rules: &Rules, input: &QuoteInput) -> Result<Quote, PricingError> {
    let currency = input.currency;
    let tax = TaxContext::new(
        &rules.tax,
        input.destination.as_ref(),
        input.buyer.tax_exempt,
    );
    let mut lines = work_lines(input, &tax)?;
    let mut refused: Vec<Refused> = Vec::new();
    let selected = select(rules, input, &lines, &mut refused);
    let mut amounts: Vec<i128> = vec![0; selected.len()];
    for line_phase in [true, false] {
        for (k, c) in selected.iter().enumerate() {
            if promotions::is_line_level(&c.promo.effect) == line_phase
                && !matches!(c.promo.effect, Effect::FreeShipping)
            {
                amounts[k] += promotions::apply(c.promo, &mut lines, rules.tax.rounding);
            }
        }
    }
    let mut explanation = Vec::new();
    let ship = shipping_of(rules, input, &lines, &tax, &mut explanation);
    let mut shipping_discount = 0;
    if let Some((_, price)) = &ship {
        for (k, c) in selected.iter().enumerate() {
            if matches!(c.promo.effect, Effect::FreeShipping) {
                let off = *price - shipping_discount;
                amounts[k] += off;
                shipping_discount += off;
            }
        }
    }
    let shipping_price = ship.as_ref().map_or(0, |(_, p)| *p);
    let (shipping_tax, tax_lines) =
        tax.apply(&mut lines, shipping_price - shipping_discount, currency);
    let m = |a: i128| money(a, currency);
    let quote_lines = lines
        .iter()
        .map(|l| quote_line(l, tax.inclusive, currency))
        .collect::<Result<Vec<_>, _>>()?;
    let subtotal: i128 = lines.iter().map(|l| l.subtotal).sum();
    let discount: i128 =
        lines.iter().map(|l| l.subtotal - l.remaining).sum::<i128>() + shipping_discount;
    let tax_total: i128 = lines.iter().map(|l| l.tax).sum::<i128>() + shipping_tax;
    let added_tax = if tax.inclusive { 0 } else { tax_total };
    let total = subtotal - discount + shipping_price + added_tax;
    let (gift_cards, tendered) = tenders(input, total, &mut explanation)?;
    explain_promotions(&selected, &amounts, &refused, currency, &mut explanation)?;
    explain_tax(&tax_lines, &mut explanation);
    let shipping = match ship {
        Some((offer, price)) => Some(QuoteShipping {
            method_id: offer.method.id,
            code: offer.method.code.clone(),
            name: offer.method.name.clone(),
            price: m(price)?,
            discount: m(shipping_discount)?,
            tax: m(shipping_tax)?,
            total: m(price - shipping_discount + if tax.inclusive { 0 } else { shipping_tax })?,
        }),
        None => None,
    };
    let discounts = selected
        .iter()
        .zip(&amounts)
        .map(|(c, a)| {
            Ok(AppliedDiscount {
                promotion_id: c.promo.id,
                name: c.promo.name.clone(),
                code: c.code.clone(),
                amount: m(*a)?,
            })
        })
        .collect::<Result<Vec<_>, PricingError>>()?;
    Ok(Quote {
        currency,
        tax_inclusive: tax.inclusive,
        rounding: rules.tax.rounding,
        tax_zone: tax.zone.filter(|_| !tax.exempt).map(|z| z.id),
        lines: quote_lines,
        shipping,
        discounts,
        tax_lines,
        gift_cards,
        totals: Totals {
            subtotal: m(subtotal)?,
            discount: m(discount)?,
            shipping: m(shipping_price)?,
            tax: m(tax_total)?,
            gift_cards: m(tendered)?,
            total: m(total)?,
            amount_due: m(total - tendered)?,
        },
        explanation,
        refused_codes: refused
            .into_iter()
            .filter_map(|(_, code, r)| code.map(|c| (c, r)))
            .collect(),
    })
}

fn money(a: i128, currency: Currency) -> Result<Money, PricingError> {
    i64::try_from(a)
        .map(|a| Money::new(a, currency))
        .map_err(|_| PricingError::Overflow)
}

/// Bounds that keep every intermediate product far inside i128: 10^15 minor units per
/// amount, 10^6 units per line.
const MAX_AMOUNT: i128 = 1_000_000_000_000_000;

fn work_lines<'a>(
    input: &'a QuoteInput,
    tax: &TaxContext<'_>,
) -> Result<Vec<WorkLine<'a>>, PricingError> {
    input
        .lines
        .iter()
        .map(|l| {
            if l.unit_price.currency != input.currency {
                return Err(PricingError::CurrencyMismatch(
                    l.line_id.to_string(),
                    l.unit_price.currency,
                    input.currency,
                ));
            }
            if l.quantity <= 0 || l.quantity > 1_000_000 {
                return Err(PricingError::Quantity(l.line_id.to_string()));
            }
            let entered = i128::from(l.unit_price.amount.max(0));
            if entered > MAX_AMOUNT {
                return Err(PricingError::Overflow);
            }
            let category = l.tax_category.as_str();
            let rate = tax.rate(category);
            let unit = tax.charged(entered, category, rate);
            let qty = i128::from(l.quantity);
            Ok(WorkLine {
                input: l,
                unit,
                qty,
                subtotal: unit * qty,
                remaining: unit * qty,
                discounts: Vec::new(),
                rate,
                category,
                tax: 0,
            })
        })
        .collect()
}

/// Eligibility, then stacking (see [`promotions`]); refusals are collected into `refused`.
fn select<'a>(
    rules: &'a Rules,
    input: &QuoteInput,
    lines: &[WorkLine<'_>],
    refused: &mut Vec<Refused>,
) -> Vec<Candidate<'a>> {
    let mut selected: Vec<Candidate<'a>> = Vec::new();
    for c in promotions::candidates(&rules.promotions, &input.codes, input.now, refused) {
        let rule = promotions::rule_of(c.promo, c.code.as_deref());
        if let Some(r) = promotions::ineligible(c.promo, input, lines) {
            refused.push((rule, c.code, r));
            continue;
        }
        let blocked = selected.iter().any(|s| !s.promo.combinable)
            || (!c.promo.combinable && !selected.is_empty());
        if blocked {
            refused.push((rule, c.code, Refusal::NotCombinable));
        } else {
            selected.push(c);
        }
    }
    selected
}

/// The chosen method's offer and price, when it is offered for this cart and destination.
fn shipping_of<'a>(
    rules: &'a Rules,
    input: &QuoteInput,
    lines: &[WorkLine<'_>],
    tax: &TaxContext<'_>,
    explanation: &mut Vec<Explanation>,
) -> Option<(shipping::Offer<'a>, i128)> {
    let method = input.shipping_method?;
    let shipped: Vec<&WorkLine<'_>> = lines.iter().filter(|l| l.input.requires_shipping).collect();
    if shipped.is_empty() {
        return None;
    }
    let goods: i128 = lines.iter().map(|l| l.remaining).sum();
    let grams: u64 = shipped
        .iter()
        .map(|l| {
            l.input
                .grams
                .saturating_mul(l.input.quantity.unsigned_abs())
        })
        .fold(0u64, u64::saturating_add);
    let offer = input.destination.as_ref().and_then(|d| {
        shipping::offers(&rules.shipping, d, goods, grams, input.currency)
            .into_iter()
            .find(|o| o.method.id == method)
    });
    let Some(offer) = offer else {
        explanation.push(Explanation {
            rule: format!("shipping {method}"),
            applied: false,
            amount: None,
            reason: Some("not_available".into()),
        });
        return None;
    };
    // Inclusive rates the destination does not tax lose the home zone's tax, as prices do.
    let rate = tax.rate(STANDARD);
    let price = tax.charged(offer.price, STANDARD, rate);
    explanation.push(Explanation {
        rule: format!("shipping {} \"{}\"", offer.method.code, offer.method.name),
        applied: true,
        amount: money(price, input.currency).ok(),
        reason: None,
    });
    Some((offer, price))
}

fn tenders(
    input: &QuoteInput,
    total: i128,
    explanation: &mut Vec<Explanation>,
) -> Result<(Vec<Tender>, i128), PricingError> {
    let mut left = total;
    let mut out = Vec::new();
    for g in &input.gift_cards {
        let rule = format!("gift card …{}", g.last4);
        let refused = if g.balance.currency != input.currency {
            Some("currency")
        } else if g.balance.amount <= 0 {
            Some("empty")
        } else if left == 0 {
            Some("nothing_due")
        } else {
            None
        };
        if let Some(reason) = refused {
            explanation.push(Explanation {
                rule,
                applied: false,
                amount: None,
                reason: Some(reason.into()),
            });
            continue;
        }
        let take = i128::from(g.balance.amount).min(left);
        left -= take;
        let amount = money(take, input.currency)?;
        out.push(Tender {
            gift_card_id: g.id,
            last4: g.last4.clone(),
            amount,
        });
        explanation.push(Explanation {
            rule,
            applied: true,
            amount: Some(amount),
            reason: None,
        });
    }
    Ok((out, total - left))
}

fn quote_line(
    l: &WorkLine<'_>,
    inclusive: bool,
    currency: Currency,
) -> Result<QuoteLine, PricingError> {
    let m = |a: i128| money(a, currency);
    Ok(QuoteLine {
        line_id: l.input.line_id,
        variant_id: l.input.variant_id,
        product_id: l.input.product_id,
        quantity: l.input.quantity,
        unit_price: m(l.unit)?,
        subtotal: m(l.subtotal)?,
        discounts: l
            .discounts
            .iter()
            .map(|(p, a, allocated)| {
                Ok(LineDiscount {
                    promotion_id: *p,
                    amount: m(*a)?,
                    allocated: *allocated,
                })
            })
            .collect::<Result<_, PricingError>>()?,
        discount: m(l.subtotal - l.remaining)?,
        tax_category: l.category.to_owned(),
        tax_rate: l.rate,
        tax: m(l.tax)?,
        total: m(l.remaining + if inclusive { 0 } else { l.tax })?,
        requires_shipping: l.input.requires_shipping,
    })
}

fn explain_promotions(
    selected: &[Candidate<'_>],
    amounts: &[i128],
    refused: &[Refused],
    currency: Currency,
    out: &mut Vec<Explanation>,
) -> Result<(), PricingError> {
    for (c, a) in selected.iter().zip(amounts) {
        out.push(Explanation {
            rule: promotions::rule_of(c.promo, c.code.as_deref()),
            applied: true,
            amount: Some(money(*a, currency)?),
            reason: None,
        });
    }
    for (rule, _, r) in refused {
        out.push(Explanation {
            rule: rule.clone(),
            applied: false,
            amount: None,
            reason: Some(r.as_str().into()),
        });
    }
    Ok(())
}

fn explain_tax(tax_lines: &[super::quote::TaxLine], out: &mut Vec<Explanation>) {
    for t in tax_lines {
        out.push(Explanation {
            rule: format!("tax {}", t.name),
            applied: true,
            amount: Some(t.amount),
            reason: None,
        });
    }
}
