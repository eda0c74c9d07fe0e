//! `docs/lienthong.postman_collection.json`, the request collection for Postman (and the tools
//! that import its v2.1 format, Insomnia, Bruno, Hoppscotch): one request per operation of
//! `schemas/openapi.json`, with the demo's address and credentials as collection variables. It is
//! generated here from the document and must stay the one the document gives; and its requests,
//! sent with those variables, pass the demo gateway's guard.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use lienthong::app::demo;
use serde_json::{Map, Value, json};

/// Set to write the generated collection over the committed one.
const WRITE: &str = "LIENTHONG_WRITE_COLLECTION";

/// Where the collection is committed.
const COLLECTION: &str = "docs/lienthong.postman_collection.json";

/// The methods of an OpenAPI path item, in the collection's order.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The demo's public listener and, on the next port, its operators' one.
const DEMO_BASE_URL: &str = "http://127.0.0.1:8080";
const DEMO_ADMIN_BASE_URL: &str = "http://127.0.0.1:8081";

/// A citizen's personal ID number and a dossier of the demo data, for `X-User-Id` and
/// `X-Dossier-Id`.
const DEMO_USER_ID: &str = "046185000123";
const DEMO_DOSSIER_ID: &str = "HS-2026-0001";

/// Signs a request of a partner bank as the gateway checks it (`Lienthong-Signature`):
/// HMAC-SHA256 of `t.body` with the bank's secret, in Postman's sandbox (CryptoJS).
const SIGN_SCRIPT: [&str; 4] = [
    "const t = Math.floor(Date.now() / 1000).toString();",
    "const body = pm.request.body ? pm.request.body.toString() : '';",
    "const v1 = CryptoJS.HmacSHA256(t + '.' + body, pm.variables.get('bankSignatureSecret')).toString(CryptoJS.enc.Hex);",
    "pm.request.headers.upsert({ key: 'Lienthong-Signature', value: 't=' + t + ',v1=' + v1 });",
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The collection's variables: the demo's address and credentials (`serve --demo`).
fn variables() -> Vec<(&'static str, String)> {
    vec![
        ("baseUrl", DEMO_BASE_URL.into()),
        ("adminBaseUrl", DEMO_ADMIN_BASE_URL.into()),
        ("apiKey", demo::PORTAL_API_KEY.into()),
        ("clientId", demo::PORTAL_CLIENT.into()),
        ("clientSecret", demo::PORTAL_SECRET.into()),
        ("adminApiKey", demo::ADMIN_API_KEY.into()),
        ("bankApiKey", demo::BANK_API_KEY.into()),
        ("bankSignatureSecret", demo::BANK_SIGNATURE_SECRET.into()),
        ("userId", DEMO_USER_ID.into()),
        ("dossierId", DEMO_DOSSIER_ID.into()),
    ]
}

/// Follows a local `$ref` (`#/components/...`) to what it names; anything else as it is.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    let mut value = value;
    for _ in 0..8 {
        let Some(pointer) = value.get("$ref").and_then(Value::as_str) else {
            break;
        };
        match pointer.strip_prefix('#').and_then(|p| doc.pointer(p)) {
            Some(target) => value = target,
            None => break,
        }
    }
    value
}

/// The example the document gives for a parameter or a media type: `example`, the first of
/// `examples`, or its schema's `example`, `const` or `default`.
fn example_of(doc: &Value, item: &Value) -> Option<Value> {
    if let Some(v) = item.get("example") {
        return Some(v.clone());
    }
    if let Some(first) = item
        .get("examples")
        .and_then(Value::as_object)
        .and_then(|e| e.values().next())
    {
        return resolve(doc, first).get("value").cloned();
    }
    let schema = resolve(doc, item.get("schema")?);
    ["example", "const", "default"]
        .into_iter()
        .find_map(|k| schema.get(k).cloned())
        .or_else(|| {
            schema
                .get("examples")
                .and_then(Value::as_array)
                .and_then(|e| e.first().cloned())
        })
}

/// A value as text in a URL or a header.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The value of a parameter in the collection: the demo's variable for the headers the gateway
/// asks of every personal-data call, a fresh key for `Idempotency-Key`, else the document's
/// example (empty when it has none).
fn parameter_value(doc: &Value, parameter: &Value) -> String {
    match parameter["name"].as_str().unwrap_or("") {
        "X-User-Id" => "{{userId}}".into(),
        "X-Dossier-Id" => "{{dossierId}}".into(),
        // An RFC 8941 string: quoted. Postman makes a new UUID at each send.
        "Idempotency-Key" => "\"{{$guid}}\"".into(),
        _ => example_of(doc, parameter)
            .map(|v| text(&v))
            .unwrap_or_default(),
    }
}

