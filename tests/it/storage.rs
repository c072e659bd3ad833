//! Storage behaviour: group commit batching and isolation, overlay reads, schema versions,
//! migrations, the data-dir lock, fault injection and backup/restore.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common;
use proptest::prelude::*;
use shopd::core::{TestClock, Timestamp};
use shopd::storage::{
    FaultSwitch, Migration, OpenError, Order, Reader, Schema, StorageError, StorageObserver, Store,
    StoreOptions, Table, WriteTx, backup,
};

const KV: Table<String, u64> = Table::new("test_kv");
const PAIRS: Table<(u64, u64), String> = Table::new("test_pairs");

#[derive(Default)]
struct Batches {
    max: AtomicUsize,
    commits: AtomicUsize,
}

impl StorageObserver for Batches {
    fn commit(&self, batch_size: usize, _elapsed: Duration, _ok: bool) {
        self.max.fetch_max(batch_size, Ordering::SeqCst);
        self.commits.fetch_add(1, Ordering::SeqCst);
    }
}

fn opts(dir: &Path) -> StoreOptions {
    crate::common::backend::store_options(
        dir,
        Arc::new(TestClock::new(Timestamp::from_millis(1_000_000))),
        shopd::storage::SCHEMA_V1,
    )
}

#[derive(Debug)]
enum TestErr {
    Storage(StorageError),
    Rejected,
    /// Carries results out of a request that must not commit.
    Scanned(Vec<((u64, u64), String)>, Vec<((u64, u64), String)>),
}
impl From<StorageError> for TestErr {
    fn from(e: StorageError) -> Self {
        TestErr::Storage(e)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits_and_failures_leave_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let obs = Arc::new(Batches::default());
    let mut o = opts(dir.path());
    o.observer = Some(obs.clone());
    let store = Store::open(o).expect("open");

    // A gate holds the writer until every request is queued, so batching does not depend on
    // how the scheduler of a loaded machine interleaves the senders with the writer.
    let queued = Arc::new(AtomicUsize::new(0));
    let seen = queued.clone();
    let gate_store = store.clone();
    let gate = tokio::spawn(async move {
        gate_store
            .write(move |_tx| {
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while seen.load(Ordering::SeqCst) < 400 && std::time::Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(2));
                }
                std::thread::sleep(Duration::from_millis(50));
                Ok::<_, StorageError>(())
            })
            .await
    });
    let mut tasks = Vec::new();
    for i in 0..400u64 {
        let s = store.clone();
        let queued = queued.clone();
        tasks.push(tokio::spawn(async move {
            queued.fetch_add(1, Ordering::SeqCst);
            s.write(move |tx| {
                tx.insert(&KV, &format!("k{i:04}"), &i)?;
                if i % 3 == 0 {
                    // Writes first, then fails: nothing of it may remain.
                    tx.insert(&KV, &format!("poison{i}"), &0)?;
                    return Err(TestErr::Rejected);
                }
                if i % 7 == 1 {
                    panic!("request {i} panics after writing");
                }
                Ok(i)
            })
            .await
        }));
    }
    gate.await.expect("join").expect("gate");
    let mut ok = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.expect("join") {
            Ok(v) => {
                assert_eq!(v, i as u64);
                ok += 1;
            }
            Err(TestErr::Rejected) => assert_eq!(i % 3, 0),
            Err(TestErr::Storage(StorageError::Panicked)) => assert_eq!(i % 7, 1),
            Err(e) => panic!("request {i}: unexpected {e:?}"),
        }
    }
    let r = store.read().expect("read");
    let all = r
        .range(&KV, Bound::Unbounded, Bound::Unbounded, Order::Asc, 10_000)
        .expect("scan");
    assert_eq!(all.len(), ok, "stored rows against acknowledged writes");
    assert!(all.iter().all(|(k, _)| k.starts_with('k')), "poison leaked");
    for (k, v) in &all {
        assert_eq!(k, &format!("k{v:04}"));
        assert!(
            v % 3 != 0 && v % 7 != 1,
            "a refused or panicked write stored {k}"
        );
    }
    // Group commit actually grouped: fewer commits than requests.
    let (max, commits) = (
        obs.max.load(Ordering::SeqCst),
        obs.commits.load(Ordering::SeqCst),
    );
    assert!(
        max > 1,
        "no batching observed: {commits} commits, largest batch {max}"
    );
    assert!(
        commits < 400,
        "{commits} commits for 401 requests, largest batch {max}"
    );
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_sees_its_own_and_earlier_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(opts(dir.path())).expect("open");
    store
        .write(|tx| tx.insert(&KV, &"a".to_string(), &1))
        .await
        .expect("write");
    let seen = store
        .write(|tx| {
            assert_eq!(tx.get(&KV, &"a".to_string())?, Some(1));
            tx.insert(&KV, &"b".to_string(), &2)?;
            tx.remove(&KV, &"a".to_string())?;
            let all = tx.range(&KV, Bound::Unbounded, Bound::Unbounded, Order::Asc, 10)?;
            Ok::<_, StorageError>(all)
        })
        .await
        .expect("write");
    assert_eq!(seen, vec![("b".to_string(), 2)]);
    // A snapshot that has read does not see later writes (MVCC). On PostgreSQL a snapshot
    // begins at its first read, not at `read()`, so it reads once first.
    let before = store.read().expect("read");
    assert_eq!(before.get(&KV, &"b".to_string()).expect("get"), Some(2));
    store
        .write(|tx| tx.insert(&KV, &"c".to_string(), &3))
        .await
        .expect("write");
    assert_eq!(before.get(&KV, &"c".to_string()).expect("get"), None);
    assert_eq!(
        store
            .read()
            .expect("read")
            .get(&KV, &"c".to_string())
            .expect("get"),
        Some(3)
    );
    store.shutdown().await;
}

