//! Experiments: variants with weights, sticky assignment, exposures and conversions, and the
//! statistics that judge them ([`stats`]).

pub mod stats;
