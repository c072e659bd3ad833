//! The dependency rules of ARCHITECTURE.md, enforced on the source tree.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Code lines without comments (doc comments may mention anything).
fn code_lines(src: &str) -> Vec<(usize, String)> {
    src.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| {
            let code = match l.find(" //") {
                Some(c) if !l[..c].contains('"') => &l[..c],
                _ => l,
            };
            (i + 1, code.to_owned())
        })
        .collect()
}

/// Which rule a file at `rel` (path under src/) breaks, if any.
fn violations(rel: &str, src: &str) -> Vec<String> {
    let mut v = Vec::new();
    let in_dir = |d: &str| rel.starts_with(d);
    for (n, line) in code_lines(src) {
        let mut bad = |why: &str| v.push(format!("src/{rel}:{n}: {why}: {}", line.trim()));
        if !in_dir("storage/") && (line.contains("redb::") || line.contains("use redb")) {
            bad("only storage/ may use redb");
        }
        if in_dir("domain/") {
            for banned in ["actix_web", "actix-web", "clap", "prometheus"] {
                if line.contains(banned) {
                    bad("domain code must not depend on the HTTP, CLI or metrics layers");
                }
            }
            for clock in [
                "SystemTime::now",
                "Instant::now",
                "SystemClock",
                "now_utc",
                "Utc::now",
                "Local::now",
            ] {
                if line.contains(clock) {
                    bad("domain code must take time as a parameter, not read the clock");
                }
            }
        }
        if in_dir("http/") {
            for tx in [
                ".read()",
                ".write(",
                ".write_blocking(",
                "WriteTx",
                "ReadTx",
                "begin_write",
                "begin_read",
            ] {
                if line.contains(tx) {
                    bad("http must call domain functions, never open storage transactions");
                }
            }
        }
        if in_dir("core/") && line.contains("crate::") && !line.contains("crate::core") {
            bad("core depends on no other shopd module");
        }
        if (in_dir("storage/") || in_dir("jobs/") || in_dir("mailer/"))
            && [
                "crate::domain",
                "crate::http",
                "crate::app",
                "crate::cli",
                "crate::observability",
            ]
            .iter()
            .any(|m| line.contains(m))
        {
            bad("storage, jobs and mailer know no domain and no outer layer");
        }
    }
    v
}

#[test]
fn source_tree_follows_the_dependency_rules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    for f in rust_files(&root) {
        let rel = f
            .strip_prefix(&root)
            .expect("prefix")
            .to_string_lossy()
            .replace('\\', "/");
        let src = std::fs::read_to_string(&f).expect("read");
        all.extend(violations(&rel, &src));
    }
    assert!(
        all.is_empty(),
        "architecture violations:\n{}",
        all.join("\n")
    );
}

#[test]
fn the_checker_catches_each_rule() {
    let cases = [
        ("http/orders.rs", "let r = state.store.read()?;"),
        ("http/orders.rs", "state.store.write(|tx| Ok(())).await"),
        ("domain/cart/mod.rs", "use actix_web::HttpResponse;"),
        (
            "domain/cart/mod.rs",
            "let now = std::time::SystemTime::now();",
        ),
        (
            "domain/cart/mod.rs",
            "use prometheus_client::metrics::counter::Counter;",
        ),
        ("jobs/queue.rs", "use redb::Database;"),
        ("jobs/queue.rs", "use crate::domain::cart;"),
        ("mailer/mod.rs", "use crate::domain::auth::Customer;"),
        ("core/money.rs", "use crate::storage::Table;"),
    ];
    for (rel, line) in cases {
        assert!(
            !violations(rel, line).is_empty(),
            "{rel}: `{line}` not caught"
        );
    }
    assert!(violations("storage/tx.rs", "use redb::ReadableTable;").is_empty());
    assert!(
        violations(
            "domain/cart/mod.rs",
            "// reads the SystemTime::now in comments only"
        )
        .is_empty()
    );
}

#[test]
fn every_table_name_is_declared_once() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut names = std::collections::BTreeMap::<String, String>::new();
    for f in rust_files(&root) {
        let src = std::fs::read_to_string(&f).expect("read");
        for (n, line) in code_lines(&src) {
            if let Some(i) = line.find("Table::new(\"") {
                let rest = &line[i + 12..];
                let name = rest.split('"').next().unwrap_or("").to_owned();
                let at = format!("{}:{n}", f.display());
                if let Some(prev) = names.insert(name.clone(), at.clone()) {
                    panic!("table `{name}` declared twice: {prev} and {at}");
                }
            }
        }
    }
    assert!(names.contains_key("jobs"));
}
