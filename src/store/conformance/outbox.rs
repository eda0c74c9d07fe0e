//! [`Outbox`](crate::store::Outbox): retries, giving up and replay, and claims that are exclusive
//! and leased across replicas.

use super::{Backend, insert, settle};
use crate::store::{OutboxCounts, PaymentStatus};

/// The backlog as `(pending, failed, oldest pending written at)`.
async fn backlog(s: &dyn crate::store::Store) -> (i64, i64, Option<i64>) {
    let OutboxCounts {
        pending,
        failed,
        oldest_pending_ms,
    } = s.outbox_backlog().await.unwrap();
    (pending, failed, oldest_pending_ms)
}

conformance!(
    outbox_retries_give_up_and_replay,
    outbox_claims_are_exclusive_and_leased,
);

async fn outbox_retries_give_up_and_replay(backend: &Backend) {
    let s = backend.open().await;
    assert_eq!(backlog(s.as_ref()).await, (0, 0, None));
    insert(s.as_ref(), "p1", "R1").await;
    s.settle(&settle("p1", PaymentStatus::Expired, None))
        .await
        .unwrap();
    let ev = s.outbox_due(10, 10).await.unwrap().remove(0);
    assert_eq!(
        backlog(s.as_ref()).await,
        (1, 0, Some(ev.created_at_ms)),
        "a retried event is still pending"
    );
    s.outbox_attempt_failed(&ev.id, "503", Some(100))
        .await
        .unwrap();
    assert!(s.outbox_due(10, 10).await.unwrap().is_empty());
    assert_eq!(s.outbox_due(100, 10).await.unwrap()[0].attempts, 1);
    s.outbox_attempt_failed(&ev.id, "503", None).await.unwrap();
    assert_eq!(backlog(s.as_ref()).await, (0, 1, None));
    assert!(s.outbox_due(i64::MAX, 10).await.unwrap().is_empty());
    assert_eq!(s.outbox_by_state("failed", 10).await.unwrap().len(), 1);
    assert!(s.outbox_replay(&ev.id, 200).await.unwrap());
    assert!(!s.outbox_replay(&ev.id, 200).await.unwrap());
    assert_eq!(backlog(s.as_ref()).await, (1, 0, Some(ev.created_at_ms)));
    s.outbox_delivered(&ev.id, 201).await.unwrap();
    assert_eq!(s.outbox_by_state("delivered", 10).await.unwrap().len(), 1);
    assert_eq!(backlog(s.as_ref()).await, (0, 0, None));
}

async fn outbox_claims_are_exclusive_and_leased(backend: &Backend) {
    const EVENTS: usize = 40;
    let (a, b) = tokio::join!(backend.open(), backend.open());
    for n in 0..EVENTS {
        let id = format!("p{n}");
        insert(a.as_ref(), &id, &format!("R{n}")).await;
        a.settle(&settle(&id, PaymentStatus::Expired, None))
            .await
            .unwrap();
    }
    // Two replicas claiming small batches at once, as their outbox workers do: each event goes to
    // exactly one of them.
    let mut claims = tokio::task::JoinSet::new();
    for store in [a.clone(), b.clone(), a.clone(), b.clone()] {
        claims.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.outbox_claim(10, 1_000, 3).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|e| e.id));
            }
        });
    }
    let mut claimed = Vec::new();
    while let Some(mine) = claims.join_next().await {
        claimed.extend(mine.unwrap());
    }
    let total = claimed.len();
    claimed.sort();
    claimed.dedup();
    assert_eq!(total, EVENTS, "no event claimed twice");
    assert_eq!(claimed.len(), EVENTS, "every event claimed");
    // While the lease runs nobody else gets them, even though none was delivered.
    assert!(b.outbox_claim(1_009, 1_000, 100).await.unwrap().is_empty());
    // The claimants died: when the lease ends the events are due again, for the other replica.
    a.outbox_delivered(&claimed[0], 500).await.unwrap();
    let again = b.outbox_claim(1_010, 1_000, 100).await.unwrap();
    assert_eq!(again.len(), EVENTS - 1, "all but the delivered one");
    assert!(
        again
            .iter()
            .all(|e| e.state == "pending" && e.id != claimed[0])
    );
    // A failed attempt's backoff replaces the lease.
    b.outbox_attempt_failed(&again[0].id, "503", Some(1_500))
        .await
        .unwrap();
    let retried = a.outbox_claim(1_500, 1_000, 100).await.unwrap();
    assert_eq!(
        retried.iter().map(|e| &e.id).collect::<Vec<_>>(),
        [&again[0].id]
    );
}
