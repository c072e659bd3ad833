//! Commit wake-ups across nodes: every commit NOTIFYs the tables it wrote, and each node
//! LISTENs and wakes its local watchers (the job runner waits on `jobs_ready`), so a job queued
//! on one node starts on another without waiting for the poll. A missed notification only
//! delays work until the next poll.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{Pg, sql};

type Watchers = Arc<Mutex<HashMap<&'static str, watch::Sender<u64>>>>;

/// Starts the listener on the bridge; it reconnects (every second) until the store closes.
pub(crate) fn listen(pg: &Pg, watchers: Watchers) {
    let (config, tls) = (pg.config.clone(), pg.tls.clone());
    pg.bridge.spawn(async move {
        let mut seen: u64 = 0;
        loop {
            if let Err(e) = listen_once(&config, &tls, &watchers, &mut seen).await {
                tracing::debug!(error = %e, "storage: commit listener reconnecting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn listen_once(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
    watchers: &Watchers,
    seen: &mut u64,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tls.clone()).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {}", sql::CHANNEL))
        .await?;
    while let Some(payload) = rx.recv().await {
        *seen += 1;
        let w = crate::core::sync::lock(watchers);
        for name in payload.split(',') {
            if let Some(s) = w.get(name) {
                s.send_replace(*seen);
            }
        }
    }
    driver.abort();
    drop(client);
    Ok(())
}