/// A write bigger than one statement (the PostgreSQL backend sends 5,000 rows per statement)
/// commits whole: inserts, replacements and deletes over two tables, all seen afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_of_many_rows_commits_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(opts(dir.path())).expect("open");
    let key = |i: u64| format!("k{i:06}");
    store
        .write(move |tx| {
            for i in 0..12_000 {
                tx.insert(&KV, &key(i), &i)?;
            }
            for i in 0..3_000 {
                tx.insert(&PAIRS, &(i, i), &format!("p{i}"))?;
            }
            Ok::<_, StorageError>(())
        })
        .await
        .expect("insert");
    store
        .write(move |tx| {
            for i in 0..7_000 {
                tx.remove(&KV, &key(i))?;
            }
            for i in 7_000..12_000 {
                tx.insert(&KV, &key(i), &(i * 2))?;
            }
            tx.remove(&PAIRS, &(0, 0))?;
            Ok::<_, StorageError>(())
        })
        .await
        .expect("replace and delete");
    let r = store.read().expect("read");
    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let rows = r
            .prefix(&KV, &(), after.as_ref(), Order::Asc, 1000)
            .expect("scan");
        let Some(last) = rows.last() else { break };
        after = Some(last.0.clone());
        seen.extend(rows);
    }
    assert_eq!(seen.len(), 5_000);
    assert!(
        seen.iter()
            .all(|(k, v)| *k == key(v / 2) && v % 2 == 0 && *v >= 14_000)
    );
    assert_eq!(r.get(&PAIRS, &(0, 0)).expect("get"), None);
    assert_eq!(
        r.get(&PAIRS, &(2_999, 2_999)).expect("get").as_deref(),
        Some("p2999")
    );
    drop(r);
    store.shutdown().await;
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    Del(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, 0u8..20).prop_map(|(a, b)| Op::Put(a, b)),
        (0u8..6, 0u8..20).prop_map(|(a, b)| Op::Del(a, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    /// Scans inside a write (committed data merged with the request's overlay) agree with a
    /// BTreeMap model, for prefixes, cursors, both directions and limits.
    #[test]
    fn overlay_scans_match_a_model(committed in prop::collection::vec(op(), 0..40),
                                   pending in prop::collection::vec(op(), 0..40),
                                   prefix in 0u8..6, after in prop::option::of(0u8..20),
                                   desc: bool, limit in 1usize..30) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(opts(dir.path())).expect("open");
        let mut model: BTreeMap<(u64, u64), String> = BTreeMap::new();
        let apply = |tx: &mut WriteTx<'_>, ops: &[Op], model: &mut BTreeMap<(u64, u64), String>| -> Result<(), StorageError> {
            for o in ops {
                match *o {
                    Op::Put(a, b) => {
                        let k = (u64::from(a), u64::from(b));
                        let v = format!("{a}-{b}-{}", model.len());
                        tx.insert(&PAIRS, &k, &v)?;
                        model.insert(k, v);
                    }
                    Op::Del(a, b) => {
                        let k = (u64::from(a), u64::from(b));
                        tx.remove(&PAIRS, &k)?;
                        model.remove(&k);
                    }
                }
            }
            Ok(())
        };
        let c = committed.clone();
        let mut m1 = model.clone();
        let m_after = store.write_blocking(move |tx| { apply(tx, &c, &mut m1)?; Ok::<_, StorageError>(m1) }).expect("commit");
        model = m_after;
        let p = pending.clone();
        let order = if desc { Order::Desc } else { Order::Asc };
        let res: Result<(), TestErr> = store.write_blocking(move |tx| {
            let mut m = model.clone();
            apply(tx, &p, &mut m)?;
            let cursor = after.map(|b| (u64::from(prefix), u64::from(b)));
            let got = tx.prefix(&PAIRS, &u64::from(prefix), cursor.as_ref(), order, limit)?;
            let mut exp: Vec<((u64, u64), String)> = m.into_iter()
                .filter(|((a, _), _)| *a == u64::from(prefix))
                .filter(|(k, _)| match cursor { None => true, Some(c) => if desc { *k < c } else { *k > c } })
                .collect();
            if desc { exp.reverse(); }
            exp.truncate(limit);
            // Abort: this request's writes must not be committed.
            Err(TestErr::Scanned(got, exp))
        });
        let Err(TestErr::Scanned(got, expected)) = res else { panic!("unexpected {res:?}") };
        prop_assert_eq!(got, expected);
        store.shutdown_blocking();
    }
}

