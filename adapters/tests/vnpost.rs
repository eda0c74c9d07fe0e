//! The VNPost adapter against the VNPost mock over real sockets: the `h-token` is fetched once,
//! replaced before it expires (tokio's paused clock) and once more after a 401; create, tracking,
//! batched statuses, cancel and its refusal, fee quotes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use lienthong_adapters::canonical::shipment::{Party, QuoteRequest, ShipmentOrder, ShipmentStatus};
use lienthong_adapters::vnpost::{Client, Settings, errors};
use lienthong_adapters::{ErrorKind, Origin};
use lienthong_mocks::data::Dataset;
use lienthong_mocks::{JournalFilter, StartedSystem, vnpost};

async fn carrier(settings: vnpost::Settings) -> StartedSystem {
    let _ = rustls::crypto::ring::default_provider().install_default();
    vnpost::start(
        &settings,
        Arc::new(Dataset::generate(3, 0, 0)),
        3,
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

fn client(sys: &StartedSystem, password: &str) -> Client {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    Client::new(http, Settings::new(sys.mock.url(), "0900000001", password)).unwrap()
}

fn calls(sys: &StartedSystem, op: &str, status: Option<u16>) -> usize {
    sys.control.count(&JournalFilter {
        operation: Some(op.into()),
        status,
        ..Default::default()
    })
}

fn party(name: &str, phone: &str) -> Party {
    Party {
        name: name.into(),
        phone: phone.into(),
        address: "01 Lê Lai".into(),
        province_code: "46".into(),
        district_code: None,
        commune_code: "19774".into(),
    }
}

fn order(code: &str) -> ShipmentOrder {
    ShipmentOrder {
        order_code: code.into(),
        sender: party("Trung tâm Phục vụ hành chính công", "0912345678"),
        receiver: party("Nguyễn Văn An", "0987654321"),
        service: "EMS".into(),
        content: "Kết quả thủ tục hành chính".into(),
        weight_g: 300,
        cod_amount_vnd: 0,
        note: None,
    }
}

fn quote() -> QuoteRequest {
    QuoteRequest {
        from_province_code: "46".into(),
        from_district_code: None,
        to_province_code: "79".into(),
        to_district_code: None,
        weight_g: 500,
        cod_amount_vnd: 0,
    }
}

#[tokio::test]
async fn one_token_serves_many_calls_and_a_401_fetches_a_new_one_once() {
    let sys = carrier(vnpost::Settings::default()).await;
    let c = client(&sys, "demo-vnpost-password");
    for _ in 0..3 {
        assert_eq!(c.quote(&quote()).await.unwrap().len(), 7);
    }
    assert_eq!(calls(&sys, "GetAccessToken", None), 1);
    // The carrier forgets every token: the next call is refused once, then goes through.
    let http = reqwest::Client::new();
    http.post(format!("{}/__admin/reset", sys.mock.url()))
        .send()
        .await
        .unwrap();
    sys.control.clear_journal();
    assert_eq!(c.quote(&quote()).await.unwrap().len(), 7);
    assert_eq!(calls(&sys, "TinhCuocTatCaDichVu", Some(401)), 1);
    assert_eq!(calls(&sys, "GetAccessToken", None), 1);
    assert!(!format!("{c:?}").contains("demo-vnpost-password"));
}

#[tokio::test(start_paused = true)]
async fn the_token_is_replaced_before_it_expires() {
    let sys = carrier(vnpost::Settings {
        token_ttl_s: 600,
        ..Default::default()
    })
    .await;
    let c = client(&sys, "demo-vnpost-password");
    c.quote(&quote()).await.unwrap();
    // 600 s tokens are replaced 60 s before they expire.
    tokio::time::advance(Duration::from_secs(530)).await;
    c.quote(&quote()).await.unwrap();
    assert_eq!(calls(&sys, "GetAccessToken", None), 1);
    tokio::time::advance(Duration::from_secs(20)).await;
    c.quote(&quote()).await.unwrap();
    assert_eq!(calls(&sys, "GetAccessToken", None), 2);
    assert_eq!(
        calls(&sys, "TinhCuocTatCaDichVu", Some(401)),
        0,
        "never refused"
    );
}

#[tokio::test]
async fn wrong_password_is_our_fault_and_not_retried() {
    let sys = carrier(vnpost::Settings::default()).await;
    let e = client(&sys, "wrong").quote(&quote()).await.unwrap_err();
    assert_eq!(
        (e.kind, e.origin),
        (ErrorKind::Unauthorized, Origin::Internal)
    );
    assert_eq!(e.upstream_code.as_deref(), Some("LOGIN_FAILED"));
    assert!(!e.retry_safe);
}

#[tokio::test]
async fn create_track_and_cancel_an_order() {
    let sys = carrier(vnpost::Settings {
        time_scale: 1e-6,
        ..Default::default()
    })
    .await;
    let c = client(&sys, "demo-vnpost-password");
    let created = c.create(&order("LT-1")).await.unwrap();
    assert_eq!(created.carrier_status, 1);
    assert!(created.fee_vnd > 0);
    let dup = c.create(&order("LT-1")).await.unwrap_err();
    assert_eq!(
        dup.upstream_code.as_deref(),
        Some(errors::DUPLICATE_ORDER_CODE)
    );
    assert!(!dup.retry_safe);

    let t = c.tracking(&created.carrier_order_id).await.unwrap();
    assert_eq!(t.tracking_code, created.tracking_code);
    assert_eq!(t.history.len(), 1);
    assert_eq!(t.history[0].status, ShipmentStatus::Created);
    assert!(t.history[0].at.as_deref().unwrap().ends_with("+07:00"));

    let statuses = c
        .statuses(&[created.tracking_code.clone(), "EL000000000VN".into()])
        .await
        .unwrap();
    assert_eq!(statuses.len(), 1, "unknown codes are left out");
    assert_eq!(statuses[0].carrier_status, 1);

    assert_eq!(c.cancel(&created.carrier_order_id).await.unwrap(), 22);
    let refused = c.cancel(&created.carrier_order_id).await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Invalid);
    assert_eq!(
        refused.upstream_code.as_deref(),
        Some(errors::CANCEL_NOT_ALLOWED)
    );
    let unknown = c.tracking("no-such-order").await.unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::NotFound);
    // A refused field is named, never its value.
    let mut bad = order("LT-2");
    bad.receiver.phone = "12".into();
    let e = c.create(&bad).await.unwrap_err();
    assert_eq!(e.origin, Origin::Caller);
    assert!(
        e.message.contains("ReceiverTel") && !e.message.contains("12)"),
        "{}",
        e.message
    );
}
