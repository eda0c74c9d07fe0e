//! Incidents, the public status and maintenance, end to end: the real gateway probing the notary
//! mock, a portal-like receiver of the operators' webhook, and a local SMTP sink.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use common::portal::check_signature;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const WEBHOOK_SECRET: &str = "incident-webhook-secret-0123456789abcdef";

/// A minimal SMTP server on 127.0.0.1:0 that accepts every message and keeps its envelope
/// recipients and its data.
#[derive(Default)]
struct SmtpSink {
    mails: Mutex<Vec<(Vec<String>, String)>>,
}

impl SmtpSink {
    async fn start() -> (Arc<SmtpSink>, u16) {
        let sink = Arc::new(SmtpSink::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let keep = sink.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(keep.clone().session(conn));
            }
        });
        (sink, port)
    }

    async fn session(self: Arc<Self>, conn: tokio::net::TcpStream) {
        let (read, mut write) = conn.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
        let mut rcpt = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let verb = line.to_ascii_uppercase();
            let reply: &[u8] = if verb.starts_with("EHLO") || verb.starts_with("HELO") {
                b"250-sink\r\n250 8BITMIME\r\n"
            } else if verb.starts_with("RCPT TO:") {
                rcpt.push(line[8..].trim().to_owned());
                b"250 OK\r\n"
            } else if verb.starts_with("DATA") {
                write.write_all(b"354 go on\r\n").await.unwrap();
                let mut data = String::new();
                while let Ok(Some(l)) = lines.next_line().await {
                    if l == "." {
                        break;
                    }
                    data.push_str(&l);
                    data.push('\n');
                }
                self.mails
                    .lock()
                    .unwrap()
                    .push((std::mem::take(&mut rcpt), data));
                b"250 queued\r\n"
            } else if verb.starts_with("QUIT") {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            } else {
                b"250 OK\r\n"
            };
            write.write_all(reply).await.unwrap();
        }
    }

    fn mails(&self) -> Vec<(Vec<String>, String)> {
        self.mails.lock().unwrap().clone()
    }
}

/// The text of a mail's body, whatever its transfer encoding (7bit, quoted-printable, base64).
fn mail_body(data: &str) -> String {
    let (head, body) = data.split_once("\n\n").unwrap();
    let encoding = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-transfer-encoding:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    match encoding.as_str() {
        "base64" => String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(body.split_whitespace().collect::<String>())
                .unwrap(),
        )
        .unwrap(),
        "quoted-printable" => {
            let joined = body.replace("=\n", "");
            let mut bytes = Vec::new();
            let mut it = joined.bytes();
            while let Some(b) = it.next() {
                if b == b'=' {
                    let hex: Vec<u8> = it.by_ref().take(2).collect();
                    bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap());
                } else {
                    bytes.push(b);
                }
            }
            String::from_utf8(bytes).unwrap()
        }
        _ => body.to_owned(),
    }
}

struct Setup {
    h: common::Harness,
    notary: lienthong_mocks::StartedSystem,
    portal: Arc<common::portal::Portal>,
    _portal_mock: lienthong_mocks::RunningMock,
    sink: Arc<SmtpSink>,
}

