//! [`IdempotencyKeys`](crate::store::IdempotencyKeys): replay, refusal, expiry, and one claim of a
//! key across replicas.

use super::Backend;
use crate::store::{IdempotencyBegin, IdempotentResponse};

conformance!(
    idempotency_keys_replay_refuse_and_expire,
    one_idempotency_key_is_claimed_once_across_instances,
);

async fn idempotency_keys_replay_refuse_and_expire(backend: &Backend) {
    let s = backend.open().await;
    let b = |fp: &'static str| s.idempotency_begin("c", "k", fp, 1_000_000, 60_000);
    assert_eq!(b("f1").await.unwrap(), IdempotencyBegin::Started);
    assert_eq!(b("f1").await.unwrap(), IdempotencyBegin::InProgress);
    assert_eq!(b("f2").await.unwrap(), IdempotencyBegin::Mismatch);
    s.idempotency_complete(&IdempotentResponse {
        client_id: "c".into(),
        key: "k".into(),
        status: 201,
        body: "{\"a\":1}".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        b("f1").await.unwrap(),
        IdempotencyBegin::Replay {
            status: 201,
            body: "{\"a\":1}".into()
        }
    );
    // Scoped to the client.
    assert_eq!(
        s.idempotency_begin("other", "k", "f2", 1_000_000, 60_000)
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    // An abandoned running key can be claimed again at once.
    s.idempotency_abandon("other", "k").await.unwrap();
    assert_eq!(
        s.idempotency_begin("other", "k", "f3", 1_000_000, 60_000)
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    // A lease that ran out is taken over.
    assert_eq!(
        s.idempotency_begin("other", "k", "f3", 1_000_000, -1)
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    assert_eq!(s.purge_idempotency_keys(0).await.unwrap(), 0);
    assert_eq!(s.purge_idempotency_keys(i64::MAX).await.unwrap(), 2);
    s.idempotency_begin("c", "k", "f1", 1_000_000, 60_000)
        .await
        .unwrap();
    // Expired keys are forgotten.
    assert_eq!(
        s.idempotency_begin("c", "k", "f2", -1, 60_000)
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
}

async fn one_idempotency_key_is_claimed_once_across_instances(backend: &Backend) {
    let (a, b) = tokio::join!(backend.open(), backend.open());
    let mut claims = tokio::task::JoinSet::new();
    for n in 0..40 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        claims.spawn(async move {
            store
                .idempotency_begin("c", "k", "f", 1_000_000, 60_000)
                .await
                .unwrap()
        });
    }
    let mut started = 0;
    while let Some(claim) = claims.join_next().await {
        match claim.unwrap() {
            IdempotencyBegin::Started => started += 1,
            other => assert_eq!(other, IdempotencyBegin::InProgress),
        }
    }
    assert_eq!(
        started, 1,
        "one request runs, the others wait for its answer"
    );
}
