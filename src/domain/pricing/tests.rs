//! The pricing engine against hand-checked cases (every expected number worked out in the
//! comment beside it) and against properties over random carts, rules and currencies.

use std::collections::BTreeMap;

use super::*;
use crate::core::{
    CategoryId, Currency, CustomerId, GiftCardId, LineId, Money, ProductId, PromotionId,
    ShippingMethodId, ShippingZoneId, TaxZoneId, Timestamp, VariantId,
};

const NOW: Timestamp = Timestamp::from_millis(1_780_000_000_000);

fn cur(c: &str) -> Currency {
    Currency::parse(c).expect("currency")
}

fn line(price: i64, currency: &str, qty: i64, category: &str) -> LineInput {
    LineInput {
        line_id: LineId::new(NOW),
        variant_id: VariantId::new(NOW),
        product_id: ProductId::new(NOW),
        quantity: qty,
        unit_price: Money::new(price, cur(currency)),
        tax_category: category.into(),
        grams: 500,
        requires_shipping: true,
        discountable: true,
        category_ids: Vec::new(),
        collection_ids: Vec::new(),
    }
}

fn input(currency: &str, lines: Vec<LineInput>) -> QuoteInput {
    QuoteInput {
        currency: cur(currency),
        lines,
        buyer: Buyer::default(),
        destination: None,
        shipping_method: None,
        codes: Vec::new(),
        gift_cards: Vec::new(),
        promotion_uses: BTreeMap::new(),
        now: NOW,
    }
}

fn zone(name: &str, area: Area, rates: &[(&str, &str)], shipping: ShippingTax) -> TaxZone {
    TaxZone {
        id: TaxZoneId::new(NOW),
        name: name.into(),
        areas: vec![area],
        rates: rates
            .iter()
            .map(|(c, r)| ((*c).to_owned(), Rate::parse(r).expect("rate")))
            .collect(),
        shipping,
    }
}

fn country(c: &str) -> Area {
    Area {
        country: c.into(),
        regions: Vec::new(),
        postal_prefixes: Vec::new(),
    }
}

fn state(c: &str, r: &str) -> Area {
    Area {
        regions: vec![r.into()],
        ..country(c)
    }
}

fn flat(price: i64, currency: &str) -> (ShippingZone, ShippingMethodId) {
    let id = ShippingMethodId::new(NOW);
    let zone = ShippingZone {
        id: ShippingZoneId::new(NOW),
        name: "Everywhere".into(),
        areas: Vec::new(),
        methods: vec![ShippingMethod {
            id,
            code: "standard".into(),
            name: "Standard".into(),
            rate: RateKind::Flat {
                price: Money::new(price, cur(currency)),
            },
            conditions: MethodConditions::default(),
            pickup: false,
        }],
    };
    (zone, id)
}

fn promo(name: &str, effect: Effect) -> Promotion {
    Promotion {
        id: PromotionId::new(NOW),
        name: name.into(),
        has_codes: false,
        effect,
        scope: Scope::All,
        conditions: Conditions::default(),
        usage_limit: None,
        per_customer_limit: None,
        combinable: true,
        priority: 0,
        starts_at: None,
        ends_at: None,
    }
}

fn code(p: &mut Promotion, code: &str, i: &mut QuoteInput) {
    p.has_codes = true;
    i.codes.push(CodeInput {
        code: code.into(),
        promotion: Some(p.id),
        code_used_up: false,
    });
}

fn amounts(q: &Quote) -> (i64, i64, i64, i64, i64) {
    let t = &q.totals;
    (
        t.subtotal.amount,
        t.discount.amount,
        t.shipping.amount,
        t.tax.amount,
        t.total.amount,
    )
}

