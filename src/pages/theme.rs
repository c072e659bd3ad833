//! The theme: page templates (`web/templates/`) and static assets (`web/assets/`) embedded in
//! the binary, each overridable file by file from `<data_dir>/theme/templates/` and
//! `<data_dir>/theme/assets/`, so a merchant restyles without rebuilding. Read once at start.
//! Assets are served under content-hashed names (`shopd.3f2a9c1b.css`) with a one-year
//! immutable cache lifetime: a changed file gets a new name, so no browser keeps a stale one.

use std::collections::HashMap;
use std::path::Path;

use minijinja::Environment;
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

use crate::core::secret::hex;

#[derive(RustEmbed)]
#[folder = "web/templates/"]
struct EmbeddedTemplates;

#[derive(RustEmbed)]
#[folder = "web/assets/"]
struct EmbeddedAssets;

/// At most this many override files are read from a theme folder (a guard against a wrong path).
const MAX_THEME_FILES: usize = 2_000;
/// Largest asset file a theme may hold.
const MAX_ASSET_BYTES: u64 = 5 * 1024 * 1024;

/// One asset, ready to serve.
#[derive(Debug)]
pub struct Asset {
    /// The bytes (shared: serving clones a pointer).
    pub body: actix_web::web::Bytes,
    /// `Content-Type`.
    pub mime: String,
    /// Quoted ETag (the content hash).
    pub etag: String,
}

/// Assets by logical name (`shopd.css`) and by served name (`shopd.3f2a9c1b.css`).
#[derive(Debug, Default)]
pub struct AssetMap {
    by_served: HashMap<String, Asset>,
    served_name: HashMap<String, String>,
}

impl AssetMap {
    /// The URL path of a logical asset name; unknown names pass through unhashed so a theme
    /// template naming a missing file gets a 404 rather than a render error.
    pub fn url(&self, logical: &str) -> String {
        match self.served_name.get(logical) {
            Some(s) => format!("/assets/{s}"),
            None => format!("/assets/{logical}"),
        }
    }

    /// The asset served under `name`: hashed names, and logical names too (product images in
    /// the catalog name `/assets/demo/mug.svg`).
    pub fn get(&self, name: &str) -> Option<&Asset> {
        self.by_served.get(name).or_else(|| {
            self.served_name
                .get(name)
                .and_then(|s| self.by_served.get(s))
        })
    }

    /// Whether `name` is a content-hashed name (cacheable for ever).
    pub fn is_hashed(&self, name: &str) -> bool {
        self.by_served.contains_key(name) && !self.served_name.contains_key(name)
    }

    fn insert(&mut self, logical: &str, body: Vec<u8>) {
        let digest = Sha256::digest(&body);
        let short = hex(&digest[..4]);
        let served = match logical.rsplit_once('.') {
            Some((stem, ext)) if !stem.ends_with('/') => format!("{stem}.{short}.{ext}"),
            _ => format!("{logical}.{short}"),
        };
        let mime = mime_guess::from_path(logical)
            .first_or_octet_stream()
            .to_string();
        let asset = Asset {
            body: body.into(),
            mime,
            etag: format!("\"{}\"", hex(&digest[..8])),
        };
        if let Some(old) = self.served_name.insert(logical.to_owned(), served.clone()) {
            self.by_served.remove(&old);
        }
        self.by_served.insert(served, asset);
    }
}

/// Files under `dir` as (relative path with `/`, bytes), bounded in count and size.
fn theme_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if out.len() >= MAX_THEME_FILES {
                tracing::warn!(dir = %dir.display(), "theme folder has too many files; the rest are ignored");
                return out;
            }
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let too_big = e.metadata().map_or(true, |m| m.len() > MAX_ASSET_BYTES);
            let rel = p
                .strip_prefix(dir)
                .ok()
                .and_then(|r| r.to_str())
                .map(|r| r.replace('\\', "/"));
            match (rel, too_big) {
                (Some(rel), false) => match std::fs::read(&p) {
                    Ok(bytes) => out.push((rel, bytes)),
                    Err(err) => tracing::warn!(path = %p.display(), %err, "theme file unreadable"),
                },
                _ => tracing::warn!(path = %p.display(), "theme file skipped (name or size)"),
            }
        }
    }
    out
}