#[test]
fn second_open_is_refused_with_the_lock_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(opts(dir.path())).expect("open");
    let err = Store::open(opts(dir.path())).expect_err("second open");
    let msg = err.to_string();
    assert!(matches!(err, OpenError::Locked { .. }));
    assert!(
        msg.contains("shopd.lock") && msg.contains("locked"),
        "{msg}"
    );
    store.shutdown_blocking();
    drop(store);
    Store::open(opts(dir.path())).expect("reopen after release");
}

#[test]
fn newer_schema_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Store::open(opts(dir.path())).expect("create"));
    shopd::storage::force_schema_version(&common::backend::app_store(dir.path()), 7)
        .expect("force");
    let err = Store::open(opts(dir.path())).expect_err("newer");
    let msg = err.to_string();
    assert!(
        msg.contains("schema version 7") && msg.contains("up to 1"),
        "{msg}"
    );
}

fn add_default_bonus(tx: &mut WriteTx<'_>) -> Result<(), StorageError> {
    // v2: every value gains +100 (stands in for a real data reshaping)
    let all = tx.range(&KV, Bound::Unbounded, Bound::Unbounded, Order::Asc, 1000)?;
    for (k, v) in all {
        tx.insert(&KV, &k, &(v + 100))?;
    }
    Ok(())
}

fn mark_v3(tx: &mut WriteTx<'_>) -> Result<(), StorageError> {
    tx.insert(&KV, &"v3".to_string(), &3)
}

static STEPS: [&[Migration]; 1] = [&MIGRATIONS];
static MIGRATIONS: [Migration; 2] = [
    Migration {
        to: 2,
        description: "bonus",
        run: add_default_bonus,
    },
    Migration {
        to: 3,
        description: "mark",
        run: mark_v3,
    },
];