/// Germany, prices include VAT: 2 × 59.50 at 19 % and 1 × 21.40 at 7 %, a 10.00 order
/// discount, 4.90 shipping taxed in proportion.
/// - subtotal 119.00 + 21.40 = 140.40
/// - 10.00 by largest remainder over 11900 : 2140 → 847.58 / 152.42 → floors 847 + 152 = 999,
///   the left-over cent to the larger remainder (A: 8120 vs B: 5920) → A 848, B 152
/// - A: 11900 − 848 = 11052, VAT 11052 × 19/119 = 1764.61 → 17.65
/// - B: 2140 − 152 = 1988, VAT 1988 × 7/107 = 130.06 → 1.30
/// - shipping 490 split 11052 : 1988 → 415.29 / 74.71 → 415 + 74, cent to B (9160 > 3880)
///   → 415 at 19 % = 66.26 → 0.66; 75 at 7 % = 4.91 → 0.05
/// - total 140.40 − 10.00 + 4.90 = 135.30, containing VAT 17.65 + 1.30 + 0.66 + 0.05 = 19.66
#[test]
fn german_cart_inclusive_with_two_rates_and_an_order_discount() {
    let de = zone(
        "DE",
        country("DE"),
        &[("standard", "19"), ("reduced", "7")],
        ShippingTax::Proportional,
    );
    let (ship, method) = flat(490, "EUR");
    let rules = Rules {
        tax: TaxRules {
            prices_include_tax: true,
            rounding: Rounding::PerLine,
            home_zone: Some(de.id),
            zones: vec![de],
        },
        shipping: vec![ship],
        promotions: vec![promo(
            "10 off",
            Effect::Fixed {
                amount: Money::new(1000, cur("EUR")),
                per: Per::Order,
            },
        )],
    };
    let mut i = input(
        "EUR",
        vec![
            line(5950, "EUR", 2, "standard"),
            line(2140, "EUR", 1, "reduced"),
        ],
    );
    i.destination = Some(Destination::new("DE", "", "10115"));
    i.shipping_method = Some(method);
    let q = quote(&rules, &i).expect("quote");
    assert_eq!(amounts(&q), (14040, 1000, 490, 1966, 13530));
    assert_eq!(
        q.lines
            .iter()
            .map(|l| (l.discount.amount, l.tax.amount, l.total.amount))
            .collect::<Vec<_>>(),
        vec![(848, 1765, 11052), (152, 130, 1988)]
    );
    let s = q.shipping.as_ref().expect("shipping");
    assert_eq!(
        (s.price.amount, s.tax.amount, s.total.amount),
        (490, 71, 490)
    );
    let by_rate: Vec<_> = q
        .tax_lines
        .iter()
        .map(|t| {
            (
                t.category.as_str(),
                t.rate.to_string(),
                t.base.amount,
                t.amount.amount,
            )
        })
        .collect();
    assert_eq!(
        by_rate,
        vec![
            ("reduced", "7".into(), 1988, 130),
            ("shipping", "7".into(), 75, 5),
            ("shipping", "19".into(), 415, 66),
            ("standard", "19".into(), 11052, 1765),
        ]
    );
    assert!(q.tax_inclusive);
    assert_eq!(q.totals.amount_due.amount, 13530);
}

/// The same German prices sold to a tax-exempt buyer (or exported): the home VAT comes out of
/// each unit price. 59.50 − 59.50 × 19/119 (9.50) = 50.00; 21.40 − 1.40 = 20.00.
#[test]
fn inclusive_prices_lose_the_home_tax_where_the_line_is_not_taxed() {
    let de = zone(
        "DE",
        country("DE"),
        &[("standard", "19"), ("reduced", "7")],
        ShippingTax::Standard,
    );
    let us = zone("US", country("US"), &[("standard", "0")], ShippingTax::None);
    let rules = Rules {
        tax: TaxRules {
            prices_include_tax: true,
            home_zone: Some(de.id),
            zones: vec![de.clone(), us],
            ..TaxRules::default()
        },
        ..Rules::default()
    };
    let lines = vec![
        line(5950, "EUR", 2, "standard"),
        line(2140, "EUR", 1, "reduced"),
    ];
    let mut i = input("EUR", lines);
    i.destination = Some(Destination::new("US", "NY", "10001"));
    let q = quote(&rules, &i).expect("quote");
    assert_eq!(amounts(&q), (12000, 0, 0, 0, 12000));
    i.destination = Some(Destination::new("DE", "", ""));
    i.buyer.tax_exempt = true;
    assert_eq!(
        amounts(&quote(&rules, &i).expect("quote")),
        (12000, 0, 0, 0, 12000)
    );
    // Austria taxes at 20 %: the customer pays the price as shown, VAT extracted at 20 %:
    // 11900 × 20/120 = 1983.33 → 19.83; 2140 at AT's reduced 10 % → 194.55 → 1.95.
    let at = zone(
        "AT",
        country("AT"),
        &[("standard", "20"), ("reduced", "10")],
        ShippingTax::Standard,
    );
    let rules = Rules {
        tax: TaxRules {
            zones: vec![de, at],
            ..rules.tax
        },
        ..Rules::default()
    };
    i.buyer.tax_exempt = false;
    i.destination = Some(Destination::new("AT", "", ""));
    assert_eq!(
        amounts(&quote(&rules, &i).expect("quote")),
        (14040, 0, 0, 2178, 14040)
    );
}

