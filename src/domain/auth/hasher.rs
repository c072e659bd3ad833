//! A small dedicated pool for password hashing: a fixed number of threads (bounding CPU and the
//! ~19 MiB each argon2id hash allocates), running at lower OS priority so request workers
//! preempt them and `/healthz` stays fast while logins hash.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Runs CPU-heavy closures off the async workers.
#[derive(Debug)]
pub struct Hasher {
    tx: Mutex<mpsc::SyncSender<Job>>,
}

/// Why a job did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// The queue is full: shed load instead of queueing without bound.
    Busy,
    /// The pool has stopped.
    Stopped,
}

impl Hasher {
    /// Starts `threads` hashing threads (at least one) with a queue of `queue` waiting jobs.
    pub fn new(threads: usize, queue: usize) -> Result<Hasher, String> {
        let (tx, rx) = mpsc::sync_channel::<Job>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("shopd-hash-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(p) => p.into_inner().recv(),
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => break, // the Hasher was dropped
                        }
                    }
                })
                .map_err(|e| e.to_string())?;
        }
        Ok(Hasher { tx: Mutex::new(tx) })
    }

    /// Runs `f` on the pool and waits for its result without blocking the async worker;
    /// refuses at once when the queue is full.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let (otx, orx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = otx.send(f());
        });
        let sent = match self.tx.lock() {
            Ok(tx) => tx.try_send(job),
            Err(p) => p.into_inner().try_send(job),
        };
        match sent {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(_)) => return Err(PoolError::Busy),
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(PoolError::Stopped),
        }
        orx.await.map_err(|_| PoolError::Stopped)
    }
}

/// SCHED_BATCH at nice 10 for the calling thread (Linux threads have their own policy and nice
/// value): hashing never preempts a request worker on wake-up and yields to it under CFS.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid, sched_setscheduler and setpriority only read their arguments (a valid
    // sched_param on the stack); failure is harmless and leaves the default priority.
    #[allow(unsafe_code)]
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::pid_t;
        let param = libc::sched_param { sched_priority: 0 };
        let _ = libc::sched_setscheduler(tid, libc::SCHED_BATCH, &param);
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_on_the_pool() {
        let h = Hasher::new(2, 4).expect("pool");
        let name = h
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .ok()
            .flatten();
        assert!(name.is_some_and(|n| n.starts_with("shopd-hash-")));
        assert_eq!(h.run(|| 6 * 7).await, Ok(42));
    }

    #[tokio::test]
    async fn sheds_load_when_the_queue_is_full() {
        let h = std::sync::Arc::new(Hasher::new(1, 1).expect("pool"));
        let (block_tx, block_rx) = std::sync::mpsc::channel::<()>();
        let h1 = h.clone();
        let busy = tokio::spawn(async move { h1.run(move || block_rx.recv().is_ok()).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await; // thread now blocked
        let h2 = h.clone();
        let queued = tokio::spawn(async move { h2.run(|| 1).await }); // fills the queue
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(h.run(|| 2).await, Err(PoolError::Busy));
        block_tx.send(()).expect("unblock");
        assert_eq!(busy.await.expect("join"), Ok(true));
        assert_eq!(queued.await.expect("join"), Ok(1));
    }
}
