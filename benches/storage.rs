//! Group commit benchmark: durable commits per second with one writer committing alone vs
//! 64 concurrent writers sharing commits, and their ratio.
//!
//! `cargo bench --bench storage -- [--seconds 5] [--writers 64]`

#[path = "driver/mod.rs"]
mod driver;

use driver::arg;
use driver::commits::run;

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
