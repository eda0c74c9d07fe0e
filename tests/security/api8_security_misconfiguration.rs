//! API8:2023 Security Misconfiguration: what an operator can get wrong is refused or warned about,
//! and an error never shows a secret.

use std::process::Command;

use crate::common::{self, process::BIN};

fn check_config(path: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .arg("check-config")
        .arg(path)
        .env("LIENTHONG_EMPTY_SECRET", "")
        .output()
        .unwrap()
}

/// An empty `env:` VNPay hash secret used to be accepted, and an IPN signed with the empty key
/// then marked a fee paid: it is refused, naming the key.
#[test]
fn an_empty_provider_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let payments = "\n[services.fees]\nkind = \"payments\"\nbase_url = \"http://127.0.0.1:8080\"\n\n[payments]\nvnpay = { pay_url = \"http://127.0.0.1:9/pay\", api_url = \"http://127.0.0.1:9/api\", merchants = [{ agency = \"stp\", tmn_code = \"DEMO0001\", hash_secret = \"env:LIENTHONG_EMPTY_SECRET\" }] }\n";
    let out = check_config(&common::process::write_config(
        dir.path(),
        "http://127.0.0.1:9",
        payments,
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("payments.vnpay.merchants[0].hash_secret") && err.contains("at least 16"),
        "{err}"
    );
}

/// A TOML error on a line holding a password shows where, not the line.
#[test]
fn a_config_error_never_shows_the_line_it_is_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::process::write_config(
        dir.path(),
        "http://127.0.0.1:9",
        "\n[redis]\nurl = \"redis://:hunter2-password@cache.internal:6379\" trailing\n",
    );
    let out = check_config(&path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("line ") && err.contains("column "), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

/// The same for a reload: the refusal reaches the caller, the admin audit trail and the log
/// without the secret.
#[tokio::test]
async fn a_refused_reload_never_shows_a_secret() {
    let h = common::start("").await;
    let text = std::fs::read_to_string(&h.config_path).unwrap();
    std::fs::write(
        &h.config_path,
        format!(
            "{text}\n[redis]\nurl = \"redis://:hunter2-password@cache.internal:6379\" trailing\n"
        ),
    )
    .unwrap();
    let resp = h.post("/v1/admin/reload", "ops-key").send().await.unwrap();
    let body = resp.text().await.unwrap();
    assert!(body.contains("config_rejected"), "{body}");
    assert!(!body.contains("hunter2"), "{body}");
    let audit = h
        .get("/v1/admin/audit", "ops-key")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(audit.contains("refused"), "{audit}");
    assert!(!audit.contains("hunter2"), "{audit}");
}

/// Serving `/v1/admin` and `/metrics` on an address others can reach is valid but warned about.
#[test]
fn an_exposed_operators_surface_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::process::write_config(dir.path(), "http://127.0.0.1:9", "");
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "addr = \"127.0.0.1:0\"",
        "addr = \"0.0.0.0:0\"",
        1,
    );
    std::fs::write(&path, text).unwrap();
    let out = check_config(&path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning")
            && err.contains("`listeners[0]`")
            && err.contains("role = \"admin\""),
        "{err}"
    );
    // With an admin listener on loopback, no warning.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!(
            "{text}\n[[listeners]]\naddr = \"127.0.0.1:0\"\nplain_http = true\nrole = \"admin\"\n"
        ),
    )
    .unwrap();
    let out = check_config(&path);
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
}

/// Redis or PostgreSQL across a network, without credentials or verified TLS, is warned about
/// (never showing a password); on loopback, or with both, it is not.
#[test]
fn backends_across_a_network_without_credentials_or_tls_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let warnings = |extra: &str| {
        let path = common::process::write_config(dir.path(), "http://127.0.0.1:9", extra);
        let out = check_config(&path);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{err}");
        err.lines()
            .filter(|l| l.contains("warning"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let open = warnings("\n[redis]\nurl = \"redis://cache.internal:6379\"\n");
    assert_eq!(open.len(), 2, "{open:?}");
    assert!(open.iter().all(|w| w.contains("`redis.url`")), "{open:?}");
    let keyed = warnings("\n[redis]\nurl = \"redis://lienthong:hunter2@cache.internal:6379\"\n");
    assert_eq!(keyed.len(), 1, "{keyed:?}");
    assert!(
        keyed[0].contains("TLS") && !keyed[0].contains("hunter2"),
        "{keyed:?}"
    );
    assert!(
        warnings("\n[redis]\nurl = \"rediss://lienthong:hunter2@cache.internal:6379\"\n")
            .is_empty()
    );
    assert!(warnings("\n[redis]\nurl = \"redis://127.0.0.1:6379\"\n").is_empty());
}
