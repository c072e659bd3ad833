//! Tax settings, categories and zones: staff writes, each bumping the rules version.

use serde::{Deserialize, Serialize};

use super::model::{
    CATEGORIES, EXEMPTIONS, MAX_CATEGORIES, MAX_ZONES, SETTINGS, TAX_ZONES, TaxCategory,
    TaxCategoryView, TaxExemption, TaxExemptionView, TaxSettings, TaxSettingsView, TaxZoneInput,
    TaxZoneRecord, TaxZoneView,
};
use super::wire::{self, Issues};
use super::{PricingRules, RulesError, bump, category_exists, invalid_if};
use crate::core::{CustomerId, Page, TaxZoneId};
use crate::domain::pricing as p;
use crate::storage::{Order, Reader, WriteTx};

/// Key of the one settings row.
pub(super) const SHOP: &str = "shop";

/// A merchant-defined tax category as sent.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxCategoryInput {
    /// Key (`[a-z0-9_]`, 1–50), used on products and zone rates.
    pub key: String,
    /// Name.
    pub name: String,
}

impl PricingRules {
    /// The tax id a customer buys exempt with, if any (invoices print it).
    pub fn tax_id(&self, customer: CustomerId) -> Result<Option<String>, RulesError> {
        Ok(super::tax_id_of(&self.store.read()?, customer)?)
    }

    /// A customer's tax exemption, if any.
    pub fn tax_exemption(&self, customer: &str) -> Result<TaxExemptionView, RulesError> {
        let id = CustomerId::parse(customer).map_err(|_| RulesError::NotFound)?;
        let e = self
            .store
            .read()?
            .get(&EXEMPTIONS, &id)?
            .ok_or(RulesError::NotFound)?;
        Ok(TaxExemptionView { tax_id: e.tax_id })
    }

    /// Marks a customer tax exempt (a business with a tax id): its quotes carry no tax, and
    /// prices entered with tax lose the home zone's. `exists` says whether the account exists
    /// (the caller asks the accounts module).
    pub async fn set_tax_exemption(
        &self,
        customer: &str,
        input: TaxExemptionView,
        exists: bool,
    ) -> Result<TaxExemptionView, RulesError> {
        let id = CustomerId::parse(customer).map_err(|_| RulesError::NotFound)?;
        if !exists {
            return Err(RulesError::NotFound);
        }
        let tax_id = input.tax_id.trim().to_owned();
        if tax_id.is_empty() || tax_id.chars().count() > 64 || tax_id.chars().any(char::is_control)
        {
            let mut i = Issues::default();
            i.add("tax_id", "invalid", "must be 1 to 64 characters");
            invalid_if(i)?;
        }
        self.store
            .write(move |tx| {
                let e = TaxExemption {
                    tax_id: tax_id.clone(),
                    created_at: tx.now(),
                };
                tx.insert(&EXEMPTIONS, &id, &e)?;
                Ok(TaxExemptionView { tax_id })
            })
            .await
    }

    /// Ends a customer's tax exemption.
    pub async fn remove_tax_exemption(&self, customer: &str) -> Result<(), RulesError> {
        let id = CustomerId::parse(customer).map_err(|_| RulesError::NotFound)?;
        self.store
            .write(move |tx| {
                if !tx.contains(&EXEMPTIONS, &id)? {
                    return Err(RulesError::NotFound);
                }
                tx.remove(&EXEMPTIONS, &id)?;
                Ok(())
            })
            .await
    }

    /// The tax settings.
    pub fn tax_settings(&self) -> Result<TaxSettingsView, RulesError> {
        let s = self
            .store
            .read()?
            .get(&SETTINGS, &SHOP.to_owned())?
            .unwrap_or_default();
        Ok(TaxSettingsView {
            prices_include_tax: s.prices_include_tax,
            rounding: s.rounding.into(),
            home_zone_id: s.home_zone,
        })
    }

