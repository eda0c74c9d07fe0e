//! `schemas/config.schema.json`, the JSON Schema of the config file for editors: it is the one
//! the config types give, and the shipped configs are valid against it while a misspelt key is
//! not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// Set to write the generated schema over the committed one.
const WRITE: &str = "LIENTHONG_WRITE_SCHEMA";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn generated() -> String {
    let schema = lienthong::app::config::config_schema();
    serde_json::to_string_pretty(&schema).unwrap() + "\n"
}

#[test]
fn the_committed_schema_is_the_one_the_config_types_give() {
    let path = repo("schemas/config.schema.json");
    if std::env::var_os(WRITE).is_some() {
        std::fs::write(&path, generated()).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated(),
        "schemas/config.schema.json is not the schema of the config types; regenerate it with:\n  {WRITE}=1 cargo test --test config_schema"
    );
}

/// The schema, compiled for validation.
fn validator() -> (boon::Schemas, boon::SchemaIndex) {
    let schema: serde_json::Value = serde_json::from_str(&generated()).unwrap();
    let url = "http://lienthong.invalid/config.schema.json";
    let mut compiler = boon::Compiler::new();
    compiler.add_resource(url, schema).unwrap();
    let mut schemas = boon::Schemas::new();
    let index = compiler.compile(url, &mut schemas).unwrap();
    (schemas, index)
}

/// The config text as the JSON value an editor checks.
fn json_of(text: &str) -> serde_json::Value {
    let value: toml::Value = toml::from_str(text).unwrap();
    serde_json::to_value(value).unwrap()
}

#[test]
fn the_shipped_configs_are_valid_against_the_schema() {
    let (schemas, index) = validator();
    for path in [
        "deploy/lienthong.example.toml",
        "deploy/lienthong.systemd.toml",
        "deploy/compose/lienthong.toml",
    ] {
        let text = std::fs::read_to_string(repo(path)).unwrap();
        if let Err(e) = schemas.validate(&json_of(&text), index) {
            panic!("{path}: {e:#}");
        }
    }
}

#[test]
fn the_schema_refuses_what_the_gateway_refuses() {
    let (schemas, index) = validator();
    let base = r#"
        [[listeners]]
        addr = "127.0.0.1:8080"
        plain_http = true
        [services.cat]
        kind = "passthrough"
        base_url = "http://127.0.0.1:9"
        routes = [{ operation = "list", methods = ["GET"], path = "/x" }]
        [auth]
        token_signing_key = "env:KEY"
    "#;
    assert!(schemas.validate(&json_of(base), index).is_ok());
    for (from, to) in [
        ("[auth]", "[auth]\ntoken_lifetme_s = 60"),
        ("plain_http = true", "plain_http = \"yes\""),
        ("\"env:KEY\"", "\"a-literal-secret\""),
        ("kind = \"passthrough\"", "kind = \"teleport\""),
        ("routes = [", "cache = { ttl_s = 60 }\nroutes = ["),
        ("[auth]", "[colour]\n[auth]"),
    ] {
        let bad = base.replace(from, to);
        assert_ne!(bad, base);
        assert!(
            schemas.validate(&json_of(&bad), index).is_err(),
            "accepted: {to}"
        );
    }
}
