//! Raw durable commit rate of the store on this machine: the baseline other write benchmarks
//! are compared to (one writer committing alone vs many sharing group commits).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shopd::core::SystemClock;
use shopd::storage::{StorageError, StorageObserver, Store, StoreOptions, Table};

const BENCH: Table<u64, Vec<u8>> = Table::new("bench_writes");

#[derive(Default)]
struct Stats {
    commits: AtomicU64,
    requests: AtomicU64,
}

impl StorageObserver for Stats {
    fn commit(&self, batch_size: usize, _elapsed: Duration, _ok: bool) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.requests
            .fetch_add(batch_size as u64, Ordering::Relaxed);
    }
}

/// Figures of one run.
pub struct Run {
    /// Durable writes acknowledged per second.
    pub writes_per_sec: f64,
    /// Commits per second.
    pub commits_per_sec: f64,
    /// Writes per commit.
    pub avg_batch: f64,
    /// Latency percentiles in milliseconds.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// `writers` tasks each committing 200-byte inserts one at a time for `seconds`: durable
/// writes per second through the store's group commit.
pub fn run(writers: usize, seconds: u64) -> Run {
    let dir = tempfile::Builder::new()
        .prefix("shopd-bench-")
        .tempdir_in(
            std::env::var("SHOPD_BENCH_DIR")
                .unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
        )
        .expect("tempdir");
    let stats = Arc::new(Stats::default());
    let store = Store::open(StoreOptions {
        observer: Some(stats.clone()),
        ..StoreOptions::new(dir.path(), Arc::new(SystemClock), shopd::storage::SCHEMA_V1)
    })
    .expect("open");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let counter = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (lat, elapsed) = rt.block_on(async {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..writers {
            let (store, counter, stop) = (store.clone(), counter.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                // Bounded in count as well as time.
                while !stop.load(Ordering::Relaxed) && lat.len() < 200_000 {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    store
                        .write(move |tx| tx.insert(&BENCH, &n, &vec![7u8; 200]))
                        .await
                        .map_err(|e: StorageError| e)
                        .expect("write");
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                lat
            }));
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::SeqCst);
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("join"));
        }
        (all, started.elapsed().as_secs_f64())
    });
    let mut lat = lat;
    lat.sort_by(|a, b| a.total_cmp(b));
    let commits = stats.commits.load(Ordering::SeqCst) as f64;
    let requests = stats.requests.load(Ordering::SeqCst) as f64;
    drop(rt);
    store.shutdown_blocking();
    Run {
        writes_per_sec: lat.len() as f64 / elapsed,
        commits_per_sec: commits / elapsed,
        avg_batch: if commits > 0.0 {
            requests / commits
        } else {
            0.0
        },
        p50: super::percentile(&lat, 50.0),
        p95: super::percentile(&lat, 95.0),
        p99: super::percentile(&lat, 99.0),
    }
}
