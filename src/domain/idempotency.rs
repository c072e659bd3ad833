//! The one idempotency protocol (Stripe's `Idempotency-Key` rules) for every keyed write:
//! checkout and fulfilment today, payments and refunds next.
//!
//! A [`Keyed`] request names its scope, key and the hash of its canonical body. Inside the write
//! transaction that does the work, [`Keyed::stored`] looks for an earlier outcome and
//! [`Keyed::store`] records the new one, so the outcome commits with what it describes or not
//! at all. The record holds the **typed, versioned outcome** (a domain value such as the order
//! created), never response bytes: the edge renders it, so the JSON API and an HTML page replay
//! the same order. A repeat with the same body gets the stored outcome (`replayed`), a repeat
//! with another body is [`KeyError::Reused`].
//!
//! There is no in-process "in flight" set: writes are serialised (one writer here, a unique key
//! in PostgreSQL), so a duplicate that arrives while the first is still running reads the first
//! one's record inside its own transaction and replays it. Nothing a guarantee depends on lives
//! outside the store.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::Timestamp;
use crate::storage::{CodecError, Order, Reader, StorageError, Store, Table, Value, WriteTx};

/// Stored outcomes by (scope, key).
const RECORDS: Table<(String, String), Record> = Table::new("idempotency_records");
/// Records by creation, for pruning.
const BY_TIME: Table<(Timestamp, String, String), ()> = Table::new("idempotency_by_time");

/// How long a key is remembered (the conventions promise at least 24 hours).
pub const RETENTION: Duration = Duration::from_secs(48 * 3600);

/// What a keyed request left behind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// SHA-256 of the canonical request body.
    pub body_hash: Vec<u8>,
    /// The outcome.
    pub stored: Stored,
    /// When it was stored.
    pub created_at: Timestamp,
}

/// The content of a [`Record`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stored {
    /// A typed outcome in its own versioned encoding ([`Value::encode_value`]).
    Outcome(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A JSON response stored before schema 5; the schema-5 migration turns each into an
    /// outcome, so none is left once the store is open.
    Response {
        /// HTTP status.
        status: u16,
        /// JSON body.
        #[serde(with = "serde_bytes")]
        body: Vec<u8>,
    },
}

/// The record as schema 4 and earlier wrote it.
#[derive(Deserialize)]
struct RecordV1 {
    body_hash: Vec<u8>,
    status: u16,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
    created_at: Timestamp,
}

impl Value for Record {
    const VERSION: u8 = 2;

    fn upgrade(version: u8, bytes: &[u8]) -> Result<Self, CodecError> {
        match version {
            1 => crate::storage::upgrade_from(bytes, |v1: RecordV1| Record {
                body_hash: v1.body_hash,
                stored: Stored::Response {
                    status: v1.status,
                    body: v1.body,
                },
                created_at: v1.created_at,
            }),
            found => Err(crate::storage::unknown_version::<Self>(found)),
        }
    }
}

/// What a keyed creation whose first answer shows a secret (a gift card's code, a webhook
/// endpoint's signing secret) keeps under its key: only the created object's id. A replay
/// answers that object without the secret, so no secret is ever copied into a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created<I>(pub I);

impl<I: Serialize + serde::de::DeserializeOwned> Value for Created<I> {}

/// Why a request's `Idempotency-Key` cannot be used; every keyed endpoint answers these alike.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Missing or malformed header.
    #[error("{0}")]
    Bad(&'static str),
    /// The key was used with another body.
    #[error("this Idempotency-Key was used with a different request body")]
    Reused,
}

impl crate::core::ErrorCode for KeyError {
    fn code(&self) -> crate::core::Code {
        match self {
            KeyError::Bad(_) => crate::core::errors::IDEMPOTENCY_KEY_REQUIRED,
            KeyError::Reused => crate::core::errors::IDEMPOTENCY_KEY_REUSED,
        }
    }
}

