//! [`EvidenceLog`](crate::store::EvidenceLog): every record kept as written, read back by request
//! id from any replica, never changed, purged only past its retention.

use super::Backend;
use crate::evidence::EvidenceRecord;

conformance!(
    evidence_is_kept_read_back_by_request_and_purged_by_age,
    evidence_records_cannot_be_changed,
);

/// A record of request `request_id` signed at `at_ms`.
fn record(request_id: &str, at_ms: i64, client: &str) -> EvidenceRecord {
    EvidenceRecord {
        request_id: request_id.into(),
        at_ms,
        client_id: client.into(),
        service: "population".into(),
        operation: "verify".into(),
        status: 200,
        kid: "kid-1".into(),
        req_sha256: "a".repeat(64),
        res_sha256: "b".repeat(64),
        evidence: format!("header.payload-{request_id}-{at_ms}.signature"),
    }
}

/// Records appended at once from two replicas are all kept; a request id reused by two clients
/// reads back as both records, oldest first; a purge removes exactly the records older than its
/// cutoff and says how many.
async fn evidence_is_kept_read_back_by_request_and_purged_by_age(backend: &Backend) {
    let (one, two) = (backend.open().await, backend.open().await);
    let first = record("r-1", 1_000, "portal");
    one.append_evidence(&first).await.unwrap();
    let reused = EvidenceRecord {
        status: 404,
        ..record("r-1", 2_000, "agency")
    };
    two.append_evidence(&reused).await.unwrap();
    let mut appends = tokio::task::JoinSet::new();
    for n in 0..40 {
        let store = if n % 2 == 0 { one.clone() } else { two.clone() };
        appends.spawn(async move {
            store
                .append_evidence(&record(&format!("c-{n}"), 3_000 + n, "portal"))
                .await
                .unwrap()
        });
    }
    while let Some(done) = appends.join_next().await {
        done.unwrap();
    }

    assert_eq!(
        two.evidence_of_request("r-1").await.unwrap(),
        [first, reused.clone()]
    );
    assert_eq!(
        one.evidence_of_request("c-7").await.unwrap(),
        [record("c-7", 3_007, "portal")]
    );
    assert!(one.evidence_of_request("nope").await.unwrap().is_empty());

    assert_eq!(
        one.purge_evidence(2_000).await.unwrap(),
        1,
        "only the older r-1"
    );
    assert_eq!(two.evidence_of_request("r-1").await.unwrap(), [reused]);
    assert_eq!(two.purge_evidence(3_020).await.unwrap(), 21);
    assert_eq!(two.purge_evidence(3_020).await.unwrap(), 0);
    assert!(one.evidence_of_request("c-19").await.unwrap().is_empty());
    assert_eq!(one.evidence_of_request("c-20").await.unwrap().len(), 1);
}

/// A stored record is never edited, even by someone with database access: the JWS would still
/// reveal it, but the store refuses it first.
async fn evidence_records_cannot_be_changed(backend: &Backend) {
    let store = backend.open().await;
    store
        .append_evidence(&record("r-1", 1_000, "portal"))
        .await
        .unwrap();
    let edit = backend
        .exec("UPDATE evidence SET status = 200, jws = 'forged'")
        .await;
    assert!(edit.is_err(), "an edit is refused");
    assert_eq!(
        store.evidence_of_request("r-1").await.unwrap(),
        [record("r-1", 1_000, "portal")]
    );
}
