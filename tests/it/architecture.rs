//! The dependency rules of ARCHITECTURE.md, enforced on the source tree.

use std::collections::{HashMap, HashSet};
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

/// The module path of a file under src/ (`domain/cart/model.rs` → `domain::cart::model`).
fn module_of(rel: &str) -> Vec<String> {
    let mut m: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if matches!(m.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        m.pop();
    }
    m
}

/// Every path a file names (in `use` trees, types, expressions, macros' paths), resolved to
/// `crate::…` where it is one of shopd's own, plus the facts the rules look at.
#[derive(Default)]
struct Names {
    module: Vec<String>,
    children: HashSet<String>,
    aliases: HashMap<String, Vec<String>>,
    paths: Vec<Vec<String>>,
    store_transactions: usize,
    exposed_tables: Vec<String>,
}

impl Names {
    fn resolve(&self, segs: &[String]) -> Vec<String> {
        let Some(first) = segs.first() else {
            return Vec::new();
        };
        let mut base: Vec<String> = match first.as_str() {
            "crate" => return segs.to_vec(),
            "self" => std::iter::once("crate".to_owned())
                .chain(self.module.clone())
                .collect(),
            "super" => {
                let mut m = self.module.clone();
                m.pop();
                std::iter::once("crate".to_owned()).chain(m).collect()
            }
            name if self.children.contains(name) => {
                let mut b: Vec<String> = std::iter::once("crate".to_owned())
                    .chain(self.module.clone())
                    .collect();
                b.push(name.to_owned());
                b.extend(segs[1..].iter().cloned());
                return b;
            }
            name => match self.aliases.get(name) {
                Some(full) => full.clone(),
                None => vec![name.to_owned()],
            },
        };
        // `super::super::x`
        let mut rest = &segs[1..];
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        base
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                self.import(prefix, &n.ident.to_string(), &n.ident.to_string())
            }
            syn::UseTree::Rename(r) => {
                self.import(prefix, &r.ident.to_string(), &r.rename.to_string())
            }
            syn::UseTree::Glob(_) => {
                let full = self.resolve(prefix);
                self.paths.push(full);
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }

    fn import(&mut self, prefix: &[String], name: &str, alias: &str) {
        let mut segs = prefix.to_vec();
        if name != "self" {
            segs.push(name.to_owned());
        }
        let full = self.resolve(&segs);
        let alias = if name == "self" {
            prefix.last().cloned().unwrap_or_default()
        } else {
            alias.to_owned()
        };
        self.aliases.insert(alias, full.clone());
        self.paths.push(full);
    }
}

impl Names {
    /// Reads a module's items: child modules and imports first (imports may follow their use),
    /// then everything.
    fn scan(&mut self, items: &[syn::Item]) {
        for item in items {
            match item {
                syn::Item::Mod(m) => {
                    self.children.insert(m.ident.to_string());
                }
                syn::Item::Use(u) => syn::visit::Visit::visit_item_use(self, u),
                _ => {}
            }
        }
        for item in items {
            if !matches!(item, syn::Item::Use(_)) {
                syn::visit::Visit::visit_item(self, item);
            }
        }
    }
}

impl<'ast> syn::visit::Visit<'ast> for Names {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        let full = self.resolve(&segs);
        self.paths.push(full);
        syn::visit::visit_path(self, p);
    }

    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        let method = m.method.to_string();
        let on_store = match &*m.receiver {
            syn::Expr::Field(f) => matches!(&f.member, syn::Member::Named(n) if n == "store"),
            syn::Expr::Path(p) => p.path.is_ident("store"),
            _ => false,
        };
        if on_store && matches!(method.as_str(), "read" | "write" | "write_blocking") {
            self.store_transactions += 1;
        }
        syn::visit::visit_expr_method_call(self, m);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        let Some((_, items)) = &m.content else {
            return;
        };
        // An inline module (`mod tests { … }`) is a scope of its own.
        let mut inner = Names {
            module: self
                .module
                .iter()
                .cloned()
                .chain([m.ident.to_string()])
                .collect(),
            ..Names::default()
        };
        inner.scan(items);
        self.paths.extend(inner.paths);
        self.store_transactions += inner.store_transactions;
        self.exposed_tables.extend(inner.exposed_tables);
    }

    fn visit_item_const(&mut self, c: &'ast syn::ItemConst) {
        let is_table = matches!(&*c.ty, syn::Type::Path(t)
            if t.path.segments.last().is_some_and(|s| s.ident == "Table"));
        let wide = match &c.vis {
            syn::Visibility::Public(_) => true,
            syn::Visibility::Restricted(r) => r.path.is_ident("crate"),
            syn::Visibility::Inherited => false,
        };
        if is_table && wide {
            self.exposed_tables.push(c.ident.to_string());
        }
        syn::visit::visit_item_const(self, c);
    }
}

