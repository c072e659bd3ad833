//! The schema version kept in the `meta` table and the runner that migrates older data dirs.

use super::error::StorageError;
use super::table::Table;
use super::tx::WriteTx;

/// Store-wide facts: `schema_version`, `created_at_ms`.
pub(super) const META: Table<String, u64> = Table::new("meta");

/// Key of the schema version in [`META`].
pub(crate) const SCHEMA_VERSION_KEY: &str = "schema_version";

/// One step from `to - 1` to `to`; run inside a single write transaction.
pub struct Migration {
    /// Version the data has after this step.
    pub to: u32,
    /// Shown in the log while it runs.
    pub description: &'static str,
    /// The data change.
    pub run: fn(&mut WriteTx<'_>) -> Result<(), StorageError>,
}

/// The schema this build writes and how to reach it from older versions.
#[derive(Clone, Copy)]
pub struct Schema {
    /// Current version.
    pub version: u32,
    /// Steps in ascending `to` order, covering every version after 1.
    pub migrations: &'static [Migration],
}