/// The embedded assets, then the theme's overrides and additions.
pub fn load_assets(theme: Option<&Path>) -> AssetMap {
    let mut map = AssetMap::default();
    for name in EmbeddedAssets::iter() {
        if let Some(f) = EmbeddedAssets::get(&name) {
            map.insert(&name, f.data.into_owned());
        }
    }
    if let Some(dir) = theme.map(|t| t.join("assets")) {
        for (rel, bytes) in theme_files(&dir) {
            map.insert(&rel, bytes);
        }
    }
    map
}

/// Every template source by name: embedded, then the theme's.
pub fn template_sources(theme: Option<&Path>) -> Result<Vec<(String, String)>, String> {
    let mut by_name: HashMap<String, String> = HashMap::new();
    for name in EmbeddedTemplates::iter() {
        let f = EmbeddedTemplates::get(&name).ok_or_else(|| format!("no template {name}"))?;
        let text = String::from_utf8(f.data.into_owned())
            .map_err(|_| format!("template {name} is not UTF-8"))?;
        by_name.insert(name.into_owned(), text);
    }
    if let Some(dir) = theme.map(|t| t.join("templates")) {
        for (rel, bytes) in theme_files(&dir) {
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("theme template {rel} is not UTF-8"))?;
            tracing::info!(template = %rel, "theme template overrides the built-in one");
            by_name.insert(rel, text);
        }
    }
    let mut v: Vec<_> = by_name.into_iter().collect();
    v.sort();
    Ok(v)
}

/// The theme's files (templates and assets) as `templates/…` and `assets/…`, for the admin.
pub fn overridden(theme: Option<&Path>) -> Vec<String> {
    let Some(t) = theme else {
        return Vec::new();
    };
    let mut out: Vec<String> = ["templates", "assets"]
        .iter()
        .flat_map(|d| {
            theme_files(&t.join(d))
                .into_iter()
                .map(move |(rel, _)| format!("{d}/{rel}"))
        })
        .collect();
    out.sort();
    out
}

/// Adds every template to `env`, failing with the file and line of the first syntax error so a
/// broken theme stops start-up instead of breaking pages later.
pub fn add_templates(
    env: &mut Environment<'static>,
    sources: Vec<(String, String)>,
) -> Result<(), String> {
    for (name, text) in sources {
        env.add_template_owned(name.clone(), text)
            .map_err(|e| format!("template {name}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_follow_content_and_theme_overrides_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        let built_in = load_assets(None);
        let css = built_in.url("shopd.css");
        assert!(css.starts_with("/assets/shopd.") && css.ends_with(".css") && css.len() > 20);
        std::fs::create_dir_all(dir.path().join("assets")).expect("mkdir");
        std::fs::write(dir.path().join("assets/shopd.css"), "body{color:red}").expect("write");
        let themed = load_assets(Some(dir.path()));
        let themed_css = themed.url("shopd.css");
        assert_ne!(css, themed_css, "a changed file gets a new name");
        let served = themed_css.trim_start_matches("/assets/");
        assert_eq!(
            themed.get(served).map(|a| &a.body[..]),
            Some(&b"body{color:red}"[..])
        );
        assert!(themed.get(css.trim_start_matches("/assets/")).is_none());
        assert_eq!(
            themed.get("shopd.css").map(|a| a.mime.as_str()),
            Some("text/css")
        );
    }

    #[test]
    fn a_theme_template_replaces_the_built_in_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("templates")).expect("mkdir");
        std::fs::write(dir.path().join("templates/robots.txt"), "mine").expect("write");
        let src = template_sources(Some(dir.path())).expect("sources");
        let robots = src.iter().find(|(n, _)| n == "robots.txt").expect("robots");
        assert_eq!(robots.1, "mine");
        assert!(src.iter().any(|(n, _)| n == "base.html"));
    }
}
