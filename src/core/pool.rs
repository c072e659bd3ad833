//! Small dedicated thread pools for CPU-heavy request work (password hashing, search): a fixed
//! number of threads bounds CPU and memory, a bounded FIFO queue serves requests in arrival
//! order (so tail latency stays near the mean instead of every request slowing down together)
//! and sheds load with `Busy` instead of queueing without bound.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Runs CPU-heavy closures off the async workers.
#[derive(Debug)]
pub struct WorkPool {
    tx: Mutex<mpsc::SyncSender<Job>>,
}

/// OS scheduling of a pool's threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Like the request workers.
    Normal,
    /// SCHED_BATCH at nice 10: background-like work (hashing) that must not delay cheap
    /// requests such as `/healthz`.
    Low,
}

/// Why a job did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// The queue is full: shed load instead of queueing without bound.
    Busy,
    /// The pool has stopped.
    Stopped,
    /// The job panicked (a bug); its thread caught it and serves the next job.
    Panicked,
}

impl WorkPool {
    /// Starts `threads` threads (at least one) named `<name>-<i>`, with a queue of `queue`
    /// waiting jobs.
    pub fn new(
        name: &str,
        threads: usize,
        queue: usize,
        priority: Priority,
    ) -> Result<WorkPool, String> {
        let (tx, rx) = mpsc::sync_channel::<Job>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    if priority == Priority::Low {
                        lower_priority();
                    }
                    loop {
                        let job = crate::core::sync::lock(&rx).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => break, // the pool was dropped
                        }
                    }
                })
                .map_err(|e| e.to_string())?;
        }
        Ok(WorkPool { tx: Mutex::new(tx) })
    }

    /// Runs `f` on the pool and waits for its result without blocking the async worker;
    /// refuses at once when the queue is full.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let (otx, orx) = oneshot::channel();
        let job: Job = Box::new(move || {
            // A panicking job must not take its thread with it: a pool that lost every
            // thread would refuse all later work until a restart.
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = otx.send(done.map_err(|_| PoolError::Panicked));
        });
        let sent = crate::core::sync::lock(&self.tx).try_send(job);
        match sent {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(_)) => return Err(PoolError::Busy),
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(PoolError::Stopped),
        }
        orx.await.map_err(|_| PoolError::Stopped)?
    }
}

/// SCHED_BATCH at nice 10 for the calling thread (Linux threads have their own policy and nice
/// value): low-priority work never preempts a request worker on wake-up and yields to it under CFS.
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
        let h = WorkPool::new("shopd-test", 2, 4, Priority::Low).expect("pool");
        let name = h
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .ok()
            .flatten();
        assert!(name.is_some_and(|n| n.starts_with("shopd-test-")));
        assert_eq!(h.run(|| 6 * 7).await, Ok(42));
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_threads_live_on() {
        let h = WorkPool::new("shopd-test", 2, 4, Priority::Normal).expect("pool");
        for _ in 0..4 {
            let r = h.run(|| -> u32 { panic!("a bug") }).await;
            assert_eq!(r, Err(PoolError::Panicked));
        }
        assert_eq!(h.run(|| 6 * 7).await, Ok(42), "threads lost to panics");
    }

    #[tokio::test]
    async fn sheds_load_when_the_queue_is_full() {
        let h =
            std::sync::Arc::new(WorkPool::new("shopd-test", 1, 1, Priority::Normal).expect("pool"));
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
