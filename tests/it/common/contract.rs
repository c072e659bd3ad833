//! The contract check: every answer a test receives is held against the server's own OpenAPI
//! document — the status must be documented for the route, and a JSON body must match the
//! documented schema — so the document cannot drift from what the server does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};
use shopd::http::middleware::{Tap, TapRecord};

/// Collects contract failures of one test app; dropping it with failures fails the test.
pub struct Contract {
    failures: Arc<Mutex<Vec<String>>>,
    checked: Arc<std::sync::atomic::AtomicU64>,
}

impl Contract {
    /// A fresh collector and the tap that feeds it.
    pub fn new() -> (Contract, Tap) {
        let failures = Arc::new(Mutex::new(Vec::new()));
        let checked = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (f, c) = (failures.clone(), checked.clone());
        let tap: Tap = Arc::new(move |rec: TapRecord| {
            if let Some(why) = check(&rec) {
                f.lock().unwrap_or_else(|p| p.into_inner()).push(why);
            }
            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        (Contract { failures, checked }, tap)
    }

    /// Answers checked so far.
    pub fn checked(&self) -> u64 {
        self.checked.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Failures so far.
    pub fn failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for Contract {
    fn drop(&mut self) {
        let failures = self.failures();
        if !failures.is_empty() && !std::thread::panicking() {
            panic!(
                "{} answer(s) differ from the OpenAPI document:\n{}",
                failures.len(),
                failures.join("\n")
            );
        }
    }
}

struct Doc {
    doc: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn doc() -> &'static Doc {
    static DOC: OnceLock<Doc> = OnceLock::new();
    DOC.get_or_init(|| Doc {
        doc: serde_json::to_value(shopd::http::docs::openapi()).expect("document serialises"),
        validators: Mutex::new(HashMap::new()),
    })
}

/// Why `rec` breaks the contract, if it does.
pub fn check(rec: &TapRecord) -> Option<String> {
    let route = rec.route.as_deref()?;
    let d = doc();
    let method = rec.method.to_ascii_lowercase();
    let op = d.doc["paths"].get(route)?.get(&method)?;
    let what = format!("{} {route} → {}", rec.method, rec.status);
    let responses = &op["responses"];
    let Some(response) = responses
        .get(rec.status.to_string())
        .or_else(|| responses.get("default"))
    else {
        return Some(format!("{what}: status not documented"));
    };
    if rec.body.is_empty() {
        return None;
    }
    let media = rec
        .content_type
        .as_deref()
        .and_then(|c| c.split(';').next())
        .unwrap_or("")
        .trim()
        .to_owned();
    if !media.ends_with("json") {
        return None;
    }
    let Some(content) = response["content"].get(&media) else {
        return Some(format!("{what}: content type {media} not documented"));
    };
    let Some(schema) = content.get("schema") else {
        return Some(format!("{what}: {media} documented without a schema"));
    };
    let body: Value = match serde_json::from_slice(&rec.body) {
        Ok(v) => v,
        Err(e) => return Some(format!("{what}: body is not JSON: {e}")),
    };
    let key = format!("{route} {method} {} {media}", rec.status);
    let validator = {
        let mut cache = d.validators.lock().unwrap_or_else(|p| p.into_inner());
        match cache.get(&key) {
            Some(v) => v.clone(),
            None => {
                let mut root = schema.clone();
                if let Some(o) = root.as_object_mut() {
                    o.insert("components".into(), d.doc["components"].clone());
                } else {
                    root = json!({"allOf": [schema], "components": d.doc["components"]});
                }
                match jsonschema::draft202012::new(&root) {
                    Ok(v) => cache.entry(key).or_insert(Arc::new(v)).clone(),
                    Err(e) => {
                        return Some(format!("{what}: documented schema does not compile: {e}"));
                    }
                }
            }
        }
    };
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        None
    } else {
        let mut shown = body.to_string();
        shown.truncate(300);
        Some(format!("{what}: {}; body {shown}", errors.join("; ")))
    }
}
