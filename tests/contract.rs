//! The API contract, `schemas/openapi.json`, checked against itself and against `serve --demo`:
//! every operation named once and secured, its bodies named schemas, every example valid against
//! its schema; then each operation's example request sent to the demo gateway and answered with a
//! status the operation documents and a body its schema takes, and a schema-invalid variant of
//! each request body refused with a documented 4xx. Schemathesis runs over the same document by
//! hand (`bench/contract.sh`, docs/api-contract.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use lienthong::app::demo;
use serde_json::{Value, json};

use common::process::{DemoProcess as Demo, start_demo};

const DOC: &str = include_str!("../schemas/openapi.json");
/// Where the document is a resource for the validator.
const BASE: &str = "http://lienthong.invalid/openapi.json";
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn doc() -> Value {
    serde_json::from_str(DOC).unwrap()
}

/// A JSON pointer token.
fn esc(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The value `v` names when it is a `$ref` (followed to the end), else `v`.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    let mut v = v;
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        v = doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{r} names nothing in the document"));
    }
    v
}

/// Where a value lives: its `$ref` when it is one, else `at`.
fn location(v: &Value, at: &str) -> String {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => r.trim_start_matches('#').to_owned(),
        None => at.to_owned(),
    }
}

/// One operation of the document, with its parameters (the path's and its own, resolved).
struct Operation {
    method: &'static str,
    path: String,
    id: String,
    op: Value,
    /// JSON pointer of the operation.
    at: String,
    params: Vec<Value>,
}

impl Operation {
    fn name(&self) -> String {
        format!("{} ({} {})", self.id, self.method.to_uppercase(), self.path)
    }
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else {
                continue;
            };
            let mut params: Vec<Value> = Vec::new();
            let path_level = item["parameters"].as_array().cloned().unwrap_or_default();
            let own = op["parameters"].as_array().cloned().unwrap_or_default();
            for p in path_level.iter().chain(own.iter()) {
                let p = resolve(doc, p).clone();
                // An operation's parameter overrides the path's of the same name and place.
                params.retain(|q: &Value| !(q["name"] == p["name"] && q["in"] == p["in"]));
                params.push(p);
            }
            out.push(Operation {
                method,
                path: path.clone(),
                id: op["operationId"].as_str().unwrap_or_default().to_owned(),
                op: op.clone(),
                at: format!("/paths/{}/{method}", esc(path)),
                params,
            });
        }
    }
    out
}

