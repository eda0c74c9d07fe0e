//! [`ShipmentLog`](crate::store::ShipmentLog): records, the conditional status change with its
//! history and portal event, and the polling schedule.

use super::Backend;
use crate::store::{
    IdempotencyBegin, IdempotentResponse, NewOutboxEvent, NewShipment, ShipmentHistoryEntry,
    ShipmentRecord, ShipmentUpdate,
};

conformance!(
    shipments_are_stored_with_their_owner_and_found_by_carrier_order,
    one_status_change_from_many_sources_is_written_once_with_one_event,
    history_is_kept_in_order_and_closed_shipments_are_not_polled,
    a_client_lists_its_own_shipments_newest_first_page_by_page,
    a_dossiers_shipments_are_found_whoever_made_them,
);

fn history(carrier_status: i64, status: &str, at_ms: i64, source: &str) -> ShipmentHistoryEntry {
    ShipmentHistoryEntry {
        at_ms,
        carrier_status,
        carrier_status_name: format!("status {carrier_status}"),
        status: status.into(),
        carrier_time: Some("2026-01-01T08:00:00+07:00".into()),
        post_office: None,
        source: source.into(),
    }
}

pub(super) fn shipment(
    id: &str,
    client_id: &str,
    order: &str,
    next_poll_at_ms: i64,
) -> NewShipment {
    NewShipment {
        record: ShipmentRecord {
            id: id.into(),
            client_id: client_id.into(),
            dossier_id: "HS-1".into(),
            purpose: "return_result".into(),
            agency: "stp".into(),
            carrier: "vnpost".into(),
            carrier_order_id: order.into(),
            tracking_code: format!("EB{order}VN"),
            service: "CTN007".into(),
            weight_g: 500,
            cod_amount_vnd: 0,
            fee_vnd: 22_000,
            receiver: "{}".into(),
            sender: "{}".into(),
            note: None,
            status: "created".into(),
            carrier_status: 10,
            carrier_status_name: "status 10".into(),
            open: true,
            created_at_ms: 1,
            updated_at_ms: 1,
            next_poll_at_ms,
            unchanged_polls: 0,
        },
        history: history(10, "created", 1, "create"),
        idempotency: None,
    }
}

fn change(id: &str, from: i64, to: i64, status: &str, open: bool, at_ms: i64) -> ShipmentUpdate {
    ShipmentUpdate {
        shipment_id: id.into(),
        from_carrier_status: from,
        carrier_status: to,
        carrier_status_name: format!("status {to}"),
        status: status.into(),
        open,
        history: vec![history(to, status, at_ms, "poll")],
        event: Some(NewOutboxEvent {
            id: format!("ev-{id}-{to}"),
            event_type: "shipment.status_changed".into(),
            payload: "{}".into(),
        }),
        at_ms,
        next_poll_at_ms: at_ms + 300_000,
    }
}

async fn a_dossiers_shipments_are_found_whoever_made_them(backend: &Backend) {
    let s = backend.open().await;
    for (id, client, dossier, created) in [
        ("s1", "portal", "HS-1", 1),
        ("s2", "other", "HS-1", 3),
        ("s3", "portal", "HS-2", 2),
    ] {
        let mut new = shipment(id, client, &format!("O-{id}"), 0);
        new.record.dossier_id = dossier.into();
        new.record.created_at_ms = created;
        s.insert_shipment(&new).await.unwrap();
    }
    let ids = |records: Vec<crate::store::ShipmentRecord>| {
        records.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(s.dossier_shipments("HS-1", 10).await.unwrap()),
        ["s2", "s1"]
    );
    assert_eq!(ids(s.dossier_shipments("HS-1", 1).await.unwrap()), ["s2"]);
    assert!(s.dossier_shipments("HS-9", 10).await.unwrap().is_empty());
}

