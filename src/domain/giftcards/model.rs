//! Gift card records, their ledger, tables and views.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::core::{GiftCardId, Money, OrderId, Timestamp};
use crate::storage::{Table, Value};

/// Cards by id.
pub(super) const CARDS: Table<GiftCardId, GiftCard> = Table::new("gift_cards");
/// SHA-256 of a code → card.
pub(super) const BY_CODE: Table<Vec<u8>, GiftCardId> = Table::new("gift_card_codes");
/// (card, entry number) → ledger entry.
pub(super) const LEDGER: Table<(GiftCardId, u32), LedgerEntry> = Table::new("gift_card_ledger");
/// (order, line, unit) → card issued for a gift-card product sold (issuing is idempotent).
pub(super) const ISSUED_FOR: Table<(OrderId, String), GiftCardId> =
    Table::new("gift_cards_by_order_unit");

/// Orders whose gift-card payments went back to the cards (cancelled or lapsed unpaid).
pub(super) const RELEASED: Table<OrderId, ()> = Table::new("gift_cards_released_orders");

/// Most ledger entries of one card (each redemption is one; a card used 1,000 times is
/// refused further redemptions rather than growing its ledger without bound).
pub const MAX_LEDGER: u32 = 1000;

/// How a card came to be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// Issued by staff (`cus_…`/`key_…`).
    Staff(String),
    /// Sold as a product on an order line.
    Order(OrderId),
}

/// A stored gift card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GiftCard {
    /// Id.
    pub id: GiftCardId,
    /// The code's last four characters, to tell cards apart.
    pub last4: String,
    /// Value when issued.
    pub initial: Money,
    /// Value left.
    pub balance: Money,
    /// Usable.
    pub enabled: bool,
    /// Not usable from then on.
    pub expires_at: Option<Timestamp>,
    /// Who it was mailed to.
    pub recipient_email: Option<String>,
    /// Staff note.
    pub note: String,
    /// How it came to be.
    pub source: Source,
    /// Ledger entries so far.
    pub entries: u32,
    /// Issued.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}
impl Value for GiftCard {}

/// What moved a card's balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The card was issued with its value.
    Issue,
    /// An order paid with it.
    Redeem,
    /// A refund went back to it.
    Refund,
}

/// One movement of a card's balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// What happened.
    pub kind: EntryKind,
    /// Signed change (negative for redemptions).
    pub amount: Money,
    /// Balance after it.
    pub balance: Money,
    /// The order, if any.
    pub order_id: Option<OrderId>,
    /// When.
    pub at: Timestamp,
}
impl Value for LedgerEntry {}

/// A card as staff see it (never with its code, which is shown once at issue).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GiftCardView {
    /// `gc_…`.
    #[schema(value_type = String)]
    pub id: GiftCardId,
    /// Last four characters of the code.
    pub last4: String,
    /// Value when issued.
    pub initial: Money,
    /// Value left.
    pub balance: Money,
    /// Usable.
    pub enabled: bool,
    /// Expiry.
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Timestamp>,
    /// Mailed to.
    pub recipient_email: Option<String>,
    /// Staff note.
    pub note: String,
    /// The order that bought it, if sold.
    #[schema(value_type = Option<String>)]
    pub order_id: Option<OrderId>,
    /// Issued.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// Only in the answer to issuing: the code, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl GiftCardView {
    /// The view of a card.
    pub fn of(c: &GiftCard) -> GiftCardView {
        GiftCardView {
            id: c.id,
            last4: c.last4.clone(),
            initial: c.initial,
            balance: c.balance,
            enabled: c.enabled,
            expires_at: c.expires_at,
            recipient_email: c.recipient_email.clone(),
            note: c.note.clone(),
            order_id: match c.source {
                Source::Order(o) => Some(o),
                Source::Staff(_) => None,
            },
            created_at: c.created_at,
            code: None,
        }
    }
}

/// A ledger entry as shown.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LedgerView {
    /// What happened.
    pub kind: EntryKind,
    /// Signed change.
    pub amount: Money,
    /// Balance after it.
    pub balance: Money,
    /// The order, if any.
    #[schema(value_type = Option<String>)]
    pub order_id: Option<OrderId>,
    /// When.
    #[schema(value_type = String)]
    pub at: Timestamp,
}

/// A card with its whole ledger.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GiftCardDetail {
    /// The card.
    #[serde(flatten)]
    pub card: GiftCardView,
    /// Every movement, oldest first (at most 1,000).
    pub ledger: Vec<LedgerView>,
}

/// The body of `POST /api/v1/admin/gift-cards`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueInput {
    /// Value, in the shop's currency.
    pub amount: Money,
    /// Mail the code here.
    #[serde(default)]
    pub recipient_email: Option<String>,
    /// Staff note (at most 500 characters).
    #[serde(default)]
    pub note: Option<String>,
    /// Not usable from then on.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Timestamp>,
}
