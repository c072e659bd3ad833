//! Structured logs via `tracing`: human-readable on a terminal, JSON lines otherwise.

use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Target of the WARN line that replaces actix's ERROR for a request its parser refused.
pub const CLIENT_FAULT_TARGET: &str = "shopd::http::refused";

/// Installs the global subscriber. `format` is `auto`, `human` or `json`; `level` is a filter
/// (overridden by `RUST_LOG` when set). Calling it twice is harmless.
pub fn init(format: &str, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        "json" => true,
        "human" => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let not_client_fault = filter_fn(|m| !is_parser_refusal(m));
    // ClientFaults goes outermost: layers see an event inner-first, so the fmt layer has
    // dropped the original before ClientFaults logs its replacement (emitting while an inner
    // per-layer filter is still deciding would confuse that filter's state).
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry
            .with(
                fmt.json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_filter(not_client_fault),
            )
            .with(ClientFaults)
            .try_init()
    } else {
        registry
            .with(fmt.compact().with_filter(not_client_fault))
            .with(ClientFaults)
            .try_init()
    };
}

/// actix-http logs a request its HTTP/1 parser refuses (bad header, broken chunking) at ERROR,
/// before any route or middleware sees it: any client could fill the error log with them.
fn is_parser_refusal(m: &Metadata<'_>) -> bool {
    *m.level() == Level::ERROR && m.target().starts_with("actix_http::h1")
}

/// Re-logs each parser refusal at WARN under [`CLIENT_FAULT_TARGET`]: still visible, never an
/// error. (The fmt layer's filter drops the original.) This needs the global dispatcher, which
/// `init` installs: a scoped one drops events emitted while it is dispatching.
struct ClientFaults;

impl<S: Subscriber> Layer<S> for ClientFaults {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !is_parser_refusal(event.metadata()) {
            return;
        }
        let mut msg = Message(String::new());
        event.record(&mut msg);
        tracing::warn!(target: CLIENT_FAULT_TARGET, reason = %msg.0, "request refused by the HTTP parser");
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The only test of this binary that installs the global subscriber (the layout `init`
    /// builds, with a buffer as writer).
    #[test]
    fn a_parser_refusal_is_logged_at_warn_not_error() {
        let buf = Buf::default();
        let out = buf.clone();
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(move || out.clone())
            .json()
            .with_filter(filter_fn(|m| !is_parser_refusal(m)));
        tracing_subscriber::registry()
            .with(EnvFilter::new("info"))
            .with(fmt)
            .with(ClientFaults)
            .try_init()
            .expect("first global subscriber");
        std::thread::spawn(|| {
            tracing::error!(target: "actix_http::h1::dispatcher", "stream error: request parse error: invalid Header provided");
            tracing::error!(target: "shopd::other", "a real error");
        })
        .join()
        .expect("join");
        let text = String::from_utf8(buf.0.lock().expect("lock").clone()).expect("utf8");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let refused: Vec<_> = lines
            .iter()
            .filter(|l| l["target"] == CLIENT_FAULT_TARGET)
            .collect();
        assert_eq!(refused.len(), 1, "{text}");
        assert_eq!(refused[0]["level"], "WARN");
        assert!(
            refused[0]["fields"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("invalid Header"))
        );
        assert!(
            !lines
                .iter()
                .any(|l| l["target"] == "actix_http::h1::dispatcher"),
            "{text}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l["target"] == "shopd::other" && l["level"] == "ERROR")
        );
    }
}
