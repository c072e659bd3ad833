//! The durable job queue: atomic enqueue, dedupe, retries with backoff, dead letters,
//! schedules, per-kind concurrency, crash recovery and graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use shopd::core::{Clock, JobId, TestClock, Timestamp};
use shopd::jobs::{self, JobError, JobOutcome, JobState, NewJob, Runner, RunnerConfig, handler_fn};
use shopd::storage::{StorageError, Store, Table};

const SIDE: Table<String, u64> = Table::new("test_side");

fn open(dir: &std::path::Path, clock: &TestClock) -> Store {
    Store::open(crate::common::backend::store_options(
        dir,
        Arc::new(clock.clone()),
        shopd::storage::SCHEMA_V1,
    ))
    .expect("open")
}

fn config() -> RunnerConfig {
    RunnerConfig {
        workers: 8,
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(60),
        shutdown_timeout: Duration::from_millis(500),
        poll_interval: Duration::from_millis(20),
        retention: Duration::from_secs(3600),
        ..RunnerConfig::default()
    }
}

async fn state_of(store: &Store, id: JobId) -> JobState {
    jobs::get(&store.read().expect("read"), id)
        .expect("get")
        .expect("job exists")
        .state
}

/// Waits (advancing the test clock so backoffs elapse) until `cond` holds.
async fn wait_for(clock: &TestClock, mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        clock.advance(Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached");
}

#[derive(Debug)]
enum E {
    S(#[allow(dead_code)] StorageError),
    Abort,
}
impl From<StorageError> for E {
    fn from(e: StorageError) -> Self {
        E::S(e)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_is_atomic_with_the_business_write_and_dedupes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = TestClock::new(Timestamp::from_millis(10_000_000));
    let store = open(dir.path(), &clock);
    // Rolled back together.
    let r = store
        .write(|tx| {
            tx.insert(&SIDE, &"order".to_string(), &1)?;
            jobs::enqueue(tx, NewJob::new("mail", &"hello")?)?;
            Err::<(), _>(E::Abort)
        })
        .await;
    assert!(matches!(r, Err(E::Abort)));
    assert!(
        jobs::queue_depth(&store)
            .expect("depth")
            .iter()
            .all(|(_, _, n)| *n == 0)
    );
    // Committed together; the same dedupe key yields the same job.
    let (a, b) = store
        .write(|tx| {
            tx.insert(&SIDE, &"order".to_string(), &1)?;
            let a = jobs::enqueue(tx, NewJob::new("mail", &"hello")?.dedupe("order-1"))?;
            let b = jobs::enqueue(tx, NewJob::new("mail", &"hello again")?.dedupe("order-1"))?;
            Ok::<_, E>((a, b))
        })
        .await
        .expect("commit");
    assert!(matches!(a, jobs::Enqueued::Created(_)));
    assert_eq!(b, jobs::Enqueued::Duplicate(a.id()));
    let depth = jobs::queue_depth(&store).expect("depth");
    assert!(
        depth.contains(&(JobState::Ready, "mail".to_string(), 1)),
        "{depth:?}"
    );
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_with_backoff_then_dead_letters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = TestClock::new(Timestamp::from_millis(10_000_000));
    let store = open(dir.path(), &clock);
    let flaky_calls = Arc::new(AtomicUsize::new(0));
    let mut runner = Runner::new(store.clone(), Arc::new(clock.clone()), config());
    let fc = flaky_calls.clone();
    runner.register(
        "flaky",
        4,
        handler_fn(move |ctx| {
            let fc = fc.clone();
            async move {
                let n = fc.fetch_add(1, Ordering::SeqCst) + 1;
                assert_eq!(ctx.attempt as usize, n);
                if n < 3 {
                    Err(JobError::retry("not yet"))
                } else {
                    Ok(JobOutcome::Done)
                }
            }
        }),
    );
    runner.register(
        "broken",
        4,
        handler_fn(|_| async { Err(JobError::retry("always")) }),
    );
    runner.register(
        "fatal",
        4,
        handler_fn(|_| async { Err(JobError::permanent("bad payload")) }),
    );
    let running = runner.start();
    let (flaky, broken, fatal) = store
        .write(|tx| {
            let a = jobs::enqueue(tx, NewJob::new("flaky", &1)?)?.id();
            let b = jobs::enqueue(tx, NewJob::new("broken", &1)?.max_attempts(4))?.id();
            let c = jobs::enqueue(tx, NewJob::new("fatal", &1)?)?.id();
            Ok::<_, StorageError>((a, b, c))
        })
        .await
        .expect("enqueue");
    let s = store.clone();
    wait_for(&clock, || {
        let r = s.read().expect("read");
        let done = |id| jobs::get(&r, id).ok().flatten().map(|j| j.state);
        done(flaky) == Some(JobState::Done)
            && done(broken) == Some(JobState::Dead)
            && done(fatal) == Some(JobState::Dead)
    })
    .await;
    assert_eq!(flaky_calls.load(Ordering::SeqCst), 3);
    let r = store.read().expect("read");
    let b = jobs::get(&r, broken).expect("get").expect("job");
    assert_eq!(b.attempts, 4);
    assert_eq!(b.last_error.as_deref(), Some("always"));
    let f = jobs::get(&r, fatal).expect("get").expect("job");
    assert_eq!(f.attempts, 1, "permanent errors are not retried");
    drop(r);
    // A dead job can be put back by an operator.
    let again = store
        .write(move |tx| jobs::retry_dead(tx, broken))
        .await
        .expect("retry");
    assert!(again);
    let s = store.clone();
    wait_for(&clock, || {
        jobs::get(&s.read().expect("read"), broken)
            .ok()
            .flatten()
            .is_some_and(|j| j.state == JobState::Dead && j.attempts == 4)
    })
    .await;
    running.shutdown().await;
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_jobs_wait_for_their_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = TestClock::new(Timestamp::from_millis(10_000_000));
    let store = open(dir.path(), &clock);
    let mut runner = Runner::new(store.clone(), Arc::new(clock.clone()), config());
    runner.register("later", 1, handler_fn(|_| async { Ok(JobOutcome::Done) }));
    runner.register("now", 1, handler_fn(|_| async { Ok(JobOutcome::Done) }));
    let running = runner.start();
    let at = clock.now().plus(Duration::from_secs(3600));
    let id = store
        .write(move |tx| {
            Ok::<_, StorageError>(jobs::enqueue(tx, NewJob::new("later", &())?.run_at(at))?.id())
        })
        .await
        .expect("enqueue");
    // A due job enqueued afterwards runs: the runner has looked at the queue since, without
    // time passing on the test clock (no sleep standing in for "long enough").
    let marker = store
        .write(|tx| Ok::<_, StorageError>(jobs::enqueue(tx, NewJob::new("now", &())?)?.id()))
        .await
        .expect("enqueue");
    for _ in 0..500 {
        if state_of(&store, marker).await == JobState::Done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(state_of(&store, marker).await, JobState::Done);
    assert_eq!(
        state_of(&store, id).await,
        JobState::Ready,
        "ran before its time"
    );
    clock.advance(Duration::from_secs(3601));
    let s = store.clone();
    wait_for(&clock, || {
        jobs::get(&s.read().expect("read"), id)
            .ok()
            .flatten()
            .map(|j| j.state)
            == Some(JobState::Done)
    })
    .await;
    running.shutdown().await;
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_kind_concurrency_is_respected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = TestClock::new(Timestamp::from_millis(10_000_000));
    let store = open(dir.path(), &clock);
    let now = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let mut runner = Runner::new(store.clone(), Arc::new(clock.clone()), config());
    let (n2, m2) = (now.clone(), max.clone());
    runner.register(
        "slow",
        2,
        handler_fn(move |_| {
            let (n, m) = (n2.clone(), m2.clone());
            async move {
                let c = n.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(c, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                n.fetch_sub(1, Ordering::SeqCst);
                Ok(JobOutcome::Done)
            }
        }),
    );
    let fast_done = Arc::new(AtomicUsize::new(0));
    let fd = fast_done.clone();
    runner.register(
        "fast",
        8,
        handler_fn(move |_| {
            let fd = fd.clone();
            async move {
                fd.fetch_add(1, Ordering::SeqCst);
                Ok(JobOutcome::Done)
            }
        }),
    );
    let running = runner.start();
    store
        .write(|tx| {
            for i in 0..10 {
                jobs::enqueue(tx, NewJob::new("slow", &i)?)?;
                jobs::enqueue(tx, NewJob::new("fast", &i)?)?;
            }
            Ok::<_, StorageError>(())
        })
        .await
        .expect("enqueue");
    let s = store.clone();
    wait_for(&clock, || {
        jobs::queue_depth(&s)
            .expect("depth")
            .iter()
            .filter(|(st, _, _)| *st == JobState::Done)
            .map(|(_, _, n)| *n)
            .sum::<u64>()
            == 20
    })
    .await;
    assert_eq!(max.load(Ordering::SeqCst), 2, "slow kind limit is 2");
    assert_eq!(fast_done.load(Ordering::SeqCst), 10);
    running.shutdown().await;
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_jobs_are_recovered_and_completion_effects_apply_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = TestClock::new(Timestamp::from_millis(10_000_000));
    let id;
    {
        let store = open(dir.path(), &clock);
        let mut runner = Runner::new(store.clone(), Arc::new(clock.clone()), config());
        // Never finishes: simulates a process dying mid-job.
        runner.register(
            "effect",
            1,
            handler_fn(|_| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(JobOutcome::Done)
            }),
        );
        let running = runner.start();
        id = store
            .write(|tx| {
                Ok::<_, StorageError>(jobs::enqueue(tx, NewJob::new("effect", &"k")?)?.id())
            })
            .await
            .expect("enqueue");
        let s = store.clone();
        wait_for(&clock, || {
            jobs::get(&s.read().expect("read"), id)
                .ok()
                .flatten()
                .map(|j| j.state)
                == Some(JobState::InFlight)
        })
        .await;
        running.shutdown().await; // times out after 500 ms, job stays in flight
        assert_eq!(state_of(&store, id).await, JobState::InFlight);
        store.shutdown().await;
    }
    // The aborted job task drops its store handle asynchronously; wait for the lock.
    let mut reopened = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Ok(s) = Store::open(crate::common::backend::store_options(
            dir.path(),
            Arc::new(clock.clone()),
            shopd::storage::SCHEMA_V1,
        )) {
            reopened = Some(s);
            break;
        }
    }
    let store = reopened.expect("store reopens once the old process is gone");
    assert_eq!(jobs::recover(&store, "local").await.expect("recover"), 1);
    assert_eq!(state_of(&store, id).await, JobState::Ready);
    let mut runner = Runner::new(store.clone(), Arc::new(clock.clone()), config());
    runner.register(
        "effect",
        1,
        handler_fn(|_| async {
            Ok(JobOutcome::DoneWith(Box::new(|tx| {
                let n =
                    shopd::storage::Reader::get(tx, &SIDE, &"applied".to_string())?.unwrap_or(0);
                tx.insert(&SIDE, &"applied".to_string(), &(n + 1))
            })))
        }),
    );
    let running = runner.start();
    let s = store.clone();
    wait_for(&clock, || {
        jobs::get(&s.read().expect("read"), id)
            .ok()
            .flatten()
            .map(|j| j.state)
            == Some(JobState::Done)
    })
    .await;
    let applied =
        shopd::storage::Reader::get(&store.read().expect("read"), &SIDE, &"applied".to_string())
            .expect("get");
    assert_eq!(applied, Some(1));
    assert_eq!(
        jobs::get(&store.read().expect("read"), id)
            .expect("get")
            .expect("job")
            .attempts,
        2
    );
    running.shutdown().await;
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_lets_running_jobs_finish() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = TestClock::new(Timestamp::from_millis(10_000_000));
    let store = open(dir.path(), &clock);
    let mut runner = Runner::new(store.clone(), Arc::new(clock.clone()), config());
    let started = Arc::new(tokio::sync::Notify::new());
    let st = started.clone();
    runner.register(
        "slowish",
        1,
        handler_fn(move |_| {
            let st = st.clone();
            async move {
                st.notify_one();
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(JobOutcome::Done)
            }
        }),
    );
    let running = runner.start();
    let id = store
        .write(|tx| Ok::<_, StorageError>(jobs::enqueue(tx, NewJob::new("slowish", &())?)?.id()))
        .await
        .expect("enqueue");
    started.notified().await;
    running.shutdown().await;
    assert_eq!(state_of(&store, id).await, JobState::Done);
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kinds_and_saturated_kinds_do_not_block_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = TestClock::new(Timestamp::from_millis(10_000_000));
    let store = open(dir.path(), &clock);
    // 300 jobs of a kind this build has no handler for sit at the head of the queue.
    let (orphan, wanted) = store
        .write(|tx| {
            let mut first = None;
            for i in 0..300 {
                let id = jobs::enqueue(tx, NewJob::new("from.the.future", &i)?)?.id();
                first.get_or_insert(id);
            }
            let w = jobs::enqueue(tx, NewJob::new("known", &())?)?.id();
            Ok::<_, StorageError>((first.expect("some"), w))
        })
        .await
        .expect("enqueue");
    let mut runner = Runner::new(store.clone(), Arc::new(clock.clone()), config());
    runner.register("known", 1, handler_fn(|_| async { Ok(JobOutcome::Done) }));
    let running = runner.start();
    let s = store.clone();
    // No clock advance: the known job must get through on its own.
    let mut done = false;
    for _ in 0..300 {
        if jobs::get(&s.read().expect("read"), wanted)
            .expect("get")
            .map(|j| j.state)
            == Some(JobState::Done)
        {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(done, "known job starved behind unknown kinds");
    let o = jobs::get(&store.read().expect("read"), orphan)
        .expect("get")
        .expect("job");
    assert_eq!(o.state, JobState::Ready, "unknown kinds are kept, not lost");
    assert_eq!(o.attempts, 0);
    assert!(
        o.last_error
            .as_deref()
            .is_some_and(|e| e.contains("no handler")),
        "{o:?}"
    );
    assert!(
        o.run_at > clock.now(),
        "pushed back so it stops blocking the head"
    );
    running.shutdown().await;
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_panicking_before_its_future_does_not_leak_its_slot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = TestClock::new(Timestamp::from_millis(10_000_000));
    let store = open(dir.path(), &clock);
    let mut runner = Runner::new(store.clone(), Arc::new(clock.clone()), config());
    // Concurrency 1: if a panic leaked the slot, nothing after it would ever run.
    runner.register(
        "touchy",
        1,
        handler_fn(|ctx| {
            if ctx.attempt == 1 {
                panic!("synchronous panic in handler setup");
            }
            async { Ok(JobOutcome::Done) }
        }),
    );
    let running = runner.start();
    let ids = store
        .write(|tx| {
            let mut v = Vec::new();
            for i in 0..3 {
                v.push(jobs::enqueue(tx, NewJob::new("touchy", &i)?)?.id());
            }
            Ok::<_, StorageError>(v)
        })
        .await
        .expect("enqueue");
    let s = store.clone();
    wait_for(&clock, || {
        let r = s.read().expect("read");
        ids.iter()
            .all(|id| jobs::get(&r, *id).ok().flatten().map(|j| j.state) == Some(JobState::Done))
    })
    .await;
    for id in ids {
        let j = jobs::get(&store.read().expect("read"), id)
            .expect("get")
            .expect("job");
        assert_eq!(j.attempts, 2);
    }
    running.shutdown().await;
    store.shutdown().await;
}