    /// Replaces the tax settings (new quotes only; placed orders keep theirs).
    pub async fn set_tax_settings(
        &self,
        input: TaxSettingsView,
    ) -> Result<TaxSettingsView, RulesError> {
        self.store
            .write(move |tx| {
                if let Some(z) = input.home_zone_id
                    && !tx.contains(&TAX_ZONES, &z)?
                {
                    let mut i = Issues::default();
                    i.add("home_zone_id", "not_found", "no such tax zone");
                    invalid_if(i)?;
                }
                let s = TaxSettings {
                    prices_include_tax: input.prices_include_tax,
                    rounding: input.rounding.into(),
                    home_zone: input.home_zone_id,
                };
                tx.insert(&SETTINGS, &SHOP.to_owned(), &s)?;
                bump(tx)?;
                Ok(input)
            })
            .await
    }

    /// Built-in and merchant-defined categories.
    pub fn tax_categories(&self) -> Result<Page<TaxCategoryView>, RulesError> {
        let r = self.store.read()?;
        let mut out: Vec<TaxCategoryView> = p::BUILT_IN_CATEGORIES
            .iter()
            .map(|k| TaxCategoryView {
                key: (*k).to_owned(),
                name: (*k).to_owned(),
                built_in: true,
            })
            .collect();
        let stored = r.range(
            &CATEGORIES,
            std::ops::Bound::Unbounded,
            std::ops::Bound::Unbounded,
            Order::Asc,
            MAX_CATEGORIES,
        )?;
        out.extend(stored.into_iter().map(|(_, c)| TaxCategoryView {
            key: c.key,
            name: c.name,
            built_in: false,
        }));
        Ok(Page::whole(out))
    }

