//! Stripe-style idempotency keys for the POSTs that create orders and fulfilments: the first
//! request with a key stores its response in the same transaction as what it created; a repeat
//! with the same body gets those bytes back, a repeat with another body is refused, and a
//! repeat while the first still runs is refused too.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::Timestamp;
use crate::storage::{Order, Reader, StorageError, Table, Value, WriteTx};

/// Stored responses by (scope, key).
const RECORDS: Table<(String, String), Record> = Table::new("idempotency_records");
/// Records by creation, for pruning.
const BY_TIME: Table<(Timestamp, String, String), ()> = Table::new("idempotency_by_time");

/// How long a key is remembered (the conventions promise at least 24 hours).
pub const RETENTION: Duration = Duration::from_secs(48 * 3600);

/// A stored response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// SHA-256 of the canonical request body.
    pub body_hash: Vec<u8>,
    /// HTTP status of the stored response.
    pub status: u16,
    /// Response body, byte for byte.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    /// When it was stored.
    pub created_at: Timestamp,
}
impl Value for Record {}

/// A response stored under a key (or just produced), to send byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Vec<u8>,
    /// Whether it is a replay of an earlier request's response.
    pub replayed: bool,
}

/// Why a request's `Idempotency-Key` cannot be used; every keyed endpoint answers these alike.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Missing or malformed header.
    #[error("{0}")]
    Bad(&'static str),
    /// The key was used with another body.
    #[error("this Idempotency-Key was used with a different request body")]
    Reused,
    /// The first request with this key is still running.
    #[error("a request with this Idempotency-Key is still in progress")]
    InProgress,
}

/// The stored response for a repeat of the request whose body hashes to `body_hash`;
/// [`KeyError::Reused`] when the key was first used with another body.
pub fn replay(rec: Record, body_hash: &[u8]) -> Result<Response, KeyError> {
    if rec.body_hash != body_hash {
        return Err(KeyError::Reused);
    }
    Ok(Response {
        status: rec.status,
        body: rec.body,
        replayed: true,
    })
}

/// The fresh response of a record just stored.
pub fn fresh(rec: Record) -> Response {
    Response {
        status: rec.status,
        body: rec.body,
        replayed: false,
    }
}

/// SHA-256 of a canonical body.
pub fn hash(canonical: &[u8]) -> Vec<u8> {
    Sha256::digest(canonical).to_vec()
}

/// The stored response of `(scope, key)`, if any.
pub fn get(r: &impl Reader, scope: &str, key: &str) -> Result<Option<Record>, StorageError> {
    r.get(&RECORDS, &(scope.to_owned(), key.to_owned()))
}

/// Stores a response inside the transaction that produced it.
pub fn put(tx: &mut WriteTx<'_>, scope: &str, key: &str, rec: &Record) -> Result<(), StorageError> {
    let k = (scope.to_owned(), key.to_owned());
    tx.insert(&BY_TIME, &(rec.created_at, k.0.clone(), k.1.clone()), &())?;
    tx.insert(&RECORDS, &k, rec)
}

/// Deletes up to `limit` records older than [`RETENTION`]; returns how many.
pub fn prune(tx: &mut WriteTx<'_>, limit: usize) -> Result<usize, StorageError> {
    let cutoff = Timestamp::from_millis(
        tx.now().as_millis() - i64::try_from(RETENTION.as_millis()).unwrap_or(i64::MAX),
    );
    let old = tx.range(
        &BY_TIME,
        std::ops::Bound::Unbounded,
        std::ops::Bound::Excluded(&(cutoff, String::new(), String::new())),
        Order::Asc,
        limit,
    )?;
    let n = old.len();
    for ((t, scope, key), ()) in old {
        tx.remove(&BY_TIME, &(t, scope.clone(), key.clone()))?;
        tx.remove(&RECORDS, &(scope, key))?;
    }
    Ok(n)
}

/// Checks an `Idempotency-Key`: 1 to 255 visible ASCII characters. `Err` explains.
pub fn check_key(key: Option<&str>) -> Result<&str, KeyError> {
    let key = key.ok_or(KeyError::Bad(
        "the Idempotency-Key header is required (any unique string up to 255 characters)",
    ))?;
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(KeyError::Bad(
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(key)
}

/// Keys whose first request is still running in this process.
#[derive(Clone, Debug, Default)]
pub struct InFlight(Arc<Mutex<HashSet<(String, String)>>>);

/// Holds a key as in flight until dropped.
#[derive(Debug)]
pub struct Claim {
    set: InFlight,
    key: (String, String),
}

impl InFlight {
    /// Claims `(scope, key)`; `None` when a request with it is already running.
    pub fn claim(&self, scope: &str, key: &str) -> Option<Claim> {
        let k = (scope.to_owned(), key.to_owned());
        let mut set = crate::core::sync::lock(&self.0);
        if set.insert(k.clone()) {
            Some(Claim {
                set: self.clone(),
                key: k,
            })
        } else {
            None
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut set = crate::core::sync::lock(&self.set.0);
        set.remove(&self.key);
    }
}
