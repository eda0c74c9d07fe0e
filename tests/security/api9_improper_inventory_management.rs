//! API9:2023 Improper Inventory Management: every route the gateway serves is in its OpenAPI
//! document, and a caller is shown only the services it may call.

use crate::common;

#[test]
fn every_route_is_documented() {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/openapi.json")).unwrap();
    let documented: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let router =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/app/router.rs")).unwrap();
    let mut served: Vec<String> = Vec::new();
    for file in [
        "population",
        "enterprise",
        "notary",
        "payments",
        "shipments",
    ] {
        let text = std::fs::read_to_string(format!(
            "{}/src/services/{file}/mod.rs",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        served.extend(paths_in(&text));
    }
    served.extend(paths_in(&router));
    served.push("/v1/proxy/{service}/{path}".into());
    served.retain(|p| !p.starts_with("/v1/proxy/"));
    assert!(served.len() > 20, "{served:?}");
    for path in served {
        assert!(
            documented.contains(&path.as_str()),
            "{path} is served but not documented"
        );
    }
}

/// The routes a source text declares: `path: "/…"` (a kind's `Route`) and `.route("/…"`.
fn paths_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for marker in ["path: \"", ".route(\"", ".route(\n                \""] {
        for (at, _) in text.match_indices(marker) {
            let rest = &text[at + marker.len()..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].to_owned());
            }
        }
    }
    out.retain(|p| p.starts_with('/') && !p.contains("{*"));
    out
}

#[tokio::test]
async fn a_caller_sees_only_what_it_may_call() {
    let h = common::start("").await;
    let list: serde_json::Value = h
        .get("/v1/services", "narrow-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let services = list["services"].as_array().unwrap();
    assert_eq!(services.len(), 1, "{list}");
    assert_eq!(services[0]["name"], "cat");
    assert_eq!(services[0]["operations"], serde_json::json!(["list"]));
}
