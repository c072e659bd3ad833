//! shopd's experiment statistics against independent implementations: for fixed data sets the
//! two-proportion z and p (statsmodels), Welch's t and p (scipy, from the raw observations),
//! the delta-method interval of the relative lift and the sample-ratio chi-square (scipy) agree
//! to 1e-6. The reference values come from `tests/stats/reference.py`.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use shopd::domain::experiments::stats::{self, Moments};

/// Deterministic observations: a linear congruential generator, mapped to revenue-like values
/// (many zeros, a long tail) so the variances differ between arms.
fn observations(seed: u64, n: usize, scale: f64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            if u < 0.7 {
                0.0
            } else {
                (scale * (u - 0.7) * 10.0).round()
            }
        })
        .collect()
}

fn moments(v: &[f64]) -> Moments {
    v.iter().fold(Moments::default(), |mut m, y| {
        m.n += 1.0;
        m.sum += y;
        m.sum_sq += y * y;
        m
    })
}

fn reference(input: &Value) -> Value {
    let mut child = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/stats/reference.py"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs (tests/run-all.sh installs scipy and statsmodels)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("reference.py");
    assert!(out.status.success(), "reference.py failed");
    serde_json::from_slice(&out.stdout).expect("reference JSON")
}

fn close(ours: f64, theirs: &Value, what: &str) {
    let theirs = theirs
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {theirs}"));
    assert!(
        (ours - theirs).abs() <= 1e-6,
        "{what}: shopd {ours} against the reference {theirs}"
    );
}

#[test]
fn the_statistics_match_scipy_and_statsmodels() {
    let proportions = [
        ((10_000, 1_000), (10_000, 1_100)),
        ((523, 31), (498, 47)),
        ((100_000, 2_345), (99_000, 2_400)),
        ((2_000, 0), (2_000, 4)),
        ((750, 300), (760, 290)),
    ];
    let means: Vec<(Vec<f64>, Vec<f64>)> = vec![
        (observations(1, 2_000, 40.0), observations(2, 2_100, 44.0)),
        (observations(3, 300, 900.0), observations(4, 280, 700.0)),
        (observations(5, 12_000, 15.0), observations(6, 11_800, 15.0)),
    ];
    let srms: Vec<(Vec<u64>, Vec<f64>)> = vec![
        (vec![50_000, 51_000], vec![1.0, 1.0]),
        (vec![3_300, 3_350, 3_310], vec![1.0, 1.0, 1.0]),
        (vec![9_000, 1_150], vec![9.0, 1.0]),
        (vec![480, 260, 270], vec![50.0, 25.0, 25.0]),
    ];
    let input = json!({
        "proportions": proportions.iter().map(|(c, t)| json!({"control": [c.0, c.1], "treatment": [t.0, t.1]})).collect::<Vec<_>>(),
        "means": means.iter().map(|(c, t)| json!({"control": c, "treatment": t})).collect::<Vec<_>>(),
        "srm": srms.iter().map(|(o, w)| json!({"observed": o, "weights": w})).collect::<Vec<_>>(),
    });
    let theirs = reference(&input);
    for (i, (c, t)) in proportions.iter().enumerate() {
        let r = &theirs["proportions"][i];
        let z = stats::two_proportion_z(*c, *t);
        close(z.statistic, &r["z"], &format!("z of data set {i}"));
        close(z.p_value, &r["p"], &format!("p of data set {i}"));
    }
    for (i, (c, t)) in means.iter().enumerate() {
        let r = &theirs["means"][i];
        let (mc, mt) = (moments(c), moments(t));
        let w = stats::welch(&mc, &mt);
        close(w.statistic, &r["t"], &format!("Welch t of data set {i}"));
        close(w.p_value, &r["p"], &format!("Welch p of data set {i}"));
        let lift = stats::relative_lift(&mc, &mt, 0.05);
        close(lift.estimate, &r["lift"], &format!("lift of data set {i}"));
        close(lift.low, &r["low"], &format!("lift low of data set {i}"));
        close(lift.high, &r["high"], &format!("lift high of data set {i}"));
    }
    for (i, (o, w)) in srms.iter().enumerate() {
        let r = &theirs["srm"][i];
        let s = stats::srm(o, w);
        close(
            s.chi_square,
            &r["chi"],
            &format!("chi-square of data set {i}"),
        );
        close(s.p_value, &r["p"], &format!("SRM p of data set {i}"));
    }
}
