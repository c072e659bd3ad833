//! Promotions in the quote: which are eligible (and why not), which are selected under the
//! stacking rules, and what each takes off. The documented order:
//!
//! 1. Candidates are automatic promotions inside their validity window and the promotions
//!    reached by entered codes (whatever their window, so a code hears why), sorted by
//!    priority (higher first), then entered codes before automatic ones, then id.
//! 2. Each is checked: window, usage limits, buyer conditions, scope, minimums. A candidate
//!    that fails gets its reason.
//! 3. Stacking: walking that order, a promotion joins the selection unless one selected before
//!    is not combinable, or it is not combinable itself and something is selected already
//!    (reason `not_combinable`).
//! 4. Line-level effects (percentage, fixed per item, buy X get Y) apply in selection order,
//!    each to what the lines still cost; then order-level effects (fixed per order, tiered)
//!    to the discounted subtotal of their scope, allocated to those lines by largest
//!    remainder; then free shipping. Nothing goes below zero.

use super::input::{CodeInput, QuoteInput};
use super::quote::Refusal;
use super::rate::{Rate, allocate, round_div};
use super::rules::{Effect, Per, Promotion, Rounding, Scope};
use super::work::WorkLine;
use crate::core::Money;

/// A promotion being considered, with the code that brought it (none when automatic).
#[derive(Clone, Debug)]
pub struct Candidate<'a> {
    /// The promotion.
    pub promo: &'a Promotion,
    /// The entered code.
    pub code: Option<String>,
}

/// Whether `line` is in `scope`.
pub fn in_scope(scope: &Scope, line: &WorkLine<'_>) -> bool {
    let l = &line.input;
    if !l.discountable {
        return false;
    }
    match scope {
        Scope::All => true,
        Scope::Products { ids } => ids.contains(&l.product_id),
        Scope::Variants { ids } => ids.contains(&l.variant_id),
        Scope::Categories { ids } => l.category_ids.iter().any(|c| ids.contains(c)),
        Scope::Collections { ids } => l.collection_ids.iter().any(|c| ids.contains(c)),
    }
}

/// How the explanation names a promotion (and the code that brought it).
pub fn rule_of(p: &Promotion, code: Option<&str>) -> String {
    match code {
        Some(c) => format!("code {c} (promotion {} \"{}\")", p.id, p.name),
        None => format!("promotion {} \"{}\"", p.id, p.name),
    }
}

/// A code or promotion that did not apply: its rule text, the code, the reason.
pub type Refused = (String, Option<String>, Refusal);

/// The candidates of a quote: codes first resolved (unknown, used-up and duplicate ones
/// refused into `refused`), then the automatic promotions; sorted into the order selection
/// walks.
pub fn candidates<'a>(
    promotions: &'a [Promotion],
    codes: &[CodeInput],
    now: crate::core::Timestamp,
    refused: &mut Vec<Refused>,
) -> Vec<Candidate<'a>> {
    let mut out: Vec<Candidate<'a>> = Vec::new();
    for c in codes {
        let promo = c
            .promotion
            .and_then(|id| promotions.iter().find(|p| p.id == id && p.has_codes));
        let code = Some(c.code.clone());
        match promo {
            None => refused.push((format!("code {}", c.code), code, Refusal::Unknown)),
            Some(p) if out.iter().any(|o| o.promo.id == p.id) => {
                refused.push((rule_of(p, Some(&c.code)), code, Refusal::NotCombinable))
            }
            Some(p) if c.code_used_up => {
                refused.push((rule_of(p, Some(&c.code)), code, Refusal::UsageLimitReached))
            }
            Some(p) => out.push(Candidate { promo: p, code }),
        }
    }
    // Automatic promotions outside their window are not considered at all (not listed as
    // refused): a long-ended sale is not news in every cart's explanation.
    let in_window =
        |p: &&Promotion| p.starts_at.is_none_or(|s| now >= s) && p.ends_at.is_none_or(|e| now < e);
    out.extend(
        promotions
            .iter()
            .filter(|p| !p.has_codes)
            .filter(in_window)
            .map(|p| Candidate {
                promo: p,
                code: None,
            }),
    );
    out.sort_by(|a, b| {
        b.promo
            .priority
            .cmp(&a.promo.priority)
            .then_with(|| b.code.is_some().cmp(&a.code.is_some()))
            .then_with(|| a.promo.id.cmp(&b.promo.id))
    });
    out
}