async fn setup() -> Setup {
    let notary = common::notary_records().await;
    let upstream = common::catalogue_mock().await;
    let (portal, portal_mock) = common::portal::start("/ops/incidents").await;
    let (sink, smtp_port) = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token.key"), common::TOKEN_KEY).unwrap();
    std::fs::write(dir.path().join("webhook.secret"), WEBHOOK_SECRET).unwrap();
    let extra = format!(
        r#"{notary}description = "Công chứng"
probe = {{ interval_s = 1, failures_to_open = 2 }}

[notify.webhook]
url = "{portal}/ops/incidents"
secret = "file:{d}/webhook.secret"
poll_interval_ms = 100

[notify.smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "Lien thong <noreply@lienthong.test>"
to = ["ops@province.test", "duty@province.test"]
"#,
        notary = common::notary_extra(&notary.mock.url(), dir.path()),
        portal = portal_mock.url(),
        d = dir.path().display(),
    );
    let text = common::config_text(&upstream.url(), dir.path(), &extra);
    let path = dir.path().join("lienthong.toml");
    std::fs::write(&path, text).unwrap();
    let h = common::start_with(upstream, dir, path).await;
    let _workers = h.gw.spawn_workers();
    Setup {
        h,
        notary,
        portal,
        _portal_mock: portal_mock,
        sink,
    }
}

/// `GET /v1/status` (no credentials) and the notary's entry in it.
async fn notary_status(h: &common::Harness) -> (reqwest::header::HeaderMap, Value) {
    let resp = h.http.get(h.url("/v1/status")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    let body: Value = resp.json().await.unwrap();
    let notary = body["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "notary")
        .unwrap()
        .clone();
    (headers, notary)
}

/// GETs an admin endpoint with the `ops` key and reads the JSON answer.
async fn admin_json(h: &common::Harness, path: &str) -> Value {
    h.http
        .get(format!("{}{path}", h.admin_base))
        .bearer_auth("ops-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits (up to 30 s) until `check` holds.
async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn incident_events(portal: &common::portal::Portal) -> Vec<(String, String, Value)> {
    portal
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|(sig, id, body)| (sig.clone(), id.clone(), serde_json::from_str(body).unwrap()))
        .collect()
}

/// The notary's WSDL starts failing: after two failed probes an incident opens (once), the
/// operators get the signed webhook and a mail, the status says `down` with the message; when
/// the WSDL is back the incident closes, and they hear of that too.
#[tokio::test]
async fn a_failing_upstream_opens_an_incident_that_operators_hear_of_and_that_closes() {
    let s = setup().await;
    let h = &s.h;
    let (headers, notary) = notary_status(h).await;
    assert_eq!(headers["cache-control"], "public, max-age=5");
    assert_eq!(notary["state"], "operational", "{notary}");
    wait_until("a first probe", || async {
        common::sample(
            &h.metrics().await,
            "lienthong_upstream_up{service=\"notary\"}",
        ) == 1.0
    })
    .await;

    let faults = format!("{}/__admin/faults", s.notary.mock.url());
    h.http
        .post(&faults)
        .json(&json!({"operation": "wsdl", "kind": "status", "status": 503}))
        .send()
        .await
        .unwrap();
    wait_until("the status to say down", || async {
        notary_status(h).await.1["state"] == "down"
    })
    .await;
    let (_, notary) = notary_status(h).await;
    assert!(
        notary["message_vi"]
            .as_str()
            .unwrap()
            .contains("Công chứng"),
        "{notary}"
    );
    assert!(
        notary["message_en"]
            .as_str()
            .unwrap()
            .contains("temporarily unavailable"),
        "{notary}"
    );
    let since = notary["since"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339).is_ok(),
        "{since}"
    );
    let metrics = h.metrics().await;
    assert_eq!(common::sample(&metrics, "lienthong_incidents_open"), 1.0);
    assert_eq!(
        common::sample(&metrics, "lienthong_upstream_up{service=\"notary\"}"),
        0.0
    );

    let listed = admin_json(h, "/v1/admin/incidents").await;
    let open = listed["open"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{listed}");
    assert_eq!(open[0]["service"], "notary");
    assert_eq!(open[0]["cause"], "probe_failed");
    let incident_id = open[0]["id"].as_str().unwrap().to_owned();

    wait_until("the webhook of the opening", || async {
        !incident_events(&s.portal).is_empty()
    })
    .await;
    let (sig, event_id, opened) = incident_events(&s.portal).remove(0);
    check_signature(WEBHOOK_SECRET, &sig, &opened.to_string());
    assert_eq!(opened["id"], event_id.as_str());
    assert_eq!(opened["type"], "incident.opened");
    assert_eq!(opened["data"]["incident_id"], incident_id.as_str());
    assert_eq!(opened["data"]["service"], "notary");
    assert_eq!(opened["data"]["state"], "down");
    wait_until("the mail of the opening", || async {
        !s.sink.mails().is_empty()
    })
    .await;
    let (rcpt, data) = s.sink.mails().remove(0);
    assert_eq!(rcpt, ["<ops@province.test>", "<duty@province.test>"]);
    let body = mail_body(&data);
    assert!(body.contains(&incident_id), "{body}");
    assert!(body.contains("Dịch vụ / Service: notary"), "{body}");
    assert!(body.contains("+07:00"), "times in Vietnam's zone: {body}");

    h.http.delete(&faults).send().await.unwrap();
    wait_until("the status to say operational", || async {
        notary_status(h).await.1["state"] == "operational"
    })
    .await;
    let (_, notary) = notary_status(h).await;
    assert!(
        notary["since"].is_string(),
        "since the incident closed: {notary}"
    );
    assert!(notary.get("message_en").is_none(), "{notary}");
    wait_until("the webhook of the closing", || async {
        incident_events(&s.portal).len() == 2
    })
    .await;
    let (sig, _, closed) = incident_events(&s.portal).remove(1);
    check_signature(WEBHOOK_SECRET, &sig, &closed.to_string());
    assert_eq!(closed["type"], "incident.closed");
    assert_eq!(closed["data"]["incident_id"], incident_id.as_str());
    assert!(closed["data"]["ended_at"].is_string(), "{closed}");
    wait_until("the mail of the closing", || async {
        s.sink.mails().len() == 2
    })
    .await;
    assert!(mail_body(&s.sink.mails()[1].1).contains("Ended"));
    assert_eq!(
        common::sample(&h.metrics().await, "lienthong_incidents_open"),
        0.0
    );
    // Still exactly one incident, now closed, and one event each way.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(incident_events(&s.portal).len(), 2);
    assert_eq!(s.sink.mails().len(), 2);
}

/// An admin pauses the notary: its calls get 503 `service_maintenance` with `Retry-After`, the
/// status shows it with its end, the admin audit records it, and ending it lets calls through.
#[tokio::test]
async fn a_service_in_maintenance_refuses_its_calls_until_an_admin_ends_it() {
    let s = setup().await;
    let h = &s.h;
    let maintenance = format!("{}/v1/admin/services/notary/maintenance", h.admin_base);
    let until = time::OffsetDateTime::now_utc() + time::Duration::minutes(30);
    let until = until
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let window = json!({
        "message_vi": "Bảo trì hệ thống công chứng",
        "message_en": "Notary records maintenance",
        "until": until,
    });

    let resp = h
        .http
        .post(&maintenance)
        .bearer_auth("registrar-key")
        .json(&window)
        .send()
        .await
        .unwrap();
    common::problem(resp, 403, "forbidden").await;
    let resp = h
        .http
        .post(format!(
            "{}/v1/admin/services/nope/maintenance",
            h.admin_base
        ))
        .bearer_auth("ops-key")
        .json(&window)
        .send()
        .await
        .unwrap();
    common::problem(resp, 404, "not_found").await;
    let resp = h
        .http
        .post(&maintenance)
        .bearer_auth("ops-key")
        .json(&json!({"message_vi": "", "message_en": "x", "until": "2001-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    let body = common::problem(resp, 422, "validation_failed").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["message_vi", "until"], "{body}");

    let resp = h
        .http
        .post(&maintenance)
        .bearer_auth("ops-key")
        .json(&window)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let lookup = || {
        h.post("/v1/notary/documents/lookup", "registrar-key")
            .header("x-user-id", "046185000123")
            .header("x-dossier-id", "HS-7")
            .header("accept-language", "en")
            .json(&json!({"document_number": "123/2026/HĐMB", "office_code": "46001"}))
            .send()
    };
    let resp = lookup().await.unwrap();
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1_700..=1_800).contains(&retry), "{retry}");
    let body = common::problem(resp, 503, "service_maintenance").await;
    assert_eq!(body["detail"], "Notary records maintenance");

    let (_, notary) = notary_status(h).await;
    assert_eq!(notary["state"], "maintenance");
    assert_eq!(notary["until"], until.as_str());
    assert_eq!(notary["message_vi"], "Bảo trì hệ thống công chứng");

    let audit = admin_json(h, "/v1/admin/audit").await;
    assert_eq!(audit["records"][0]["action"], "maintenance_start");
    assert_eq!(audit["records"][0]["target"], "notary");
    assert_eq!(audit["records"][0]["actor"], "ops");

    let resp = h
        .http
        .delete(&maintenance)
        .bearer_auth("ops-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["ended"], true);
    assert_eq!(lookup().await.unwrap().status(), 200);
    assert_eq!(notary_status(h).await.1["state"], "operational");
}
