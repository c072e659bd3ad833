//! The error answers every operation shares, added to the OpenAPI document by rule from what
//! the operation declares (bearer security, path and query parameters, a JSON body, a rate
//! limit), so no handler can forget one and a generated client knows every status it can meet.

use serde_json::{Value, json};

/// A status, when it applies, and what it means there.
struct Rule {
    status: &'static str,
    applies: fn(&Op) -> bool,
    description: &'static str,
}

/// What the rules look at in one operation.
struct Op<'a> {
    path: &'a str,
    method: &'a str,
    value: &'a Value,
}

impl Op<'_> {
    fn has_param(&self, location: &str) -> bool {
        self.value["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == location))
    }
    fn has_json_body(&self) -> bool {
        self.value["requestBody"]["content"]
            .as_object()
            .is_some_and(|c| c.contains_key("application/json"))
    }
    fn has_body(&self) -> bool {
        self.value.get("requestBody").is_some()
    }
    fn bearer(&self) -> bool {
        self.value["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()))
    }
    fn api(&self) -> bool {
        self.path.starts_with("/api/")
    }
    fn staff_only(&self) -> bool {
        self.path.starts_with("/api/v1/admin/")
    }
    fn rate_limited(&self) -> bool {
        self.path.starts_with("/api/v1/auth/")
            || (matches!(self.path, "/api/v1/me" | "/api/v1/me/password") && self.method != "get")
    }
}

const RULES: &[Rule] = &[
    Rule {
        status: "400",
        applies: |o| o.has_param("query") || o.has_json_body(),
        description: "Malformed request: unknown or repeated query parameter, or a body that is not JSON (`malformed_request`)",
    },
    Rule {
        status: "401",
        applies: |o| o.bearer(),
        description: "Missing, invalid, expired or revoked credentials (`unauthenticated`, `invalid_token`)",
    },
    Rule {
        status: "403",
        applies: |o| o.staff_only(),
        description: "Signed in without the role or API-key scope this needs (`forbidden`)",
    },
    Rule {
        status: "404",
        applies: |o| o.has_param("path"),
        description: "No such object, or not yours (`not_found`)",
    },
    Rule {
        status: "413",
        applies: |o| o.has_body(),
        description: "Body larger than `server.body_limit` (`payload_too_large`)",
    },
    Rule {
        status: "415",
        applies: |o| o.has_body(),
        description: "Body sent with another content type (`unsupported_media_type`)",
    },
    Rule {
        status: "422",
        applies: |o| o.has_param("query") || o.has_json_body(),
        description: "Valid JSON or parameters with invalid values; `errors` names each field (`validation_failed`)",
    },
    Rule {
        status: "429",
        applies: |o| o.rate_limited(),
        description: "Too many requests from this network or for this account; see `Retry-After` (`rate_limited`)",
    },
    Rule {
        status: "500",
        applies: |o| o.api(),
        description: "Unexpected server fault; nothing half-written (`internal_error`)",
    },
    Rule {
        status: "503",
        applies: |o| o.api(),
        description: "Storage unavailable; nothing was saved, retry later (`storage_unavailable`)",
    },
];

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// Adds the shared problem answers to every operation of `doc` (an OpenAPI document as JSON)
/// that lacks them, and gives every answer a description, which OpenAPI requires.
pub(super) fn apply(doc: &mut Value) {
    if let Some(code) = doc.pointer_mut("/components/schemas/Problem/properties/code") {
        let names: Vec<Value> = crate::core::errors::TABLE
            .iter()
            .map(|c| Value::String(c.name.to_owned()))
            .collect();
        code["enum"] = Value::Array(names);
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            let Some(op) = item.get_mut(method) else {
                continue;
            };
            let add: Vec<&Rule> = {
                let view = Op {
                    path,
                    method,
                    value: op,
                };
                RULES.iter().filter(|r| (r.applies)(&view)).collect()
            };
            let Some(responses) = op
                .as_object_mut()
                .map(|o| o.entry("responses").or_insert_with(|| json!({})))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            for rule in add {
                responses
                    .entry(rule.status)
                    .or_insert_with(|| problem(rule.description));
            }
            for (status, response) in responses.iter_mut() {
                describe(status, response);
            }
        }
    }
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

fn describe(status: &str, response: &mut Value) {
    let Some(obj) = response.as_object_mut() else {
        return;
    };
    let blank = obj
        .get("description")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if blank {
        let reason = status
            .parse::<u16>()
            .ok()
            .and_then(|s| actix_web::http::StatusCode::from_u16(s).ok())
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Answer");
        obj.insert("description".into(), Value::String(reason.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_what_an_operation_declares() {
        let mut doc = json!({"paths": {
            "/api/v1/admin/things/{id}": {"put": {
                "parameters": [{"name": "id", "in": "path"}],
                "requestBody": {"content": {"application/json": {}}},
                "security": [{"bearer": []}],
                "responses": {"200": {"description": ""}, "409": {"description": "Taken"}}
            }},
            "/api/v1/things": {"get": {"responses": {"200": {"description": "List"}}}}
        }});
        apply(&mut doc);
        let put = &doc["paths"]["/api/v1/admin/things/{id}"]["put"]["responses"];
        let mut got: Vec<&String> = put
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        got.sort();
        assert_eq!(
            got,
            [
                "200", "400", "401", "403", "404", "409", "413", "415", "422", "500", "503"
            ]
        );
        assert_eq!(put["200"]["description"], "OK");
        assert_eq!(put["409"]["description"], "Taken");
        let get = &doc["paths"]["/api/v1/things"]["get"]["responses"];
        let mut got: Vec<&String> = get
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        got.sort();
        assert_eq!(got, ["200", "500", "503"]);
    }
}
