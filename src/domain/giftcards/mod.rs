//! Gift cards: issued by staff or sold as a product (issued when the order is paid, mailed to
//! the buyer), a code with a check character (only its hash is stored), a balance and a ledger
//! of issues, redemptions and refunds. A card is tendered at checkout inside the checkout's
//! write — its balance is read there and the redemption written there — so concurrent
//! checkouts never overdraw it; refunds go back to it first.

mod code;
mod model;
mod payload;

use std::ops::Bound;

use crate::core::errors::{self as codes, Code, ErrorCode, FieldIssue};
use crate::core::page::Cursor;
use crate::core::secret::hash_token;
use crate::core::{Currency, GiftCardId, Money, OrderId, Page, Timestamp};
use crate::domain::idempotency::{self, Created, Keyed, Replayable};
use crate::domain::pricing::GiftCardInput;
use crate::domain::{events, orders};
use crate::jobs;
use crate::mailer::{self, Mail};
use crate::storage::{Order, Reader, StorageError, Store, WriteTx};

pub use code::{display as display_code, parse as parse_code};
use model::{BY_CODE, CARDS, ISSUED_FOR, LEDGER, RELEASED};
pub use model::{
    EntryKind, GiftCard, GiftCardDetail, GiftCardView, IssueInput, LedgerEntry, LedgerView,
    MAX_LEDGER, Source,
};
pub use payload::GiftCardEventV1;

/// Why a gift card operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GiftCardError {
    /// No such card.
    #[error("not found")]
    NotFound,
    /// The code is mistyped, unknown, disabled, expired, empty or in another currency.
    #[error("{0}")]
    Unusable(String),
    /// Invalid fields.
    #[error("invalid")]
    Invalid(Vec<FieldIssue>),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The `Idempotency-Key` is malformed or was used with another body.
    #[error(transparent)]
    Key(#[from] idempotency::KeyError),
}

impl ErrorCode for GiftCardError {
    fn code(&self) -> Code {
        match self {
            GiftCardError::NotFound => codes::NOT_FOUND,
            GiftCardError::Unusable(_) => codes::GIFT_CARD_INVALID,
            GiftCardError::Invalid(_) => codes::VALIDATION_FAILED,
            GiftCardError::Storage(s) => s.code(),
            GiftCardError::Key(k) => k.code(),
        }
    }
    fn message(&self) -> String {
        match self {
            GiftCardError::Invalid(i) => codes::joined(i),
            GiftCardError::Storage(s) => s.message(),
            other => other.to_string(),
        }
    }
    fn fields(&self) -> Vec<FieldIssue> {
        match self {
            GiftCardError::Invalid(i) => i.clone(),
            _ => Vec::new(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            GiftCardError::Storage(s) => s.retry_after(),
            _ => None,
        }
    }
}

/// Where the codes mailed to recipients send them.
#[derive(Clone, Debug)]
pub struct GiftCardSettings {
    /// Shop name for mails.
    pub shop_name: String,
    /// Public URL for mails.
    pub public_url: String,
    /// The shop's currency (cards are issued in it).
    pub currency: Currency,
}

/// The gift card service.
#[derive(Clone, Debug)]
pub struct GiftCards {
    store: Store,
    settings: GiftCardSettings,
}

impl GiftCards {
    /// Wraps the store.
    pub fn new(store: Store, settings: GiftCardSettings) -> Self {
        GiftCards { store, settings }
    }

