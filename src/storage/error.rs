//! Errors of the storage layer, kept free of redb's types so callers never depend on redb.

use super::codec::CodecError;
use crate::core::errors::{self as codes, Code, ErrorCode};

/// A storage operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// The disk or the database file failed; the write was not made durable.
    #[error("storage I/O failure: {0}")]
    Io(String),
    /// An earlier I/O failure put the store in a failed state; a restart is needed.
    #[error("storage is unavailable after an earlier I/O failure; restart shopd")]
    Unavailable,
    /// A stored record could not be decoded.
    #[error("table `{table}`: {source}")]
    Codec {
        /// Table holding the record.
        table: &'static str,
        /// What went wrong.
        source: CodecError,
    },
    /// The writer has shut down (the process is stopping).
    #[error("the storage writer has stopped")]
    WriterStopped,
    /// The PostgreSQL database could not be reached or refused a statement (a timeout, a lost
    /// connection); the transaction was rolled back.
    #[error("database unavailable: {0}")]
    Database(String),
    /// The write closure panicked; its writes were discarded.
    #[error("a write request panicked and was rolled back")]
    Panicked,
}

impl ErrorCode for StorageError {
    fn code(&self) -> Code {
        match self {
            StorageError::Io(_)
            | StorageError::Unavailable
            | StorageError::WriterStopped
            | StorageError::Database(_) => codes::STORAGE_UNAVAILABLE,
            StorageError::Codec { .. } | StorageError::Panicked => codes::INTERNAL_ERROR,
        }
    }
    fn message(&self) -> String {
        match self.code() {
            codes::STORAGE_UNAVAILABLE => {
                "the store cannot accept writes right now; nothing was saved".into()
            }
            _ => codes::INTERNAL_MESSAGE.into(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        (self.code() == codes::STORAGE_UNAVAILABLE).then_some(5)
    }
}

impl StorageError {
    pub(crate) fn io(e: impl std::fmt::Display) -> Self {
        StorageError::Io(e.to_string())
    }
}

/// Why a data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process holds the data directory.
    #[error(
        "data directory {dir} is locked by another shopd process{holder} (lock file {lock}); stop it or choose another --data-dir"
    )]
    Locked {
        /// The data directory.
        dir: String,
        /// The lock file path.
        lock: String,
        /// ", pid N" when known.
        holder: String,
    },
    /// The data was written by a newer shopd.
    #[error(
        "data directory {dir} has schema version {found}, but this shopd supports schema versions up to {supported}; upgrade shopd (downgrades are not supported)"
    )]
    NewerSchema {
        /// The data directory.
        dir: String,
        /// Version found on disk.
        found: u32,
        /// Newest version this build knows.
        supported: u32,
    },
    /// A migration failed; the data was left at the previous version.
    #[error("migration to schema version {to} failed: {source}")]
    Migration {
        /// Target version of the failing migration.
        to: u32,
        /// Cause.
        source: StorageError,
    },
    /// The database file is not readable.
    #[error("cannot open {path}: {reason}")]
    Database {
        /// File path.
        path: String,
        /// Cause.
        reason: String,
    },
    /// Filesystem problem around the data dir.
    #[error("data directory {dir}: {source}")]
    Io {
        /// The data directory.
        dir: String,
        /// Cause.
        source: std::io::Error,
    },
}