fn us_rules() -> (Rules, ShippingMethodId) {
    let ny = zone(
        "New York",
        state("US", "NY"),
        &[("standard", "8.875")],
        ShippingTax::Standard,
    );
    let ca = zone(
        "California",
        state("US", "CA"),
        &[("standard", "7.25")],
        ShippingTax::None,
    );
    let (ship, method) = flat(500, "USD");
    let rules = Rules {
        tax: TaxRules {
            prices_include_tax: false,
            zones: vec![ny, ca],
            ..TaxRules::default()
        },
        shipping: vec![ship],
        promotions: Vec::new(),
    };
    (rules, method)
}

/// US, prices before tax, 2 × 24.99 + 1 × 10.00 = 59.98 and 5.00 shipping.
/// - New York 8.875 %, shipping taxed: 4998 → 443.57 → 4.44; 1000 → 88.75 → 0.89;
///   shipping 500 → 44.38 → 0.44; tax 5.77, total 59.98 + 5.00 + 5.77 = 70.75
/// - California 7.25 %, shipping not taxed: 4998 → 362.36 → 3.62; 1000 → 72.5 → 0.73;
///   tax 4.35, total 69.33
/// - New York rounding per total: 5998 × 8.875 % = 532.32 → 5.32 on goods, + 0.44 = 5.76
#[test]
fn us_cart_taxed_by_state_with_shipping_taxable_in_one_state_only() {
    let (mut rules, method) = us_rules();
    let mut i = input(
        "USD",
        vec![
            line(2499, "USD", 2, "standard"),
            line(1000, "USD", 1, "standard"),
        ],
    );
    i.shipping_method = Some(method);
    i.destination = Some(Destination::new("us", "ny", "10001"));
    let ny = quote(&rules, &i).expect("quote");
    assert_eq!(amounts(&ny), (5998, 0, 500, 577, 7075));
    assert_eq!(ny.shipping.as_ref().map(|s| s.tax.amount), Some(44));
    i.destination = Some(Destination::new("US", "CA", "94103"));
    let ca = quote(&rules, &i).expect("quote");
    assert_eq!(amounts(&ca), (5998, 0, 500, 435, 6933));
    assert_eq!(ca.shipping.as_ref().map(|s| s.tax.amount), Some(0));
    rules.tax.rounding = Rounding::PerTotal;
    i.destination = Some(Destination::new("US", "NY", "10001"));
    let per_total = quote(&rules, &i).expect("quote");
    assert_eq!(amounts(&per_total), (5998, 0, 500, 576, 7074));
    assert_eq!(
        per_total.lines.iter().map(|l| l.tax.amount).sum::<i64>(),
        532
    );
    // No address yet and no home zone: no tax until one is known.
    i.destination = None;
    i.shipping_method = None;
    assert_eq!(
        amounts(&quote(&rules, &i).expect("quote")),
        (5998, 0, 0, 0, 5998)
    );
}

/// JPY has no minor unit, KWD three.
/// - Japan, inclusive: 3 × ¥1,980 at 10 % → 5940 × 10/110 = 540; 1 × ¥1,080 food at 8 %
///   → 1080 × 8/108 = 80; 15 % off per line: 5940 → 891 off; 1080 → 162 off;
///   taxes on 5049 → 459, on 918 → 68. Total ¥5,967.
/// - Kuwait, exclusive 5 %: 1 × 12.345 KWD, 15 % off → 1851.75 → 1.852; 10.493 left;
///   5 % → 524.65 → 0.525; total 11.018.
#[test]
fn jpy_and_kwd_use_their_own_exponents() {
    let jp = zone(
        "Japan",
        country("JP"),
        &[("standard", "10"), ("reduced", "8")],
        ShippingTax::Standard,
    );
    let fifteen = promo(
        "15 %",
        Effect::Percentage {
            percent: Rate::percent(15),
        },
    );
    let rules = Rules {
        tax: TaxRules {
            prices_include_tax: true,
            home_zone: Some(jp.id),
            zones: vec![jp],
            ..TaxRules::default()
        },
        shipping: Vec::new(),
        promotions: vec![fifteen.clone()],
    };
    let mut i = input(
        "JPY",
        vec![
            line(1980, "JPY", 3, "standard"),
            line(1080, "JPY", 1, "reduced"),
        ],
    );
    i.destination = Some(Destination::new("JP", "", ""));
    let q = quote(&rules, &i).expect("quote");
    assert_eq!(amounts(&q), (7020, 1053, 0, 527, 5967));
    assert_eq!(
        q.lines.iter().map(|l| l.tax.amount).collect::<Vec<_>>(),
        vec![459, 68]
    );
    assert_eq!(q.totals.total.to_string(), "5967 JPY");

    let kw = zone(
        "Kuwait",
        country("KW"),
        &[("standard", "5")],
        ShippingTax::Standard,
    );
    let rules = Rules {
        tax: TaxRules {
            zones: vec![kw],
            ..TaxRules::default()
        },
        shipping: Vec::new(),
        promotions: vec![fifteen],
    };
    let mut i = input("KWD", vec![line(12345, "KWD", 1, "standard")]);
    i.destination = Some(Destination::new("KW", "", ""));
    let q = quote(&rules, &i).expect("quote");
    assert_eq!(amounts(&q), (12345, 1852, 0, 525, 11018));
    assert_eq!(q.totals.total.to_string(), "11.018 KWD");
}