/// The "may use" column of ARCHITECTURE.md: for each `domain/<module>`, the sibling domain
/// modules it may name.
fn may_use() -> HashMap<String, HashSet<String>> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md");
    let mut out = HashMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `domain/")) {
        let cols: Vec<&str> = line.split(" | ").collect();
        let name = cols[0]
            .trim_start_matches("| `domain/")
            .trim_end_matches('`');
        let allowed = cols
            .last()
            .map(|c| {
                c.split('`')
                    .filter_map(|t| t.strip_prefix("domain/"))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        out.insert(name.to_owned(), allowed);
    }
    out
}

/// Which rule a file at `rel` (path under src/) breaks, if any.
fn violations(rel: &str, src: &str, may: &HashMap<String, HashSet<String>>) -> Vec<String> {
    let file = match syn::parse_file(src) {
        Ok(f) => f,
        Err(e) => return vec![format!("src/{rel}: does not parse: {e}")],
    };
    let mut names = Names {
        module: module_of(rel),
        ..Names::default()
    };
    names.scan(&file.items);
    let layer = names.module.first().cloned().unwrap_or_default();
    let own_domain = (layer == "domain")
        .then(|| names.module.get(1).cloned())
        .flatten();
    let mut v = Vec::new();
    let mut bad = |why: &str, what: String| v.push(format!("src/{rel}: {why}: {what}"));
    for p in &names.paths {
        let joined = p.join("::");
        let head = p.first().map(String::as_str).unwrap_or("");
        let crate_mod = (head == "crate")
            .then(|| p.get(1).map(String::as_str))
            .flatten();
        if ["redb", "tokio_postgres", "deadpool_postgres"].contains(&head) && layer != "storage" {
            bad("only storage/ may use a database engine", joined.clone());
        }
        if layer == "domain" {
            if [
                "actix_web",
                "actix_http",
                "clap",
                "prometheus",
                "prometheus_client",
            ]
            .contains(&head)
            {
                bad(
                    "domain code must not depend on the HTTP, CLI or metrics layers",
                    joined.clone(),
                );
            }
            let tail: Vec<&str> = p.iter().rev().take(2).map(String::as_str).collect();
            if matches!(
                tail.as_slice(),
                ["now", "SystemTime" | "Instant"] | ["now_utc", _]
            ) || p.last().is_some_and(|s| s == "SystemClock")
            {
                bad(
                    "domain code must take time as a parameter, not read the clock",
                    joined.clone(),
                );
            }
            if crate_mod == Some("domain")
                && let (Some(own), Some(other)) = (&own_domain, p.get(2))
                && other != own
                && !may.get(own).is_some_and(|m| m.contains(other))
            {
                bad(
                    "ARCHITECTURE.md does not let this domain module use it",
                    joined.clone(),
                );
            }
            if matches!(
                crate_mod,
                Some("http" | "pages" | "app" | "cli" | "observability" | "config")
            ) {
                bad(
                    "domain code must not depend on outer layers",
                    joined.clone(),
                );
            }
        }
        if (layer == "http" || layer == "pages")
            && crate_mod == Some("storage")
            && p.last().is_some_and(|s| s == "WriteTx" || s == "ReadTx")
        {
            bad(
                "http and pages call domain functions, never open storage transactions",
                joined.clone(),
            );
        }
        if layer == "core" && head == "crate" && crate_mod != Some("core") {
            bad("core depends on no other shopd module", joined.clone());
        }
        if matches!(
            layer.as_str(),
            "storage" | "jobs" | "mailer" | "gateway" | "outbound"
        ) && matches!(
            crate_mod,
            Some("domain" | "http" | "pages" | "app" | "cli" | "observability")
        ) {
            bad(
                "storage, jobs, mailer, gateway and outbound know no domain and no outer layer",
                joined.clone(),
            );
        }
    }
    if (layer == "http" || layer == "pages") && names.store_transactions > 0 {
        bad(
            "http and pages call domain functions, never open storage transactions",
            format!("{} store.read()/write() calls", names.store_transactions),
        );
    }
    for t in &names.exposed_tables {
        bad(
            "tables are private to their module (at most pub(super))",
            t.clone(),
        );
    }
    v
}