/// The name of an operation: its `operationId`, else one made of the method and the path.
fn operation_name(method: &str, path: &str, operation: &Value) -> String {
    if let Some(id) = operation["operationId"].as_str() {
        return id.to_owned();
    }
    let mut name = method.to_owned();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        name.push('_');
        name.extend(
            segment
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    name.split('_')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// Whether the operators' listener serves the path (`/v1/admin/*`, `/metrics`); in demo mode it
/// is the next port.
fn on_admin_listener(path: &str) -> bool {
    path.starts_with("/v1/admin/") || path == "/metrics"
}

/// The request's credentials when they are not the collection's own (the portal's API key).
fn auth_of(path: &str, operation: &Value, doc: &Value) -> Option<Value> {
    let bearer = |var: &str| json!({ "type": "bearer", "bearer": [{ "key": "token", "value": format!("{{{{{var}}}}}"), "type": "string" }] });
    let security = operation.get("security").or_else(|| doc.get("security"));
    let schemes: Vec<&str> = security
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|requirement| requirement.keys().map(String::as_str))
        .collect();
    if security
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        return Some(json!({ "type": "noauth" }));
    }
    if schemes.contains(&"basic") {
        return Some(json!({ "type": "basic", "basic": [
            { "key": "username", "value": "{{clientId}}", "type": "string" },
            { "key": "password", "value": "{{clientSecret}}", "type": "string" },
        ] }));
    }
    if on_admin_listener(path) {
        return Some(bearer("adminApiKey"));
    }
    let tags = operation["tags"].as_array().cloned().unwrap_or_default();
    if tags.iter().any(|t| t == "collection") {
        return Some(bearer("bankApiKey"));
    }
    None
}

/// The body of the request: the document's example as JSON text, or as form fields (the
/// example's, else the schema's required constants); empty when there is none.
fn body_of(doc: &Value, operation: &Value) -> Option<(Value, &'static str)> {
    let content = resolve(doc, operation.get("requestBody")?).get("content")?;
    let content = content.as_object()?;
    if let Some(form) = content.get("application/x-www-form-urlencoded") {
        let fields: Vec<(String, String)> = match example_of(doc, form) {
            Some(Value::Object(example)) => {
                example.iter().map(|(k, v)| (k.clone(), text(v))).collect()
            }
            _ => {
                let schema = resolve(doc, &form["schema"]);
                let required = schema["required"].as_array().cloned().unwrap_or_default();
                required
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|name| {
                        let property = resolve(doc, &schema["properties"][name]);
                        let value = ["example", "const", "default"]
                            .into_iter()
                            .find_map(|k| property.get(k))
                            .map(text)
                            .unwrap_or_default();
                        (name.to_owned(), value)
                    })
                    .collect()
            }
        };
        let fields: Vec<Value> = fields
            .into_iter()
            .map(|(k, v)| json!({ "key": k, "value": v, "type": "text" }))
            .collect();
        return Some((
            json!({ "mode": "urlencoded", "urlencoded": fields }),
            "application/x-www-form-urlencoded",
        ));
    }
    let (media_type, media) = content
        .iter()
        .find(|(k, _)| k.as_str() == "application/json" || k.ends_with("+json"))?;
    let raw = example_of(doc, media)
        .map(|v| serde_json::to_string_pretty(&v).unwrap())
        .unwrap_or_default();
    let media_type: &'static str = if media_type == "application/json" {
        "application/json"
    } else {
        "application/merge-patch+json"
    };
    Some((
        json!({ "mode": "raw", "raw": raw, "options": { "raw": { "language": "json" } } }),
        media_type,
    ))
}