/// Buy 2 get 1 free on 5 × 10.00 and 4 × 6.00 (9 units, 3 groups of 3): the cheapest units
/// are free. With a maximum of 2 applications, 2 × 6.00 = 12.00 off; without, 3 × 6.00.
/// 7 units make 2 applications; 2 units none (`minimum_not_met`).
#[test]
fn buy_two_get_one_applies_in_multiples_up_to_its_maximum() {
    let b2g1 = |max| {
        promo(
            "B2G1",
            Effect::BuyXGetY {
                buy: 2,
                get: 1,
                percent: Rate::FULL,
                max_applications: max,
            },
        )
    };
    let cart = |a, b| {
        input(
            "USD",
            vec![
                line(1000, "USD", a, "standard"),
                line(600, "USD", b, "standard"),
            ],
        )
    };
    let with = |max, i: &QuoteInput| {
        let rules = Rules {
            promotions: vec![b2g1(max)],
            ..Rules::default()
        };
        quote(&rules, i).expect("quote")
    };
    let nine = cart(5, 4);
    assert_eq!(with(Some(2), &nine).totals.discount.amount, 1200);
    assert_eq!(with(None, &nine).totals.discount.amount, 1800);
    assert_eq!(with(None, &cart(4, 3)).totals.discount.amount, 1200);
    let q = with(None, &cart(1, 1));
    assert_eq!(q.totals.discount.amount, 0);
    assert!(
        q.explanation
            .iter()
            .any(|e| !e.applied && e.reason.as_deref() == Some("minimum_not_met"))
    );
    // When the cheapest line has fewer units than are free, the next cheapest gives the rest.
    assert_eq!(with(None, &cart(5, 1)).totals.discount.amount, 600 + 1000);
}

/// 5.00 shipping, free from 50.00 of goods after discounts: 49.99 pays it, 50.00 does not,
/// and 55.00 with 10 % off (49.50) pays it again.
#[test]
fn free_shipping_over_a_threshold_counts_goods_after_discounts() {
    let method = ShippingMethodId::new(NOW);
    let zone = ShippingZone {
        id: ShippingZoneId::new(NOW),
        name: "US".into(),
        areas: vec![country("US")],
        methods: vec![ShippingMethod {
            id: method,
            code: "standard".into(),
            name: "Standard".into(),
            rate: RateKind::FreeOver {
                price: Money::new(500, Currency::USD),
                threshold: Money::new(5000, Currency::USD),
            },
            conditions: MethodConditions::default(),
            pickup: false,
        }],
    };
    let mut rules = Rules {
        shipping: vec![zone],
        ..Rules::default()
    };
    let at = |price, rules: &Rules| {
        let mut i = input("USD", vec![line(price, "USD", 1, "standard")]);
        i.destination = Some(Destination::new("US", "", ""));
        i.shipping_method = Some(method);
        amounts(&quote(rules, &i).expect("quote"))
    };
    assert_eq!(at(4999, &rules), (4999, 0, 500, 0, 5499));
    assert_eq!(at(5000, &rules), (5000, 0, 0, 0, 5000));
    rules.promotions.push(promo(
        "10 %",
        Effect::Percentage {
            percent: Rate::percent(10),
        },
    ));
    assert_eq!(at(5500, &rules), (5500, 550, 500, 0, 5450));
    // A free-shipping code takes the shipping off as a discount.
    let mut free = promo("Free shipping", Effect::FreeShipping);
    free.has_codes = true;
    rules.promotions = vec![free.clone()];
    let mut i = input("USD", vec![line(1000, "USD", 1, "standard")]);
    i.destination = Some(Destination::new("US", "", ""));
    i.shipping_method = Some(method);
    code(&mut free, "SHIPFREE", &mut i);
    let q = quote(&rules, &i).expect("quote");
    assert_eq!(amounts(&q), (1000, 500, 500, 0, 1000));
    assert_eq!(q.shipping.as_ref().map(|s| s.total.amount), Some(0));
}

