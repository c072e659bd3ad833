//! Several real shopd processes on one PostgreSQL database, requests spread round-robin: the
//! guarantees one node gives hold across nodes. PostgreSQL leg of the suite only (the embedded
//! store is one node by construction).

use crate::common;

use std::time::{Duration, Instant};

use common::Proc;
use serde_json::{Value, json};

/// Nodes on one database, each with its own data dir.
struct Cluster {
    nodes: Vec<Proc>,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start(n: usize) -> Cluster {
        Self::start_with(n, &[])
    }

    fn start_with(n: usize, env: &[(&str, &str)]) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let dirs: Vec<std::path::PathBuf> = (0..n)
            .map(|i| dir.path().join(format!("node{i}")))
            .collect();
        let refs: Vec<&std::path::Path> = dirs.iter().map(|d| d.as_path()).collect();
        common::backend::share_database(&refs);
        let nodes = dirs.iter().map(|d| Proc::serve(d, env)).collect();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .expect("client");
        Cluster {
            nodes,
            client,
            _dir: dir,
        }
    }

    fn node(&self, i: usize) -> &Proc {
        &self.nodes[i % self.nodes.len()]
    }

    async fn admin(&self, i: usize, method: reqwest::Method, path: &str, body: Value) -> Value {
        let n = self.node(i);
        let r = self
            .client
            .request(method, n.url(path))
            .bearer_auth(&n.admin_token)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.expect("json")
    }

    /// A product with one variant and `stock` units; returns (product id, variant id).
    async fn product(&self, title: &str, sku: &str, stock: i64) -> (String, String) {
        let p = self
            .admin(
                0,
                reqwest::Method::POST,
                "/api/v1/admin/products",
                json!({
                "title": title, "status": "active",
                "variants": [{"sku": sku, "price": {"amount": 1500, "currency": "USD"}}]}),
            )
            .await;
        let v = p["variants"][0]["id"].as_str().expect("variant").to_owned();
        self.admin(
            1,
            reqwest::Method::PUT,
            &format!("/api/v1/admin/variants/{v}/stock"),
            json!({"on_hand": stock}),
        )
        .await;
        (p["id"].as_str().expect("id").to_owned(), v)
    }

    /// A cart made on node `i` with one unit of `variant`; returns its token.
    async fn cart(&self, i: usize, variant: &str) -> String {
        let n = self.node(i);
        let r = self
            .client
            .post(n.url("/api/v1/cart"))
            .json(&json!({}))
            .send()
            .await
            .expect("cart");
        assert_eq!(r.status(), 201);
        let token = r.json::<Value>().await.expect("json")["cart_token"]
            .as_str()
            .expect("token")
            .to_owned();
        let r = self
            .client
            .post(n.url("/api/v1/cart/items"))
            .header("X-Cart-Token", &token)
            .json(&json!({"variant_id": variant, "quantity": 1}))
            .send()
            .await
            .expect("add");
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        token
    }

    /// Checks out `cart` on node `i`: the status and the order id when one was placed.
    async fn checkout(&self, i: usize, cart: &str, key: &str) -> (u16, Option<String>) {
        let (status, body) = self
            .checkout_as(
                i,
                cart,
                key,
                &common::shop::checkout_body("node@example.com"),
            )
            .await;
        (status, body["id"].as_str().map(str::to_owned))
    }

    /// Checks out `cart` on node `i` with `body`: the status and the answer.
    async fn checkout_as(&self, i: usize, cart: &str, key: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.node(i).url("/api/v1/checkout"))
            .header("X-Cart-Token", cart)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("checkout");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Applies a discount code to `cart` on node `i`.
    async fn add_code(&self, i: usize, cart: &str, code: &str) {
        let r = self
            .client
            .post(self.node(i).url("/api/v1/cart/discounts"))
            .header("X-Cart-Token", cart)
            .json(&json!({"code": code}))
            .send()
            .await
            .expect("code");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }

    fn stop(self) {
        for n in self.nodes {
            assert_eq!(n.terminate().code(), Some(0));
        }
    }
}

/// Runs `f(cluster, i, cart)` for every cart, 100 at a time; the answers in cart order.
async fn in_rounds<T, F, Fut>(c: &std::sync::Arc<Cluster>, carts: &[String], f: F) -> Vec<T>
where
    F: Fn(std::sync::Arc<Cluster>, usize, String) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut out = Vec::with_capacity(carts.len());
    for (round, chunk) in carts.chunks(100).enumerate() {
        let tasks: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(j, cart)| tokio::spawn(f(c.clone(), round * 100 + j, cart.clone())))
            .collect();
        for t in tasks {
            out.push(t.await.expect("join"));
        }
    }
    out
}