/// One request of the collection.
fn request_item(doc: &Value, path: &str, method: &str, path_item: &Value) -> Value {
    let operation = &path_item[method];
    let parameters: Vec<&Value> = path_item["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(operation["parameters"].as_array().into_iter().flatten())
        .map(|p| resolve(doc, p))
        .collect();
    let of = |place: &'static str| parameters.iter().filter(move |p| p["in"] == place);

    let host = if on_admin_listener(path) {
        "{{adminBaseUrl}}"
    } else {
        "{{baseUrl}}"
    };
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!(":{name}"),
                None => s.to_owned(),
            },
        )
        .collect();
    let path_variables: Vec<Value> = of("path")
        .map(|p| {
            json!({ "key": p["name"], "value": parameter_value(doc, p), "description": p["description"].as_str().unwrap_or("") })
        })
        .collect();
    let query: Vec<Value> = of("query")
        .map(|p| {
            let mut q = json!({ "key": p["name"], "value": parameter_value(doc, p) });
            if p["required"] != true {
                q["disabled"] = true.into();
            }
            if let Some(d) = p["description"].as_str() {
                q["description"] = d.into();
            }
            q
        })
        .collect();
    let enabled_query: Vec<String> = query
        .iter()
        .filter(|q| q["disabled"] != true)
        .map(|q| format!("{}={}", text(&q["key"]), text(&q["value"])))
        .collect();
    let mut raw = format!("{host}/{}", segments.join("/"));
    if !enabled_query.is_empty() {
        raw = format!("{raw}?{}", enabled_query.join("&"));
    }
    let mut url = json!({ "raw": raw, "host": [host], "path": segments });
    if !query.is_empty() {
        url["query"] = query.into();
    }
    if !path_variables.is_empty() {
        url["variable"] = path_variables.into();
    }

    let mut headers: Vec<Value> = of("header")
        .filter(|p| {
            !p["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("Lienthong-Signature"))
        })
        .map(|p| {
            let mut h = json!({ "key": p["name"], "value": parameter_value(doc, p) });
            if p["required"] != true {
                h["disabled"] = true.into();
            }
            h
        })
        .collect();
    let body = body_of(doc, operation);
    if let Some((_, media_type)) = &body {
        headers.push(json!({ "key": "Content-Type", "value": media_type }));
    }

    let mut request =
        json!({ "method": method.to_ascii_uppercase(), "header": headers, "url": url });
    let description = [&operation["summary"], &operation["description"]]
        .into_iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n\n");
    if !description.is_empty() {
        request["description"] = description.into();
    }
    if let Some((body, _)) = body {
        request["body"] = body;
    }
    if let Some(auth) = auth_of(path, operation, doc) {
        request["auth"] = auth;
    }
    let mut item = json!({ "name": operation_name(method, path, operation), "request": request });
    let signed = parameters
        .iter()
        .any(|p| p["in"] == "header" && p["name"] == "Lienthong-Signature");
    if signed {
        item["event"] = json!([{ "listen": "prerequest", "script": { "type": "text/javascript", "exec": SIGN_SCRIPT } }]);
    }
    item
}

/// The collection of the document: a folder per tag (in the document's order of tags), a
/// request per operation.
fn generate(doc: &Value) -> Value {
    let mut folders: Vec<(String, String, Vec<Value>)> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t["name"].as_str()?.to_owned(),
                t["description"].as_str().unwrap_or("").to_owned(),
                Vec::new(),
            ))
        })
        .collect();
    let mut paths: Vec<(&String, &Value)> = doc["paths"]
        .as_object()
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    paths.sort_by(|a, b| a.0.cmp(b.0));
    for (path, path_item) in paths {
        let path_item = resolve(doc, path_item);
        for method in METHODS {
            let Some(operation) = path_item.get(method) else {
                continue;
            };
            let tag = operation["tags"][0].as_str().unwrap_or("other").to_owned();
            let item = request_item(doc, path, method, path_item);
            match folders.iter_mut().find(|(name, _, _)| *name == tag) {
                Some((_, _, items)) => items.push(item),
                None => folders.push((tag, String::new(), vec![item])),
            }
        }
    }
    let items: Vec<Value> = folders
        .into_iter()
        .filter(|(_, _, items)| !items.is_empty())
        .map(|(name, description, items)| {
            let mut folder = json!({ "name": name, "item": items });
            if !description.is_empty() {
                folder["description"] = description.into();
            }
            folder
        })
        .collect();
    let variables: Vec<Value> = variables()
        .into_iter()
        .map(|(k, v)| json!({ "key": k, "value": v, "type": "string" }))
        .collect();
    let mut info = Map::new();
    info.insert(
        "name".into(),
        format!(
            "{} {}",
            doc["info"]["title"].as_str().unwrap_or("lienthong"),
            doc["info"]["version"].as_str().unwrap_or("")
        )
        .trim()
        .into(),
    );
    info.insert(
        "description".into(),
        "Generated from schemas/openapi.json by tests/request_collection.rs (LIENTHONG_WRITE_COLLECTION=1 cargo test --test request_collection). The variables are the demo's: run `lienthong serve --demo`.".into(),
    );
    info.insert(
        "schema".into(),
        "https://schema.getpostman.com/json/collection/v2.1.0/collection.json".into(),
    );
    json!({
        "info": info,
        "auth": { "type": "bearer", "bearer": [{ "key": "token", "value": "{{apiKey}}", "type": "string" }] },
        "variable": variables,
        "item": items,
    })
}