/// An automatic 10 % (combinable) and the code VIP20 (20 %, not combinable), same priority:
/// the entered code goes first, so 100.00 gets 20.00 off and the automatic one is refused
/// `not_combinable`. A higher-priority automatic promotion that is not combinable (30 %) wins
/// instead, and the code is refused with the same reason the 422 gives.
#[test]
fn a_non_combinable_code_against_an_automatic_promotion() {
    let auto10 = promo(
        "Autumn 10",
        Effect::Percentage {
            percent: Rate::percent(10),
        },
    );
    let mut vip = promo(
        "VIP 20",
        Effect::Percentage {
            percent: Rate::percent(20),
        },
    );
    vip.combinable = false;
    let mut i = input("USD", vec![line(10000, "USD", 1, "standard")]);
    code(&mut vip, "VIP20", &mut i);
    let rules = Rules {
        promotions: vec![auto10.clone(), vip.clone()],
        ..Rules::default()
    };
    let q = quote(&rules, &i).expect("quote");
    assert_eq!(q.totals.discount.amount, 2000);
    assert_eq!(q.discounts.len(), 1);
    assert_eq!(q.discounts[0].code.as_deref(), Some("VIP20"));
    let auto = q
        .explanation
        .iter()
        .find(|e| e.rule.contains("Autumn 10"))
        .expect("listed");
    assert_eq!(
        (auto.applied, auto.reason.as_deref()),
        (false, Some("not_combinable"))
    );
    assert_eq!(q.refusal_of("vip20"), None);

    let mut black_friday = promo(
        "Black Friday",
        Effect::Percentage {
            percent: Rate::percent(30),
        },
    );
    black_friday.combinable = false;
    black_friday.priority = 10;
    let rules = Rules {
        promotions: vec![auto10, vip, black_friday],
        ..Rules::default()
    };
    let q = quote(&rules, &i).expect("quote");
    assert_eq!(q.totals.discount.amount, 3000);
    assert_eq!(q.refusal_of("VIP20"), Some(Refusal::NotCombinable));
    let vip = q
        .explanation
        .iter()
        .find(|e| e.rule.starts_with("code VIP20"))
        .expect("listed");
    assert_eq!(vip.reason.as_deref(), Some(Refusal::NotCombinable.as_str()));
}

/// 40.00 with an automatic 20 % off (line level) and a 10.00 voucher (order level): the
/// voucher applies to the discounted 32.00, leaving 22.00. A 50.00 voucher stops at zero
/// instead of making a free order plus change: 32.00 off, total 0 (Saleor computed such
/// vouchers on the undiscounted total).
#[test]
fn a_voucher_applies_to_the_already_discounted_subtotal() {
    let twenty = promo(
        "20 %",
        Effect::Percentage {
            percent: Rate::percent(20),
        },
    );
    let voucher = |amount| {
        promo(
            "Voucher",
            Effect::Fixed {
                amount: Money::new(amount, Currency::USD),
                per: Per::Order,
            },
        )
    };
    let mut v10 = voucher(1000);
    let mut i = input("USD", vec![line(4000, "USD", 1, "standard")]);
    code(&mut v10, "TEN", &mut i);
    let rules = Rules {
        promotions: vec![twenty.clone(), v10],
        ..Rules::default()
    };
    let q = quote(&rules, &i).expect("quote");
    assert_eq!(amounts(&q), (4000, 1800, 0, 0, 2200));
    let mut v50 = voucher(5000);
    let mut i = input("USD", vec![line(4000, "USD", 1, "standard")]);
    code(&mut v50, "FIFTY", &mut i);
    let rules = Rules {
        promotions: vec![twenty, v50],
        ..Rules::default()
    };
    let q = quote(&rules, &i).expect("quote");
    assert_eq!(amounts(&q), (4000, 4000, 0, 0, 0));
    let voucher = q
        .discounts
        .iter()
        .find(|d| d.code.as_deref() == Some("FIFTY"))
        .expect("applied");
    assert_eq!(voucher.amount.amount, 3200);
}

