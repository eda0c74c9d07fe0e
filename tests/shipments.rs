//! End-to-end tests of shipments by public postal service: the real router on 127.0.0.1:0, the
//! VNPost mock as the carrier (its clock moved by the scenario's `clock_offset_s`, so statuses are
//! exact whatever the machine's load), a test portal receiving the signed webhook.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use hmac::{Hmac, Mac};
use lienthong::keys::sha256_hex;
use lienthong::store::now_ms;
use lienthong_mocks::data::Dataset;
use lienthong_mocks::{FaultRule, JournalFilter, StartedSystem, vnpost};
use serde_json::{Value, json};
use sha2::Sha256;

const WEBHOOK_SECRET: &str = "test-webhook-secret-0123456789abcdef";
const PUSH_SECRET: &str = "test-push-secret-0123";
/// Simulated seconds per status step (the mock's default).
const STEP_S: f64 = 3600.0;

struct Env {
    h: common::Harness,
    carrier: StartedSystem,
    portal: Arc<common::portal::Portal>,
    /// Poller rounds so far: each looks a month further ahead, so every open shipment is due.
    rounds: AtomicI64,
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn start() -> Env {
    start_on(None).await
}

/// The gateway with shipments, on the standard SQLite store or on `store_url`.
async fn start_on(store_url: Option<&str>) -> Env {
    common::install_crypto();
    let carrier = vnpost::start(
        &vnpost::Settings {
            // Statuses move only when the test moves the clock.
            time_scale: 1e-6,
            ..Default::default()
        },
        Arc::new(Dataset::generate(7, 0, 0)),
        7,
        any_port(),
    )
    .await
    .unwrap();
    let (portal, hook) = common::portal::start("/hooks/shipments").await;
    let upstream = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("token.key"), common::TOKEN_KEY).unwrap();
    std::fs::write(d.join("vnpost.password"), "demo-vnpost-password").unwrap();
    std::fs::write(d.join("webhook.secret"), WEBHOOK_SECRET).unwrap();
    std::fs::write(d.join("push.secret"), PUSH_SECRET).unwrap();
    let extra = format!(
        r#"
[[clients]]
id = "agency"
api_keys_sha256 = ["{agency}"]
allow = [{{ service = "postal", operations = ["*"] }}]

[[clients]]
id = "other"
api_keys_sha256 = ["{other}"]
allow = [{{ service = "postal", operations = ["*"] }}]

[services.postal]
kind = "shipments"
base_url = "{carrier}"
vnpost = {{ username = "0900000001", password = "file:{dir}/vnpost.password" }}

[shipments]
poll_interval_s = 60
max_poll_backoff_s = 3600
push_secret = "file:{dir}/push.secret"
senders = [{{ agency = "hue-center", name = "Trung tâm Phục vụ hành chính công tỉnh", phone = "0912345678", address = "01 Lê Lai", province_code = "46", commune_code = "19774" }}]

[shipments.webhook]
url = "{hook}/hooks/shipments"
secret = "file:{dir}/webhook.secret"
poll_interval_ms = 3600000
"#,
        agency = sha256_hex("agency-key"),
        other = sha256_hex("other-key"),
        carrier = carrier.mock.url(),
        hook = hook.url(),
        dir = d.display(),
    );
    let mut text = common::config_text(&upstream.url(), d, &extra);
    if let Some(url) = store_url {
        text = common::with_store_url(&text, d, url);
    }
    let config_path = d.join("lienthong.toml");
    std::fs::write(&config_path, &text).unwrap();
    let h = common::start_with(upstream, dir, config_path).await;
    std::mem::forget(hook);
    Env {
        h,
        carrier,
        portal,
        rounds: AtomicI64::new(0),
    }
}

fn shipment(dossier: &str) -> Value {
    json!({
        "dossier_id": dossier,
        "purpose": "return_result",
        "receiver": {
            "name": "Nguyễn Văn An",
            "phone": "+84 987 654 321",
            "address": "12 Nguyễn Huệ",
            "province_code": "046",
            "commune_code": "19774"
        },
        "service": "EMS",
        "weight_g": 300
    })
}

