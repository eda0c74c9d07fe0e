//! Group commit for SQLite: durable writes from many requests share one transaction and one
//! `fsync`.
//!
//! With `synchronous = FULL` every commit waits for the disk, typically milliseconds; one commit
//! per request would cap durable writes (audit records, payment callbacks) at a few hundred a
//! second. Here a single writer task takes every write queued while the previous batch was
//! committing, runs them in one `BEGIN IMMEDIATE` transaction, commits once, and only then
//! answers each caller. A caller still learns of its write only after it is on disk.
//!
//! Two kinds of write are queued. A general write runs inside its own savepoint, so one failing
//! write does not undo the others. An audit record is only data: the batch's records are
//! appended together (the chain head read once, the hashes computed in memory, one multi-row
//! `INSERT`), because each statement is a round trip to the connection's own thread and the
//! audit record is on the path of every personal-data request. The chained audit log stays in
//! order because one task writes it, in queue order, and `BEGIN IMMEDIATE` keeps other
//! processes on the same file out until the commit.

use std::future::Future;
use std::pin::Pin;

use sqlx::SqliteConnection;
use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use crate::audit::{AuditEvent, AuditRecord};

/// A boxed future borrowing the batch's connection.
pub type ConnFuture<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// Appends audit records, in the order given, to the chain on the batch's connection, inside its
/// transaction (the store's chain append, with the store's chain key). On an error, rows it
/// inserted must be rolled back.
pub type AppendAudit = Box<
    dyn for<'c> Fn(
            &'c mut SqliteConnection,
            Vec<AuditEvent>,
        ) -> ConnFuture<'c, Result<Vec<AuditRecord>, StoreError>>
        + Send
        + Sync,
>;

/// Most writes committed together; more wait for the next batch.
const MAX_BATCH: usize = 512;
/// Writes queued before callers wait for room (backpressure instead of unbounded memory).
const MAX_QUEUED: usize = 8192;

/// Hands a caller its result, given the batch's fate (`Ok` once committed).
type Deliver = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// What a general write leaves for its caller once its batch is committed or lost.
struct Finish {
    /// Whether the write's own statements succeeded (else they are rolled back to its savepoint).
    ok: bool,
    /// Hands the caller its result.
    deliver: Deliver,
}

type Job = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> ConnFuture<'c, Finish> + Send>;

/// One queued write.
enum Queued {
    /// A general write, run in its own savepoint.
    Write(Job),
    /// An audit record to append, and where its caller waits for it.
    Audit(AuditEvent, oneshot::Sender<Result<AuditRecord, StoreError>>),
}

/// The queue in front of the writer task.
pub struct GroupCommit {
    queue: mpsc::Sender<Queued>,
}

impl GroupCommit {
    /// Starts the writer task on the current runtime; it appends audit records with
    /// `append_audit`.
    pub fn start<F>(pool: SqlitePool, append_audit: F) -> GroupCommit
    where
        F: for<'c> Fn(
                &'c mut SqliteConnection,
                Vec<AuditEvent>,
            ) -> ConnFuture<'c, Result<Vec<AuditRecord>, StoreError>>
            + Send
            + Sync
            + 'static,
    {
        let (queue, queued) = mpsc::channel(MAX_QUEUED);
        tokio::spawn(run(pool, Box::new(append_audit), queued));
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
        self.enqueue(Queued::Write(job), answered).await
    }

    /// Appends `event` to the audit chain in the next batch and returns its record once the batch
    /// is durably committed.
    pub async fn append_audit(&self, event: AuditEvent) -> Result<AuditRecord, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.enqueue(Queued::Audit(event, answer), answered).await
    }

    async fn enqueue<T>(
        &self,
        queued: Queued,
        answered: oneshot::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.queue
            .send(queued)
            .await
            .map_err(|_| StoreError::NotWritten)?;
        // A dropped answer means the write never ran: it is not written.
        answered.await.map_err(|_| StoreError::NotWritten)?
    }
}

async fn run(pool: SqlitePool, append_audit: AppendAudit, mut queued: mpsc::Receiver<Queued>) {
    // A pool of one connection (an in-memory database) must let readers in between batches.
    let keep_connection = pool.options().get_max_connections() > 1;
    let mut kept = None;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queued.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut conn = match kept.take() {
            Some(conn) => conn,
            None => match pool.acquire().await {
                Ok(conn) => conn,
                Err(e) => {
                    // Dropping the batch tells each caller its write was not written.
                    tracing::error!(error = %e, writes = batch.len(), "a batch of durable writes failed");
                    batch.clear();
                    continue;
                }
            },
        };
        let (delivers, outcome) = commit_batch(&mut conn, &append_audit, batch.drain(..)).await;
        let failed = outcome.is_err();
        deliver(delivers, outcome);
        // The writer keeps its connection: drawing and returning a pooled connection costs round
        // trips to its thread, and its statement cache holds the batch inserts of every size.
        // After a failure a fresh one is drawn.
        if keep_connection && !failed {
            kept = Some(conn);
        }
    }
}