/// An outcome, and whether it is the replay of an earlier request's.
#[derive(Clone, Debug, PartialEq)]
pub struct Replayable<T> {
    /// What the request did (or did the first time).
    pub outcome: T,
    /// Whether the outcome was stored by an earlier request with this key.
    pub replayed: bool,
}

/// A request carrying an `Idempotency-Key`: its scope, key and canonical body hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyed {
    scope: String,
    key: String,
    body_hash: Vec<u8>,
}

impl Keyed {
    /// Checks `key` (1 to 255 visible ASCII characters) and hashes `body` canonically: the
    /// parsed body serialised again (struct fields in declaration order, `serde_json::Value`
    /// objects with sorted keys), so reordered fields and other whitespace are the same body.
    pub fn new(
        scope: impl Into<String>,
        key: Option<&str>,
        body: &impl Serialize,
    ) -> Result<Keyed, KeyError> {
        let key = check_key(key)?.to_owned();
        // Serialising a parsed body cannot fail (no non-string map keys reach here).
        let canonical = serde_json::to_vec(body).unwrap_or_default();
        Ok(Keyed {
            scope: scope.into(),
            key,
            body_hash: Sha256::digest(&canonical).to_vec(),
        })
    }

    fn id(&self) -> (String, String) {
        (self.scope.clone(), self.key.clone())
    }

    /// The outcome an earlier request with this key stored; [`KeyError::Reused`] when it came
    /// with another body. Inside the write this sees requests committed or earlier in the batch.
    pub fn stored<T: Value, E>(&self, r: &impl Reader) -> Result<Option<T>, E>
    where
        E: From<KeyError> + From<StorageError>,
    {
        let Some(rec) = r.get(&RECORDS, &self.id())? else {
            return Ok(None);
        };
        if rec.body_hash != self.body_hash {
            return Err(KeyError::Reused.into());
        }
        match rec.stored {
            Stored::Outcome(bytes) => T::decode_value(&bytes)
                .map(Some)
                .map_err(|source| StorageError::Codec {
                    table: RECORDS.name(),
                    source,
                })
                .map_err(E::from),
            Stored::Response { .. } => Err(StorageError::Codec {
                table: RECORDS.name(),
                source: CodecError::UnknownVersion {
                    found: 1,
                    current: Record::VERSION,
                },
            }
            .into()),
        }
    }

    /// Records `outcome` under this key, in the transaction that produced it.
    pub fn store<T: Value>(&self, tx: &mut WriteTx<'_>, outcome: &T) -> Result<(), StorageError> {
        let bytes = encode(outcome)?;
        let rec = Record {
            body_hash: self.body_hash.clone(),
            stored: Stored::Outcome(bytes),
            created_at: tx.now(),
        };
        put(tx, &self.scope, &self.key, &rec)
    }

