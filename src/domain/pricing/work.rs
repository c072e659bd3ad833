//! A line while it is being priced: exact integer amounts (i128, so no intermediate product
//! can overflow) and the discounts taken off so far.

use super::input::LineInput;
use super::rate::Rate;
use crate::core::PromotionId;

/// A line being priced.
#[derive(Clone, Debug)]
pub struct WorkLine<'a> {
    /// The line as asked.
    pub input: &'a LineInput,
    /// Unit price charged before discounts (minor units).
    pub unit: i128,
    /// Units.
    pub qty: i128,
    /// `unit × qty`.
    pub subtotal: i128,
    /// What the line still costs after the discounts so far (never below zero).
    pub remaining: i128,
    /// (promotion, amount, allocated from an order-level discount).
    pub discounts: Vec<(PromotionId, i128, bool)>,
    /// Tax rate at the destination.
    pub rate: Rate,
    /// Tax category.
    pub category: &'a str,
    /// Tax on the line, once computed.
    pub tax: i128,
}