/// Answers the callers of a batch: `Ok` only if it committed.
fn deliver(delivers: Vec<Deliver>, outcome: Result<(), StoreError>) {
    if let Err(e) = &outcome {
        tracing::error!(error = %e, writes = delivers.len(), "a batch of durable writes failed");
    }
    for deliver in delivers {
        let result = match &outcome {
            Ok(()) => Ok(()),
            Err(e) => Err(StoreError::BatchFailed(e.to_string())),
        };
        deliver(result);
    }
}

/// Runs the batch in one transaction; returns how to answer each write that ran and whether the
/// commit succeeded. A write that never ran is dropped, and its caller learns it was not written.
async fn commit_batch(
    conn: &mut SqliteConnection,
    append_audit: &AppendAudit,
    batch: impl Iterator<Item = Queued>,
) -> (Vec<Deliver>, Result<(), StoreError>) {
    let mut jobs = Vec::new();
    let mut events = Vec::new();
    let mut answers = Vec::new();
    for queued in batch {
        match queued {
            Queued::Write(job) => jobs.push(job),
            Queued::Audit(event, answer) => {
                events.push(event);
                answers.push(answer);
            }
        }
    }
    let mut delivers: Vec<Deliver> = Vec::with_capacity(jobs.len() + answers.len());
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        return (delivers, Err(e.into()));
    }
    let mut failed = None;
    if !events.is_empty() {
        // Alone in the batch, failed records are undone with the whole transaction; next to
        // general writes, a savepoint keeps those.
        let alone = jobs.is_empty();
        match append_audits(conn, append_audit, events, answers, alone).await {
            Ok(appended) => delivers.extend(appended),
            Err(e) => failed = Some(e),
        }
    }
    if failed.is_none() {
        for job in jobs {
            if let Err(e) = sqlx::query("SAVEPOINT write").execute(&mut *conn).await {
                failed = Some(e.into());
                break;
            }
            let finish = job(&mut *conn).await;
            let end = if finish.ok {
                "RELEASE write"
            } else {
                "ROLLBACK TO write; RELEASE write"
            };
            delivers.push(finish.deliver);
            if let Err(e) = sqlx::raw_sql(end).execute(&mut *conn).await {
                failed = Some(e.into());
                break;
            }
        }
    }
    let outcome = match failed {
        Some(e) => Err(e),
        None => sqlx::query("COMMIT")
            .execute(&mut *conn)
            .await
            .map(|_| ())
            .map_err(StoreError::from),
    };
    if outcome.is_err() {
        // Leave the pooled connection clean; the error to report is the first one.
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    }
    (delivers, outcome)
}

/// Appends the batch's audit records and returns how to answer their callers. When the append
/// fails, each caller is answered with the error; if the records are `alone` in the batch the
/// error is also returned, so that the transaction is rolled back, else they are rolled back to
/// a savepoint and the batch goes on.
async fn append_audits(
    conn: &mut SqliteConnection,
    append_audit: &AppendAudit,
    events: Vec<AuditEvent>,
    answers: Vec<oneshot::Sender<Result<AuditRecord, StoreError>>>,
    alone: bool,
) -> Result<Vec<Deliver>, StoreError> {
    if !alone {
        sqlx::query("SAVEPOINT audit").execute(&mut *conn).await?;
    }
    match append_audit(&mut *conn, events).await {
        Ok(records) => {
            if !alone {
                sqlx::query("RELEASE audit").execute(&mut *conn).await?;
            }
            Ok(answers
                .into_iter()
                .zip(records)
                .map(|(answer, record)| -> Deliver {
                    Box::new(move |batch: Result<(), StoreError>| {
                        let _ = answer.send(batch.map(|()| record));
                    })
                })
                .collect())
        }
        Err(e) => {
            let reason = e.to_string();
            for answer in answers {
                let _ = answer.send(Err(StoreError::BatchFailed(reason.clone())));
            }
            if alone {
                return Err(e);
            }
            sqlx::raw_sql("ROLLBACK TO audit; RELEASE audit")
                .execute(&mut *conn)
                .await?;
            tracing::error!(error = %e, "a batch of audit records failed");
            Ok(Vec::new())
        }
    }
}