impl Env {
    async fn create(&self, key: &str, idem: Option<&str>, body: &Value) -> reqwest::Response {
        let mut req = self
            .h
            .http
            .post(self.h.url("/v1/shipments"))
            .bearer_auth(key)
            .json(body);
        if let Some(k) = idem {
            req = req.header("idempotency-key", format!("\"{k}\""));
        }
        req.send().await.unwrap()
    }

    async fn open(&self, dossier: &str) -> Value {
        let r = self
            .create(
                "agency-key",
                Some(&format!("k-{dossier}")),
                &shipment(dossier),
            )
            .await;
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    }

    async fn get(&self, key: &str, id: &str) -> (u16, Value) {
        let r = self
            .h
            .get(&format!("/v1/shipments/{id}"), key)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn cancel(&self, id: &str) -> (u16, Value) {
        let r = self
            .h
            .http
            .delete(self.h.url(&format!("/v1/shipments/{id}")))
            .bearer_auth("agency-key")
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// Moves every order's clock `steps` status steps after its creation.
    fn set_clock(&self, steps: f64) {
        self.carrier
            .control
            .merge_scenario(json!({ "clock_offset_s": steps * STEP_S }));
    }

    /// When the next poller round pretends to run: a month after the previous one.
    fn next_round_at(&self) -> i64 {
        now_ms() + (self.rounds.fetch_add(1, Ordering::SeqCst) + 1) * 30 * 86_400_000
    }

    /// One poller round, as if every open shipment were due.
    async fn poll(&self) -> lienthong::services::shipments::poller::PollReport {
        self.h.gw.poll_shipments_at(self.next_round_at()).await
    }

    fn carrier_calls(&self, op: &str) -> usize {
        self.carrier.control.count(&JournalFilter {
            operation: Some(op.into()),
            ..Default::default()
        })
    }

    fn fault(&self, rule: Value) {
        self.carrier
            .control
            .add_fault(serde_json::from_value::<FaultRule>(rule).unwrap());
    }

    async fn events(&self) -> Vec<Value> {
        self.portal
            .received
            .lock()
            .unwrap()
            .iter()
            .map(|(sig, id, body)| {
                check_signature(sig, body);
                let v: Value = serde_json::from_str(body).unwrap();
                assert_eq!(v["id"], id.as_str());
                v
            })
            .collect()
    }
}

fn check_signature(header: &str, body: &str) {
    common::portal::check_signature(WEBHOOK_SECRET, header, body);
}

fn s10_ok(code: &str) -> bool {
    let b = code.as_bytes();
    if b.len() != 13 || !code.ends_with("VN") {
        return false;
    }
    let digits: Vec<u32> = code[2..11]
        .chars()
        .map(|c| c.to_digit(10).unwrap())
        .collect();
    let sum: u32 = [8, 6, 4, 2, 3, 5, 9, 7]
        .iter()
        .zip(&digits[..8])
        .map(|(w, d)| w * d)
        .sum();
    let check = match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        c => c,
    };
    check == digits[8]
}

fn statuses(v: &Value) -> Vec<(String, u64)> {
    v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["status"].as_str().unwrap().to_owned(),
                h["carrier_status"]["code"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn created_shipment_is_tracked_to_delivered_and_the_portal_told() {
    let env = start().await;
    let created = env.open("HS-1").await;
    assert_eq!(created["status"], "created");
    assert!(created["fee_vnd"].as_i64().unwrap() > 0, "{created}");
    assert!(
        s10_ok(created["tracking_code"].as_str().unwrap()),
        "{created}"
    );
    let id = created["shipment_id"].as_str().unwrap();

    let (status, v) = env.get("agency-key", id).await;
    assert_eq!(status, 200);
    assert_eq!(v["status"], "created");
    assert_eq!(v["carrier_status"]["code"], 1);
    assert_eq!(
        v["receiver"]["phone"], "0987654321",
        "normalised to national form"
    );
    assert_eq!(v["receiver"]["province_code"], "46");
    assert_eq!(statuses(&v), vec![("created".into(), 1)]);

    // Nothing moved: the poller finds no change.
    let r = env.poll().await;
    assert_eq!((r.polled, r.changed, r.errors), (1, 0, 0));

    // Five steps later (normal path 1 2 3 4 6 7 …): received at the post office.
    env.set_clock(5.0);
    let r = env.poll().await;
    assert_eq!((r.polled, r.changed), (1, 1));
    let (_, v) = env.get("agency-key", id).await;
    assert_eq!(v["status"], "picked_up");
    assert_eq!(v["carrier_status"]["code"], 7);
    let codes: Vec<u64> = statuses(&v).iter().map(|(_, c)| *c).collect();
    assert_eq!(
        codes,
        vec![1, 2, 3, 4, 6, 7],
        "every step in between is kept"
    );

    // The end of the path: delivered, then completed; no longer polled.
    env.set_clock(20.0);
    assert_eq!(env.poll().await.changed, 1);
    let (_, v) = env.get("agency-key", id).await;
    assert_eq!(v["status"], "delivered");
    assert_eq!(v["carrier_status"]["code"], 19);
    let codes: Vec<u64> = statuses(&v).iter().map(|(_, c)| *c).collect();
    assert_eq!(codes, vec![1, 2, 3, 4, 6, 7, 10, 11, 12, 14, 19]);
    assert_eq!(env.poll().await.polled, 0, "a final shipment is not polled");

    // One event per normalised change, signed, in order.
    assert_eq!(env.h.gw.deliver_outbox().await, 2);
    let events = env.events().await;
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            assert_eq!(e["type"], "shipment.status_changed");
            assert_eq!(e["data"]["shipment_id"], id);
            assert_eq!(e["data"]["dossier_id"], "HS-1");
            assert!(
                e["data"].get("receiver").is_none(),
                "no personal data in events"
            );
            (
                e["data"]["previous_status"].as_str().unwrap(),
                e["data"]["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![("created", "picked_up"), ("picked_up", "delivered")]
    );
}

#[tokio::test]
async fn shipments_that_do_not_move_are_polled_less_often() {
    let env = start().await;
    let created = env.open("HS-2").await;
    let id = created["shipment_id"].as_str().unwrap().to_owned();
    let mut gaps = Vec::new();
    for _ in 0..4 {
        let at = env.next_round_at();
        env.h.gw.poll_shipments_at(at).await;
        let s = env.h.gw.store.shipment(&id).await.unwrap().unwrap();
        gaps.push((s.next_poll_at_ms - at) / 1000);
    }
    // 60 s doubling after each unchanged poll, capped at max_poll_backoff_s (3600).
    for (gap, want) in gaps.iter().zip([120, 240, 480, 960]) {
        assert_eq!(*gap, want, "{gaps:?}");
    }
    // Many shipments are asked about in one carrier call.
    for i in 0..3 {
        env.open(&format!("HS-2-{i}")).await;
    }
    let calls = env.carrier_calls("GetOrdersStatus");
    let r = env.poll().await;
    assert_eq!(r.polled, 4);
    assert_eq!(env.carrier_calls("GetOrdersStatus"), calls + 1);
}

#[tokio::test]
async fn cancel_while_the_carrier_allows_it_and_409_after() {
    let env = start().await;
    let a = env.open("HS-3").await;
    let id = a["shipment_id"].as_str().unwrap();
    let (status, v) = env.cancel(id).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "cancelled");
    assert_eq!(v["carrier_status"]["code"], 22);
    let (status, v) = env.cancel(id).await;
    assert_eq!(status, 409);
    assert_eq!(v["code"], "shipment_not_cancellable");

    // Collected by the carrier: refused, and the caller learns where it is.
    env.set_clock(5.0);
    let b = env.open("HS-4").await;
    let id = b["shipment_id"].as_str().unwrap();
    let (status, v) = env.cancel(id).await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["code"], "shipment_not_cancellable");
    assert_eq!(v["shipment_status"], "picked_up");
    let (_, v) = env.get("agency-key", id).await;
    assert_eq!(v["status"], "picked_up");

    assert_eq!(env.h.gw.deliver_outbox().await, 2);
    let events = env.events().await;
    assert_eq!(events[0]["data"]["status"], "cancelled");
    assert_eq!(events[1]["data"]["status"], "picked_up");
}

#[tokio::test]
async fn carrier_down_gives_503_and_creates_nothing() {
    let env = start().await;
    env.fault(json!({"operation": "CreateOrder", "kind": "connection_reset"}));
    let body = shipment("HS-5");
    let r = env.create("agency-key", Some("down-1"), &body).await;
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "upstream_unavailable");
    assert!(
        env.h
            .gw
            .store
            .shipments_due(i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        env.h
            .gw
            .store
            .outbox_by_state("pending", 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The key was released: the same request goes through once the carrier is back.
    env.carrier.control.set_faults(vec![]);
    let r = env.create("agency-key", Some("down-1"), &body).await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        env.h
            .gw
            .store
            .shipments_due(i64::MAX, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // The carrier made the order but its answer was cut: the caller gets an error, and the same
    // request again adopts that order instead of making a second one.
    env.carrier.control.set_faults(vec![]);
    env.fault(json!({"operation": "CreateOrder", "kind": "truncated", "times": 1}));
    let body = shipment("HS-5b");
    let r = env.create("agency-key", Some("cut-1"), &body).await;
    assert!(r.status().is_server_error(), "{}", r.status());
    assert_eq!(
        env.h
            .gw
            .store
            .shipments_due(i64::MAX, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let r = env.create("agency-key", Some("cut-1"), &body).await;
    assert_eq!(r.status(), 201);
    let adopted: Value = r.json().await.unwrap();
    assert!(adopted["fee_vnd"].as_i64().unwrap() > 0);
    assert!(s10_ok(adopted["tracking_code"].as_str().unwrap()));
    assert_eq!(
        env.carrier.control.count(&JournalFilter {
            operation: Some("CreateOrder".into()),
            status: Some(400),
            ..Default::default()
        }),
        1,
        "the second attempt was refused as a duplicate, not made again"
    );
    assert_eq!(
        env.h
            .gw
            .store
            .shipments_due(i64::MAX, 10)
            .await
            .unwrap()
            .len(),
        2
    );

    // A carrier answering 5xx is not a half-created shipment either.
    env.fault(json!({"operation": "CreateOrder", "kind": "status", "status": 503}));
    let r = env
        .create("agency-key", Some("down-2"), &shipment("HS-6"))
        .await;
    assert!(r.status().is_server_error(), "{}", r.status());
    assert_eq!(
        env.h
            .gw
            .store
            .shipments_due(i64::MAX, 10)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn create_is_idempotent_and_shipments_are_private() {
    let env = start().await;
    let body = shipment("HS-7");
    let first = env.create("agency-key", Some("same"), &body).await;
    assert_eq!(first.status(), 201);
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let first: Value = first.json().await.unwrap();
    let again = env.create("agency-key", Some("same"), &body).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["location"].to_str().unwrap(), location);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(
        env.carrier_calls("CreateOrder"),
        1,
        "one order at the carrier"
    );

    let mut other = body.clone();
    other["weight_g"] = json!(400);
    let r = env.create("agency-key", Some("same"), &other).await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "idempotency_key_reused"
    );
    let r = env.create("agency-key", None, &body).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "idempotency_key_required"
    );

    // Another client's key space is its own; it cannot see or cancel the first client's shipment.
    let id = first["shipment_id"].as_str().unwrap();
    assert_eq!(env.get("other-key", id).await.0, 404);
    let r = env
        .h
        .http
        .delete(env.h.url(&format!("/v1/shipments/{id}")))
        .bearer_auth("other-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(env.get("agency-key", id).await.1["status"], "created");
    // Nor list it: each client lists its own, newest first, without their history.
    let listed = |key: &'static str| {
        let h = &env.h;
        async move {
            h.get("/v1/shipments?dossier_id=HS-7", key)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let mine = listed("agency-key").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine["items"][0]["shipment_id"], id);
    assert!(mine["items"][0].get("history").is_none());
    assert!(mine["next_cursor"].is_null());
    let theirs = listed("other-key").await;
    assert!(theirs["items"].as_array().unwrap().is_empty(), "{theirs}");
}

#[tokio::test]
async fn invalid_fields_are_named_and_reach_no_carrier() {
    let env = start().await;
    let mut body = shipment("HS-8");
    body["receiver"]["phone"] = json!("091234567");
    body["receiver"]["province_code"] = json!("45"); // old scheme without its district
    body["receiver"]["commune_code"] = json!("1977");
    body["weight_g"] = json!(0);
    body["cod_amount_vnd"] = json!(-1);
    body["service"] = json!("FAST");
    body["purpose"] = json!("other");
    let r = env.create("agency-key", Some("bad"), &body).await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "validation_failed");
    let mut fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "cod_amount_vnd",
            "purpose",
            "receiver.commune_code",
            "receiver.phone",
            "receiver.province_code",
            "service",
            "weight_g"
        ]
    );
    body["receiver"]["province_code"] = json!("99");
    body["receiver"]["district_code"] = json!("451");
    let v: Value = env
        .create("agency-key", Some("bad2"), &body)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "receiver.province_code")
    );
    assert_eq!(env.carrier_calls("CreateOrder"), 0);

    // Both schemes go through: the 63-province code with its district, the 34-province code alone.
    let mut old = shipment("HS-9");
    old["receiver"]["province_code"] = json!("45");
    old["receiver"]["district_code"] = json!("461");
    assert_eq!(
        env.create("agency-key", Some("old"), &old).await.status(),
        201
    );
    let mut new = shipment("HS-10");
    new["receiver"]["province_code"] = json!("44");
    assert_eq!(
        env.create("agency-key", Some("new"), &new).await.status(),
        201
    );
}

#[tokio::test]
async fn quotes_list_every_service_with_its_fee() {
    let env = start().await;
    let r = env
        .h
        .http
        .post(env.h.url("/v1/shipments/quote"))
        .bearer_auth("agency-key")
        .json(&json!({"province_code": "79", "weight_g": 1200}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["agency"], "hue-center");
    let services: Vec<&str> = v["quotes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            assert!(q["fee_vnd"].as_i64().unwrap() > 0);
            q["service"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        services,
        vec![
            "EMS",
            "BK",
            "ECOD",
            "DONG_GIA",
            "TMDT_EMS",
            "TMDT_BK",
            "TMDT_EMS_TK"
        ]
    );
    let r = env
        .h
        .http
        .post(env.h.url("/v1/shipments/quote"))
        .bearer_auth("agency-key")
        .json(&json!({"province_code": "3", "weight_g": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}

#[tokio::test]
async fn status_events_are_never_lost_while_the_portal_is_down() {
    let env = start().await;
    env.portal.up.store(false, Ordering::SeqCst);
    let a = env.open("HS-11").await;
    env.set_clock(5.0);
    env.poll().await;
    assert_eq!(env.h.gw.deliver_outbox().await, 0);
    let pending = env.h.gw.store.outbox_by_state("pending", 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].attempts, 1);
    assert_eq!(pending[0].shipment_id.as_deref(), a["shipment_id"].as_str());
    assert_eq!(pending[0].last_error.as_deref(), Some("HTTP 503"));

    env.portal.up.store(true, Ordering::SeqCst);
    let mut delivered = 0;
    for _ in 0..120 {
        delivered += env.h.gw.deliver_outbox().await;
        if delivered > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivered, 1);
    let events = env.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["status"], "picked_up");
    assert_eq!(
        env.h
            .gw
            .store
            .outbox_by_state("delivered", 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

fn push_body(order_id: &str, status: u16) -> String {
    json!({
        "OrderId": order_id,
        "ItemCode": "X",
        "OrderCode": "X",
        "OrderStatusId": status,
        "OrderStatusName": "Đã thu gom",
        "Time": "2026-11-28T10:00:00",
        "PostOffice": "Bưu cục 461"
    })
    .to_string()
}

fn push_signature(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(PUSH_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn signed_carrier_pushes_update_the_status_once() {
    let env = start().await;
    let a = env.open("HS-12").await;
    let id = a["shipment_id"].as_str().unwrap();
    let order_id = env
        .h
        .gw
        .store
        .shipment(id)
        .await
        .unwrap()
        .unwrap()
        .carrier_order_id;
    let push = |body: String, sig: String| {
        env.h
            .http
            .post(env.h.url("/v1/carriers/vnpost/push"))
            .header("content-type", "application/json")
            .header("x-vnpost-signature", sig)
            .body(body)
            .send()
    };
    let body = push_body(&order_id, 6);
    let r = push(body.clone(), push_signature(&format!("{body} ")))
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a bad signature is refused");
    assert_eq!(env.get("agency-key", id).await.1["status"], "created");
    // A source that keeps failing is limited (20 at once by default), with a Retry-After.
    let mut statuses = Vec::new();
    for _ in 0..24 {
        let r = push(body.clone(), "00".repeat(32)).await.unwrap();
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            common::problem(r, 429, "rate_limited").await;
            statuses.push(429);
        } else {
            statuses.push(r.status().as_u16());
        }
    }
    assert_eq!(statuses[..19], [401; 19], "{statuses:?}");
    assert_eq!(statuses[19..], [429; 5], "{statuses:?}");

    for _ in 0..3 {
        let r = push(body.clone(), push_signature(&body)).await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let (_, v) = env.get("agency-key", id).await;
    assert_eq!(v["status"], "picked_up");
    assert_eq!(v["history"][1]["source"], "push");
    assert_eq!(v["history"][1]["at"], "2026-11-28T10:00:00+07:00");
    // A late push of an earlier status changes nothing.
    let old = push_body(&order_id, 2);
    assert_eq!(
        push(old.clone(), push_signature(&old))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(env.get("agency-key", id).await.1["status"], "picked_up");
    // Unknown orders are answered 404 so the carrier tries again.
    let unknown = push_body("no-such-order", 6);
    assert_eq!(
        push(unknown.clone(), push_signature(&unknown))
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(env.h.gw.deliver_outbox().await, 1, "repeats make one event");
}

/// The gateway on PostgreSQL: a shipment created, private to its client, moved by the poller;
/// one change with every step in its history and one portal event, seen by a second store.
#[tokio::test]
async fn on_postgres_a_shipment_is_tracked_and_the_portal_told_once() {
    let Some(schema) = lienthong::store::test_support::PgTestSchema::create("shipments_e2e").await
    else {
        return;
    };
    let env = start_on(Some(&schema.url)).await;
    let created = env.open("HS-PG-1").await;
    let id = created["shipment_id"].as_str().unwrap().to_owned();
    let (status, _) = env.get("other-key", &id).await;
    assert_eq!(status, 404, "another client does not see it");

    env.set_clock(5.0);
    let r = env.poll().await;
    assert_eq!((r.polled, r.changed), (1, 1));
    let (status, v) = env.get("agency-key", &id).await;
    assert_eq!(status, 200);
    assert_eq!(v["status"], "picked_up");
    let codes: Vec<u64> = statuses(&v).iter().map(|(_, c)| *c).collect();
    assert_eq!(codes, vec![1, 2, 3, 4, 6, 7]);

    // The shipment really is in PostgreSQL: a second store on the schema sees it and its event.
    let other = lienthong::store::open(&schema.url).await.unwrap();
    let stored = other.shipment(&id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status.as_str(), stored.carrier_status),
        ("picked_up", 7)
    );
    let events = other
        .outbox_due_of_type("shipment.", i64::MAX, 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].shipment_id.as_deref(), Some(id.as_str()));
    assert_eq!(env.h.gw.deliver_outbox().await, 1);
    assert_eq!(env.events().await.len(), 1);
    drop(env);
    schema.drop().await;
}
