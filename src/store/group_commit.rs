//! Group commit for SQLite: durable writes from many requests share one transaction and one
//! `fsync`.
//!
//! With `synchronous = FULL` every commit waits for the disk, typically milliseconds; one commit
//! per request would cap durable writes (audit records, payment callbacks) at a few hundred a
//! second. Here a single writer task takes every write queued while the previous batch was
//! committing, runs each inside its own savepoint of one `BEGIN IMMEDIATE` transaction (so one
//! failing write does not undo the others), commits once, and only then answers each caller. A
//! caller still learns of its write only after it is on disk; the chained audit log stays in
//! order because one task writes it.

use std::future::Future;
use std::pin::Pin;

use sqlx::SqliteConnection;
use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// A boxed future borrowing the batch's connection.
pub type ConnFuture<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// Most writes committed together; more wait for the next batch.
const MAX_BATCH: usize = 512;
/// Writes queued before callers wait for room (backpressure instead of unbounded memory).
const MAX_QUEUED: usize = 8192;

/// What a write leaves for its caller once its batch is committed or lost.
struct Finish {
    /// Whether the write's own statements succeeded (else they are rolled back to its savepoint).
    ok: bool,
    /// Hands the caller its result, given the batch's fate.
    deliver: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
}

type Job = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> ConnFuture<'c, Finish> + Send>;

/// The queue in front of the writer task.
pub struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the writer task on the current runtime.
    pub fn start(pool: SqlitePool) -> GroupCommit {
        let (queue, jobs) = mpsc::channel(MAX_QUEUED);
        tokio::spawn(run(pool, jobs));
        GroupCommit { queue }
    }

    /// Runs `write` in the next batch and returns its result once the batch is durably committed.
    /// `write` must not begin or end transactions itself.
    pub async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> ConnFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let result = write(conn).await;
                Finish {
                    ok: result.is_ok(),
                    deliver: Box::new(move |batch: Result<(), StoreError>| {
                        let _ = answer.send(batch.and(result));
                    }),
                }
            })
        });
        self.queue
            .send(job)
            .await
            .map_err(|_| StoreError::NotWritten)?;
        answered.await.map_err(|_| StoreError::NotWritten)?
    }
}

async fn run(pool: SqlitePool, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (finishes, outcome) = commit_batch(&pool, batch.drain(..)).await;
        if let Err(e) = &outcome {
            tracing::error!(error = %e, writes = finishes.len(), "a batch of durable writes failed");
        }
        for finish in finishes {
            let result = match &outcome {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::BatchFailed(e.to_string())),
            };
            (finish.deliver)(result);
        }
    }
}

/// Runs the jobs in one transaction; returns the finishes of those that ran and whether the
/// commit succeeded. A job that never ran is dropped, and its caller learns the write was lost.
async fn commit_batch(
    pool: &SqlitePool,
    jobs: impl Iterator<Item = Job>,
) -> (Vec<Finish>, Result<(), sqlx::Error>) {
    let mut finishes = Vec::new();
    let mut conn = match pool.acquire().await {
        Ok(c) => c,
        Err(e) => return (finishes, Err(e)),
    };
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        return (finishes, Err(e));
    }
    let mut failed = None;
    for job in jobs {
        if let Err(e) = sqlx::query("SAVEPOINT write").execute(&mut *conn).await {
            failed = Some(e);
            break;
        }
        let finish = job(&mut conn).await;
        let end = if finish.ok {
            "RELEASE write"
        } else {
            "ROLLBACK TO write; RELEASE write"
        };
        finishes.push(finish);
        if let Err(e) = sqlx::raw_sql(end).execute(&mut *conn).await {
            failed = Some(e);
            break;
        }
    }
    let outcome = match failed {
        Some(e) => Err(e),
        None => sqlx::query("COMMIT").execute(&mut *conn).await.map(|_| ()),
    };
    if outcome.is_err() {
        // Leave the pooled connection clean; the error to report is the first one.
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    }
    (finishes, outcome)
}
