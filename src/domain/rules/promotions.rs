//! Promotions and their codes: staff writes (each bumping the rules version and recording a
//! `promotion.*` event in the same write), bulk generation of single-use codes in bounded
//! batches, and the code list with its CSV export.

use serde::Serialize;

use super::model::{
    CODES, CODES_BY_PROMOTION, CodeRecord, CodeView, MAX_PROMOTIONS, PROMOTION_COUNT, PROMOTIONS,
    PromotionInput, PromotionRecord, PromotionView, USES,
};
use super::payload::PromotionEventV1;
use super::wire::{self, Issues};
use super::{PricingRules, RulesError, bump, invalid_if};
use crate::core::{Currency, Page, PromotionId};
use crate::domain::events;
use crate::domain::pricing as p;
use crate::storage::{Order, Reader, WriteTx};

/// Most codes one request generates; larger runs are several requests.
pub const MAX_GENERATE: u32 = 10_000;
/// Most generated codes per promotion.
pub const MAX_CODES_PER_PROMOTION: u32 = 100_000;
/// Codes written per write transaction while generating or deleting.
const BATCH: usize = 1000;
/// Unambiguous characters of generated codes (no 0/O, 1/I).
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A code as customers type it, normalised: trimmed, upper case, 1–64 of A–Z, 0–9, `-`, `_`.
pub fn normalize_code(s: &str) -> Option<String> {
    let c = s.trim().to_ascii_uppercase();
    let ok = !c.is_empty()
        && c.len() <= 64
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(c)
}

/// Codes made by one generation request.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct GeneratedCodes {
    /// The promotion.
    #[schema(value_type = String)]
    pub promotion_id: PromotionId,
    /// The new codes, each good for one use.
    pub codes: Vec<String>,
}

fn parse(
    input: &PromotionInput,
    id: PromotionId,
    generated: u32,
    c: Currency,
) -> Result<(p::Promotion, Option<String>), RulesError> {
    let mut i = Issues::default();
    let name = i.name("name", &input.name);
    let code = match &input.code {
        Some(raw) => {
            let n = normalize_code(raw);
            if n.is_none() {
                i.add("code", "invalid", "must be 1 to 64 of A-Z, 0-9, - and _");
            }
            n
        }
        None => None,
    };
    if input.usage_limit == Some(0) || input.per_customer_limit == Some(0) {
        i.add(
            "usage_limit",
            "must_be_positive",
            "limits must be at least 1 (omit for none)",
        );
    }
    if !(-1000..=1000).contains(&input.priority) {
        i.add("priority", "out_of_range", "must be from -1000 to 1000");
    }
    wire::window(&mut i, input.starts_at, input.ends_at);
    let promo = p::Promotion {
        id,
        name,
        has_codes: code.is_some() || generated > 0,
        effect: input.effect.parse(&mut i, c),
        scope: input.scope.parse(&mut i),
        conditions: input.conditions.parse(&mut i, c),
        usage_limit: input.usage_limit,
        per_customer_limit: input.per_customer_limit,
        combinable: input.combinable,
        priority: input.priority,
        starts_at: input.starts_at,
        ends_at: input.ends_at,
    };
    invalid_if(i)?;
    Ok((promo, code))
}

fn view(r: &impl Reader, rec: &PromotionRecord) -> Result<PromotionView, RulesError> {
    let used = r.get(&USES, &rec.promo.id)?.unwrap_or(0);
    Ok(PromotionView::of(rec, used))
}

fn claim_code(
    tx: &mut WriteTx<'_>,
    code: &str,
    promotion: PromotionId,
    single_use: bool,
) -> Result<(), RulesError> {
    let key = code.to_owned();
    if tx.contains(&CODES, &key)? {
        return Err(RulesError::Taken(format!("the code {code} exists")));
    }
    tx.insert(
        &CODES,
        &key,
        &CodeRecord {
            promotion,
            single_use,
            used: 0,
        },
    )?;
    tx.insert(&CODES_BY_PROMOTION, &(promotion, key), &())?;
    Ok(())
}

fn release_code(
    tx: &mut WriteTx<'_>,
    code: &str,
    promotion: PromotionId,
) -> Result<(), RulesError> {
    tx.remove(&CODES, &code.to_owned())?;
    tx.remove(&CODES_BY_PROMOTION, &(promotion, code.to_owned()))?;
    Ok(())
}