/// Why `p` cannot apply to this cart and buyer, if it cannot.
pub fn ineligible(p: &Promotion, input: &QuoteInput, lines: &[WorkLine<'_>]) -> Option<Refusal> {
    if p.starts_at.is_some_and(|s| input.now < s) {
        return Some(Refusal::NotStarted);
    }
    if p.ends_at.is_some_and(|e| input.now >= e) {
        return Some(Refusal::Expired);
    }
    let used = |m: &std::collections::BTreeMap<_, u32>| m.get(&p.id).copied().unwrap_or(0);
    if p.usage_limit
        .is_some_and(|l| used(&input.promotion_uses) >= l)
        || p.per_customer_limit
            .is_some_and(|l| used(&input.buyer.uses) >= l)
    {
        return Some(Refusal::UsageLimitReached);
    }
    if !in_currency(p, input.currency) || !buyer_qualifies(p, input) {
        return Some(Refusal::NotApplicable);
    }
    let scoped: Vec<&WorkLine<'_>> = lines.iter().filter(|l| in_scope(&p.scope, l)).collect();
    if scoped.is_empty() {
        return Some(Refusal::NotApplicable);
    }
    let subtotal: i128 = scoped.iter().map(|l| l.subtotal).sum();
    let units: i128 = scoped.iter().map(|l| l.qty).sum();
    let c = &p.conditions;
    let below_min = c
        .min_subtotal
        .is_some_and(|m| subtotal < i128::from(m.amount))
        || c.min_quantity.is_some_and(|m| units < i128::from(m));
    let effect_min = match &p.effect {
        Effect::BuyXGetY { buy, get, .. } => units < i128::from(*buy) + i128::from(*get),
        Effect::Tiered { tiers } => !tiers
            .iter()
            .any(|t| subtotal >= i128::from(t.min_subtotal.amount)),
        _ => false,
    };
    (below_min || effect_min).then_some(Refusal::MinimumNotMet)
}

fn in_currency(p: &Promotion, currency: crate::core::Currency) -> bool {
    let ok = |m: &Money| m.currency == currency;
    let effect = match &p.effect {
        Effect::Fixed { amount, .. } => ok(amount),
        Effect::Tiered { tiers } => tiers
            .iter()
            .all(|t| ok(&t.min_subtotal) && t.amount.as_ref().is_none_or(ok)),
        _ => true,
    };
    effect && p.conditions.min_subtotal.as_ref().is_none_or(ok)
}

fn buyer_qualifies(p: &Promotion, input: &QuoteInput) -> bool {
    let c = &p.conditions;
    let b = &input.buyer;
    if c.signed_in_only && b.customer_id.is_none() {
        return false;
    }
    if c.first_order_only && b.previous_orders > 0 {
        return false;
    }
    if !c.customers.is_empty() && !b.customer_id.is_some_and(|id| c.customers.contains(&id)) {
        return false;
    }
    if !c.email_domains.is_empty() {
        let domain = b
            .email
            .as_deref()
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, d)| d.to_ascii_lowercase());
        if !domain.is_some_and(|d| c.email_domains.contains(&d)) {
            return false;
        }
    }
    true
}

/// Whether this effect applies at the line level (before order-level ones).
pub fn is_line_level(e: &Effect) -> bool {
    matches!(
        e,
        Effect::Percentage { .. } | Effect::Fixed { per: Per::Item, .. } | Effect::BuyXGetY { .. }
    )
}

