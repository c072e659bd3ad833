//! Group commit benchmark: durable commits per second with one writer committing alone vs
//! 64 concurrent writers sharing commits, and their ratio.
//!
//! `cargo bench --bench storage -- [--seconds 5] [--writers 64]`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shopd::core::SystemClock;
use shopd::storage::{
    GroupCommit, Schema, StorageError, StorageObserver, Store, StoreOptions, Table,
};

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

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Run {
    writes_per_sec: f64,
    commits_per_sec: f64,
    avg_batch: f64,
    p50: f64,
    p95: f64,
    p99: f64,
}

fn run(writers: usize, seconds: u64) -> Run {
    let dir = tempfile::Builder::new()
        .prefix("shopd-bench-")
        .tempdir_in(
            std::env::var("SHOPD_BENCH_DIR")
                .unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
        )
        .expect("tempdir");
    let stats = Arc::new(Stats::default());
    let store = Store::open(StoreOptions {
        data_dir: dir.path().to_path_buf(),
        clock: Arc::new(SystemClock),
        schema: Schema {
            version: 1,
            migrations: &[],
        },
        group_commit: GroupCommit::default(),
        fault: None,
        observer: Some(stats.clone()),
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
        p50: pct(&lat, 50.0),
        p95: pct(&lat, 95.0),
        p99: pct(&lat, 99.0),
    }
}

fn main() {
    // `cargo test --all-targets` runs this without `--bench`: do a one-second smoke run only.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let seconds: u64 = arg("--seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 1 } else { 5 });
    let writers: usize = arg("--writers").and_then(|v| v.parse().ok()).unwrap_or(64);
    let rounds: usize = arg("--rounds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 1 } else { 3 });
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let one = run(1, seconds);
        let many = run(writers, seconds);
        let ratio = many.writes_per_sec / one.writes_per_sec.max(1e-9);
        println!(
            "round {round}: 1 writer   {:>8.0} durable writes/s ({:>6.0} commits/s)  p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms",
            one.writes_per_sec, one.commits_per_sec, one.p50, one.p95, one.p99
        );
        println!(
            "round {round}: {writers} writers {:>8.0} durable writes/s ({:>6.0} commits/s, {:.1} writes/commit)  p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms",
            many.writes_per_sec, many.commits_per_sec, many.avg_batch, many.p50, many.p95, many.p99
        );
        println!("round {round}: group commit ratio {ratio:.1}x");
        ratios.push(ratio);
    }
    ratios.sort_by(|a, b| a.total_cmp(b));
    println!(
        "median group commit ratio over {rounds} rounds: {:.1}x",
        ratios[ratios.len() / 2]
    );
}