#[test]
fn source_tree_follows_the_dependency_rules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let may = may_use();
    assert!(
        may.contains_key("cart") && may.contains_key("checkout"),
        "{may:?}"
    );
    let mut all = Vec::new();
    for f in rust_files(&root) {
        let rel = f
            .strip_prefix(&root)
            .expect("prefix")
            .to_string_lossy()
            .replace('\\', "/");
        let src = std::fs::read_to_string(&f).expect("read");
        all.extend(violations(&rel, &src, &may));
    }
    assert!(
        all.is_empty(),
        "architecture violations:\n{}",
        all.join("\n")
    );
}

#[test]
fn the_checker_catches_each_rule() {
    let may = may_use();
    let cases = [
        ("http/orders.rs", "fn f() { let r = state.store.read(); }"),
        (
            "http/orders.rs",
            "async fn f() { state.store.write(|tx| Ok(())).await; }",
        ),
        ("http/orders.rs", "use crate::storage::WriteTx;"),
        ("pages/shop.rs", "fn f() { let r = state.store.read(); }"),
        ("pages/cart.rs", "use crate::storage::ReadTx;"),
        ("domain/cart/mod.rs", "use crate::pages::Visitor;"),
        ("domain/cart/mod.rs", "use actix_web::HttpResponse;"),
        (
            "domain/cart/mod.rs",
            "fn f() { let now = std::time::SystemTime::now(); }",
        ),
        (
            "domain/cart/mod.rs",
            "use std::time::Instant; fn f() { Instant::now(); }",
        ),
        (
            "domain/cart/mod.rs",
            "use prometheus_client::metrics::counter::Counter;",
        ),
        ("domain/cart/mod.rs", "use crate::domain::orders::Order;"),
        ("domain/cart/model.rs", "use super::super::orders;"),
        (
            "domain/cart/mod.rs",
            "mod tests { use super::super::orders::Order; }",
        ),
        (
            "domain/cart/mod.rs",
            "fn f() { crate::domain::checkout::run(); }",
        ),
        ("jobs/queue.rs", "use redb::Database;"),
        ("domain/orders/mod.rs", "use tokio_postgres::Client;"),
        (
            "http/health.rs",
            "fn f() { deadpool_postgres::Pool::builder(); }",
        ),
        ("jobs/queue.rs", "use crate::domain::cart;"),
        ("jobs/queue.rs", "use crate::{core::JobId, domain::cart};"),
        ("mailer/mod.rs", "use crate::domain::auth::Customer;"),
        ("core/money.rs", "use crate::storage::Table;"),
        ("core/money.rs", "use super::super::storage;"),
        (
            "domain/events/mod.rs",
            "pub(crate) const T: Table<u8, u8> = Table::new(\"t\");",
        ),
    ];
    for (rel, src) in cases {
        assert!(
            !violations(rel, src, &may).is_empty(),
            "{rel}: `{src}` not caught"
        );
    }
    let fine = [
        ("storage/tx.rs", "use redb::ReadableTable;"),
        ("storage/postgres/mod.rs", "use tokio_postgres::NoTls;"),
        (
            "domain/cart/mod.rs",
            "// reads the SystemTime::now in comments only",
        ),
        (
            "domain/cart/mod.rs",
            "use crate::domain::{catalog, inventory}; use self::model;",
        ),
        ("domain/cart/model.rs", "use super::CartError;"),
        (
            "domain/cart/mod.rs",
            "mod tests { use super::*; fn f() { super::helper(); } }",
        ),
        ("domain/cart/mod.rs", "use crate::core::{Clock, TestClock};"),
        ("jobs/queue.rs", "use crate::{core::JobId, storage::Table};"),
        (
            "domain/cart/model.rs",
            "pub(super) const T: Table<u8, u8> = Table::new(\"t\");",
        ),
    ];
    for (rel, src) in fine {
        assert_eq!(
            violations(rel, src, &may),
            Vec::<String>::new(),
            "{rel}: `{src}`"
        );
    }
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