/// 1,000 checkouts of the last 10 units, spread over 3 nodes, 100 at a time: exactly 10
/// orders, every other answer a clear 409; a replay of an acknowledged checkout on each other
/// node returns the same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_sell_ten_units_once_and_replay_orders_across_nodes() {
    if !common::backend::is_postgres() {
        return; // one node by construction on the embedded store
    }
    let c = std::sync::Arc::new(Cluster::start(3));
    let (_, variant) = c.product("Last Ten", "LAST-10", 10).await;
    let mut carts = Vec::new();
    for i in 0..1000 {
        carts.push(c.cart(i, &variant).await);
    }
    let results = in_rounds(&c, &carts, |c, i, cart| async move {
        let key = format!("k-{i}");
        let (status, order) = c.checkout(i + 1, &cart, &key).await;
        (i, cart, key, status, order)
    })
    .await;
    let placed: Vec<_> = results.iter().filter(|r| r.3 == 201).collect();
    assert_eq!(placed.len(), 10, "exactly the ten units are sold");
    let others: std::collections::BTreeMap<u16, usize> = results
        .iter()
        .filter(|r| r.3 != 201)
        .fold(Default::default(), |mut m, r| {
            *m.entry(r.3).or_default() += 1;
            m
        });
    assert_eq!(
        others,
        [(409, 990)].into(),
        "every other checkout is refused clearly"
    );
    // Replays of an acknowledged checkout on the two other nodes return the same order.
    let (i, cart, key, _, order) = placed[0].clone();
    for other in [i + 2, i + 3] {
        let (status, replayed) = c.checkout(other, &cart, &key).await;
        assert_eq!(
            (status, &replayed),
            (201, &order),
            "replay on node {}",
            other % 3
        );
    }
    let orders = c
        .admin(
            2,
            reqwest::Method::GET,
            "/api/v1/admin/orders?per_page=100",
            Value::Null,
        )
        .await;
    assert_eq!(orders["data"].as_array().map(Vec::len), Some(10));
    match std::sync::Arc::try_unwrap(c) {
        Ok(c) => c.stop(),
        Err(_) => panic!("cluster still shared"),
    }
}

/// A product created and then renamed through node 1 is found under its new name by search on
/// node 3: each node's index follows the catalog's change feed. Prints how long it took.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_on_one_node_is_searchable_on_another() {
    if !common::backend::is_postgres() {
        return; // one node by construction on the embedded store
    }
    let c = Cluster::start(3);
    let (id, _) = c.product("Plain Mug", "MUG-1", 5).await;
    let found = |word: &'static str| {
        let c = &c;
        async move {
            let r = c
                .client
                .get(c.node(2).url(&format!("/api/v1/search?q={word}")))
                .send()
                .await
                .expect("search");
            let body: Value = r.json().await.expect("json");
            body["total"].as_u64().unwrap_or(0) > 0
        }
    };
    let wait = |word: &'static str| async move {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            if found(word).await {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    };
    assert!(
        wait("plain").await.is_some(),
        "the new product is found on node 3"
    );
    let edited = Instant::now();
    c.admin(
        0,
        reqwest::Method::PUT,
        &format!("/api/v1/admin/products/{id}"),
        json!({"title": "Speckled Mug", "status": "active",
               "variants": [{"sku": "MUG-1", "price": {"amount": 1500, "currency": "USD"}}]}),
    )
    .await;
    let took = wait("speckled").await.map(|_| edited.elapsed());
    println!("edit on node 1 searchable on node 3 after {took:?}");
    assert!(took.is_some(), "the edit is found on node 3");
    assert!(
        !found("plain").await,
        "the old title is gone from node 3's index"
    );

    // On PostgreSQL the CLI runs beside the nodes, from a data directory of its own: its
    // import writes under the same cluster lock, and every node's index follows.
    let scratch = tempfile::tempdir().expect("tempdir");
    let url = std::fs::read_to_string(c._dir.path().join("node0/.test-database")).expect("url");
    common::backend::use_database(scratch.path(), url.trim());
    let out = common::backend::shopd(scratch.path())
        .args(["import", "products"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/fixtures/shopify_products.csv"
        ))
        .arg("--data-dir")
        .arg(scratch.path())
        .output()
        .expect("import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        wait("ocean").await.is_some(),
        "the imported product is found on node 3"
    );
    c.stop();
}

