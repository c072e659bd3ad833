//! Sales figures for the admin dashboard: orders and gross sales per UTC day, read from the
//! orders table by id range (ids sort by creation time), bounded.

use super::{ORDERS, OrderError, Orders, Status, id_floor};
use crate::core::{Currency, OrderId, Timestamp};
use crate::storage::{Order as ScanOrder, Reader};

/// Most orders one dashboard read looks at; beyond it the figures say they are partial.
pub const MAX_SCANNED: usize = 200_000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// One UTC day's sales.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DaySales {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Orders placed that day and not cancelled, expired or still unpaid.
    pub orders: u64,
    /// Their totals, in minor units of the shop's currency.
    pub revenue: i64,
}

/// Sales per day, oldest first, ending today.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Sales {
    /// One entry per day.
    pub days: Vec<DaySales>,
    /// The currency of `revenue` (orders in another currency are not summed).
    pub currency: Currency,
    /// False when more than [`MAX_SCANNED`] orders fell in the window.
    pub complete: bool,
}

/// Whether an order counts as a sale.
fn sold(s: Status) -> bool {
    !matches!(
        s,
        Status::PendingPayment | Status::Cancelled | Status::Expired
    )
}

impl Orders {
    /// Sales of the last `days` UTC days up to `now` (today included), in `currency`.
    pub fn daily_sales(
        &self,
        now: Timestamp,
        days: u32,
        currency: Currency,
    ) -> Result<Sales, OrderError> {
        let days = days.clamp(1, 366);
        let today = now.as_millis().div_euclid(DAY_MS);
        let first = today - i64::from(days) + 1;
        let mut out: Vec<DaySales> = (first..=today)
            .map(|d| DaySales {
                day: Timestamp::from_millis(d * DAY_MS).to_rfc3339()[..10].to_owned(),
                orders: 0,
                revenue: 0,
            })
            .collect();
        let mut lo = OrderId::from_bytes(id_floor(Timestamp::from_millis(first * DAY_MS)));
        let r = self.store.read()?;
        let (mut scanned, mut first_batch) = (0usize, true);
        // Batches of 1,000 keep memory flat however busy the month was.
        while scanned < MAX_SCANNED {
            let from = if first_batch {
                std::ops::Bound::Included(&lo)
            } else {
                std::ops::Bound::Excluded(&lo)
            };
            let batch = r.range(
                &ORDERS,
                from,
                std::ops::Bound::Unbounded,
                ScanOrder::Asc,
                1_000,
            )?;
            first_batch = false;
            let Some((last, _)) = batch.last() else {
                break;
            };
            lo = *last;
            scanned += batch.len();
            for (_, o) in batch {
                let day = o.created_at.as_millis().div_euclid(DAY_MS) - first;
                let Some(slot) = usize::try_from(day).ok().and_then(|d| out.get_mut(d)) else {
                    continue;
                };
                if sold(o.status) && o.totals.total.currency == currency {
                    slot.orders += 1;
                    slot.revenue += o.totals.total.amount;
                }
            }
        }
        let complete = scanned < MAX_SCANNED;
        Ok(Sales {
            days: out,
            currency,
            complete,
        })
    }
}