impl PricingRules {
    /// Creates a promotion (automatic without `code`); at most 1,000 exist.
    pub async fn create_promotion(
        &self,
        input: PromotionInput,
    ) -> Result<PromotionView, RulesError> {
        let currency = self.currency;
        self.store
            .write(move |tx| {
                let count = tx.get(&PROMOTION_COUNT, &())?.unwrap_or(0);
                if count as usize >= MAX_PROMOTIONS {
                    return Err(RulesError::Conflict(format!(
                        "at most {MAX_PROMOTIONS} promotions; delete ended ones"
                    )));
                }
                let now = tx.now();
                let (promo, code) = parse(&input, PromotionId::new(now), 0, currency)?;
                if let Some(c) = &code {
                    claim_code(tx, c, promo.id, false)?;
                }
                let rec = PromotionRecord {
                    promo,
                    code,
                    generated: 0,
                    created_at: now,
                    updated_at: now,
                };
                tx.insert(&PROMOTIONS, &rec.promo.id, &rec)?;
                tx.insert(&PROMOTION_COUNT, &(), &(count + 1))?;
                events::record(tx, &events::PROMOTION_CREATED, &PromotionEventV1::of(&rec))?;
                bump(tx)?;
                view(tx, &rec)
            })
            .await
    }

    /// Promotions, oldest first, in cursor pages.
    pub fn promotions(
        &self,
        per_page: usize,
        cursor: Option<&str>,
    ) -> Result<Page<PromotionView>, RulesError> {
        use crate::core::page::Cursor;
        let after = match cursor {
            Some(c) => Some(PromotionId::from_cursor(c).ok_or_else(|| {
                let mut i = Issues::default();
                i.add("cursor", "invalid", "is not a cursor of this list");
                RulesError::Invalid(i.0)
            })?),
            None => None,
        };
        let r = self.store.read()?;
        let lo = after
            .as_ref()
            .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let rows = r.range(
            &PROMOTIONS,
            lo,
            std::ops::Bound::Unbounded,
            Order::Asc,
            per_page + 1,
        )?;
        let views = rows
            .iter()
            .map(|(_, rec)| view(&r, rec))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(views, per_page, |v| v.id.to_cursor()))
    }

    /// One promotion with its use count.
    pub fn promotion(&self, id: &str) -> Result<PromotionView, RulesError> {
        let id = PromotionId::parse(id).map_err(|_| RulesError::NotFound)?;
        let r = self.store.read()?;
        let rec = r.get(&PROMOTIONS, &id)?.ok_or(RulesError::NotFound)?;
        view(&r, &rec)
    }

    /// Replaces a promotion (new quotes only; placed orders keep their quote). Its use count
    /// and generated codes stay.
    pub async fn update_promotion(
        &self,
        id: &str,
        input: PromotionInput,
    ) -> Result<PromotionView, RulesError> {
        let id = PromotionId::parse(id).map_err(|_| RulesError::NotFound)?;
        let currency = self.currency;
        self.store
            .write(move |tx| {
                let mut rec = tx.get(&PROMOTIONS, &id)?.ok_or(RulesError::NotFound)?;
                let (promo, code) = parse(&input, id, rec.generated, currency)?;
                if code != rec.code {
                    if let Some(old) = rec.code.clone() {
                        release_code(tx, &old, id)?;
                    }
                    if let Some(new) = &code {
                        claim_code(tx, new, id, false)?;
                    }
                }
                rec.promo = promo;
                rec.code = code;
                rec.updated_at = tx.now();
                tx.insert(&PROMOTIONS, &id, &rec)?;
                events::record(tx, &events::PROMOTION_UPDATED, &PromotionEventV1::of(&rec))?;
                bump(tx)?;
                view(tx, &rec)
            })
            .await
    }

    /// Deletes a promotion: its own code at once, its generated codes in batches afterwards.
    pub async fn delete_promotion(&self, id: &str) -> Result<(), RulesError> {
        let id = PromotionId::parse(id).map_err(|_| RulesError::NotFound)?;
        self.store
            .write(move |tx| {
                let mut rec = tx.get(&PROMOTIONS, &id)?.ok_or(RulesError::NotFound)?;
                if let Some(c) = &rec.code {
                    release_code(tx, c, id)?;
                }
                tx.remove(&PROMOTIONS, &id)?;
                let count = tx.get(&PROMOTION_COUNT, &())?.unwrap_or(1);
                tx.insert(&PROMOTION_COUNT, &(), &count.saturating_sub(1))?;
                rec.updated_at = tx.now();
                events::record(tx, &events::PROMOTION_DELETED, &PromotionEventV1::of(&rec))?;
                Ok::<_, RulesError>(bump(tx)?)
            })
            .await?;
        // Generated codes of a deleted promotion already resolve to nothing; remove them.
        loop {
            let removed = self
                .store
                .write(move |tx| {
                    let rows = tx.prefix(&CODES_BY_PROMOTION, &id, None, Order::Asc, BATCH)?;
                    for ((_, code), ()) in &rows {
                        release_code(tx, code, id)?;
                    }
                    Ok::<_, RulesError>(rows.len())
                })
                .await?;
            if removed < BATCH {
                return Ok(());
            }
        }
    }

    /// Generates `count` (1–10,000) unique single-use codes, `prefix` first.
    pub async fn generate_codes(
        &self,
        id: &str,
        count: u32,
        prefix: Option<&str>,
    ) -> Result<GeneratedCodes, RulesError> {
        let id = PromotionId::parse(id).map_err(|_| RulesError::NotFound)?;
        let mut i = Issues::default();
        if !(1..=MAX_GENERATE).contains(&count) {
            i.add(
                "count",
                "out_of_range",
                format!("must be 1 to {MAX_GENERATE}"),
            );
        }
        let prefix = match prefix.map(str::trim).filter(|p| !p.is_empty()) {
            Some(raw) => match normalize_code(raw).filter(|p| p.len() <= 20) {
                Some(p) => p,
                None => {
                    i.add("prefix", "invalid", "must be 1 to 20 of A-Z, 0-9, - and _");
                    String::new()
                }
            },
            None => String::new(),
        };
        invalid_if(i)?;
        let mut codes = Vec::with_capacity(count as usize);
        let mut left = count as usize;
        while left > 0 {
            let n = left.min(BATCH);
            let batch: Vec<String> = (0..n).map(|_| random_code(&prefix)).collect();
            let made = self
                .store
                .write(move |tx| {
                    let mut rec = tx.get(&PROMOTIONS, &id)?.ok_or(RulesError::NotFound)?;
                    if rec.generated.saturating_add(n as u32) > MAX_CODES_PER_PROMOTION {
                        return Err(RulesError::Conflict(format!(
                            "at most {MAX_CODES_PER_PROMOTION} codes per promotion"
                        )));
                    }
                    let mut made = Vec::with_capacity(batch.len());
                    for c in batch {
                        // A collision (1 in 32^10 per pair) is skipped; the loop makes up for it.
                        if !tx.contains(&CODES, &c)? {
                            claim_code(tx, &c, id, true)?;
                            made.push(c);
                        }
                    }
                    rec.generated += made.len() as u32;
                    if !rec.promo.has_codes {
                        rec.promo.has_codes = true;
                    }
                    tx.insert(&PROMOTIONS, &id, &rec)?;
                    bump(tx)?;
                    Ok(made)
                })
                .await?;
            left -= made.len();
            codes.extend(made);
        }
        Ok(GeneratedCodes {
            promotion_id: id,
            codes,
        })
    }

    /// A promotion's codes in code order, in cursor pages (the cursor is the last code).
    pub fn codes(
        &self,
        id: &str,
        per_page: usize,
        cursor: Option<&str>,
    ) -> Result<Page<CodeView>, RulesError> {
        let id = PromotionId::parse(id).map_err(|_| RulesError::NotFound)?;
        let r = self.store.read()?;
        if !r.contains(&PROMOTIONS, &id)? {
            return Err(RulesError::NotFound);
        }
        let after = cursor.map(|c| (id, c.to_owned()));
        let rows = r.prefix(
            &CODES_BY_PROMOTION,
            &id,
            after.as_ref(),
            Order::Asc,
            per_page + 1,
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for ((_, code), ()) in rows {
            let rec = r.get(&CODES, &code)?;
            out.push(CodeView {
                single_use: rec.as_ref().is_some_and(|c| c.single_use),
                used: rec.map_or(0, |c| c.used),
                code,
            });
        }
        Ok(Page::from_overfetch(out, per_page, |c| c.code.clone()))
    }

    /// Every code of a promotion as CSV (`code,single_use,used`), read in pages from one
    /// snapshot (at most 100,001 rows).
    pub fn codes_csv(&self, id: &str) -> Result<String, RulesError> {
        let mut out = String::from("code,single_use,used\n");
        let mut cursor: Option<String> = None;
        loop {
            let page = self.codes(id, BATCH, cursor.as_deref())?;
            for c in &page.data {
                out.push_str(&format!("{},{},{}\n", c.code, c.single_use, c.used));
            }
            match page.next_cursor {
                Some(next) if page.has_more => cursor = Some(next),
                _ => return Ok(out),
            }
        }
    }
}

fn random_code(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 11);
    s.push_str(prefix);
    if !prefix.is_empty() && !prefix.ends_with('-') {
        s.push('-');
    }
    for _ in 0..10 {
        let k = rand::random_range(0..ALPHABET.len());
        s.push(char::from(ALPHABET[k]));
    }
    s
}
