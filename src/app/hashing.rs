//! Password hashing on two threads of its own.
//!
//! Argon2id takes 19 MiB of memory per hash. Run on the runtime's blocking pool, each
//! of its many threads would keep its own allocator arena holding such a block after
//! a burst of logins (hundreds of MiB of resident memory that is never given back);
//! two dedicated threads keep it to two blocks, and also bound the CPU a login storm
//! can take from everything else on a small machine.

use std::sync::{Mutex, OnceLock, mpsc};
use std::thread;

type Job = Box<dyn FnOnce() + Send>;

/// Threads that hash; more would not help on the 2-core machines we size for.
const HASHING_THREADS: usize = 2;

fn queue() -> &'static mpsc::Sender<Job> {
    static QUEUE: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = std::sync::Arc::new(Mutex::new(receiver));
        for index in 0..HASHING_THREADS {
            let receiver = receiver.clone();
            let spawned = thread::Builder::new()
                .name(format!("carebook-hash-{index}"))
                .spawn(move || {
                    loop {
                        let job = match receiver.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a password hashing thread");
            }
        }
        sender
    })
}

/// Runs `work` on a hashing thread; `None` if it could not run.
pub(crate) async fn on_hashing_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = answer.send(work());
    });
    queue().send(job).ok()?;
    answered.await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_the_hashing_threads_and_each_caller_gets_its_answer() {
        let (a, b, c) = tokio::join!(
            on_hashing_thread(|| (thread::current().name().map(str::to_owned), 1)),
            on_hashing_thread(|| (thread::current().name().map(str::to_owned), 2)),
            on_hashing_thread(|| (thread::current().name().map(str::to_owned), 3)),
        );
        for (answer, expected) in [(a, 1), (b, 2), (c, 3)] {
            let (name, value) = answer.expect("answered");
            assert_eq!(value, expected);
            assert!(name.is_some_and(|n| n.starts_with("carebook-hash-")));
        }
    }
}