    /// Adds a category (at most 100).
    pub async fn create_tax_category(
        &self,
        input: TaxCategoryInput,
    ) -> Result<TaxCategoryView, RulesError> {
        let mut i = Issues::default();
        let key = input.key.trim().to_ascii_lowercase();
        if key.is_empty()
            || key.len() > 50
            || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            i.add("key", "invalid", "must be 1 to 50 of a-z, 0-9 and _");
        }
        let name = i.name("name", &input.name);
        invalid_if(i)?;
        self.store
            .write(move |tx| {
                if category_exists(tx, &key)? {
                    return Err(RulesError::Taken(format!("tax category `{key}` exists")));
                }
                let n = tx
                    .range(
                        &CATEGORIES,
                        std::ops::Bound::Unbounded,
                        std::ops::Bound::Unbounded,
                        Order::Asc,
                        MAX_CATEGORIES,
                    )?
                    .len();
                if n >= MAX_CATEGORIES {
                    return Err(RulesError::Conflict(format!(
                        "at most {MAX_CATEGORIES} tax categories"
                    )));
                }
                let c = TaxCategory {
                    key: key.clone(),
                    name: name.clone(),
                    created_at: tx.now(),
                };
                tx.insert(&CATEGORIES, &key, &c)?;
                bump(tx)?;
                Ok(TaxCategoryView {
                    key,
                    name,
                    built_in: false,
                })
            })
            .await
    }

    /// Every tax zone, oldest first (at most 200).
    pub fn tax_zones(&self) -> Result<Page<TaxZoneView>, RulesError> {
        let r = self.store.read()?;
        let all = r.range(
            &TAX_ZONES,
            std::ops::Bound::Unbounded,
            std::ops::Bound::Unbounded,
            Order::Asc,
            MAX_ZONES,
        )?;
        Ok(Page::whole(
            all.iter().map(|(_, z)| TaxZoneView::of(z)).collect(),
        ))
    }

    /// One tax zone.
    pub fn tax_zone(&self, id: &str) -> Result<TaxZoneView, RulesError> {
        let id = TaxZoneId::parse(id).map_err(|_| RulesError::NotFound)?;
        let r = self.store.read()?;
        r.get(&TAX_ZONES, &id)?
            .map(|z| TaxZoneView::of(&z))
            .ok_or(RulesError::NotFound)
    }

    /// Creates a tax zone.
    pub async fn create_tax_zone(&self, input: TaxZoneInput) -> Result<TaxZoneView, RulesError> {
        self.store
            .write(move |tx| {
                let count = tx
                    .range(
                        &TAX_ZONES,
                        std::ops::Bound::Unbounded,
                        std::ops::Bound::Unbounded,
                        Order::Asc,
                        MAX_ZONES,
                    )?
                    .len();
                if count >= MAX_ZONES {
                    return Err(RulesError::Conflict(format!(
                        "at most {MAX_ZONES} tax zones"
                    )));
                }
                let now = tx.now();
                let zone = parse_zone(tx, TaxZoneId::new(now), &input)?;
                let rec = TaxZoneRecord {
                    zone,
                    created_at: now,
                    updated_at: now,
                };
                tx.insert(&TAX_ZONES, &rec.zone.id, &rec)?;
                bump(tx)?;
                Ok(TaxZoneView::of(&rec))
            })
            .await
    }

    /// Replaces a tax zone's name, areas and rates.
    pub async fn update_tax_zone(
        &self,
        id: &str,
        input: TaxZoneInput,
    ) -> Result<TaxZoneView, RulesError> {
        let id = TaxZoneId::parse(id).map_err(|_| RulesError::NotFound)?;
        self.store
            .write(move |tx| {
                let mut rec = tx.get(&TAX_ZONES, &id)?.ok_or(RulesError::NotFound)?;
                rec.zone = parse_zone(tx, id, &input)?;
                rec.updated_at = tx.now();
                tx.insert(&TAX_ZONES, &id, &rec)?;
                bump(tx)?;
                Ok(TaxZoneView::of(&rec))
            })
            .await
    }

    /// Removes a tax zone (not the home zone: unset it first).
    pub async fn delete_tax_zone(&self, id: &str) -> Result<(), RulesError> {
        let id = TaxZoneId::parse(id).map_err(|_| RulesError::NotFound)?;
        self.store
            .write(move |tx| {
                if !tx.contains(&TAX_ZONES, &id)? {
                    return Err(RulesError::NotFound);
                }
                let s = tx.get(&SETTINGS, &SHOP.to_owned())?.unwrap_or_default();
                if s.home_zone == Some(id) {
                    return Err(RulesError::Conflict(
                        "the home tax zone cannot be deleted; change tax settings first".into(),
                    ));
                }
                tx.remove(&TAX_ZONES, &id)?;
                bump(tx).map_err(RulesError::from)
            })
            .await
    }
}

fn parse_zone(
    tx: &WriteTx<'_>,
    id: TaxZoneId,
    input: &TaxZoneInput,
) -> Result<p::TaxZone, RulesError> {
    let mut i = Issues::default();
    let name = i.name("name", &input.name);
    let areas = wire::areas(&mut i, "areas", &input.areas);
    if input.rates.is_empty() || input.rates.len() > 50 {
        i.add("rates", "invalid", "1 to 50 rates");
    }
    let mut rates: Vec<(String, p::Rate)> = Vec::new();
    for (k, r) in input.rates.iter().enumerate().take(50) {
        let cat = r.category.trim().to_ascii_lowercase();
        if !category_exists(tx, &cat)? {
            i.add(
                format!("rates[{k}].category"),
                "not_found",
                "no such tax category",
            );
        } else if rates.iter().any(|(c, _)| *c == cat) {
            i.add(format!("rates[{k}].category"), "duplicate", "listed twice");
        }
        rates.push((cat, r.rate));
    }
    invalid_if(i)?;
    Ok(p::TaxZone {
        id,
        name,
        areas,
        rates,
        shipping: input.shipping_tax.into(),
    })
}
