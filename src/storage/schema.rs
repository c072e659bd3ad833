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
    /// Each module's own steps (in any order); together they cover every version after 1
    /// exactly once.
    pub migrations: &'static [&'static [Migration]],
}

impl Schema {
    /// The step that reaches `to`.
    pub fn step(&self, to: u32) -> Option<&'static Migration> {
        self.migrations
            .iter()
            .flat_map(|m| m.iter())
            .find(|m| m.to == to)
    }

    /// Checks that the modules' steps reach every version from 2 to `version` once each and
    /// none beyond: two modules claiming one version is a merge mistake caught at start.
    pub fn check(&self) -> Result<(), String> {
        let mut seen: Vec<u32> = self
            .migrations
            .iter()
            .flat_map(|m| m.iter())
            .map(|m| m.to)
            .collect();
        seen.sort_unstable();
        let want: Vec<u32> = (2..=self.version).collect();
        if seen == want {
            Ok(())
        } else {
            Err(format!(
                "schema {} needs one migration to each of {want:?}, the modules declare {seen:?}",
                self.version
            ))
        }
    }
}