    /// Runs `work` as a keyed write: replays a stored outcome (read first from a snapshot,
    /// then again inside the write), otherwise runs `work` and stores its outcome in the same
    /// transaction. An error from `work` stores nothing, so the key can be retried.
    pub async fn write<T, E, F>(self, store: &Store, work: F) -> Result<Replayable<T>, E>
    where
        T: Value + Send + 'static,
        E: From<KeyError> + From<StorageError> + Send + 'static,
        F: FnOnce(&mut WriteTx<'_>) -> Result<T, E> + Send + 'static,
    {
        if let Some(outcome) = self.stored::<T, E>(&store.read()?)? {
            return Ok(Replayable {
                outcome,
                replayed: true,
            });
        }
        store
            .write(move |tx| {
                if let Some(outcome) = self.stored::<T, E>(tx)? {
                    return Ok(Replayable {
                        outcome,
                        replayed: true,
                    });
                }
                let outcome = work(tx)?;
                self.store(tx, &outcome)?;
                Ok(Replayable {
                    outcome,
                    replayed: false,
                })
            })
            .await
    }
}

/// Test hook: stores a record the way schema 4 and earlier did (a JSON response).
#[cfg(test)]
pub(crate) fn put_legacy(
    tx: &mut WriteTx<'_>,
    scope: &str,
    key: &str,
    body_hash: Vec<u8>,
    body: &[u8],
) -> Result<(), StorageError> {
    let rec = Record {
        body_hash,
        stored: Stored::Response {
            status: 201,
            body: body.to_vec(),
        },
        created_at: tx.now(),
    };
    put(tx, scope, key, &rec)
}

fn encode<T: Value>(outcome: &T) -> Result<Vec<u8>, StorageError> {
    outcome
        .encode_value()
        .map_err(|source| StorageError::Codec {
            table: RECORDS.name(),
            source,
        })
}

fn put(tx: &mut WriteTx<'_>, scope: &str, key: &str, rec: &Record) -> Result<(), StorageError> {
    let k = (scope.to_owned(), key.to_owned());
    tx.insert(&BY_TIME, &(rec.created_at, k.0.clone(), k.1.clone()), &())?;
    tx.insert(&RECORDS, &k, rec)
}

/// The (scope, key) a record is stored under.
pub type RecordId = (String, String);

/// Up to `limit` records still holding a JSON response (before schema 5), after `after`.
pub fn legacy_records(
    tx: &WriteTx<'_>,
    after: Option<&(String, String)>,
    limit: usize,
) -> Result<Vec<(RecordId, Record)>, StorageError> {
    tx.prefix(&RECORDS, &(), after, Order::Asc, limit)
}

/// Replaces the JSON response of a legacy record with a typed `outcome`, keeping its body hash
/// and time (so pruning and body checks behave as before).
pub fn convert_legacy<T: Value>(
    tx: &mut WriteTx<'_>,
    id: &(String, String),
    rec: Record,
    outcome: &T,
) -> Result<(), StorageError> {
    let bytes = encode(outcome)?;
    let rec = Record {
        stored: Stored::Outcome(bytes),
        ..rec
    };
    tx.insert(&RECORDS, id, &rec)
}

/// Forgets a legacy record whose outcome no longer exists.
pub fn drop_legacy(
    tx: &mut WriteTx<'_>,
    id: &(String, String),
    rec: &Record,
) -> Result<(), StorageError> {
    tx.remove(&BY_TIME, &(rec.created_at, id.0.clone(), id.1.clone()))?;
    tx.remove(&RECORDS, id).map(|_| ())
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

/// Job kind that prunes records past their retention (recurring, hourly).
pub const PRUNE_JOB: &str = "idempotency.prune";

/// How often pruning runs.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The idempotency module's background work: hourly pruning of expired records.
pub fn work(store: Store) -> crate::jobs::Work {
    crate::jobs::Work::new()
        .handler(
            PRUNE_JOB,
            1,
            crate::jobs::handler_fn(move |ctx| run_prune(store.clone(), ctx)),
        )
        .every(PRUNE_JOB, PRUNE_EVERY)
}

/// Job handler of [`PRUNE_JOB`]: deletes expired records in batches of 500 (never one long
/// write), then schedules the next run with its ack.
pub async fn run_prune(
    store: Store,
    _ctx: crate::jobs::JobContext,
) -> Result<crate::jobs::JobOutcome, crate::jobs::JobError> {
    loop {
        let n = store
            .write(|tx| prune(tx, 500))
            .await
            .map_err(|e| crate::jobs::JobError::retry(e.to_string()))?;
        if n < 500 {
            break;
        }
    }
    Ok(crate::jobs::JobOutcome::DoneWith(Box::new(|tx| {
        let next = tx.now().plus(PRUNE_EVERY);
        crate::jobs::schedule_recurring(tx, PRUNE_JOB, PRUNE_EVERY, next)
    })))
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::core::TestClock;
    use crate::storage::StoreOptions;

    #[derive(Debug, thiserror::Error)]
    enum E {
        #[error(transparent)]
        Key(#[from] KeyError),
        #[error(transparent)]
        Storage(#[from] StorageError),
        #[error("refused")]
        Refused,
    }

    fn store(dir: &std::path::Path) -> Store {
        Store::open(StoreOptions::new(
            dir.to_path_buf(),
            Arc::new(TestClock::new(Timestamp::from_millis(1_000_000))),
            crate::storage::SCHEMA_V1,
        ))
        .expect("open")
    }

    #[tokio::test]
    async fn one_outcome_per_key_replayed_typed_and_refused_for_another_body() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = store(dir.path());
        let body = serde_json::json!({"b": 1, "a": [1, 2]});
        let reordered: serde_json::Value =
            serde_json::from_str(r#"{"a":[1,2],  "b":1}"#).expect("json");
        let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let go = |body: serde_json::Value| {
            let (s, runs) = (s.clone(), runs.clone());
            async move {
                let k = Keyed::new("scope", Some("k1"), &body).map_err(E::from)?;
                k.write(&s, move |_tx| {
                    Ok::<_, E>(
                        u64::from(runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst)) + 40,
                    )
                })
                .await
            }
        };
        let first = go(body.clone()).await.expect("first");
        assert_eq!((first.outcome, first.replayed), (40, false));
        let again = go(reordered).await.expect("replay");
        assert_eq!((again.outcome, again.replayed), (40, true));
        assert!(matches!(
            go(serde_json::json!({"b": 2})).await,
            Err(E::Key(KeyError::Reused))
        ));
        // Concurrent duplicates of a new key: one run, every caller gets its outcome.
        let many = futures_util::future::join_all((0..20).map(|_| {
            let (s, runs) = (s.clone(), runs.clone());
            async move {
                let k = Keyed::new("scope", Some("burst"), &1).map_err(E::from)?;
                k.write(&s, move |_tx| {
                    Ok::<_, E>(u64::from(
                        runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                    ))
                })
                .await
            }
        }))
        .await;
        let outcomes: std::collections::HashSet<u64> =
            many.into_iter().map(|r| r.expect("ok").outcome).collect();
        assert_eq!(outcomes.len(), 1);
        assert_eq!(
            runs.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "two keys, two runs"
        );
        // A failed run stores nothing: the key works afterwards.
        let k = Keyed::new("scope", Some("k2"), &1).expect("key");
        let r = k.clone().write(&s, |_tx| Err::<u64, _>(E::Refused)).await;
        assert!(matches!(r, Err(E::Refused)));
        let r = k.write(&s, |_tx| Ok::<u64, E>(7)).await.expect("retry");
        assert_eq!((r.outcome, r.replayed), (7, false));
    }

    #[test]
    fn version_1_records_read_as_stored_responses() {
        #[derive(Serialize)]
        struct V1 {
            body_hash: Vec<u8>,
            status: u16,
            #[serde(with = "serde_bytes")]
            body: Vec<u8>,
            created_at: Timestamp,
        }
        let mut bytes = vec![1u8];
        let v1 = V1 {
            body_hash: vec![9; 32],
            status: 201,
            body: br#"{"id":"ord_x"}"#.to_vec(),
            created_at: Timestamp::from_millis(7),
        };
        bytes.extend(postcard::to_stdvec(&v1).expect("encode"));
        let rec = Record::decode_value(&bytes).expect("upgrade");
        assert_eq!(rec.body_hash, vec![9; 32]);
        assert_eq!(
            rec.stored,
            Stored::Response {
                status: 201,
                body: br#"{"id":"ord_x"}"#.to_vec()
            }
        );
        assert_eq!(rec.created_at, Timestamp::from_millis(7));
    }

    #[test]
    fn keys_are_checked() {
        assert!(matches!(Keyed::new("s", None, &1), Err(KeyError::Bad(_))));
        assert!(matches!(
            Keyed::new("s", Some(&"k".repeat(256)), &1),
            Err(KeyError::Bad(_))
        ));
        assert!(matches!(
            Keyed::new("s", Some("a b"), &1),
            Err(KeyError::Bad(_))
        ));
        assert!(Keyed::new("s", Some("ok-1"), &1).is_ok());
    }
}
