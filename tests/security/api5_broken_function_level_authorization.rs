//! API5:2023 Broken Function Level Authorization: the operators' functions are reachable only by
//! admin clients, only with a credential whose scope includes them, and (with an admin listener)
//! only on the operators' port.

use crate::common::{self, problem};
use lienthong::keys::sha256_hex;

/// An admin client that may also take tokens (client secret `ops2-secret`).
fn admin_with_secret() -> String {
    format!(
        "\n[[clients]]\nid = \"ops2\"\nrole = \"admin\"\nclient_secret_sha256 = \"{}\"\nallow = [{{ service = \"cat\", operations = [\"list\"] }}]\n",
        sha256_hex("ops2-secret")
    )
}

async fn token(h: &common::Harness, client: &str, secret: &str, scope: &str) -> reqwest::Response {
    h.http
        .post(h.url("/oauth/token"))
        .basic_auth(client, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn admin_operations_need_the_admin_role() {
    let h = common::start("").await;
    for (method, path) in [
        ("GET", "/v1/admin/clients"),
        ("POST", "/v1/admin/reload"),
        ("POST", "/v1/admin/cache/purge"),
        ("POST", "/v1/admin/clients/narrow/suspend"),
        ("GET", "/v1/admin/audit"),
        ("GET", "/v1/admin/payments/outbox"),
    ] {
        let resp = h
            .http
            .request(method.parse().unwrap(), h.url(path))
            .bearer_auth("portal-key")
            .send()
            .await
            .unwrap();
        problem(resp, 403, "forbidden").await;
    }
    assert!(!h.gw.is_suspended("narrow"), "nothing was done");
}

/// A token's scope limits admin operations too: an admin client's token asked for a service only
/// cannot suspend a client; asked with `lienthong:admin`, it can. Only admin clients get that scope.
#[tokio::test]
async fn a_tokens_scope_limits_the_admin_operations() {
    let h = common::start(&admin_with_secret()).await;
    let narrow = token(&h, "ops2", "ops2-secret", "cat").await;
    assert_eq!(narrow.status(), 200);
    let narrow = narrow.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = h
        .post("/v1/admin/clients/narrow/suspend", &narrow)
        .send()
        .await
        .unwrap();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("lienthong:admin"),
        "{challenge}"
    );
    problem(resp, 403, "forbidden").await;
    assert!(!h.gw.is_suspended("narrow"));
    // The same token still calls the service it was scoped to.
    let resp = h
        .get("/v1/proxy/cat/procedures", &narrow)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let admin = token(&h, "ops2", "ops2-secret", "cat lienthong:admin").await;
    assert_eq!(admin.status(), 200);
    let body: serde_json::Value = admin.json().await.unwrap();
    assert_eq!(body["scope"], "cat lienthong:admin");
    let admin = body["access_token"].as_str().unwrap();
    let resp = h
        .post("/v1/admin/clients/narrow/suspend", admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(h.gw.is_suspended("narrow"));

    // A client that is not an admin cannot ask for the scope.
    let resp = token(&h, "portal", "portal-secret", "lienthong:admin").await;
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");
}

/// With a listener of role `admin`, the operators' surface (`/v1/admin/*`, `/metrics`) is served
/// there and nowhere else; the API is not served there. Probes answer on both.
#[tokio::test]
async fn the_admin_listener_keeps_the_operators_surface_off_the_public_port() {
    let h = common::start(
        "\n[[listeners]]\naddr = \"127.0.0.1:0\"\nplain_http = true\nrole = \"admin\"\n",
    )
    .await;
    assert_ne!(h.base, h.admin_base);
    let public = |path: &str| h.get(path, "ops-key");
    let admin = |path: &str| {
        h.http
            .get(format!("{}{path}", h.admin_base))
            .bearer_auth("ops-key")
    };
    for path in ["/v1/admin/clients", "/metrics", "/v1/admin/audit"] {
        problem(public(path).send().await.unwrap(), 404, "not_found").await;
        assert_eq!(admin(path).send().await.unwrap().status(), 200, "{path}");
    }
    for path in ["/v1/services", "/v1/proxy/cat/procedures", "/openapi.json"] {
        let resp = h.get(path, "portal-key").send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        problem(admin(path).send().await.unwrap(), 404, "not_found").await;
    }
    let token = h
        .http
        .post(format!("{}/oauth/token", h.admin_base))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 404, "no token endpoint on the admin port");
    for path in ["/healthz", "/readyz"] {
        assert_eq!(public(path).send().await.unwrap().status(), 200);
        assert_eq!(admin(path).send().await.unwrap().status(), 200);
    }
}