/// Every refusal reason, each named in the explanation the way the 422 names it.
#[test]
fn refused_codes_carry_one_reason_each() {
    let now = NOW;
    let hour = std::time::Duration::from_secs(3600);
    let base = |name: &str| {
        let mut p = promo(
            name,
            Effect::Percentage {
                percent: Rate::percent(10),
            },
        );
        p.has_codes = true;
        p
    };
    let mut expired = base("expired");
    expired.ends_at = Some(now);
    let mut later = base("later");
    later.starts_at = Some(now.plus(hour));
    let mut used = base("used");
    used.usage_limit = Some(100);
    let mut mine = base("mine");
    mine.per_customer_limit = Some(1);
    let mut big = base("big");
    big.conditions.min_subtotal = Some(Money::new(100_000, Currency::USD));
    let mut other = base("other");
    other.scope = Scope::Categories {
        ids: vec![CategoryId::new(now)],
    };
    let mut members = base("members");
    members.conditions.customers = vec![CustomerId::new(now)];
    let promotions = vec![expired, later, used, mine, big, other, members];
    let mut i = input("USD", vec![line(1000, "USD", 1, "standard")]);
    let names = [
        "EXPIRED", "LATER", "USED", "MINE", "BIG", "OTHER", "MEMBERS",
    ];
    for (p, c) in promotions.iter().zip(names) {
        i.codes.push(CodeInput {
            code: c.into(),
            promotion: Some(p.id),
            code_used_up: false,
        });
    }
    i.codes.push(CodeInput {
        code: "NOSUCH".into(),
        promotion: None,
        code_used_up: false,
    });
    i.promotion_uses.insert(promotions[2].id, 100);
    i.buyer.uses.insert(promotions[3].id, 1);
    let rules = Rules {
        promotions,
        ..Rules::default()
    };
    let q = quote(&rules, &i).expect("quote");
    let expect = [
        ("EXPIRED", Refusal::Expired),
        ("LATER", Refusal::NotStarted),
        ("USED", Refusal::UsageLimitReached),
        ("MINE", Refusal::UsageLimitReached),
        ("BIG", Refusal::MinimumNotMet),
        ("OTHER", Refusal::NotApplicable),
        ("MEMBERS", Refusal::NotApplicable),
        ("NOSUCH", Refusal::Unknown),
    ];
    for (c, r) in expect {
        assert_eq!(q.refusal_of(c), Some(r), "{c}");
        let e = q
            .explanation
            .iter()
            .find(|e| e.rule.starts_with(&format!("code {c}")))
            .expect(c);
        assert_eq!(e.reason.as_deref(), Some(r.as_str()), "{c}");
    }
    assert_eq!(amounts(&q), (1000, 0, 0, 0, 1000));
}

