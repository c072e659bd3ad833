//! `serve --demo` pricing: US sales tax for three states, EU VAT for three countries, shipping
//! for the US (standard free over 75, express by weight, local pickup) and the EU, two
//! automatic promotions and a code — so every part of a quote can be tried at once.

use serde_json::json;

use super::model::{PromotionInput, ShippingZoneInput, TaxZoneInput};
use super::{PricingRules, RulesError};

fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, RulesError> {
    serde_json::from_value(v).map_err(|e| {
        RulesError::Invalid(vec![crate::core::FieldIssue::new(
            "demo",
            "invalid",
            e.to_string(),
        )])
    })
}

impl PricingRules {
    /// Creates the demo rules (on a shop without tax zones; a no-op otherwise).
    pub async fn seed_demo(&self) -> Result<bool, RulesError> {
        if !self.tax_zones()?.data.is_empty() {
            return Ok(false);
        }
        let c = self.currency.as_str().to_owned();
        let m = |a: i64| json!({"amount": a, "currency": c});
        for (name, area, std, reduced, shipping) in [
            (
                "New York",
                json!({"country": "US", "regions": ["NY"]}),
                "8.875",
                "4",
                "standard",
            ),
            (
                "California",
                json!({"country": "US", "regions": ["CA"]}),
                "7.25",
                "0",
                "none",
            ),
            (
                "Texas",
                json!({"country": "US", "regions": ["TX"]}),
                "8.25",
                "0",
                "standard",
            ),
            (
                "Germany",
                json!({"country": "DE"}),
                "19",
                "7",
                "proportional",
            ),
            (
                "France",
                json!({"country": "FR"}),
                "20",
                "5.5",
                "proportional",
            ),
            (
                "Netherlands",
                json!({"country": "NL"}),
                "21",
                "9",
                "proportional",
            ),
        ] {
            let z: TaxZoneInput = parse(json!({"name": name, "areas": [area],
                "rates": [{"category": "standard", "rate": std}, {"category": "reduced", "rate": reduced}],
                "shipping_tax": shipping}))?;
            self.create_tax_zone(z).await?;
        }
        let us: ShippingZoneInput = parse(
            json!({"name": "United States", "areas": [{"country": "US"}], "methods": [
            {"code": "standard", "name": "Standard (3–5 days)", "rate": {"type": "free_over", "price": m(500), "threshold": m(7500)}},
            {"code": "express", "name": "Express (1–2 days)", "rate": {"type": "weight", "brackets": [
                {"up_to_grams": 1000, "price": m(1500)}, {"up_to_grams": 5000, "price": m(2500)}, {"up_to_grams": 30000, "price": m(4500)}]}},
            {"code": "pickup", "name": "Pick up in store", "pickup": true, "rate": {"type": "flat", "price": m(0)}}]}),
        )?;
        self.create_shipping_zone(us).await?;
        let eu: ShippingZoneInput = parse(json!({"name": "European Union", "areas": [
                {"country": "DE"}, {"country": "FR"}, {"country": "NL"}, {"country": "AT"}, {"country": "BE"}],
            "methods": [
                {"code": "standard", "name": "Standard (5–8 days)", "rate": {"type": "flat", "price": m(900)}},
                {"code": "express", "name": "Express (2–3 days)", "rate": {"type": "flat", "price": m(1900)},
                 "conditions": {"max_weight_grams": 20000}}]}))?;
        self.create_shipping_zone(eu).await?;
        for p in [
            json!({"name": "Spend more, save more", "priority": 1,
                   "effect": {"type": "tiered", "tiers": [
                       {"min_subtotal": m(10000), "percent": 5}, {"min_subtotal": m(20000), "percent": 10}]}}),
            json!({"name": "Buy 2, get 1 half price", "effect": {"type": "buy_x_get_y", "buy": 2, "get": 1,
                   "percent": 50, "max_applications": 2}}),
            json!({"name": "Welcome: 10 % off", "code": "WELCOME10", "per_customer_limit": 1,
                   "effect": {"type": "percentage", "percent": 10}}),
        ] {
            let p: PromotionInput = parse(p)?;
            self.create_promotion(p).await?;
        }
        Ok(true)
    }
}