    /// Issues a card (staff). The answer carries the code, shown only here; a recipient gets
    /// it by mail.
    ///
    /// With an idempotency `key`, a repeat of the same request answers the card issued the
    /// first time, without its code (`replayed`): a form posted twice issues one card.
    pub async fn issue(
        &self,
        input: IssueInput,
        actor: String,
        key: Option<&str>,
    ) -> Result<Replayable<GiftCardView>, GiftCardError> {
        let keyed = match key {
            Some(k) => Some(Keyed::new(format!("gift_card:{actor}"), Some(k), &input)?),
            None => None,
        };
        let mut issues = Vec::new();
        if input.amount.currency != self.settings.currency {
            issues.push(FieldIssue::new(
                "amount.currency",
                "currency",
                format!("must be the shop's currency {}", self.settings.currency),
            ));
        }
        if input.amount.amount <= 0 || input.amount.amount > 100_000_000_000 {
            issues.push(FieldIssue::new(
                "amount.amount",
                "out_of_range",
                "must be more than 0 and at most 10^11 minor units".to_owned(),
            ));
        }
        let email = match input
            .recipient_email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            Some(e) => match crate::domain::auth::Email::parse(e) {
                Some(e) => Some(e.as_str().to_owned()),
                None => {
                    issues.push(FieldIssue::new(
                        "recipient_email",
                        "invalid",
                        "is not an email address".to_owned(),
                    ));
                    None
                }
            },
            None => None,
        };
        let note = input.note.unwrap_or_default().trim().to_owned();
        if note.chars().count() > 500 {
            issues.push(FieldIssue::new(
                "note",
                "invalid",
                "at most 500 characters".to_owned(),
            ));
        }
        if !issues.is_empty() {
            return Err(GiftCardError::Invalid(issues));
        }
        let s = self.settings.clone();
        self.store
            .write(move |tx| {
                if let Some(k) = &keyed
                    && let Some(Created(id)) = k.stored::<Created<GiftCardId>, GiftCardError>(tx)?
                {
                    let card = tx.get(&CARDS, &id)?.ok_or(GiftCardError::NotFound)?;
                    return Ok(Replayable {
                        outcome: GiftCardView::of(&card),
                        replayed: true,
                    });
                }
                let (card, code) = create(
                    tx,
                    input.amount,
                    email,
                    note,
                    input.expires_at,
                    Source::Staff(actor),
                    &s,
                )?;
                if let Some(k) = &keyed {
                    k.store(tx, &Created(card.id))?;
                }
                let mut v = GiftCardView::of(&card);
                v.code = Some(code::display(&code));
                Ok(Replayable {
                    outcome: v,
                    replayed: false,
                })
            })
            .await
    }

    /// Cards, newest first, in cursor pages.
    pub fn list(
        &self,
        per_page: usize,
        cursor: Option<&str>,
    ) -> Result<Page<GiftCardView>, GiftCardError> {
        let after = match cursor {
            Some(c) => Some(GiftCardId::from_cursor(c).ok_or_else(|| {
                GiftCardError::Invalid(vec![FieldIssue::new(
                    "cursor",
                    "invalid",
                    "is not a cursor of this list".to_owned(),
                )])
            })?),
            None => None,
        };
        let r = self.store.read()?;
        let hi = after.as_ref().map_or(Bound::Unbounded, Bound::Excluded);
        let rows = r.range(&CARDS, Bound::Unbounded, hi, Order::Desc, per_page + 1)?;
        let views = rows.iter().map(|(_, c)| GiftCardView::of(c)).collect();
        Ok(Page::from_overfetch(views, per_page, |v: &GiftCardView| {
            v.id.to_cursor()
        }))
    }

    /// The module's background work: issuing the cards an order bought.
    pub fn work(&self) -> jobs::Work {
        let g = self.clone();
        let h = self.clone();
        jobs::Work::new()
            .handler(
                orders::GIFT_CARDS_SOLD_JOB,
                2,
                jobs::handler_fn(move |ctx| g.clone().run_sold(ctx)),
            )
            .handler(
                orders::GIFT_CARDS_RELEASE_JOB,
                2,
                jobs::handler_fn(move |ctx| h.clone().run_release(ctx)),
            )
    }

    /// Job handler of [`orders::GIFT_CARDS_RELEASE_JOB`]: an order gift cards paid part of
    /// will not be paid (cancelled, lapsed): each card gets back what it paid, once (a marker
    /// row is written with the refills and the job's ack).
    pub async fn run_release(
        self,
        ctx: jobs::JobContext,
    ) -> Result<jobs::JobOutcome, jobs::JobError> {
        let job: orders::ExpireJob = ctx.payload()?;
        let Some(quote) = orders::quote_of(&self.store.read()?, job.order_id)? else {
            return Ok(jobs::JobOutcome::Done);
        };
        Ok(jobs::JobOutcome::DoneWith(Box::new(move |tx| {
            if tx.contains(&RELEASED, &job.order_id)? {
                return Ok(());
            }
            for t in &quote.gift_cards {
                if let Some(card) = tx.get(&CARDS, &t.gift_card_id)? {
                    post(tx, card, EntryKind::Refund, t.amount, Some(job.order_id))?;
                }
            }
            tx.insert(&RELEASED, &job.order_id, &())
        })))
    }