/// Applies a line- or order-level promotion to the lines; returns the total taken off.
pub fn apply(p: &Promotion, lines: &mut [WorkLine<'_>], rounding: Rounding) -> i128 {
    let scoped: Vec<usize> = (0..lines.len())
        .filter(|&i| in_scope(&p.scope, &lines[i]) && lines[i].remaining > 0)
        .collect();
    let cuts: Vec<(usize, i128, bool)> = match &p.effect {
        Effect::Percentage { percent } => percentage(*percent, &scoped, lines, rounding),
        Effect::Fixed {
            amount,
            per: Per::Item,
        } => scoped
            .iter()
            .map(|&i| {
                let off = i128::from(amount.amount).max(0) * lines[i].qty;
                (i, off.min(lines[i].remaining), false)
            })
            .collect(),
        Effect::BuyXGetY {
            buy,
            get,
            percent,
            max_applications,
        } => buy_x_get_y(*buy, *get, *percent, *max_applications, &scoped, lines),
        Effect::Fixed {
            amount,
            per: Per::Order,
        } => order_level(i128::from(amount.amount).max(0), None, &scoped, lines),
        Effect::Tiered { tiers } => {
            let before: i128 = lines
                .iter()
                .filter(|l| in_scope(&p.scope, l))
                .map(|l| l.subtotal)
                .sum();
            let tier = tiers
                .iter()
                .filter(|t| before >= i128::from(t.min_subtotal.amount))
                .max_by_key(|t| t.min_subtotal.amount);
            match tier {
                Some(t) => order_level(
                    t.amount.map_or(0, |a| i128::from(a.amount).max(0)),
                    t.percent,
                    &scoped,
                    lines,
                ),
                None => Vec::new(),
            }
        }
        Effect::FreeShipping => Vec::new(),
    };
    let mut total = 0;
    for (i, off, allocated) in cuts {
        let off = off.clamp(0, lines[i].remaining);
        if off > 0 {
            lines[i].remaining -= off;
            lines[i].discounts.push((p.id, off, allocated));
            total += off;
        }
    }
    total
}

fn percentage(
    pct: Rate,
    scoped: &[usize],
    lines: &[WorkLine<'_>],
    rounding: Rounding,
) -> Vec<(usize, i128, bool)> {
    match rounding {
        Rounding::PerLine => scoped
            .iter()
            .map(|&i| (i, pct.of(lines[i].remaining), false))
            .collect(),
        Rounding::PerTotal => {
            let base: i128 = scoped.iter().map(|&i| lines[i].remaining).sum();
            let weights: Vec<_> = scoped
                .iter()
                .map(|&i| (lines[i].input.variant_id, lines[i].remaining))
                .collect();
            let parts = allocate(pct.of(base), &weights);
            scoped
                .iter()
                .zip(parts)
                .map(|(&i, p)| (i, p, false))
                .collect()
        }
    }
}

/// Every `buy + get` units in scope discount the `get` cheapest, up to `max` applications.
fn buy_x_get_y(
    buy: u32,
    get: u32,
    pct: Rate,
    max: Option<u32>,
    scoped: &[usize],
    lines: &[WorkLine<'_>],
) -> Vec<(usize, i128, bool)> {
    let group = i128::from(buy) + i128::from(get);
    if group == 0 || get == 0 {
        return Vec::new();
    }
    let units: i128 = scoped.iter().map(|&i| lines[i].qty).sum();
    let mut apps = units / group;
    if let Some(m) = max {
        apps = apps.min(i128::from(m));
    }
    let mut free = apps * i128::from(get);
    let mut cheapest: Vec<usize> = scoped.to_vec();
    cheapest.sort_by(|&a, &b| {
        lines[a]
            .unit
            .cmp(&lines[b].unit)
            .then_with(|| lines[a].input.variant_id.cmp(&lines[b].input.variant_id))
    });
    let mut out = Vec::new();
    for i in cheapest {
        if free == 0 {
            break;
        }
        let take = free.min(lines[i].qty);
        free -= take;
        // The discounted units' share of what the line still costs, at `pct`.
        let off = round_div(
            lines[i].remaining * take * i128::from(pct.ppm()),
            lines[i].qty * 1_000_000,
        );
        out.push((i, off, false));
    }
    out
}

/// An order-level amount (or percent) of the discounted subtotal of `scoped`, allocated to
/// those lines in proportion to what they still cost.
fn order_level(
    amount: i128,
    percent: Option<Rate>,
    scoped: &[usize],
    lines: &[WorkLine<'_>],
) -> Vec<(usize, i128, bool)> {
    let base: i128 = scoped.iter().map(|&i| lines[i].remaining).sum();
    let off = percent.map_or(amount, |p| p.of(base)).min(base);
    let weights: Vec<_> = scoped
        .iter()
        .map(|&i| (lines[i].input.variant_id, lines[i].remaining))
        .collect();
    let parts = allocate(off, &weights);
    scoped
        .iter()
        .zip(parts)
        .map(|(&i, p)| (i, p, true))
        .collect()
}
