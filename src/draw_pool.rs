//! A fixed set of drawing threads, one per core.
//!
//! Drawing a chart is CPU work of a few milliseconds with a few MB of buffers.
//! On tokio's blocking pool those buffers land on whichever of its many
//! threads runs the job, and glibc gives each thread its own malloc arena that
//! keeps freed pages, so peak RSS grew with how the jobs happened to spread.
//! A fixed pool keeps drawing on `n` threads and their memory on `n` arenas.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct DrawPool {
    jobs: Sender<Job>,
}

impl DrawPool {
    /// Starts `threads` (at least one) drawing threads; they end when the pool
    /// is dropped and the jobs already queued are done.
    pub(crate) fn new(threads: usize) -> std::io::Result<DrawPool> {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("draw-{i}"))
                .spawn(move || work(&queue))?;
        }
        Ok(DrawPool { jobs })
    }

    /// Runs `job` on a drawing thread. A panic in it comes back as an error
    /// ("panicked: " and the panic's message) and leaves the thread serving.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let wrapped: Job = Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(job)).map_err(|panic| {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(std::string::ToString::to_string)
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                format!("panicked: {message}")
            });
            let _ = tx.send(result);
        });
        self.jobs
            .send(wrapped)
            .map_err(|_| "the drawing threads have stopped".to_string())?;
        rx.await
            .map_err(|_| "a drawing thread stopped".to_string())?
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job.
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return, // the pool was dropped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_named_threads_and_panics_come_back_as_errors() {
        let pool = DrawPool::new(2).unwrap();
        let names: Vec<String> = futures::future::join_all(
            (0..8).map(|_| pool.run(|| std::thread::current().name().unwrap_or("").to_string())),
        )
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        assert!(
            names.iter().all(|n| n == "draw-0" || n == "draw-1"),
            "{names:?}"
        );
        let err = pool
            .run(|| -> u32 { panic!("a broken chart") })
            .await
            .unwrap_err();
        assert_eq!(err, "panicked: a broken chart");
        // Both threads still serve after the panic.
        let sum: u32 = futures::future::join_all((1..=4).map(|i| pool.run(move || i)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .sum();
        assert_eq!(sum, 10);
    }
}
