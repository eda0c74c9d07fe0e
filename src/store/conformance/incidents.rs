//! [`Incidents`](crate::store::Incidents): one open incident per service whatever the replicas
//! race, its notification queued with it, closed once; maintenance windows set, read while they
//! last, ended.

use super::Backend;
use crate::store::{Incident, Maintenance, NewOutboxEvent};

conformance!(
    replicas_open_one_incident_per_service_and_close_it_once,
    maintenance_windows_are_set_read_until_they_end_and_ended,
);

fn incident(id: &str, service: &str, at_ms: i64) -> Incident {
    Incident {
        id: id.into(),
        service: service.into(),
        cause: "probe_failed".into(),
        message_vi: "Dịch vụ gián đoạn".into(),
        message_en: "Service interrupted".into(),
        started_at_ms: at_ms,
        ended_at_ms: None,
    }
}

fn event(id: &str, event_type: &str) -> NewOutboxEvent {
    NewOutboxEvent {
        id: id.into(),
        event_type: event_type.into(),
        payload: format!("{{\"id\":\"{id}\"}}"),
    }
}

/// Twenty replicas' attempts at once to open an incident of one service open exactly one, and
/// queue exactly one notification; a second service has its own; closing it twice closes it
/// once; after it closed, a new one may open.
async fn replicas_open_one_incident_per_service_and_close_it_once(backend: &Backend) {
    let (one, two) = (backend.open().await, backend.open().await);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let store = if n % 2 == 0 { one.clone() } else { two.clone() };
        tasks.spawn(async move {
            store
                .open_incident(
                    &incident(&format!("i-{n}"), "population", 1_000 + n),
                    &event(&format!("e-{n}"), "incident.opened"),
                )
                .await
                .unwrap()
        });
    }
    let mut opened = 0;
    while let Some(done) = tasks.join_next().await {
        opened += usize::from(done.unwrap());
    }
    assert_eq!(opened, 1, "one replica opened it");
    assert!(
        two.open_incident(
            &incident("n-1", "notary", 5_000),
            &event("e-n-1", "incident.opened")
        )
        .await
        .unwrap()
    );
    let open = one.open_incidents().await.unwrap();
    assert_eq!(
        open.iter().map(|i| i.service.as_str()).collect::<Vec<_>>(),
        ["population", "notary"]
    );
    let queued = one
        .outbox_due_of_type("incident.", i64::MAX, 100)
        .await
        .unwrap();
    assert_eq!(queued.len(), 2, "one notification per opened incident");
    let population = open[0].clone();
    assert_eq!(
        queued[0].id,
        format!("e-{}", population.id.trim_start_matches("i-"))
    );

    let close = event("c-1", "incident.closed");
    assert!(
        one.close_incident(&population.id, 9_000, &close)
            .await
            .unwrap()
    );
    assert!(
        !two.close_incident(&population.id, 9_500, &event("c-2", "incident.closed"))
            .await
            .unwrap(),
        "closed once"
    );
    assert_eq!(
        one.outbox_due_of_type("incident.closed", i64::MAX, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(two.open_incidents().await.unwrap().len(), 1);
    let recent = two.recent_incidents(8_000, 10).await.unwrap();
    assert_eq!(
        recent
            .iter()
            .map(|i| (i.service.as_str(), i.ended_at_ms))
            .collect::<Vec<_>>(),
        [("notary", None), ("population", Some(9_000))],
        "newest first, the closed one with its end"
    );
    assert_eq!(
        two.recent_incidents(9_001, 10).await.unwrap().len(),
        1,
        "closed before the cutoff: not recent"
    );
    assert!(
        one.open_incident(
            &incident("p-2", "population", 10_000),
            &event("e-p-2", "incident.opened")
        )
        .await
        .unwrap(),
        "a new incident after the last one closed"
    );
    // The usage report counts them per service, by when they started.
    let counts = |from, to| {
        let store = two.clone();
        async move {
            crate::store::UsageLog::incidents_by_service(store.as_ref(), from, to)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        counts(0, i64::MAX).await,
        Some(vec![("notary".to_owned(), 1), ("population".to_owned(), 2)])
    );
    assert_eq!(
        counts(5_000, 10_000).await,
        Some(vec![("notary".to_owned(), 1)]),
        "the period's end is excluded"
    );
}

/// A maintenance window is read by every replica until its end, changed in place by a second
/// call, and ended once.
async fn maintenance_windows_are_set_read_until_they_end_and_ended(backend: &Backend) {
    let (one, two) = (backend.open().await, backend.open().await);
    let window = Maintenance {
        service: "population".into(),
        message_vi: "Bảo trì".into(),
        message_en: "Maintenance".into(),
        started_at_ms: 1_000,
        until_ms: 5_000,
        actor: "ops".into(),
    };
    one.set_maintenance(&window).await.unwrap();
    assert_eq!(
        two.maintenances(4_999).await.unwrap(),
        std::slice::from_ref(&window)
    );
    assert!(
        two.maintenances(5_000).await.unwrap().is_empty(),
        "over at its end"
    );
    let longer = Maintenance {
        until_ms: 8_000,
        message_en: "Longer maintenance".into(),
        ..window
    };
    two.set_maintenance(&longer).await.unwrap();
    assert_eq!(one.maintenances(6_000).await.unwrap(), [longer]);
    assert!(one.end_maintenance("population").await.unwrap());
    assert!(!two.end_maintenance("population").await.unwrap());
    assert!(two.maintenances(0).await.unwrap().is_empty());
}