fn document() -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo("schemas/openapi.json")).unwrap()).unwrap()
}

fn generated() -> String {
    serde_json::to_string_pretty(&generate(&document())).unwrap() + "\n"
}

#[test]
fn the_committed_collection_is_the_one_the_document_gives() {
    let path = repo(COLLECTION);
    if std::env::var_os(WRITE).is_some() {
        std::fs::write(&path, generated()).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated(),
        "{COLLECTION} is not the collection of schemas/openapi.json; regenerate it with:\n  {WRITE}=1 cargo test --test request_collection"
    );
}

/// Every request of a collection, with the folder it is in.
fn requests(collection: &Value) -> Vec<&Value> {
    collection["item"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|folder| folder["item"].as_array().into_iter().flatten())
        .collect()
}

#[test]
fn every_operation_is_one_request_named_after_it() {
    let doc = document();
    let collection = generate(&doc);
    let mut names: Vec<String> = requests(&collection)
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| METHODS.iter().filter(|m| item.get(**m).is_some()).count())
        .sum();
    assert_eq!(names.len(), operations);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), operations, "two requests share a name");
    // Without an operationId, a name from the method and the path; with one, the operationId.
    let find = |name: &str| {
        requests(&collection)
            .into_iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no request {name}"))
    };
    let bare = json!({ "paths": { "/v1/payments/{id}/receipt": { "get": {} } } });
    assert_eq!(
        requests(&generate(&bare))[0]["name"],
        "get_v1_payments_id_receipt"
    );
    let named = json!({ "paths": { "/v1/x": { "post": { "operationId": "makeX" } } } });
    assert_eq!(requests(&generate(&named))[0]["name"], "makeX");
    // The bank's calls are signed before they are sent, with the demo bank's secret.
    let inquiry = find("collectionInquiry");
    assert_eq!(
        inquiry["request"]["auth"]["bearer"][0]["value"],
        "{{bankApiKey}}"
    );
    assert!(
        inquiry["event"][0]["script"]["exec"]
            .to_string()
            .contains("HmacSHA256")
    );
}

/// `{{name}}` replaced by the variable's value, `:name` in a URL by the path variable's.
fn substitute(text: &str, values: &[(&str, String)]) -> String {
    let mut out = text.to_owned();
    for (k, v) in values {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// The collection's requests that change nothing and need no value of a record (a GET without
/// path variables), sent as Postman sends them with the demo's variables to a demo gateway:
/// none is refused by the guard (401, 403) or misses its route (404, 405).
#[tokio::test]
async fn the_collection_s_reads_pass_the_demo_gateway_with_its_variables() {
    let gateway = common::demo_gateway().await;
    let base = gateway.base.clone();
    let mut values = variables();
    for (k, v) in values.iter_mut() {
        if *k == "baseUrl" || *k == "adminBaseUrl" {
            *v = base.clone();
        }
    }
    let http = &gateway.http;
    let collection = generate(&document());
    let mut sent = 0;
    for request in requests(&collection) {
        let r = &request["request"];
        if r["method"] != "GET" || r["url"].get("variable").is_some() {
            continue;
        }
        let url = substitute(r["url"]["raw"].as_str().unwrap(), &values);
        // A provider's callbacks and return pages prove themselves by the provider's signature,
        // which no collection variable can make: refused (401) as they should be.
        if url.contains("/v1/providers/") {
            continue;
        }
        let mut req = http.get(&url);
        for h in r["header"].as_array().unwrap() {
            if h["disabled"] != true {
                req = req.header(
                    h["key"].as_str().unwrap(),
                    substitute(h["value"].as_str().unwrap(), &values),
                );
            }
        }
        let auth = r.get("auth").unwrap_or(&collection["auth"]);
        if auth["type"] == "bearer" {
            req = req.bearer_auth(substitute(
                auth["bearer"][0]["value"].as_str().unwrap(),
                &values,
            ));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        assert!(
            ![401, 403, 404, 405].contains(&status),
            "{} {url} → {status} {body}",
            request["name"]
        );
        sent += 1;
    }
    assert!(sent >= 10, "{sent}");
}