/// A code with 100 uses, tried by 300 checkouts spread over 3 nodes, is carried by exactly 100
/// orders; and every order confirmation a node queues is sent exactly once, whichever node's
/// worker takes the mail job.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_code_keeps_its_100_uses_and_each_mail_goes_once_across_nodes() {
    if !common::backend::is_postgres() {
        return; // one node by construction on the embedded store
    }
    let mail_dir = tempfile::tempdir().expect("tempdir");
    let sink = common::SmtpSink::start(mail_dir.path());
    let port = sink.port.to_string();
    let env = [
        ("SHOPD_MAIL_SMTP_HOST", "127.0.0.1"),
        ("SHOPD_MAIL_SMTP_PORT", port.as_str()),
        ("SHOPD_MAIL_SMTP_SECURITY", "none"),
        ("SHOPD_MAIL_SMTP_TIMEOUT_SECS", "2"),
        ("SHOPD_MAIL_FROM", "Test Shop <shop@shopd.test>"),
    ];
    let c = std::sync::Arc::new(Cluster::start_with(3, &env));
    let (_, variant) = c.product("Coded", "CODED-1", 1000).await;
    c.admin(
        1,
        reqwest::Method::POST,
        "/api/v1/admin/promotions",
        json!({"name": "First hundred", "code": "HUNDRED", "usage_limit": 100,
               "effect": {"type": "fixed", "amount": {"amount": 100, "currency": "USD"}}}),
    )
    .await;
    let mut carts = Vec::new();
    for i in 0..300 {
        let cart = c.cart(i, &variant).await;
        c.add_code(i + 1, &cart, "hundred").await;
        carts.push(cart);
    }
    let mut with_code = 0;
    let mut refused = 0;
    let answers = in_rounds(&c, &carts, |c, i, cart| async move {
        let body = common::shop::checkout_body(&format!("coded{i}@example.com"));
        c.checkout_as(i + 2, &cart, &format!("code-{i}"), &body)
            .await
    })
    .await;
    for (status, body) in answers {
        match status {
            201 => {
                assert_eq!(body["totals"]["discount"]["amount"], 100, "{body}");
                with_code += 1;
            }
            409 => {
                assert_eq!(body["code"], "promotion_unavailable", "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((with_code, refused), (100, 200));

    // Free digital orders are paid at once, and each queues its confirmation mail.
    let free = c
        .admin(
            0,
            reqwest::Method::POST,
            "/api/v1/admin/products",
            json!({
            "title": "Free Guide", "status": "active", "variants": [{
                "option_values": [], "requires_shipping": false, "track_inventory": false,
                "price": {"amount": 0, "currency": "USD"}}]}),
        )
        .await;
    let free = free["variants"][0]["id"]
        .as_str()
        .expect("variant")
        .to_owned();
    const ORDERS: usize = 30;
    for i in 0..ORDERS {
        let cart = c.cart(i, &free).await;
        let body = json!({"email": format!("reader{i}@example.com"), "billing_address": {
            "name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London",
            "country": "GB"}});
        let (status, order) = c
            .checkout_as(i + 1, &cart, &format!("free-{i}"), &body)
            .await;
        assert_eq!((status, &order["status"]), (201, &json!("paid")), "{order}");
    }
    let readers = || {
        sink.messages()
            .into_iter()
            .filter_map(|m| common::header(&m, "To"))
            .filter(|to| to.contains("reader"))
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while readers().len() < ORDERS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Late duplicates would arrive within the workers' next polls.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut got = readers();
    got.sort();
    let mut want: Vec<String> = (0..ORDERS)
        .map(|i| format!("reader{i}@example.com"))
        .collect();
    want.sort();
    let got: Vec<String> = got
        .iter()
        .map(|to| {
            to.trim_matches(|ch| ch == '<' || ch == '>')
                .rsplit('<')
                .next()
                .unwrap_or(to)
                .trim_end_matches('>')
                .to_owned()
        })
        .collect();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, want, "one confirmation per order, none twice");
    drop(sink);
    match std::sync::Arc::try_unwrap(c) {
        Ok(c) => c.stop(),
        Err(_) => panic!("cluster still shared"),
    }
}
