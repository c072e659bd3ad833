//! What a refund returns, read from the stored quote: each line's charged total (discounts and
//! tax included) is split over its units by largest remainder, so refunding units in any order
//! and any grouping returns exactly the line's total once all are back, and never more.
//! Shipping is returned whole. Money goes back to gift cards first, then to the provider.

use super::quote::Quote;
use crate::core::{LineId, Money};

/// Why a refund of lines cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    /// The quote has no such line.
    #[error("no line {0} in the order")]
    UnknownLine(LineId),
    /// More units than the line has left to refund.
    #[error("line {0} has only {1} units left to refund")]
    TooMany(LineId, i64),
}

impl Quote {
    /// What refunding `units` units of `line` returns when `already` units were refunded
    /// before: the next units' shares of the line's charged total.
    pub fn line_refund(
        &self,
        line: LineId,
        already: i64,
        units: i64,
    ) -> Result<Money, RefundError> {
        let l = self
            .lines
            .iter()
            .find(|l| l.line_id == line)
            .ok_or(RefundError::UnknownLine(line))?;
        let left = l.quantity - already.max(0);
        if units < 0 || units > left {
            return Err(RefundError::TooMany(line, left.max(0)));
        }
        let shares = l.total.allocate(usize::try_from(l.quantity).unwrap_or(0));
        let from = usize::try_from(already.max(0)).unwrap_or(0);
        let to = from + usize::try_from(units).unwrap_or(0);
        let amount = shares
            .get(from..to)
            .map_or(0, |s| s.iter().map(|m| m.amount).sum());
        Ok(Money::new(amount, self.currency))
    }

    /// What refunding shipping returns (all of it, once).
    pub fn shipping_refund(&self) -> Money {
        self.shipping
            .as_ref()
            .map_or(Money::zero(self.currency), |s| s.total)
    }

    /// Splits a refund of `amount` into (back to gift cards, back to the provider), given what
    /// earlier refunds already returned to gift cards: cards are refilled first.
    pub fn refund_split(&self, amount: Money, to_cards_before: Money) -> (Money, Money) {
        let room = (self.totals.gift_cards.amount - to_cards_before.amount).max(0);
        let cards = amount.amount.clamp(0, room);
        (
            Money::new(cards, self.currency),
            Money::new(amount.amount - cards, self.currency),
        )
    }
}
