//! Logs and metrics. Domain code never sees this module; storage and jobs report through small
//! observer traits that [`metrics::Metrics`] implements.

pub mod logging;
pub mod metrics;