/// The webhooks: (event name, operation).
fn webhooks(doc: &Value) -> Vec<(String, Value)> {
    doc["webhooks"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(name, item)| (name.clone(), item["post"].clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn json_like(content_type: &str) -> bool {
    content_type == "application/json"
        || content_type.ends_with("+json")
        || content_type == "application/x-www-form-urlencoded"
}

/// The document compiled for validation, with the formats it names that JSON Schema does not
/// know checked by the gateway's own rules.
struct Validator {
    compiler: boon::Compiler,
    schemas: boon::Schemas,
    compiled: BTreeMap<String, boon::SchemaIndex>,
}

fn tax_code_format(v: &Value) -> Result<(), Box<dyn std::error::Error>> {
    match v.as_str().and_then(lienthong::validate::tax_code_problem) {
        Some(why) => Err(format!("{why:?}").into()),
        None => Ok(()),
    }
}

fn payment_code_format(v: &Value) -> Result<(), Box<dyn std::error::Error>> {
    match v.as_str() {
        Some(s) => lienthong::services::payments::code::parse(s)
            .map(|_| ())
            .map_err(|e| format!("{e:?}").into()),
        None => Ok(()),
    }
}

impl Validator {
    fn new(doc: &Value) -> Validator {
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler.enable_format_assertions();
        compiler.register_format(boon::Format {
            name: "vn-tax-code",
            func: tax_code_format,
        });
        compiler.register_format(boon::Format {
            name: "lienthong-payment-code",
            func: payment_code_format,
        });
        compiler.add_resource(BASE, doc.clone()).unwrap();
        Validator {
            compiler,
            schemas: boon::Schemas::new(),
            compiled: BTreeMap::new(),
        }
    }

    /// Checks `value` against the schema at JSON pointer `at`.
    fn check(&mut self, at: &str, value: &Value) -> Result<(), String> {
        let index = match self.compiled.get(at) {
            Some(i) => *i,
            None => {
                let i = self
                    .compiler
                    .compile(&format!("{BASE}#{at}"), &mut self.schemas)
                    .map_err(|e| format!("the schema at {at} does not compile: {e:#}"))?;
                self.compiled.insert(at.to_owned(), i);
                i
            }
        };
        self.schemas
            .validate(value, index)
            .map_err(|e| format!("{e:#}"))
    }
}

#[test]
fn every_operation_is_named_once() {
    let doc = doc();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut faults = Vec::new();
    let named = operations(&doc)
        .into_iter()
        .map(|o| (o.name(), o.id))
        .chain(webhooks(&doc).into_iter().map(|(event, op)| {
            (
                format!("webhook {event}"),
                op["operationId"].as_str().unwrap_or_default().to_owned(),
            )
        }));
    for (name, id) in named {
        if id.is_empty() {
            faults.push(format!("{name}: no operationId"));
            continue;
        }
        let camel = id.starts_with(|c: char| c.is_ascii_lowercase())
            && id.chars().all(|c| c.is_ascii_alphanumeric());
        if !camel {
            faults.push(format!("{name}: operationId `{id}` is not camelCase"));
        }
        if let Some(other) = seen.insert(id.clone(), name.clone()) {
            faults.push(format!("{name}: operationId `{id}` is also {other}'s"));
        }
    }
    assert!(seen.len() > 50, "{seen:?}");
    assert!(faults.is_empty(), "{faults:#?}");
}

#[test]
fn every_operation_declares_how_it_is_called() {
    let doc = doc();
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    let of_type = |t: &'static str| schemes.values().filter(move |s| s["type"] == t);
    assert!(
        of_type("oauth2").any(|s| s["flows"]["clientCredentials"]["tokenUrl"] == "/oauth/token"),
        "no OAuth2 client credentials scheme with tokenUrl /oauth/token"
    );
    assert!(
        of_type("http").any(|s| s["scheme"] == "bearer"),
        "no bearer (API key) scheme"
    );
    assert!(of_type("mutualTLS").count() == 1, "no mutual TLS scheme");
    let mut faults = Vec::new();
    for op in operations(&doc) {
        let Some(security) = op.op["security"].as_array() else {
            faults.push(format!("{}: no `security`", op.name()));
            continue;
        };
        for requirement in security {
            for scheme in requirement.as_object().unwrap().keys() {
                if !schemes.contains_key(scheme) {
                    faults.push(format!("{}: unknown security scheme `{scheme}`", op.name()));
                }
            }
        }
    }
    assert!(faults.is_empty(), "{faults:#?}");
}

#[test]
fn bodies_are_named_schemas_and_every_answer_carries_its_request_id() {
    let doc = doc();
    let mut faults = Vec::new();
    let named = |schema: &Value| {
        schema["$ref"]
            .as_str()
            .is_some_and(|r| r.starts_with("#/components/schemas/"))
    };
    for op in operations(&doc) {
        let name = op.name();
        for (ct, media) in op.op["requestBody"]["content"]
            .as_object()
            .into_iter()
            .flatten()
        {
            if json_like(ct) && !named(&media["schema"]) {
                faults.push(format!(
                    "{name}: the {ct} request body is not a named schema"
                ));
            }
        }
        let Some(responses) = op.op["responses"].as_object() else {
            faults.push(format!("{name}: no responses"));
            continue;
        };
        for (status, r) in responses {
            if r.get("$ref").is_some_and(|v| {
                !v.as_str()
                    .unwrap_or_default()
                    .starts_with("#/components/responses/")
            }) {
                faults.push(format!("{name}: {status} is not a shared response"));
            }
            let r = resolve(&doc, r);
            if r["headers"].get("X-Request-Id").is_none() {
                faults.push(format!("{name}: {status} does not declare X-Request-Id"));
            }
            for (ct, media) in r["content"].as_object().into_iter().flatten() {
                if ct == "application/problem+json" {
                    let schema = media["schema"]["$ref"].as_str().unwrap_or_default();
                    if !schema.ends_with("/Problem") && !schema.ends_with("/ValidationProblem") {
                        faults.push(format!(
                            "{name}: {status} is a problem but not a Problem schema"
                        ));
                    }
                } else if json_like(ct) && !named(&media["schema"]) {
                    faults.push(format!("{name}: {status} {ct} is not a named schema"));
                }
            }
        }
    }
    assert!(faults.is_empty(), "{faults:#?}");
}

/// Every example in the document, with the pointer of the schema it must satisfy.
fn examples(v: &Value, at: &str, out: &mut Vec<(String, String, Value)>) {
    match v {
        Value::Object(map) => {
            let has_schema = map.contains_key("schema");
            for (k, child) in map {
                let child_at = format!("{at}/{}", esc(k));
                match (k.as_str(), has_schema) {
                    // A parameter's, a header's or a media type's example.
                    ("example", true) => out.push((
                        child_at,
                        location(&map["schema"], &format!("{at}/schema")),
                        child.clone(),
                    )),
                    ("examples", true) => {
                        for (name, ex) in child.as_object().into_iter().flatten() {
                            if let Some(value) = ex.get("value") {
                                out.push((
                                    format!("{child_at}/{}", esc(name)),
                                    location(&map["schema"], &format!("{at}/schema")),
                                    value.clone(),
                                ));
                            }
                        }
                    }
                    // A schema's own examples.
                    ("examples", false) if child.is_array() => {
                        for (i, ex) in child.as_array().unwrap().iter().enumerate() {
                            out.push((format!("{child_at}/{i}"), at.to_owned(), ex.clone()));
                        }
                    }
                    ("example", false) if at.contains("/schemas/") || at.contains("/schema") => {
                        out.push((child_at, at.to_owned(), child.clone()))
                    }
                    _ => examples(child, &child_at, out),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                examples(item, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_example_is_valid_against_its_schema() {
    let doc = doc();
    let mut found = Vec::new();
    examples(&doc, "", &mut found);
    assert!(found.len() > 50, "{}", found.len());
    let mut validator = Validator::new(&doc);
    let faults: Vec<String> = found
        .iter()
        .filter_map(|(at, schema, value)| {
            validator
                .check(schema, value)
                .err()
                .map(|e| format!("the example at {at} is not valid against {schema}: {e}"))
        })
        .collect();
    assert!(faults.is_empty(), "{faults:#?}");
}

#[test]
fn every_operation_shows_an_example_request_and_answer() {
    let doc = doc();
    let mut faults = Vec::new();
    for op in operations(&doc) {
        for p in &op.params {
            if p["required"] == true && example_of(p).is_none() {
                faults.push(format!(
                    "{}: the required {} parameter {} has no example",
                    op.name(),
                    p["in"],
                    p["name"]
                ));
            }
        }
        for (ct, media) in op.op["requestBody"]["content"]
            .as_object()
            .into_iter()
            .flatten()
        {
            if json_like(ct) && media.get("example").is_none() {
                faults.push(format!(
                    "{}: the {ct} request body has no example",
                    op.name()
                ));
            }
        }
        // What a success looks like, but for the document itself.
        for (status, r) in op.op["responses"].as_object().into_iter().flatten() {
            if !status.starts_with('2') || op.id == "getOpenApi" {
                continue;
            }
            for (ct, media) in resolve(&doc, r)["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                let shown = media.get("example").is_some()
                    || resolve(&doc, &media["schema"]).get("examples").is_some();
                if json_like(ct) && !shown {
                    faults.push(format!(
                        "{}: the {status} {ct} answer has no example",
                        op.name()
                    ));
                }
            }
        }
    }
    assert!(faults.is_empty(), "{faults:#?}");
}

#[test]
fn webhooks_describe_every_portal_event_and_its_signature() {
    let doc = doc();
    let hooks: BTreeMap<String, Value> = webhooks(&doc).into_iter().collect();
    for event in [
        "payment.paid",
        "payment.failed",
        "payment.expired",
        "payment.reversed",
        "shipment.status_changed",
    ] {
        let op = hooks
            .get(event)
            .unwrap_or_else(|| panic!("webhooks: no {event}"));
        let signature = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Lienthong-Signature")
            .unwrap_or_else(|| panic!("webhook {event}: no Lienthong-Signature header"));
        assert_eq!(signature["in"], "header");
        assert_eq!(signature["required"], true);
        // What the gateway signs matches the documented form.
        let pattern = signature["schema"]["pattern"].as_str().unwrap();
        let header = lienthong::signature::sign(b"secret", 1_767_225_600, b"{}");
        let mut validator = Validator::new(&json!({ "pattern": pattern }));
        assert!(
            validator.check("", &json!(header)).is_ok(),
            "{header} does not match {pattern}"
        );
    }
    // The events the outbox sends are the documented ones.
    for kind in ["payment.", "shipment.status_changed"] {
        assert!(hooks.keys().any(|k| k.starts_with(kind)), "{kind}");
    }
}

// ---- against the demo gateway ----------------------------------------------------------------

/// A parameter's example: its own, or its schema's first.
fn example_of(p: &Value) -> Option<Value> {
    p.get("example")
        .cloned()
        .or_else(|| p["schema"]["examples"].get(0).cloned())
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What the gateway answered.
struct Answer {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(600)
            .collect()
    }
}

/// Sends `op` as its examples say, with `body` (the example's, or a variant), `ids` standing in
/// for the examples' record ids.
async fn send(
    http: &reqwest::Client,
    demo: &Demo,
    op: &Operation,
    body: Option<&Value>,
    ids: &BTreeMap<&'static str, String>,
) -> Answer {
    let mut path = op.path.clone();
    let mut query = Vec::new();
    let mut headers = Vec::new();
    for p in &op.params {
        let Some(value) = example_of(p) else {
            continue;
        };
        let name = p["name"].as_str().unwrap();
        if name == "Lienthong-Signature" {
            // Signed below, over the body sent.
            continue;
        }
        let mut value = text_of(&value);
        if name == "Idempotency-Key" {
            // A key names one request: each request sent here is a new one.
            value = format!("\"{}\"", uuid::Uuid::new_v4());
        }
        // The records this run created stand in for the examples' ids.
        if name == "id" {
            for (prefix, id) in ids {
                if op.path.starts_with(prefix) {
                    value = id.clone();
                }
            }
        }
        match p["in"].as_str().unwrap() {
            "path" => path = path.replace(&format!("{{{name}}}"), &value),
            "query" => query.push((name.to_owned(), value)),
            "header" => headers.push((name.to_owned(), value)),
            _ => {}
        }
    }
    let admin = path.starts_with("/v1/admin/") || path == "/metrics";
    let base = if admin { &demo.admin } else { &demo.public };
    let method = reqwest::Method::from_bytes(op.method.to_uppercase().as_bytes()).unwrap();
    let mut req = http.request(method, format!("{base}{path}")).query(&query);
    let security = op.op["security"].as_array().cloned().unwrap_or_default();
    let bank = security.iter().any(|s| s.get("apiKey").is_some()) && security.len() == 2;
    let key = if security.is_empty() || security.iter().any(|s| s == &json!({})) {
        None
    } else if admin {
        Some(demo::ADMIN_API_KEY)
    } else if bank || op.path.starts_with("/v1/collection/") {
        Some(demo::BANK_API_KEY)
    } else {
        Some(demo::PORTAL_API_KEY)
    };
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    for (name, value) in headers {
        req = req.header(name, value);
    }
    if let Some(body) = body {
        let content = op.op["requestBody"]["content"].as_object().unwrap();
        if content.contains_key("application/x-www-form-urlencoded") {
            let pairs: Vec<(String, String)> = body
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), text_of(v)))
                .collect();
            req = req.form(&pairs);
        } else {
            let bytes = serde_json::to_vec(body).unwrap();
            if op.op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["name"] == "Lienthong-Signature")
            {
                let t = time::OffsetDateTime::now_utc().unix_timestamp();
                let signature =
                    lienthong::signature::sign(demo::BANK_SIGNATURE_SECRET.as_bytes(), t, &bytes);
                req = req.header("Lienthong-Signature", signature);
            }
            req = req.header("Content-Type", "application/json").body(bytes);
        }
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap().to_vec();
    Answer {
        status,
        content_type,
        headers,
        body,
    }
}

/// Whether the operation documents the answer: its status (or `2XX`, `default`), its content
/// type, a JSON body its schema takes. `Err` says what is missing.
fn documented(
    doc: &Value,
    validator: &mut Validator,
    op: &Operation,
    answer: &Answer,
) -> Result<(), String> {
    let responses = op.op["responses"].as_object().unwrap();
    let status = answer.status.to_string();
    let class = format!("{}XX", &status[..1]);
    let Some((key, r)) = [status.as_str(), class.as_str(), "default"]
        .into_iter()
        .find_map(|k| responses.get(k).map(|r| (k, r)))
    else {
        return Err(format!(
            "{}: answered {status}, which it does not document (it documents {:?}): {}",
            op.name(),
            responses.keys().collect::<Vec<_>>(),
            answer.text()
        ));
    };
    let at = location(r, &format!("{}/responses/{}", op.at, esc(key)));
    let r = resolve(doc, r);
    // Its headers: each required one sent, each sent as its schema says.
    for (name, h) in r["headers"].as_object().into_iter().flatten() {
        let h_at = location(h, &format!("{at}/headers/{}", esc(name)));
        let h = resolve(doc, h);
        match answer.headers.get(name).map(|v| v.to_str()) {
            None if h["required"] == true => {
                return Err(format!("{}: {status} without its {name} header", op.name()));
            }
            None => {}
            Some(value) => {
                let value = value.unwrap_or_default();
                validator
                    .check(&format!("{h_at}/schema"), &json!(value))
                    .map_err(|e| format!("{}: {status} {name}: {value}: {e}", op.name()))?;
            }
        }
    }
    let Some(content) = r["content"].as_object() else {
        return Ok(());
    };
    if content.is_empty() || answer.body.is_empty() && answer.status == 204 {
        return Ok(());
    }
    if !content.contains_key(&answer.content_type) {
        return Err(format!(
            "{}: answered {status} as {}, which it does not document ({:?})",
            op.name(),
            answer.content_type,
            content.keys().collect::<Vec<_>>()
        ));
    }
    if json_like(&answer.content_type) {
        let value: Value = serde_json::from_slice(&answer.body).map_err(|e| {
            format!(
                "{}: {status} is not JSON ({e}): {}",
                op.name(),
                answer.text()
            )
        })?;
        let schema_at = format!("{at}/content/{}/schema", esc(&answer.content_type));
        validator.check(&schema_at, &value).map_err(|e| {
            format!(
                "{}: the {status} body is not valid against its schema: {e}\n{}",
                op.name(),
                answer.text()
            )
        })?;
    }
    Ok(())
}

/// Operations whose example must succeed against the demo (the others answer as documented:
/// an unsigned callback, a record the demo does not hold).
const MUST_SUCCEED: [&str; 36] = [
    "issueToken",
    "listServices",
    "proxyGet",
    "listClients",
    "listAuditRecords",
    "getHealth",
    "getReadiness",
    "getMetrics",
    "getOpenApi",
    "getEvidenceKeys",
    "getProblemType",
    "verifyCitizen",
    "lookupCitizen",
    "getEnterprise",
    "listEnterpriseRepresentatives",
    "purgeCache",
    "lookupNotaryDocument",
    "verifyNotaryDocument",
    "createPayment",
    "listPayments",
    "getPayment",
    "paymentQrSvg",
    "paymentQrPng",
    "listOutboxEvents",
    "sweepPayments",
    "createShipment",
    "listShipments",
    "quoteShipment",
    "getShipment",
    "cancelShipment",
    "usageReport",
    "getStatus",
    "listIncidents",
    "startMaintenance",
    "endMaintenance",
    "listDemoEvents",
];

/// Operations that change what the others see, run last in this order.
const LAST: [&str; 4] = [
    "startMaintenance",
    "endMaintenance",
    "suspendClient",
    "resumeClient",
];

/// The example body of an operation, `until` moved to the near future where the document says it
/// must be (a fixed date would pass).
fn example_body(op: &Operation) -> Option<Value> {
    let content = op.op["requestBody"]["content"].as_object()?;
    let mut body = content.values().find_map(|m| m.get("example").cloned())?;
    if let Some(until) = body.get_mut("until") {
        let soon = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        *until = json!(
            soon.format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        );
    }
    Some(body)
}

/// Schema-invalid variants of a request body: a required field left out, an unknown field where
/// none is allowed, a required field of the wrong type.
fn invalid_variants(doc: &Value, op: &Operation, body: &Value) -> Vec<(String, Value)> {
    let content = op.op["requestBody"]["content"].as_object().unwrap();
    let Some(media) = content.get("application/json") else {
        return Vec::new();
    };
    let schema = resolve(doc, &media["schema"]);
    let Some(object) = body.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if let Some(first) = required.first() {
        let mut v = object.clone();
        v.remove(*first);
        out.push((format!("without `{first}`"), Value::Object(v)));
        let wrong = match resolve(doc, &schema["properties"][*first])["type"].as_str() {
            Some("array") => json!({}),
            Some("string") => json!([1, 2]),
            _ => json!("not a number"),
        };
        let mut v = object.clone();
        v.insert((*first).to_owned(), wrong);
        out.push((format!("`{first}` of the wrong type"), Value::Object(v)));
    }
    if schema["additionalProperties"] == false {
        let mut v = object.clone();
        v.insert("not_a_field".into(), json!(1));
        out.push(("with an unknown field".into(), Value::Object(v)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_answers_every_example_as_documented() {
    common::install_crypto();
    let doc = doc();
    let demo = start_demo();
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut validator = Validator::new(&doc);
    let mut ops = operations(&doc);
    ops.sort_by_key(|o| LAST.iter().position(|l| *l == o.id));
    let mut ids: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut faults = Vec::new();
    let mut sent = BTreeSet::new();
    let mut refused = 0;
    for op in &ops {
        let body = example_body(op);
        let answer = send(&http, &demo, op, body.as_ref(), &ids).await;
        sent.insert(op.id.clone());
        if let Err(e) = documented(&doc, &mut validator, op, &answer) {
            faults.push(e);
        }
        if MUST_SUCCEED.contains(&op.id.as_str()) && !(200..300).contains(&answer.status) {
            faults.push(format!(
                "{}: its example answered {}: {}",
                op.name(),
                answer.status,
                answer.text()
            ));
        }
        let created: Option<Value> = serde_json::from_slice(&answer.body).ok();
        match (op.id.as_str(), created) {
            ("createPayment", Some(v)) => {
                ids.insert("/v1/payments/", text_of(&v["payment_id"]));
            }
            ("createShipment", Some(v)) => {
                ids.insert("/v1/shipments/", text_of(&v["shipment_id"]));
            }
            _ => {}
        }
        // A schema-invalid body is refused, with a documented 4xx.
        for (what, variant) in body
            .as_ref()
            .map(|b| invalid_variants(&doc, op, b))
            .unwrap_or_default()
        {
            let answer = send(&http, &demo, op, Some(&variant), &ids).await;
            refused += 1;
            if !(400..500).contains(&answer.status) {
                faults.push(format!(
                    "{}: a body {what} answered {}, not a 4xx: {}",
                    op.name(),
                    answer.status,
                    answer.text()
                ));
            } else if let Err(e) = documented(&doc, &mut validator, op, &answer) {
                faults.push(format!("a body {what}: {e}"));
            }
        }
    }
    assert!(refused > 30, "only {refused} schema-invalid bodies sent");
    for id in MUST_SUCCEED {
        assert!(
            sent.contains(id),
            "{id} is not an operation of the document"
        );
    }
    assert!(faults.is_empty(), "{faults:#?}");
}
