//! Traces over OTLP: the real binary against the population mock and an OTLP/HTTP receiver of our
//! own, which decodes what it is sent with the collector's protobuf types.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use common::process::{signal, spawn_gateway, write_config};

/// The caller's trace: a portal that traces its own requests.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";
/// A trace its caller did not sample.
const UNSAMPLED_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

const CITIZEN_ID: &str = "046090001234";
const CITIZEN_NAME: &str = "Nguyễn Văn An";
const CITIZEN_BIRTH: &str = "1990-03-15";
const OFFICIAL_ID: &str = "046185000123";

/// What the receiver got: every span, and the `authorization` header of each export.
#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    credentials: Vec<String>,
}

/// An OTLP/HTTP traces receiver on 127.0.0.1:0; returns its traces URL.
async fn receiver(received: Arc<Mutex<Received>>) -> String {
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let received = received.clone();
            async move {
                assert_eq!(
                    headers.get("content-type").unwrap(),
                    "application/x-protobuf"
                );
                let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                    return (StatusCode::BAD_REQUEST, Vec::new());
                };
                let mut received = received.lock().unwrap();
                received.credentials.push(
                    headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned(),
                );
                for resource in request.resource_spans {
                    let named = resource
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .any(|a| {
                            a.key == "service.name"
                                && text(a.value.as_ref()) == Some("lienthong-test")
                        });
                    assert!(named, "the resource names the service");
                    for scope in resource.scope_spans {
                        received.spans.extend(scope.spans);
                    }
                }
                (StatusCode::OK, Vec::new())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1/traces")
}

fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> Option<&str> {
    match value?.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s),
        _ => None,
    }
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| text(a.value.as_ref()))
}

/// Every attribute value of a span written as text, whatever its type.
fn attribute_texts(span: &Span) -> Vec<String> {
    span.attributes
        .iter()
        .filter_map(|a| a.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            AnyValue::StringValue(s) => s.clone(),
            AnyValue::IntValue(i) => i.to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_verify_is_one_trace_under_the_callers_span_flushed_at_shutdown() {
    let received = Arc::new(Mutex::new(Received::default()));
    let endpoint = receiver(received.clone()).await;
    let population = common::population_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("otlp.token"), "Bearer collector-token\n").unwrap();
    // A minute between exports: what the receiver gets comes from the flush at shutdown.
    let extra = format!(
        r#"
[telemetry.otlp]
endpoint = "{endpoint}"
headers = {{ authorization = "file:{d}/otlp.token" }}
service_name = "lienthong-test"
export_interval_ms = 60000

{population}"#,
        population = common::population_extra(&population.mock.url(), d),
        d = d.display(),
    );
    let gw = spawn_gateway(&write_config(d, "http://127.0.0.1:9", &extra));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let verify = |traceparent: Option<String>| {
        let mut request = http
            .post(format!("http://{}/v1/citizens/verify", gw.addr))
            .bearer_auth("clerk-key")
            .header("x-user-id", OFFICIAL_ID)
            .header("x-dossier-id", "HS-2026-0042")
            .json(&serde_json::json!({
                "citizen_id": CITIZEN_ID, "full_name": CITIZEN_NAME, "date_of_birth": CITIZEN_BIRTH,
            }));
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        request.send()
    };
    let traced = verify(Some(format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01")))
        .await
        .unwrap();
    assert_eq!(traced.status(), 200, "{:?}", traced.text().await);
    let unsampled = verify(Some(format!("00-{UNSAMPLED_TRACE_ID}-{CALLER_SPAN_ID}-00")))
        .await
        .unwrap();
    assert_eq!(unsampled.status(), 200);
    // A caller without a trace: the gateway starts one.
    let untraced = verify(None).await.unwrap();
    assert_eq!(untraced.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        received.lock().unwrap().spans.is_empty(),
        "nothing is exported before the interval or the shutdown"
    );

    // The drain flushes the queue.
    let mut gw = gw;
    signal(&gw.child, "TERM");
    let started = std::time::Instant::now();
    while gw.child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(20), "no exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = std::mem::take(&mut *received.lock().unwrap());
    assert!(
        received
            .credentials
            .iter()
            .all(|c| c == "Bearer collector-token"),
        "the configured header goes with every export: {:?}",
        received.credentials
    );
    let spans = &received.spans;
    let trace_id = hex::decode(TRACE_ID).unwrap();
    let in_trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    let named = |name: &str| -> &Span {
        let found: Vec<_> = in_trace.iter().filter(|s| s.name == name).collect();
        assert_eq!(found.len(), 1, "one {name} span: {in_trace:#?}");
        found[0]
    };
    let (edge, auth, cache, upstream) = (
        named("edge"),
        named("auth"),
        named("cache"),
        named("upstream"),
    );
    assert_eq!(edge.parent_span_id, hex::decode(CALLER_SPAN_ID).unwrap());
    assert_eq!(auth.parent_span_id, edge.span_id);
    assert_eq!(cache.parent_span_id, edge.span_id);
    assert_eq!(upstream.parent_span_id, cache.span_id);
    let stores: Vec<_> = in_trace.iter().filter(|s| s.name == "store").collect();
    assert!(
        stores
            .iter()
            .any(|s| attribute(s, "db.operation.name") == Some("audit.append")),
        "{stores:#?}"
    );
    assert!(stores.iter().all(|s| s.parent_span_id == edge.span_id));
    assert_eq!(attribute(edge, "http.route"), Some("/v1/citizens/verify"));
    assert_eq!(attribute(edge, "http.request.method"), Some("POST"));
    assert_eq!(attribute(edge, "lienthong.client"), Some("clerk"));
    assert_eq!(attribute(edge, "lienthong.service"), Some("population"));
    assert_eq!(attribute(edge, "lienthong.operation"), Some("verify"));
    assert_eq!(attribute(cache, "lienthong.cache.outcome"), Some("miss"));
    assert_eq!(attribute(upstream, "lienthong.outcome"), Some("ok"));
    assert_eq!(attribute(upstream, "server.address"), Some("127.0.0.1"));

    // The upstream was called as the child of the upstream span.
    let journal: serde_json::Value = http
        .get(format!("{}/__admin/journal", population.mock.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sent: Vec<&str> = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["headers"]["traceparent"].as_str())
        .collect();
    let expected = format!("00-{TRACE_ID}-{}-01", hex::encode(&upstream.span_id));
    assert!(sent.contains(&expected.as_str()), "{sent:?}");

    // A trace its caller did not sample is not exported.
    let unsampled_id = hex::decode(UNSAMPLED_TRACE_ID).unwrap();
    assert!(spans.iter().all(|s| s.trace_id != unsampled_id));
    // The untraced request is a trace of its own, rooted at the edge; the cache answered it.
    let roots: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "edge" && s.parent_span_id.is_empty())
        .collect();
    assert_eq!(roots.len(), 1, "{spans:#?}");
    let root: Vec<_> = spans
        .iter()
        .filter(|s| s.trace_id == roots[0].trace_id)
        .collect();
    let mut names: Vec<_> = root.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names, ["auth", "cache", "edge", "store"], "{root:#?}");
    assert!(
        root.iter()
            .any(|s| attribute(s, "lienthong.cache.outcome") == Some("hit"))
    );

    // No span says who the citizen or the official is.
    for span in spans {
        for value in attribute_texts(span) {
            for secret in [CITIZEN_ID, CITIZEN_NAME, CITIZEN_BIRTH, OFFICIAL_ID] {
                assert!(!value.contains(secret), "{} has {value}", span.name);
            }
        }
    }
}