async fn shipments_are_stored_with_their_owner_and_found_by_carrier_order(backend: &Backend) {
    let s = backend.open().await;
    assert_eq!(
        s.idempotency_begin("portal", "k1", "f", 1_000_000, 60_000)
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    let mut new = shipment("s1", "portal", "O1", 100);
    new.idempotency = Some(IdempotentResponse {
        client_id: "portal".into(),
        key: "k1".into(),
        status: 201,
        body: "{\"shipment_id\":\"s1\"}".into(),
    });
    s.insert_shipment(&new).await.unwrap();

    let stored = s.shipment("s1").await.unwrap().unwrap();
    assert_eq!(stored, new.record, "every field comes back as written");
    assert_eq!(
        stored.client_id, "portal",
        "the owner is kept for the API's check"
    );
    assert_eq!(s.shipment("s2").await.unwrap(), None);
    assert_eq!(
        s.shipment_by_carrier_order("vnpost", "O1")
            .await
            .unwrap()
            .map(|r| r.id),
        Some("s1".to_owned())
    );
    assert_eq!(
        s.shipment_by_carrier_order("other", "O1").await.unwrap(),
        None
    );
    assert_eq!(
        s.shipment_history("s1").await.unwrap(),
        vec![new.history.clone()]
    );
    // The key was completed in the same transaction as the insert.
    assert_eq!(
        s.idempotency_begin("portal", "k1", "f", 1_000_000, 60_000)
            .await
            .unwrap(),
        IdempotencyBegin::Replay {
            status: 201,
            body: "{\"shipment_id\":\"s1\"}".into()
        }
    );
    // One carrier order is one shipment, and a failed insert leaves nothing behind.
    assert!(
        s.insert_shipment(&shipment("s2", "other", "O1", 100))
            .await
            .is_err()
    );
    assert_eq!(s.shipment("s2").await.unwrap(), None);
    assert!(s.shipment_history("s2").await.unwrap().is_empty());
}

async fn one_status_change_from_many_sources_is_written_once_with_one_event(backend: &Backend) {
    let (a, b) = tokio::join!(backend.open(), backend.open());
    a.insert_shipment(&shipment("s1", "portal", "O1", 100))
        .await
        .unwrap();
    let mut updates = tokio::task::JoinSet::new();
    for n in 0..100 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        updates.spawn(async move {
            store
                .update_shipment(&change("s1", 10, 20, "picked_up", true, 50))
                .await
                .unwrap()
        });
    }
    let mut applied = 0;
    while let Some(done) = updates.join_next().await {
        if done.unwrap() {
            applied += 1;
        }
    }
    assert_eq!(applied, 1, "exactly one of 100 sources applied the change");
    let stored = b.shipment("s1").await.unwrap().unwrap();
    assert_eq!(
        (stored.status.as_str(), stored.carrier_status),
        ("picked_up", 20)
    );
    assert_eq!(b.shipment_history("s1").await.unwrap().len(), 2);
    let events = b.outbox_due_of_type("shipment.", 50, 1000).await.unwrap();
    assert_eq!(events.len(), 1, "one portal event");
    assert_eq!(events[0].shipment_id.as_deref(), Some("s1"));
    assert_eq!(events[0].payment_id, None);
    assert!(
        b.outbox_due_of_type("payment.", 50, 1000)
            .await
            .unwrap()
            .is_empty()
    );
    // A change from a status that is no longer current writes nothing.
    assert!(
        !a.update_shipment(&change("s1", 10, 30, "in_transit", true, 60))
            .await
            .unwrap()
    );
    assert_eq!(b.shipment_history("s1").await.unwrap().len(), 2);
    assert_eq!(b.outbox_due(i64::MAX, 1000).await.unwrap().len(), 1);

    // Claims by kind: a payment worker leaves the shipment event alone; the shipment
    // worker's claim keeps the other replica off it for the lease.
    assert!(
        a.outbox_claim_of_type("payment.", 50, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = a
        .outbox_claim_of_type("shipment.", 50, 1_000, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].shipment_id.as_deref(), Some("s1"));
    assert!(
        b.outbox_claim_of_type("shipment.", 60, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        b.outbox_claim_of_type("shipment.", 1_050, 1_000, 10)
            .await
            .unwrap()
            .len(),
        1,
        "due again once the lease ends"
    );
}

async fn history_is_kept_in_order_and_closed_shipments_are_not_polled(backend: &Backend) {
    let s = backend.open().await;
    s.insert_shipment(&shipment("s1", "portal", "O1", 100))
        .await
        .unwrap();
    s.insert_shipment(&shipment("s2", "portal", "O2", 50))
        .await
        .unwrap();
    let due: Vec<String> = s
        .shipments_due(100, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(due, ["s2", "s1"], "most overdue first");

    // Several steps learnt in one poll are appended oldest first.
    let mut delivered = change("s1", 10, 70, "delivered", false, 200);
    delivered.history = vec![
        history(20, "picked_up", 200, "poll"),
        history(40, "in_transit", 200, "poll"),
        history(70, "delivered", 200, "poll"),
    ];
    assert!(s.update_shipment(&delivered).await.unwrap());
    let steps: Vec<i64> = s
        .shipment_history("s1")
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.carrier_status)
        .collect();
    assert_eq!(steps, [10, 20, 40, 70]);

    // A delivered shipment is closed: never polled again.
    assert_eq!(
        s.shipments_due(i64::MAX, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        ["s2"]
    );
    // An unchanged poll counts and reschedules.
    s.shipment_unchanged("s2", 1_000).await.unwrap();
    let s2 = s.shipment("s2").await.unwrap().unwrap();
    assert_eq!((s2.unchanged_polls, s2.next_poll_at_ms), (1, 1_000));
    assert!(s.shipments_due(999, 10).await.unwrap().is_empty());
}

async fn a_client_lists_its_own_shipments_newest_first_page_by_page(backend: &Backend) {
    let s = backend.open().await;
    for (id, client, order) in [
        ("s1", "portal", "O1"),
        ("s2", "other", "O2"),
        ("s3", "portal", "O3"),
    ] {
        s.insert_shipment(&shipment(id, client, order, 100))
            .await
            .unwrap();
    }
    let list = |dossier_id, before_id, limit| crate::store::ClientListing {
        client_id: "portal",
        dossier_id,
        status: None,
        before_id,
        limit,
    };
    let ids = |records: Vec<ShipmentRecord>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = s.client_shipments(&list(None, None, 10)).await.unwrap();
    assert_eq!(ids(all), ["s3", "s1"], "never another client's");
    let page = s
        .client_shipments(&list(Some("HS-1"), None, 1))
        .await
        .unwrap();
    assert_eq!(ids(page), ["s3"]);
    let next = s
        .client_shipments(&list(Some("HS-1"), Some("s3"), 1))
        .await
        .unwrap();
    assert_eq!(ids(next), ["s1"]);
    let none = s
        .client_shipments(&list(Some("HS-9"), None, 10))
        .await
        .unwrap();
    assert!(none.is_empty());
}
