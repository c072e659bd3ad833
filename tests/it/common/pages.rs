//! Helpers for page tests: a browser-like client without JavaScript, and readers of the
//! HTML the templates write (attributes, CSRF tokens, forms).

use super::TestApp;

/// A cookie-keeping client that does not follow redirects (tests look at each answer).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Every value of `attr="…"` in `html`, entities decoded the way the templates write them.
pub fn attrs(html: &str, attr: &str) -> Vec<String> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest.find('"').map(|end| unescape(&rest[..end]))
        })
        .collect()
}

pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `_csrf` value of the page's forms.
pub fn csrf(html: &str) -> String {
    let k = "name=\"_csrf\" value=\"";
    let i = html.find(k).expect("a form with _csrf") + k.len();
    html[i..i + html[i..].find('"').expect("end")].to_owned()
}

/// The value of the input named `name` (attributes in any order).
pub fn input(html: &str, name: &str) -> String {
    let k = format!(" name=\"{name}\"");
    let at = html.find(&k).unwrap_or_else(|| panic!("no input {name}"));
    let start = html[..at].rfind('<').expect("tag start");
    let end = at + html[at..].find('>').expect("tag end");
    attrs(&format!("{} ", &html[start..end]), "value")
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// The action of every POST form on the page.
pub fn post_forms(html: &str) -> Vec<String> {
    html.match_indices("<form")
        .filter_map(|(i, _)| {
            let tag = &html[i..i + html[i..].find('>')?];
            tag.contains("method=\"post\"")
                .then(|| attrs(&format!("{tag} "), "action").into_iter().next())
                .flatten()
        })
        .collect()
}

pub async fn page(c: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let r = c.get(app.url(path)).send().await.expect("GET");
    let s = r.status().as_u16();
    (s, r.text().await.expect("body"))
}

pub async fn post(
    c: &reqwest::Client,
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    c.post(app.url(path)).form(form).send().await.expect("POST")
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A guest's paid order, placed through the pages in `c`: one unit of `variant` bought with
/// the test card. Returns the order page's path.
pub async fn buy(c: &reqwest::Client, app: &TestApp, product_path: &str, variant: &str) -> String {
    let (_, html) = page(c, app, product_path).await;
    let token = csrf(&html);
    let r = post(
        c,
        app,
        "/cart/items",
        &[
            ("_csrf", &token),
            ("variant_id", variant),
            ("quantity", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, html) = page(c, app, "/checkout").await;
    let key = input(&html, "key");
    let form = [
        ("_csrf", token.as_str()),
        ("key", key.as_str()),
        ("email", "guest@example.com"),
        ("name", "Gus"),
        ("line1", "1 Main St"),
        ("city", "Springfield"),
        ("postal_code", "62701"),
        ("country", "US"),
    ];
    let r = post(c, app, "/checkout", &form).await;
    assert_eq!(r.status(), 303);
    let pay = location(&r);
    let r = post(
        c,
        app,
        &pay,
        &[
            ("_csrf", &token),
            ("card_number", "4242424242424242"),
            ("expiry", "12/34"),
            ("cvc", "123"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303, "paid");
    location(&r)
}

/// Signs `c` in through the sign-in page.
pub async fn sign_in(c: &reqwest::Client, app: &TestApp, email: &str, password: &str) {
    let (_, html) = page(c, app, "/account/sign-in").await;
    let token = csrf(&html);
    let r = post(
        c,
        app,
        "/account/sign-in",
        &[("_csrf", &token), ("email", email), ("password", password)],
    )
    .await;
    assert_eq!(r.status(), 303, "signed in as {email}");
}