    /// Job handler of [`orders::GIFT_CARDS_SOLD_JOB`]: one card per gift-card unit of the
    /// order, worth the unit's price, mailed to the order's email — written with the job's
    /// ack and keyed per unit, so a crash or retry never issues a card twice.
    pub async fn run_sold(self, ctx: jobs::JobContext) -> Result<jobs::JobOutcome, jobs::JobError> {
        let job: orders::ExpireJob = ctx.payload()?;
        let Some(order) = orders::find(&self.store.read()?, job.order_id)? else {
            return Ok(jobs::JobOutcome::Done);
        };
        let s = self.settings.clone();
        Ok(jobs::JobOutcome::DoneWith(Box::new(move |tx| {
            for l in order.lines.iter().filter(|l| l.gift_card) {
                for unit in 0..l.quantity.min(100) {
                    issue_for_order_unit(
                        tx,
                        order.id,
                        format!("{}:{unit}", l.id),
                        l.unit_price,
                        &order.email,
                        &s,
                    )?;
                }
            }
            Ok(())
        })))
    }

    /// One card with its ledger.
    pub fn get(&self, id: &str) -> Result<GiftCardDetail, GiftCardError> {
        let id = GiftCardId::parse(id).map_err(|_| GiftCardError::NotFound)?;
        let r = self.store.read()?;
        let card = r.get(&CARDS, &id)?.ok_or(GiftCardError::NotFound)?;
        let ledger = r
            .prefix(&LEDGER, &id, None, Order::Asc, MAX_LEDGER as usize + 1)?
            .into_iter()
            .map(|(_, e)| LedgerView {
                kind: e.kind,
                amount: e.amount,
                balance: e.balance,
                order_id: e.order_id,
                at: e.at,
            })
            .collect();
        Ok(GiftCardDetail {
            card: GiftCardView::of(&card),
            ledger,
        })
    }
}

/// Creates a card with its `issue` ledger entry, its `gift_card.issued` event and, for a
/// recipient, the mail with its code; returns the card and its code.
fn create(
    tx: &mut WriteTx<'_>,
    amount: Money,
    recipient: Option<String>,
    note: String,
    expires_at: Option<Timestamp>,
    source: Source,
    s: &GiftCardSettings,
) -> Result<(GiftCard, String), StorageError> {
    let now = tx.now();
    let mut code = code::generate();
    while tx.contains(&BY_CODE, &hash_token(&code))? {
        code = code::generate();
    }
    let card = GiftCard {
        id: GiftCardId::new(now),
        last4: code[code.len() - 4..].to_owned(),
        initial: amount,
        balance: amount,
        enabled: true,
        expires_at,
        recipient_email: recipient.clone(),
        note,
        source,
        entries: 0,
        created_at: now,
        updated_at: now,
    };
    tx.insert(&BY_CODE, &hash_token(&code), &card.id)?;
    let card = post(tx, card, EntryKind::Issue, amount, None)?;
    events::record(tx, &events::GIFT_CARD_ISSUED, &GiftCardEventV1::of(&card))?;
    if let Some(to) = recipient {
        let vars = serde_json::json!({
            "shop_name": s.shop_name, "shop_url": s.public_url, "amount": amount.to_string(),
            "code": code::display(&code),
            "expires_at": expires_at.map(|t| t.to_rfc3339()),
        });
        let mut mail = Mail::new(&to, None, "gift_card", vars, now);
        mail.message_id = format!("gift-card-{}", card.id);
        mailer::enqueue(tx, &mail)?;
    }
    Ok((card, code))
}

/// Writes a ledger entry moving the balance by `amount` (signed) and stores the card.
fn post(
    tx: &mut WriteTx<'_>,
    mut card: GiftCard,
    kind: EntryKind,
    amount: Money,
    order_id: Option<OrderId>,
) -> Result<GiftCard, StorageError> {
    let now = tx.now();
    if kind != EntryKind::Issue {
        card.balance = Money::new(card.balance.amount + amount.amount, card.balance.currency);
    }
    tx.insert(
        &LEDGER,
        &(card.id, card.entries),
        &LedgerEntry {
            kind,
            amount,
            balance: card.balance,
            order_id,
            at: now,
        },
    )?;
    card.entries += 1;
    card.updated_at = now;
    tx.insert(&CARDS, &card.id, &card)?;
    Ok(card)
}

