//! Pricing benchmark: one quote of a 20-line cart against 50 active promotions (every effect,
//! scoped by category, product and collection, some combinable, two codes entered), 10 tax
//! zones and 3 shipping zones, priced by the pure engine — what every cart view and checkout
//! pays on top of its reads. Prints quotes/s and p50/p95/p99 per quote for three rounds and
//! their medians (target: p99 < 100 µs), for per-line and per-total rounding.
//!
//! `cargo bench --bench pricing -- [--quotes 200000]`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use shopd::core::{
    CategoryId, CollectionId, Currency, LineId, Money, ProductId, PromotionId, ShippingMethodId,
    ShippingZoneId, TaxZoneId, Timestamp, VariantId,
};
use shopd::domain::pricing::{
    Area, Buyer, CodeInput, Conditions, Destination, Effect, LineInput, MethodConditions, Per,
    Promotion, QuoteInput, Rate, RateKind, Rounding, Rules, Scope, ShippingMethod, ShippingTax,
    ShippingZone, TaxRules, TaxZone, Tier, quote,
};

const NOW: Timestamp = Timestamp::from_millis(1_795_000_000_000);

fn usd(a: i64) -> Money {
    Money::new(a, Currency::USD)
}

fn area(country: &str, region: Option<&str>) -> Area {
    Area {
        country: country.into(),
        regions: region.map(|r| vec![r.to_owned()]).unwrap_or_default(),
        postal_prefixes: Vec::new(),
    }
}

struct Catalog {
    categories: Vec<CategoryId>,
    collections: Vec<CollectionId>,
    products: Vec<ProductId>,
}

fn promotions(c: &Catalog) -> (Vec<Promotion>, Vec<CodeInput>) {
    let mut out = Vec::new();
    let mut codes = Vec::new();
    for i in 0..50usize {
        let effect = match i % 6 {
            0 => Effect::Percentage {
                percent: Rate::percent(5 + (i % 4) as u32),
            },
            1 => Effect::Fixed {
                amount: usd(100 + i as i64),
                per: Per::Item,
            },
            2 => Effect::BuyXGetY {
                buy: 2,
                get: 1,
                percent: Rate::percent(50),
                max_applications: Some(3),
            },
            3 => Effect::Tiered {
                tiers: vec![
                    Tier {
                        min_subtotal: usd(5_000),
                        percent: Some(Rate::percent(5)),
                        amount: None,
                    },
                    Tier {
                        min_subtotal: usd(20_000),
                        percent: None,
                        amount: Some(usd(2_000)),
                    },
                ],
            },
            4 => Effect::FreeShipping,
            _ => Effect::Fixed {
                amount: usd(500),
                per: Per::Order,
            },
        };
        let scope = match i % 4 {
            0 => Scope::All,
            1 => Scope::Categories {
                ids: vec![c.categories[i % c.categories.len()]],
            },
            2 => Scope::Products {
                ids: c.products.iter().skip(i % 7).step_by(3).copied().collect(),
            },
            _ => Scope::Collections {
                ids: vec![c.collections[i % c.collections.len()]],
            },
        };
        let mut conditions = Conditions::default();
        if i % 5 == 0 {
            conditions.min_subtotal = Some(usd(3_000));
        }
        if i % 9 == 0 {
            conditions.min_quantity = Some(3);
        }
        let has_codes = i >= 45;
        let p = Promotion {
            id: PromotionId::new(NOW),
            name: format!("Promotion {i}"),
            has_codes,
            effect,
            scope,
            conditions,
            usage_limit: (i % 3 == 0).then_some(1_000_000),
            per_customer_limit: (i % 7 == 0).then_some(5),
            combinable: i % 10 != 3,
            priority: (i % 5) as i32,
            starts_at: None,
            ends_at: None,
        };
        if has_codes && i < 47 {
            codes.push(CodeInput {
                code: format!("CODE{i}"),
                promotion: Some(p.id),
                code_used_up: false,
            });
        }
        out.push(p);
    }
    (out, codes)
}

fn tax_zones() -> Vec<TaxZone> {
    let rates = |std: &str, red: &str| {
        vec![
            ("standard".to_owned(), Rate::parse(std).expect("rate")),
            ("reduced".to_owned(), Rate::parse(red).expect("rate")),
        ]
    };
    [
        ("DE", None, "19", "7"),
        ("FR", None, "20", "5.5"),
        ("AT", None, "20", "10"),
        ("NL", None, "21", "9"),
        ("GB", None, "20", "5"),
        ("JP", None, "10", "8"),
        ("US", Some("NY"), "8.875", "4"),
        ("US", Some("CA"), "7.25", "0"),
        ("US", Some("TX"), "8.25", "0"),
        ("CA", None, "13", "5"),
    ]
    .into_iter()
    .map(|(c, r, s, red)| TaxZone {
        id: TaxZoneId::new(NOW),
        name: format!("{c}{}", r.unwrap_or("")),
        areas: vec![area(c, r)],
        rates: rates(s, red),
        shipping: ShippingTax::Proportional,
    })
    .collect()
}

