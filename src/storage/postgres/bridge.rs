//! The storage boundary is synchronous (reads and write closures return values, as redb's do),
//! while the PostgreSQL driver is async. The bridge runs the driver on a runtime of its own and
//! blocks the calling thread on the answer, so a call never needs the caller's runtime and can
//! never wait for a thread it is itself blocking.

use std::future::Future;
use std::sync::Mutex;

use tokio::runtime::{Handle, Runtime};

use crate::storage::StorageError;

/// A small runtime that owns every PostgreSQL connection of the store.
pub(crate) struct Bridge {
    runtime: Mutex<Option<Runtime>>,
    handle: Handle,
}

impl Bridge {
    /// Starts the runtime (two threads: the driver's work is I/O, not CPU).
    pub(crate) fn new() -> std::io::Result<Bridge> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("shopd-pg")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        Ok(Bridge {
            runtime: Mutex::new(Some(runtime)),
            handle,
        })
    }

    /// Runs `fut` on the bridge and waits for it on this thread (never call it from a bridge
    /// thread).
    pub(crate) fn run<T, F>(&self, fut: F) -> Result<T, StorageError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().map_err(|_| StorageError::WriterStopped)
    }

    /// Runs `fut` on the bridge without waiting for it.
    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle.spawn(fut);
    }
}

/// Where a write batch's statements run.
#[derive(Clone, Copy)]
pub(crate) enum Driver<'a> {
    /// The shared bridge (migrations at start-up).
    Bridge(&'a Bridge),
    /// A current-thread runtime owned by the waiting thread (the writer), which also drives
    /// the connection: a statement then costs no hand-off between threads, only the round trip.
    Local(&'a Runtime),
}

impl Driver<'_> {
    /// Runs `fut` and waits for it on this thread.
    pub(crate) fn run<T, F>(&self, fut: F) -> Result<T, StorageError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        match self {
            Driver::Bridge(b) => b.run(fut),
            Driver::Local(rt) => Ok(rt.block_on(fut)),
        }
    }
}

impl Drop for Bridge {
    /// Stops the runtime without waiting, so the last store handle may go away anywhere,
    /// inside another runtime included; connections close with it.
    fn drop(&mut self) {
        if let Some(rt) = crate::core::sync::lock(&self.runtime).take() {
            rt.shutdown_background();
        }
    }
}