#[test]
fn older_data_is_migrated_step_by_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let s = Store::open(opts(dir.path())).expect("v1");
        s.write_blocking(|tx| tx.insert(&KV, &"x".to_string(), &1))
            .expect("write");
        s.shutdown_blocking();
    }
    let mut o = opts(dir.path());
    o.schema = Schema {
        version: 3,
        migrations: &STEPS,
    };
    let s = Store::open(o).expect("migrate");
    let r = s.read().expect("read");
    assert_eq!(r.get(&KV, &"x".to_string()).expect("get"), Some(101));
    assert_eq!(r.get(&KV, &"v3".to_string()).expect("get"), Some(3));
    s.shutdown_blocking();
    drop(s);
    assert_eq!(
        shopd::storage::schema_version(&common::backend::app_store(dir.path())).expect("v"),
        Some(3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn io_failure_is_never_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let switch = FaultSwitch::new();
    let mut o = opts(dir.path());
    // On PostgreSQL the fault is a cut connection to the database.
    let proxy = match common::backend::is_postgres() {
        true => Some(common::backend::PgProxy::start(dir.path()).await),
        false => None,
    };
    match &proxy {
        Some(p) => {
            o.backend = shopd::storage::Backend::Postgres(shopd::storage::PgOptions {
                url: p.url.clone(),
                pool_size: 4,
                statement_timeout: Duration::from_secs(2),
            })
        }
        None => o.fault = Some(switch.clone()),
    }
    let store = tokio::task::spawn_blocking(move || Store::open(o))
        .await
        .expect("join")
        .expect("open");
    for i in 0..20u64 {
        store
            .write(move |tx| tx.insert(&KV, &format!("ok{i:02}"), &i))
            .await
            .expect("healthy write");
    }
    match &proxy {
        Some(p) => p.cut(),
        None => switch.fail_writes(),
    }
    let err = store
        .write(|tx| tx.insert(&KV, &"lost".to_string(), &0))
        .await
        .expect_err("faulty write must fail");
    let pg = proxy.is_some();
    match pg {
        true => assert!(matches!(err, StorageError::Database(_)), "{err:?}"),
        false => assert!(matches!(err, StorageError::Io(_)), "{err:?}"),
    }
    assert!(!store.is_healthy());
    let err = store
        .write(|tx| tx.insert(&KV, &"later".to_string(), &0))
        .await
        .expect_err("later write must fail");
    // The embedded store stops after a disk failure; PostgreSQL keeps trying the database.
    match pg {
        true => assert!(matches!(err, StorageError::Database(_)), "{err:?}"),
        false => assert!(matches!(err, StorageError::Unavailable), "{err:?}"),
    }
    store.shutdown().await;
    drop(store);

    let healthy = opts(dir.path());
    let store = tokio::task::spawn_blocking(move || Store::open(healthy))
        .await
        .expect("join")
        .expect("reopen healthy");
    let r = store.read().expect("read");
    let all = r
        .range(&KV, Bound::Unbounded, Bound::Unbounded, Order::Asc, 100)
        .expect("scan");
    let keys: Vec<String> = all.into_iter().map(|(k, _)| k).collect();
    let expected: Vec<String> = (0..20).map(|i| format!("ok{i:02}")).collect();
    assert_eq!(keys, expected);
    store.shutdown().await;
}

#[test]
fn backup_restore_round_trip_and_corruption_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    let file = dir.path().join("b.shopd");
    {
        let s = Store::open(opts(&src)).expect("open");
        s.write_blocking(|tx| {
            for i in 0..3000u64 {
                tx.insert(&KV, &format!("k{i}"), &i)?;
                tx.insert(&PAIRS, &(i % 7, i), &format!("v{i}"))?;
            }
            Ok::<_, StorageError>(())
        })
        .expect("fill");
        s.shutdown_blocking();
    }
    let mut calls = 0;
    let stats = backup::backup(&opts(&src), &file, &mut |_, _| calls += 1).expect("backup");
    assert_eq!(stats.entries, 6000 + 2); // + meta entries
    assert!(calls > 1);
    backup::restore(&opts(&dst), &file, 1, &mut |_, _| {}).expect("restore");
    let s = Store::open(opts(&dst)).expect("open restored");
    let r = s.read().expect("read");
    assert_eq!(r.get(&KV, &"k2999".to_string()).expect("get"), Some(2999));
    assert_eq!(
        r.prefix(&PAIRS, &3u64, None, Order::Asc, 10_000)
            .expect("scan")
            .len(),
        (0..3000).filter(|i| i % 7 == 3).count()
    );
    s.shutdown_blocking();
    drop(s);

    // A flipped byte is detected before anything is replaced.
    let mut bytes = std::fs::read(&file).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&file, &bytes).expect("write");
    let err = backup::restore(&opts(&dst), &file, 1, &mut |_, _| {}).expect_err("corrupt");
    assert!(
        err.to_string().contains("not a valid shopd backup"),
        "{err}"
    );
    // A backup from a newer schema is refused naming both versions.
    let err = backup::restore(&opts(&dst), &dir.path().join("missing"), 1, &mut |_, _| {})
        .expect_err("missing");
    assert!(err.to_string().contains("missing"));
}