/// Why a card cannot be tendered now, if it cannot.
fn unusable(card: &GiftCard, currency: Currency, now: Timestamp) -> Option<&'static str> {
    if !card.enabled {
        Some("is disabled")
    } else if card.expires_at.is_some_and(|e| now >= e) {
        Some("has expired")
    } else if card.balance.currency != currency {
        Some("is in another currency")
    } else if card.balance.amount <= 0 {
        Some("has no balance left")
    } else if card.entries >= MAX_LEDGER {
        Some("has reached its number of uses")
    } else {
        None
    }
}

/// The card a typed code names, if it can be tendered in `currency` now.
pub fn find_usable(
    r: &impl Reader,
    typed: &str,
    currency: Currency,
    now: Timestamp,
) -> Result<GiftCard, GiftCardError> {
    let mistyped = || {
        GiftCardError::Unusable("the gift card code is not valid; check it and try again".into())
    };
    let code = code::parse(typed).ok_or_else(mistyped)?;
    let id = r.get(&BY_CODE, &hash_token(&code))?.ok_or_else(mistyped)?;
    let card = r.get(&CARDS, &id)?.ok_or_else(mistyped)?;
    match unusable(&card, currency, now) {
        Some(why) => Err(GiftCardError::Unusable(format!(
            "the gift card …{} {why}",
            card.last4
        ))),
        None => Ok(card),
    }
}

/// The tenders a cart's cards offer now, read in the caller's transaction (at checkout, the
/// write's): unusable cards are left out.
pub fn tenders(
    r: &impl Reader,
    ids: &[GiftCardId],
    currency: Currency,
    now: Timestamp,
) -> Result<Vec<GiftCardInput>, StorageError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(c) = r.get(&CARDS, id)?
            && unusable(&c, currency, now).is_none()
        {
            out.push(GiftCardInput {
                id: c.id,
                last4: c.last4.clone(),
                balance: c.balance,
            });
        }
    }
    Ok(out)
}

/// Takes `amount` from a card for `order`, in the checkout's write. The caller priced the
/// order from the balance read in the same transaction, so the card cannot be overdrawn; a
/// balance that does not cover it is refused all the same.
pub fn redeem(
    tx: &mut WriteTx<'_>,
    id: GiftCardId,
    amount: Money,
    order: OrderId,
) -> Result<(), GiftCardError> {
    let card = tx.get(&CARDS, &id)?.ok_or(GiftCardError::NotFound)?;
    if amount.amount <= 0 {
        return Ok(());
    }
    if card.balance.currency != amount.currency || card.balance.amount < amount.amount {
        return Err(GiftCardError::Unusable(format!(
            "the gift card …{} does not cover {amount}",
            card.last4
        )));
    }
    post(
        tx,
        card,
        EntryKind::Redeem,
        Money::new(-amount.amount, amount.currency),
        Some(order),
    )?;
    Ok(())
}

/// Puts `amount` back on a card (a refund of an order it paid for).
pub fn refund(
    tx: &mut WriteTx<'_>,
    id: GiftCardId,
    amount: Money,
    order: OrderId,
) -> Result<(), GiftCardError> {
    let card = tx.get(&CARDS, &id)?.ok_or(GiftCardError::NotFound)?;
    if amount.amount > 0 {
        post(tx, card, EntryKind::Refund, amount, Some(order))?;
    }
    Ok(())
}

/// Issues the card for one unit of a gift-card product sold on `order` (idempotent per unit:
/// a retried job issues nothing twice) and mails it to `email`.
pub fn issue_for_order_unit(
    tx: &mut WriteTx<'_>,
    order: OrderId,
    unit: String,
    amount: Money,
    email: &str,
    s: &GiftCardSettings,
) -> Result<Option<GiftCardId>, StorageError> {
    let key = (order, unit);
    if tx.contains(&ISSUED_FOR, &key)? {
        return Ok(None);
    }
    let (card, _) = create(
        tx,
        amount,
        Some(email.to_owned()),
        String::new(),
        None,
        Source::Order(order),
        s,
    )?;
    tx.insert(&ISSUED_FOR, &key, &card.id)?;
    Ok(Some(card.id))
}