/// Gift cards tender in the order added, never more than is due; a refund goes back to them
/// first.
#[test]
fn gift_cards_tender_up_to_the_total_and_are_refilled_first() {
    let mut i = input("USD", vec![line(3000, "USD", 1, "standard")]);
    for (balance, last4) in [(1000, "AAAA"), (5000, "BBBB"), (700, "CCCC")] {
        i.gift_cards.push(GiftCardInput {
            id: GiftCardId::new(NOW),
            last4: last4.into(),
            balance: Money::new(balance, Currency::USD),
        });
    }
    let q = quote(&Rules::default(), &i).expect("quote");
    assert_eq!(
        q.gift_cards
            .iter()
            .map(|t| t.amount.amount)
            .collect::<Vec<_>>(),
        vec![1000, 2000]
    );
    assert_eq!(
        (q.totals.gift_cards.amount, q.totals.amount_due.amount),
        (3000, 0)
    );
    let (cards, provider) = q.refund_split(
        Money::new(1000, Currency::USD),
        Money::new(2500, Currency::USD),
    );
    assert_eq!((cards.amount, provider.amount), (500, 500));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn arb_currency() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("USD"), Just("EUR"), Just("JPY"), Just("KWD")]
    }

    fn arb_effect(currency: Currency) -> impl Strategy<Value = Effect> {
        prop_oneof![
            (0u32..=100).prop_map(|p| Effect::Percentage {
                percent: Rate::percent(p)
            }),
            (0i64..20_000, any::<bool>()).prop_map(move |(a, item)| Effect::Fixed {
                amount: Money::new(a, currency),
                per: if item { Per::Item } else { Per::Order },
            }),
            Just(Effect::FreeShipping),
            (1u32..4, 1u32..3, 1u32..=100, proptest::option::of(1u32..4)).prop_map(
                |(buy, get, p, max)| Effect::BuyXGetY {
                    buy,
                    get,
                    percent: Rate::percent(p),
                    max_applications: max,
                }
            ),
            (0i64..50_000, 0u32..=50).prop_map(move |(min, p)| Effect::Tiered {
                tiers: vec![
                    Tier {
                        min_subtotal: Money::new(min, currency),
                        percent: Some(Rate::percent(p)),
                        amount: None,
                    },
                    Tier {
                        min_subtotal: Money::new(min * 2, currency),
                        percent: None,
                        amount: Some(Money::new(min / 3, currency)),
                    },
                ],
            }),
        ]
    }

    /// A random cart, rules and input. Lines: 1–20; prices up to 1,000.00; 1–10 units.
    fn arb_case() -> impl Strategy<Value = (Rules, QuoteInput)> {
        arb_currency().prop_flat_map(|c| {
            let currency = cur(c);
            let lines = proptest::collection::vec(
                (0i64..100_000, 1i64..10, 0usize..4, any::<bool>()),
                1..20,
            );
            let promos = proptest::collection::vec(
                (
                    arb_effect(currency),
                    any::<bool>(),
                    -2i32..3,
                    any::<bool>(),
                    0usize..3,
                ),
                0..6,
            );
            let gift = proptest::collection::vec(0i64..30_000, 0..3);
            (
                lines,
                promos,
                gift,
                any::<bool>(),
                any::<bool>(),
                0usize..4,
                0usize..3,
                0i64..2_000,
            )
                .prop_map(
                    move |(lines, promos, gift, inclusive, per_total, dest, ship_tax, ship)| {
                        build(
                            currency, lines, promos, gift, inclusive, per_total, dest, ship_tax,
                            ship,
                        )
                    },
                )
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        currency: Currency,
        lines: Vec<(i64, i64, usize, bool)>,
        promos: Vec<(Effect, bool, i32, bool, usize)>,
        gift: Vec<i64>,
        inclusive: bool,
        per_total: bool,
        dest: usize,
        ship_tax: usize,
        ship: i64,
    ) -> (Rules, QuoteInput) {
        let categories = ["standard", "reduced", "zero", "exempt"];
        let cat_a = CategoryId::new(NOW);
        let shipping_tax = [
            ShippingTax::None,
            ShippingTax::Standard,
            ShippingTax::Proportional,
        ][ship_tax];
        let rates = [("standard", "19"), ("reduced", "7"), ("zero", "0")];
        let de = zone("DE", country("DE"), &rates, shipping_tax);
        let ny = zone(
            "NY",
            state("US", "NY"),
            &[("standard", "8.875"), ("reduced", "4")],
            shipping_tax,
        );
        let (mut ship_zone, method) = flat(ship, currency.as_str());
        ship_zone.methods[0].rate = RateKind::FreeOver {
            price: Money::new(ship, currency),
            threshold: Money::new(200_000, currency),
        };
        let mut input = input(currency.as_str(), Vec::new());
        for (price, qty, cat, in_a) in lines {
            let mut l = line(price, currency.as_str(), qty, categories[cat]);
            if in_a {
                l.category_ids.push(cat_a);
            }
            input.lines.push(l);
        }
        let mut promotions = Vec::new();
        for (n, (effect, combinable, priority, scoped, with_code)) in promos.into_iter().enumerate()
        {
            let mut p = promo(&format!("p{n}"), effect);
            p.combinable = combinable;
            p.priority = priority;
            if scoped {
                p.scope = Scope::Categories { ids: vec![cat_a] };
            }
            if with_code > 0 {
                code(&mut p, &format!("CODE{n}"), &mut input);
            }
            promotions.push(p);
        }
        for (k, g) in gift.into_iter().enumerate() {
            input.gift_cards.push(GiftCardInput {
                id: GiftCardId::new(NOW),
                last4: format!("{k:04}"),
                balance: Money::new(g, currency),
            });
        }
        input.destination = [
            Some(Destination::new("DE", "", "")),
            Some(Destination::new("US", "NY", "")),
            Some(Destination::new("FR", "", "")),
            None,
        ][dest]
            .clone();
        input.shipping_method = Some(method);
        let rules = Rules {
            tax: TaxRules {
                prices_include_tax: inclusive,
                rounding: if per_total {
                    Rounding::PerTotal
                } else {
                    Rounding::PerLine
                },
                home_zone: Some(de.id),
                zones: vec![de, ny],
            },
            shipping: vec![ship_zone],
            promotions,
        };
        (rules, input)
    }

    fn check_sums(q: &Quote) -> Result<(), TestCaseError> {
        let t = &q.totals;
        let added_tax = if q.tax_inclusive { 0 } else { t.tax.amount };
        prop_assert_eq!(
            t.subtotal.amount - t.discount.amount + t.shipping.amount + added_tax,
            t.total.amount
        );
        if q.tax_inclusive {
            prop_assert!(t.tax.amount <= t.total.amount);
        }
        prop_assert_eq!(t.total.amount - t.gift_cards.amount, t.amount_due.amount);
        let ship_total = q.shipping.as_ref().map_or(0, |s| s.total.amount);
        let ship_discount = q.shipping.as_ref().map_or(0, |s| s.discount.amount);
        let ship_tax = q.shipping.as_ref().map_or(0, |s| s.tax.amount);
        prop_assert_eq!(
            q.lines.iter().map(|l| l.total.amount).sum::<i64>() + ship_total,
            t.total.amount
        );
        prop_assert_eq!(
            q.lines.iter().map(|l| l.discount.amount).sum::<i64>() + ship_discount,
            t.discount.amount
        );
        prop_assert_eq!(
            q.lines.iter().map(|l| l.tax.amount).sum::<i64>() + ship_tax,
            t.tax.amount
        );
        prop_assert_eq!(
            q.tax_lines.iter().map(|l| l.amount.amount).sum::<i64>(),
            t.tax.amount
        );
        // The applied promotions account for every discount, each no less than the lines
        // carry of it (the rest is shipping's).
        prop_assert_eq!(
            q.discounts.iter().map(|d| d.amount.amount).sum::<i64>(),
            t.discount.amount
        );
        for d in &q.discounts {
            let on_lines: i64 = q
                .lines
                .iter()
                .flat_map(|l| &l.discounts)
                .filter(|x| x.promotion_id == d.promotion_id)
                .map(|x| x.amount.amount)
                .sum();
            prop_assert!(on_lines <= d.amount.amount);
            prop_assert!(d.amount.amount >= 0);
        }
        for l in &q.lines {
            prop_assert_eq!(
                l.discounts.iter().map(|d| d.amount.amount).sum::<i64>(),
                l.discount.amount
            );
            prop_assert!(l.discount.amount <= l.subtotal.amount);
            for m in [l.unit_price, l.subtotal, l.discount, l.tax, l.total] {
                prop_assert!(m.amount >= 0);
            }
        }
        for m in [
            t.subtotal,
            t.discount,
            t.shipping,
            t.tax,
            t.gift_cards,
            t.total,
            t.amount_due,
        ] {
            prop_assert!(m.amount >= 0);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn totals_add_up_and_nothing_is_negative((rules, input) in arb_case()) {
            let q = quote(&rules, &input).expect("quote");
            check_sums(&q)?;
        }

        #[test]
        fn the_quote_does_not_depend_on_the_order_lines_were_added_in(
            (rules, input) in arb_case(),
            seed in any::<u64>(),
        ) {
            let q = quote(&rules, &input).expect("quote");
            let mut shuffled = input.clone();
            // A deterministic shuffle from the seed (Fisher–Yates over a xorshift stream).
            let mut s = seed | 1;
            for i in (1..shuffled.lines.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                let j = usize::try_from(s % (i as u64 + 1)).unwrap_or(0);
                shuffled.lines.swap(i, j);
            }
            let r = quote(&rules, &shuffled).expect("quote");
            prop_assert_eq!(&q.totals, &r.totals);
            prop_assert_eq!(&q.shipping, &r.shipping);
            prop_assert_eq!(&q.discounts, &r.discounts);
            prop_assert_eq!(&q.tax_lines, &r.tax_lines);
            let by_variant = |q: &Quote| {
                let mut v: Vec<_> = q.lines.iter().map(|l| (l.variant_id, l.clone())).collect();
                v.sort_by_key(|(k, _)| *k);
                v
            };
            prop_assert_eq!(by_variant(&q), by_variant(&r));
        }

        #[test]
        fn refunds_of_any_units_in_any_order_return_what_was_paid(
            (rules, input) in arb_case(),
            picks in proptest::collection::vec((0usize..20, 1i64..4), 0..40),
        ) {
            let q = quote(&rules, &input).expect("quote");
            let mut refunded: BTreeMap<LineId, i64> = BTreeMap::new();
            let mut returned = 0i64;
            for (k, units) in picks {
                let l = &q.lines[k % q.lines.len()];
                let before = refunded.get(&l.line_id).copied().unwrap_or(0);
                let units = units.min(l.quantity - before);
                let got = q.line_refund(l.line_id, before, units).expect("refund");
                returned += got.amount;
                refunded.insert(l.line_id, before + units);
                // Never more than the refunded units' lines were charged.
                let charged: i64 = q
                    .lines
                    .iter()
                    .filter(|x| refunded.contains_key(&x.line_id))
                    .map(|x| x.total.amount)
                    .sum();
                prop_assert!(returned <= charged);
            }
            for l in &q.lines {
                let before = refunded.get(&l.line_id).copied().unwrap_or(0);
                returned += q.line_refund(l.line_id, before, l.quantity - before).expect("rest").amount;
                prop_assert!(q.line_refund(l.line_id, l.quantity, 1).is_err());
            }
            returned += q.shipping_refund().amount;
            prop_assert_eq!(returned, q.totals.total.amount);
        }
    }
}