fn shipping() -> (Vec<ShippingZone>, ShippingMethodId) {
    let method = |code: &str, rate: RateKind| ShippingMethod {
        id: ShippingMethodId::new(NOW),
        code: code.into(),
        name: code.into(),
        rate,
        conditions: MethodConditions::default(),
        pickup: false,
    };
    let us = ShippingZone {
        id: ShippingZoneId::new(NOW),
        name: "US".into(),
        areas: vec![area("US", None)],
        methods: vec![
            method(
                "standard",
                RateKind::FreeOver {
                    price: usd(795),
                    threshold: usd(50_000),
                },
            ),
            method(
                "express",
                RateKind::Weight {
                    brackets: (1..40)
                        .map(|k| shopd::domain::pricing::WeightBracket {
                            up_to_grams: k * 2_000,
                            price: usd(1_000 + k as i64 * 300),
                        })
                        .collect(),
                },
            ),
        ],
    };
    let chosen = us.methods[1].id;
    let eu = ShippingZone {
        id: ShippingZoneId::new(NOW),
        name: "EU".into(),
        areas: vec![area("DE", None), area("FR", None)],
        methods: vec![method("standard", RateKind::Flat { price: usd(490) })],
    };
    let world = ShippingZone {
        id: ShippingZoneId::new(NOW),
        name: "World".into(),
        areas: Vec::new(),
        methods: vec![method("standard", RateKind::Flat { price: usd(2_500) })],
    };
    (vec![eu, us, world], chosen)
}

fn input(c: &Catalog, codes: Vec<CodeInput>, method: ShippingMethodId) -> QuoteInput {
    let lines = (0..20)
        .map(|i| LineInput {
            line_id: LineId::new(NOW),
            variant_id: VariantId::new(NOW),
            product_id: c.products[i],
            quantity: 1 + (i as i64 % 4),
            unit_price: usd(999 + 250 * i as i64),
            tax_category: if i % 4 == 0 { "reduced" } else { "standard" }.into(),
            grams: 300 + 50 * i as u64,
            requires_shipping: i % 10 != 9,
            discountable: true,
            category_ids: vec![c.categories[i % c.categories.len()]],
            collection_ids: if i % 3 == 0 {
                vec![c.collections[i % c.collections.len()]]
            } else {
                Vec::new()
            },
        })
        .collect();
    QuoteInput {
        currency: Currency::USD,
        lines,
        buyer: Buyer {
            customer_id: None,
            email: Some("bench@example.com".into()),
            tax_exempt: false,
            previous_orders: 1,
            uses: BTreeMap::new(),
        },
        destination: Some(Destination::new("US", "NY", "10001")),
        shipping_method: Some(method),
        codes,
        gift_cards: Vec::new(),
        promotion_uses: BTreeMap::new(),
        now: NOW,
    }
}

struct Round {
    per_sec: f64,
    p50: f64,
    p95: f64,
    p99: f64,
}

fn round(rules: &Rules, input: &QuoteInput, n: usize) -> Round {
    let mut ns: Vec<u64> = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let q = quote(black_box(rules), black_box(input)).expect("the cart prices");
        black_box(&q);
        ns.push(t.elapsed().as_nanos() as u64);
    }
    let total = start.elapsed().as_secs_f64();
    ns.sort_unstable();
    let at = |p: f64| ns[((ns.len() as f64 * p) as usize).min(ns.len() - 1)] as f64 / 1000.0;
    Round {
        per_sec: n as f64 / total,
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::args()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == "--quotes")
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(if smoke { 500 } else { 200_000 });
    let c = Catalog {
        categories: (0..8).map(|_| CategoryId::new(NOW)).collect(),
        collections: (0..4).map(|_| CollectionId::new(NOW)).collect(),
        products: (0..20).map(|_| ProductId::new(NOW)).collect(),
    };
    let (promos, codes) = promotions(&c);
    let (ship, method) = shipping();
    let input = input(&c, codes, method);
    for rounding in [Rounding::PerLine, Rounding::PerTotal] {
        let rules = Rules {
            tax: TaxRules {
                prices_include_tax: false,
                rounding,
                home_zone: None,
                zones: tax_zones(),
            },
            shipping: ship.clone(),
            promotions: promos.clone(),
        };
        let q = quote(&rules, &input).expect("prices");
        println!(
            "{rounding:?}: 20 lines, 50 promotions ({} applied), 10 tax zones: total {} (discount {}, tax {}, shipping {}), {} explanation lines",
            q.discounts.len(),
            q.totals.total,
            q.totals.discount,
            q.totals.tax,
            q.totals.shipping,
            q.explanation.len()
        );
        let rounds: Vec<Round> = (0..3).map(|_| round(&rules, &input, n)).collect();
        for (k, r) in rounds.iter().enumerate() {
            println!(
                "  round {}: {:.0} quotes/s, p50 {:.1} µs, p95 {:.1} µs, p99 {:.1} µs",
                k + 1,
                r.per_sec,
                r.p50,
                r.p95,
                r.p99
            );
        }
        let p99 = median(rounds.iter().map(|r| r.p99).collect());
        println!(
            "{rounding:?}: median of 3: {:.0} quotes/s, p50 {:.1} µs, p99 {:.1} µs (target p99 < 100 µs: {})",
            median(rounds.iter().map(|r| r.per_sec).collect()),
            median(rounds.iter().map(|r| r.p50).collect()),
            p99,
            if p99 < 100.0 { "met" } else { "NOT met" }
        );
    }
}
