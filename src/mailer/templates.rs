//! Mail templates: `web/mail/<name>.txt` (first line `Subject: …`) and `<name>.html`, embedded in
//! the binary; a file of the same name under `<data_dir>/templates/mail/` overrides each.

use std::path::PathBuf;

use minijinja::{AutoEscape, Environment};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "web/mail/"]
struct Embedded;

/// A rendered mail.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// The template set, with optional overrides.
#[derive(Debug, Clone)]
pub struct Templates {
    override_dir: Option<PathBuf>,
}

impl Templates {
    /// Embedded templates, overridden by files in `override_dir` when present.
    pub fn new(override_dir: Option<PathBuf>) -> Self {
        Templates { override_dir }
    }

    fn source(&self, file: &str) -> Result<String, String> {
        if let Some(dir) = &self.override_dir {
            let p = dir.join(file);
            if p.is_file() {
                return std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()));
            }
        }
        let f = Embedded::get(file).ok_or_else(|| format!("no template {file}"))?;
        String::from_utf8(f.data.into_owned()).map_err(|_| format!("{file} is not UTF-8"))
    }

    /// Names of the embedded templates.
    pub fn names() -> Vec<String> {
        let mut v: Vec<String> = Embedded::iter()
            .filter_map(|f| f.strip_suffix(".txt").map(str::to_owned))
            .collect();
        v.sort();
        v
    }

    /// Renders `name` with `vars`.
    pub fn render(&self, name: &str, vars: &serde_json::Value) -> Result<Rendered, String> {
        if !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err("invalid template name".into());
        }
        let text_src = self.source(&format!("{name}.txt"))?;
        let html_src = self.source(&format!("{name}.html"))?;
        let mut env = Environment::new();
        env.set_auto_escape_callback(|n| {
            if n.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.add_template_owned(format!("{name}.txt"), text_src)
            .map_err(|e| e.to_string())?;
        env.add_template_owned(format!("{name}.html"), html_src)
            .map_err(|e| e.to_string())?;
        let text = env
            .get_template(&format!("{name}.txt"))
            .and_then(|t| t.render(vars))
            .map_err(|e| e.to_string())?;
        let html = env
            .get_template(&format!("{name}.html"))
            .and_then(|t| t.render(vars))
            .map_err(|e| e.to_string())?;
        let (first, body) = text.split_once('\n').unwrap_or((&text, ""));
        let subject = first
            .strip_prefix("Subject:")
            .ok_or("the .txt template must start with `Subject: …`")?
            .trim()
            .to_owned();
        Ok(Rendered {
            subject,
            text: body.trim_start_matches('\n').to_owned(),
            html,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_template_renders_with_escaping() {
        let t = Templates::new(None);
        let names = Templates::names();
        for n in [
            "reset_password",
            "verify_email",
            "welcome",
            "order_confirmation",
            "order_shipped",
            "order_cancelled",
        ] {
            assert!(names.contains(&n.to_string()), "{n} missing");
        }
        for n in names {
            let r = t
                .render(&n, &serde_json::json!({"name": "<b>Ann</b>", "link": "https://shop.test/x?a=1&b=2", "shop_name": "Shop", "expires_in": "1 hour",
                    "order_id": "ord_1", "lines": [{"title": "Tee", "variant_title": "M", "quantity": 2, "unit_price": "10.00 USD", "total": "20.00 USD"}],
                    "subtotal": "20.00 USD", "shipping": "5.00 USD", "tax": "0.00 USD", "total": "25.00 USD",
                    "extra": {"carrier": "DHL", "tracking_number": "123"}}))
                .unwrap_or_else(|e| panic!("{n}: {e}"));
            assert!(!r.subject.is_empty());
            if n == "verify_email" {
                // Goes to unverified addresses: must not echo attacker-chosen names.
                assert!(!r.text.contains("Ann") && !r.html.contains("Ann"));
                continue;
            }
            assert!(r.text.contains("<b>Ann</b>"), "text is not escaped");
            assert!(
                r.html.contains("&lt;b&gt;Ann") && !r.html.contains("<b>Ann"),
                "html is escaped"
            );
        }
    }

    #[test]
    fn data_dir_overrides_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("welcome.txt"),
            "Subject: Hi {{ name }}\n\nCustom",
        )
        .expect("write");
        let t = Templates::new(Some(dir.path().to_path_buf()));
        let r = t
            .render(
                "welcome",
                &serde_json::json!({"name": "Bo", "shop_name": "S", "link": "l"}),
            )
            .expect("render");
        assert_eq!(r.subject, "Hi Bo");
        assert_eq!(r.text, "Custom");
        assert!(
            r.html.contains("Bo"),
            "html falls back to the embedded template"
        );
    }
}
