//! End-to-end tests of the gateway foundation: the real router on 127.0.0.1:0 against the catalogue mock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{TOKEN_KEY, problem, start};
use serde_json::Value;

async fn token(
    h: &common::Harness,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut req = h.http.post(h.url("/oauth/token")).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    req.send().await.unwrap()
}

/// The names `GET /v1/services` lists for this credential.
async fn service_names(h: &common::Harness, credential: &str) -> Vec<String> {
    let body: Value = h
        .get("/v1/services", credential)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn api_key_good_missing_wrong() {
    let h = start("").await;
    let resp = h.get("/v1/services", "portal-key").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-request-id"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["client_id"], "portal");

    let resp = h.http.get(h.url("/v1/services")).send().await.unwrap();
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer realm="lienthong""#
    );
    problem(resp, 401, "unauthenticated").await;

    let resp = h.get("/v1/services", "wrong-key").send().await.unwrap();
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    problem(resp, 401, "unauthenticated").await;

    // Another scheme is no bearer credential at all: the challenge carries no error (RFC 6750 §3.1).
    let resp = h
        .http
        .get(h.url("/v1/services"))
        .header("authorization", "Basic cG9ydGFsOng=")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer realm="lienthong""#
    );
    problem(resp, 401, "unauthenticated").await;

    // The scheme is case-insensitive and may be followed by several spaces.
    let resp = h
        .http
        .get(h.url("/v1/services"))
        .header("authorization", "bearer   portal-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Two Authorization headers are ambiguous, even when the first is good.
    let resp = h
        .get("/v1/services", "portal-key")
        .header("authorization", "Bearer ops-key")
        .send()
        .await
        .unwrap();
    problem(resp, 401, "unauthenticated").await;
}

#[tokio::test]
async fn oauth_client_credentials_basic_and_post() {
    let h = start("").await;
    for basic in [true, false] {
        let resp = if basic {
            token(
                &h,
                &[("grant_type", "client_credentials")],
                Some(("portal", "portal-secret")),
            )
            .await
        } else {
            token(
                &h,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", "portal"),
                    ("client_secret", "portal-secret"),
                ],
                None,
            )
            .await
        };
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        let access = body["access_token"].as_str().unwrap();
        let resp = h.get("/v1/services", access).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
}

#[tokio::test]
async fn a_token_can_be_limited_to_some_of_the_clients_services() {
    let h = start("").await;
    let basic = Some(("portal", "portal-secret"));
    // RFC 6749 §3.3: scope tokens here are service names; the granted scope is returned (§5.1).
    let resp = token(
        &h,
        &[("grant_type", "client_credentials"), ("scope", "cat cat")],
        basic,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["scope"], "cat", "each service once");
    let scoped = body["access_token"].as_str().unwrap().to_owned();

    let resp = h
        .get("/v1/proxy/cat/procedures", &scoped)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The client may call `dossiers`, but this token was not issued for it.
    let resp = h
        .get("/v1/proxy/dossiers/dossiers/1", &scoped)
        .header("x-user-id", "046185000123")
        .header("x-dossier-id", "HS-1")
        .send()
        .await
        .unwrap();
    problem(resp, 403, "forbidden").await;
    assert_eq!(
        service_names(&h, &scoped).await,
        ["cat"],
        "the listing is narrowed too"
    );

    // Without a scope the token carries all of the client's rights, and says no scope.
    let body: Value = token(&h, &[("grant_type", "client_credentials")], basic)
        .await
        .json()
        .await
        .unwrap();
    assert!(body.get("scope").is_none(), "{body}");

    // A scope can narrow the client's rights, never widen them, and must be well formed.
    for bad in ["cat ops-only", "cat  dossiers", "cat\tdossiers", "\"cat\""] {
        let resp = token(
            &h,
            &[("grant_type", "client_credentials"), ("scope", bad)],
            basic,
        )
        .await;
        assert_eq!(resp.status(), 400, "{bad}");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_scope", "{bad}: {body}");
    }
}

#[tokio::test]
async fn oauth_errors_follow_rfc6749() {
    let h = start("").await;
    let resp = token(
        &h,
        &[("grant_type", "client_credentials")],
        Some(("portal", "nope")),
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["content-language"], "vi");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["code"], "unauthenticated");
    // RFC 6749's members stay ASCII (§5.2) whatever the language; the problem's own speak
    // the caller's language, Vietnamese by default...
    assert_eq!(body["error_description"], "client authentication failed");
    assert_eq!(body["title"], "Chưa xác thực", "{body}");
    assert_eq!(
        body["detail"], "Xác thực bên gọi không thành công.",
        "{body}"
    );
    // ...or English.
    let resp = h
        .http
        .post(h.url("/oauth/token"))
        .basic_auth("portal", Some("nope"))
        .header("accept-language", "en")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-language"], "en");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error_description"], "client authentication failed");
    assert_eq!(body["title"], "Authentication required", "{body}");
    assert_eq!(body["detail"], "client authentication failed", "{body}");
    // A repeated parameter whose name is not ASCII is not quoted into `error_description`.
    let resp = token(
        &h,
        &[
            ("grant_type", "client_credentials"),
            ("thứ", "1"),
            ("thứ", "2"),
        ],
        Some(("portal", "portal-secret")),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(
        body["error_description"].as_str().unwrap().is_ascii(),
        "{body}"
    );

    let resp = token(
        &h,
        &[("grant_type", "client_credentials")],
        Some(("ghost", "portal-secret")),
    )
    .await;
    assert_eq!(resp.status(), 401);

    let resp = token(
        &h,
        &[("grant_type", "password")],
        Some(("portal", "portal-secret")),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );

    let resp = token(
        &h,
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", "portal-secret"),
        ],
        Some(("portal", "portal-secret")),
    )
    .await;
    assert_eq!(resp.status(), 400, "two authentication methods at once");
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );

    let resp = h
        .http
        .post(h.url("/oauth/token"))
        .basic_auth("portal", Some("portal-secret"))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "JSON instead of a form");

    // RFC 6749 §3.2: a parameter sent without a value is as if omitted.
    let resp = token(
        &h,
        &[("grant_type", "client_credentials"), ("client_secret", "")],
        Some(("portal", "portal-secret")),
    )
    .await;
    assert_eq!(resp.status(), 200, "an empty client_secret next to Basic");
    let resp = token(&h, &[("grant_type", "")], Some(("portal", "portal-secret"))).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");

    let resp = h
        .http
        .post(h.url("/oauth/token"))
        .basic_auth("portal", Some("portal-secret"))
        .header("authorization", "Basic Z2hvc3Q6eA==")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "two Authorization headers");
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
}

/// Guessing secrets is throttled per client id and per source address: past the quota the
/// endpoint answers 429 before checking the secret, so a right guess looks like a wrong one.
#[tokio::test]
async fn failed_token_requests_are_throttled_per_client_id_and_per_source() {
    let h = common::start_edited(
        &format!(
            "[proxies]\ntrusted = [\"127.0.0.1\"]\n\n[[clients]]\nid = \"second\"\nclient_secret_sha256 = \"{}\"\n",
            lienthong::keys::sha256_hex("second-secret")
        ),
        |text| {
            text.replace(
                "token_lifetime_s = 900",
                "token_lifetime_s = 900\ntoken_failures = { per_minute = 1, burst = 3 }",
            )
        },
    )
    .await;
    // The test client plays the load balancer: each request says which caller it carries.
    let attempt = |id: &str, secret: &str, source: &str| {
        h.http
            .post(h.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .header("x-forwarded-for", source)
            .form(&[("grant_type", "client_credentials")])
            .send()
    };

    // A success takes nothing from the quota.
    for _ in 0..5 {
        let resp = attempt("second", "second-secret", "203.0.113.1")
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }

    // Per client id: three wrong secrets from three places spend `portal`'s quota...
    for source in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let resp = attempt("portal", "guess", source).await.unwrap();
        assert_eq!(resp.status(), 401, "{source}");
    }
    // ...and then even the right secret, from a fresh place, is refused unread.
    let resp = attempt("portal", "portal-secret", "198.51.100.4")
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert_eq!(body["status"], 429);
    assert_eq!(body["error"], "rate_limited");
    assert!(body["error_description"].is_string(), "{body}");
    // Another client is not concerned.
    let resp = attempt("second", "second-secret", "198.51.100.4")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Per source: wrong guesses at ids that do not even exist spend the source's quota...
    for id in ["nobody-1", "nobody-2", "nobody-3"] {
        let resp = attempt(id, "guess", "192.0.2.9").await.unwrap();
        assert_eq!(resp.status(), 401, "{id}");
    }
    // ...so that source is refused for a real client too, while another source is not.
    let resp = attempt("second", "second-secret", "192.0.2.9")
        .await
        .unwrap();
    problem_429_json(resp).await;
    let resp = attempt("second", "second-secret", "192.0.2.10")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let metrics = h.metrics().await;
    assert!(
        common::sample(
            &metrics,
            "lienthong_auth_failures_total{reason=\"token_throttled\"}"
        ) >= 2.0,
        "{metrics}"
    );
}

async fn problem_429_json(resp: reqwest::Response) {
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited", "{body}");
}

fn sign(claims: &Value, key: &[u8]) -> String {
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .unwrap()
}

#[tokio::test]
async fn expired_none_and_forged_tokens_are_refused() {
    let h = start("").await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |exp: u64| serde_json::json!({"iss": "lienthong", "aud": "lienthong", "sub": "portal", "iat": now - 2000, "nbf": now - 2000, "exp": exp, "jti": "t"});

    // Control: a token we sign ourselves with the configured key and a future expiry is accepted,
    // so the refusals below are for the stated reason and not for the way the tokens were made.
    let good = sign(&claims(now + 600), TOKEN_KEY);
    assert_eq!(
        h.get("/v1/services", &good).send().await.unwrap().status(),
        200
    );

    let expired = sign(&claims(now - 1000), TOKEN_KEY);
    let resp = h.get("/v1/services", &expired).send().await.unwrap();
    problem(resp, 401, "unauthenticated").await;

    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(now + 600).to_string())
    );
    let resp = h.get("/v1/services", &none).send().await.unwrap();
    problem(resp, 401, "unauthenticated").await;

    let wrong_key = sign(&claims(now + 600), b"another-key-another-key-another-key!!");
    let resp = h.get("/v1/services", &wrong_key).send().await.unwrap();
    problem(resp, 401, "unauthenticated").await;

    let malformed = "eyJhbGciOiJIUzI1NiJ9.not-json.sig";
    let resp = h.get("/v1/services", malformed).send().await.unwrap();
    problem(resp, 401, "unauthenticated").await;

    let metrics = h.metrics().await;
    assert!(
        metrics.contains(r#"lienthong_auth_failures_total{reason="expired_token"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn access_rights_deny_by_default_and_services_lists_only_what_is_allowed() {
    let h = start("").await;
    let resp = h
        .get("/v1/proxy/cat/procedures", "narrow-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body["items"].as_array().unwrap().len() >= 3);

    let resp = h
        .get("/v1/proxy/cat/procedures/1.001612", "narrow-key")
        .send()
        .await
        .unwrap();
    problem(resp, 403, "forbidden").await;
    let resp = h
        .get("/v1/proxy/dossiers/dossiers/HS1", "narrow-key")
        .send()
        .await
        .unwrap();
    problem(resp, 403, "forbidden").await;
    let resp = h
        .get("/v1/proxy/nosuch/x", "narrow-key")
        .send()
        .await
        .unwrap();
    problem(resp, 404, "not_found").await;
    let resp = h
        .get("/v1/proxy/cat/not-a-route", "portal-key")
        .send()
        .await
        .unwrap();
    problem(resp, 404, "not_found").await;
    let resp = h
        .http
        .delete(h.url("/v1/proxy/cat/procedures"))
        .bearer_auth("portal-key")
        .send()
        .await
        .unwrap();
    problem(resp, 405, "method_not_allowed").await;

    let body: Value = h
        .get("/v1/services", "narrow-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["services"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["services"][0]["name"], "cat");
    assert_eq!(
        body["services"][0]["operations"],
        serde_json::json!(["list"])
    );

    assert_eq!(
        service_names(&h, "portal-key").await,
        ["cat", "dossiers", "down", "tight"]
    );

    let body: Value = h
        .get("/v1/services", "ops-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["services"].as_array().unwrap().len(),
        0,
        "an admin with no rules may call nothing"
    );
}

#[tokio::test]
async fn suspend_takes_effect_at_once_persists_and_resume_restores() {
    let h = start("").await;
    assert_eq!(
        h.get("/v1/services", "portal-key")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let resp = h
        .post("/v1/admin/clients/narrow/suspend", "portal-key")
        .send()
        .await
        .unwrap();
    problem(resp, 403, "forbidden").await;
    // A body that is not JSON is refused as every other JSON body is, and changes nothing.
    let resp = h
        .post("/v1/admin/clients/portal/suspend", "ops-key")
        .header("content-type", "text/plain")
        .body(r#"{"reason": "x"}"#)
        .send()
        .await
        .unwrap();
    problem(resp, 415, "unsupported_media_type").await;

    let resp = h
        .post("/v1/admin/clients/portal/suspend", "ops-key")
        .json(&serde_json::json!({"reason": "incident 2026-11-28"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["changed"], true);

    let resp = h.get("/v1/services", "portal-key").send().await.unwrap();
    problem(resp, 403, "client_suspended").await;
    let resp = token(
        &h,
        &[("grant_type", "client_credentials")],
        Some(("portal", "portal-secret")),
    )
    .await;
    assert_eq!(resp.status(), 403, "a suspended client gets no token");

    let resp = h
        .post("/v1/admin/clients/ghost/suspend", "ops-key")
        .send()
        .await
        .unwrap();
    problem(resp, 404, "not_found").await;

    // Persisted: a second gateway on the same store sees the suspension.
    let store = lienthong::store::open(&h.gw.runtime().config.store.url)
        .await
        .unwrap();
    assert_eq!(
        store.suspended_clients().await.unwrap(),
        vec!["portal".to_owned()]
    );

    // A body is optional, but one sent as JSON must be JSON: a blank one is not.
    let resp = h
        .post("/v1/admin/clients/portal/resume", "ops-key")
        .header("content-type", "application/json")
        .body(" ")
        .send()
        .await
        .unwrap();
    problem(resp, 400, "invalid_request").await;
    let resp = h
        .post("/v1/admin/clients/portal/resume", "ops-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        h.get("/v1/services", "portal-key")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let audit: Value = h
        .get("/v1/admin/audit", "ops-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["resume", "suspend"]);
    assert_eq!(audit["records"][1]["detail"], "incident 2026-11-28");
    assert_eq!(audit["records"][1]["actor"], "ops");
}

#[tokio::test]
async fn rate_limit_answers_429_with_headers() {
    let h = start("").await;
    for remaining in [2, 1, 0] {
        let resp = h
            .get("/v1/proxy/cat/procedures", "limited-key")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["ratelimit-policy"], r#""client";q=3;w=3"#);
        assert!(
            resp.headers()["ratelimit"]
                .to_str()
                .unwrap()
                .starts_with(&format!(r#""client";r={remaining};t="#))
        );
    }
    let resp = h
        .get("/v1/proxy/cat/procedures", "limited-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(resp.headers()["ratelimit"], r#""client";r=0;t=1"#);
    let body = problem(resp, 429, "rate_limited").await;
    assert_eq!(body["retry_after"], 1);
    // Other clients are not affected.
    assert_eq!(
        h.get("/v1/proxy/cat/procedures", "portal-key")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let metrics = h.metrics().await;
    assert!(
        metrics.contains(r#"lienthong_rate_limited_total{client="limited"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn oversized_bodies_get_413_declared_or_streamed() {
    let h = start("").await;
    let big = vec![b'x'; 5000];
    let resp = h
        .post("/v1/proxy/cat/echo/x", "portal-key")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    problem(resp, 413, "payload_too_large").await;

    // Chunked, no Content-Length: the limit trips while streaming to the upstream.
    let raw = raw_chunked_post(&h, "/v1/proxy/cat/echo/x", "portal-key", &big).await;
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(
        raw.contains("application/problem+json") && raw.contains("payload_too_large"),
        "{raw}"
    );

    let resp = h
        .post("/v1/proxy/cat/echo/x", "portal-key")
        .body(vec![b'x'; 4000])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["body_len"], 4000);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_upstream_gets_the_believed_chain_only() {
    // The test client on loopback plays the load balancer.
    let h = start("[proxies]\ntrusted = [\"127.0.0.1\", \"10.0.0.0/8\"]\n").await;
    let echo = |xff: &'static str| {
        let req = h
            .post("/v1/proxy/cat/echo/x", "portal-key")
            .header("x-forwarded-for", xff)
            .header("x-real-ip", "198.51.100.66");
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()["headers"].clone()
        }
    };
    // The caller forged the left-most entry; our proxies appended the rest.
    let headers = echo("198.51.100.66, 203.0.113.7, 10.1.1.1").await;
    assert_eq!(
        headers["x-forwarded-for"], "203.0.113.7, 10.1.1.1, 127.0.0.1",
        "the right-most untrusted address and the trusted hops after it, nothing before"
    );
    assert!(headers.get("x-real-ip").is_none(), "{headers}");
    // Several fields are one list.
    let resp = h
        .post("/v1/proxy/cat/echo/x", "portal-key")
        .header("x-forwarded-for", "198.51.100.66")
        .header("x-forwarded-for", "203.0.113.8")
        .send()
        .await
        .unwrap();
    let headers = resp.json::<Value>().await.unwrap()["headers"].clone();
    assert_eq!(headers["x-forwarded-for"], "203.0.113.8, 127.0.0.1");
}

/// Sends a request head by hand (a Host and `Connection: close` are added) and returns the raw response.
async fn raw_request(h: &common::Harness, head: &str) -> String {
    let addr = h.base.trim_start_matches("http://");
    raw_exchange(
        h,
        &format!("{head}Host: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// Sends these exact bytes and returns everything the gateway answers until it closes.
async fn raw_exchange(h: &common::Harness, bytes: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = h.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status line of the first response in a raw exchange.
fn status_line(raw: &str) -> &str {
    raw.lines().next().unwrap_or("")
}

#[tokio::test]
async fn ambiguous_framing_and_hosts_are_refused() {
    let h = start("").await;
    let addr = h.base.trim_start_matches("http://").to_owned();
    let post = format!(
        "POST /v1/proxy/cat/echo/x HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer portal-key\r\n"
    );
    let next = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");

    // Content-Length and Transfer-Encoding: the chunked framing wins, the length is not
    // forwarded, and the connection closes after the answer (RFC 9112 §6.3), so the bytes after
    // the chunked body are never read as a second request.
    let raw = raw_exchange(
        &h,
        &format!("{post}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n{next}"),
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert_eq!(raw.matches("HTTP/1.1 ").count(), 1, "{raw}");
    let echo: Value = serde_json::from_str(&raw[raw.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(echo["body_len"], 5);
    assert!(echo["headers"].get("content-length").is_none(), "{echo}");

    // Framing a recipient could read two ways is refused before anything is forwarded.
    for (shape, framing) in [
        (
            "two lengths",
            "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        ),
        ("a length list", "Content-Length: 5, 6\r\n\r\nhello!"),
        (
            "chunked not last",
            "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        ),
        ("identity only", "Transfer-Encoding: identity\r\n\r\nhello"),
        ("obs-fold", "X-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n"),
        ("NUL in a value", "X-Nul: a\0b\r\nContent-Length: 0\r\n\r\n"),
        ("space before colon", "Content-Length : 5\r\n\r\nhello"),
    ] {
        let raw = raw_exchange(&h, &format!("{post}{framing}{next}")).await;
        assert!(raw.starts_with("HTTP/1.1 400"), "{shape}: {raw}");
        assert_eq!(raw.matches("HTTP/1.1 ").count(), 1, "{shape}: {raw}");
        // Refused by hyper or by the edge: the same problem document either way.
        assert!(
            raw.contains("application/problem+json") && raw.contains("\"invalid_request\""),
            "{shape}: {raw}"
        );
    }

    // A coding before `chunked` would reach the upstream still applied, unannounced: 501.
    for (shape, framing) in [
        ("gzip then chunked", "Transfer-Encoding: gzip, chunked\r\n"),
        (
            "chunked twice",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        ),
    ] {
        let raw = raw_exchange(
            &h,
            &format!("{post}{framing}Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        )
        .await;
        assert!(raw.starts_with("HTTP/1.1 501"), "{shape}: {raw}");
        assert!(raw.contains("unsupported_transfer_coding"), "{raw}");
    }
    assert_eq!(
        common::sample(
            &h.metrics().await,
            r#"lienthong_upstream_duration_seconds_count{service="cat"}"#
        ),
        1.0,
        "only the first, unambiguous request was forwarded"
    );

    // RFC 9112 §3.2: one valid Host in HTTP/1.1; HTTP/1.0 may omit it.
    for (shape, head) in [
        ("no Host", "GET /healthz HTTP/1.1\r\n".to_owned()),
        (
            "two Hosts",
            format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nHost: evil.example\r\n"),
        ),
        (
            "user info",
            format!("GET /healthz HTTP/1.1\r\nHost: user@{addr}\r\n"),
        ),
        (
            "bad port",
            "GET /healthz HTTP/1.1\r\nHost: example.vn:http\r\n".to_owned(),
        ),
    ] {
        let raw = raw_exchange(&h, &format!("{head}Connection: close\r\n\r\n")).await;
        assert_eq!(
            status_line(&raw),
            "HTTP/1.1 400 Bad Request",
            "{shape}: {raw}"
        );
        assert!(raw.contains("application/problem+json"), "{raw}");
    }
    let raw = raw_exchange(&h, "GET /healthz HTTP/1.0\r\n\r\n").await;
    assert_eq!(status_line(&raw), "HTTP/1.0 200 OK", "{raw}");

    // The caller never chooses the upstream: an absolute-form target names its own host in vain.
    let raw = raw_request(
        &h,
        "GET http://evil.example/v1/proxy/cat/echo/x HTTP/1.1\r\nAuthorization: Bearer portal-key\r\n",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(
        raw.contains(&format!("\"host\":\"{}\"", h.upstream.addr)) && !raw.contains("evil"),
        "{raw}"
    );
}

/// The problem document of a raw response: checks the status line, the media type and the
/// request id, and returns the body.
fn raw_problem(raw: &str, status: &str, code: &str) -> Value {
    assert_eq!(status_line(raw), status, "{raw}");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-type: application/problem+json"),
        "{raw}"
    );
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["code"], code, "{raw}");
    let rid = body["request_id"].as_str().unwrap();
    assert!(head.contains(&format!("x-request-id: {rid}")), "{raw}");
    body
}

/// hyper refuses what it cannot parse before any of our code runs; those refusals answer
/// problem+json with the same codes as every other error.
#[tokio::test]
async fn refusals_of_unparsable_heads_are_problem_documents() {
    let h = start("").await;
    let addr = h.base.trim_start_matches("http://").to_owned();
    for (shape, head) in [
        (
            "a header line without a colon",
            "GET /healthz HTTP/1.1\r\nBad Header\r\n".to_owned(),
        ),
        (
            "a method that is no token",
            "G(T /healthz HTTP/1.1\r\n".to_owned(),
        ),
        ("an unknown version", "GET /healthz HTTP/1.7\r\n".to_owned()),
        (
            "a space in the target",
            "GET /he lthz HTTP/1.1\r\n".to_owned(),
        ),
    ] {
        let raw = raw_exchange(&h, &format!("{head}Host: {addr}\r\n\r\n")).await;
        let body = raw_problem(&raw, "HTTP/1.1 400 Bad Request", "invalid_request");
        assert_eq!(body["status"], 400, "{shape}");
        assert_eq!(body["type"], "/problems/invalid_request", "{shape}");
    }

    // A head over `[limits] header_bytes` (16 KiB here) reaches the edge: 431 in the caller's
    // language, with its request id...
    let big = "a".repeat(20 * 1024);
    let raw = raw_exchange(
        &h,
        &format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nAccept-Language: en\r\nX-Request-Id: big-1\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    let body = raw_problem(
        &raw,
        "HTTP/1.1 431 Request Header Fields Too Large",
        "header_too_large",
    );
    assert_eq!(body["request_id"], "big-1");
    assert!(
        body["detail"].as_str().unwrap().contains("exceed"),
        "{body}"
    );
    // ...on a kept-alive connection too, after a first request.
    let raw = raw_exchange(
        &h,
        &format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\nGET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    let second = &raw[raw.rfind("HTTP/1.1 ").unwrap()..];
    raw_problem(
        second,
        "HTTP/1.1 431 Request Header Fields Too Large",
        "header_too_large",
    );
    // Far past it, hyper refuses the head unread; the answer is the same document.
    let huge = "a".repeat(64 * 1024);
    let raw = raw_exchange(
        &h,
        &format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Big: {huge}\r\n\r\n"),
    )
    .await;
    raw_problem(
        &raw,
        "HTTP/1.1 431 Request Header Fields Too Large",
        "header_too_large",
    );
    // The codes are documented.
    let doc = h.fetch_json(&h.url("/problems/header_too_large")).await;
    assert_eq!(doc["status"], 431);
}

/// Sends a chunked request by hand (no Content-Length) and returns the raw response text.
async fn raw_chunked_post(h: &common::Harness, path: &str, key: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = h.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(1000) {
        // The gateway may answer and close before everything is sent; that is the point.
        if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .is_err()
            || s.write_all(chunk).await.is_err()
            || s.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn malformed_json_and_wrong_media_type_are_problems() {
    let h = start("").await;
    let resp = h
        .post("/v1/admin/clients/narrow/suspend", "ops-key")
        .header("content-type", "application/json")
        .body("{\"reason\": ")
        .send()
        .await
        .unwrap();
    problem(resp, 400, "invalid_request").await;
    let resp = h
        .post("/v1/admin/clients/narrow/suspend", "ops-key")
        .header("content-type", "application/json")
        .body("{\"unknown\": 1}")
        .send()
        .await
        .unwrap();
    problem(resp, 400, "invalid_request").await;
    let resp = h.http.get(h.url("/no/such/route")).send().await.unwrap();
    problem(resp, 404, "not_found").await;
}

#[tokio::test]
async fn pass_through_forwards_cleanly() {
    let h = start("").await;
    let resp = h
        .post("/v1/proxy/cat/echo/a/b?x=1&y=%C3%A1", "portal-key")
        .header("connection", "x-private")
        .header("x-private", "drop me")
        .header("x-lienthong-client", "spoofed")
        .header("x-request-id", "req-123")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("x-custom", "kept")
        .header("x-forwarded-for", "10.1.2.3")
        .header("x-original-url", "/admin")
        .header("x-rewrite-url", "/admin")
        .header("x-forwarded-host", "intranet.example")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-port", "443")
        .header(
            "forwarded",
            "for=10.1.2.3;host=intranet.example;proto=https",
        )
        .header("x-real-ip", "10.1.2.3")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "req-123");
    let echo: Value = resp.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["uri"], "/echo/a/b?x=1&y=%C3%A1");
    assert_eq!(echo["body_len"], 5);
    let headers = &echo["headers"];
    assert!(
        headers.get("authorization").is_none(),
        "the caller's credential never reaches the upstream"
    );
    assert!(
        headers.get("x-private").is_none(),
        "headers named in Connection are hop-by-hop"
    );
    assert_eq!(headers["x-lienthong-client"], "portal");
    assert_eq!(headers["x-request-id"], "req-123");
    assert_eq!(headers["x-custom"], "kept");
    assert_eq!(headers["host"], h.upstream.addr.to_string());
    let tp = headers["traceparent"].as_str().unwrap();
    assert!(
        tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && tp.ends_with("-01"),
        "{tp}"
    );
    assert!(
        !tp.contains("00f067aa0ba902b7"),
        "this hop is the new parent"
    );
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "{tp}");
    assert!(
        parts[2].len() == 16
            && parts[2]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "the new parent id is 16 lowercase hex digits: {tp}"
    );
    assert_eq!(
        headers["x-forwarded-for"], "127.0.0.1",
        "the caller is no trusted proxy: its own chain is not believed"
    );
    assert_eq!(
        headers["x-forwarded-proto"], "http",
        "the gateway's, not the caller's"
    );
    for steering in [
        "x-original-url",
        "x-rewrite-url",
        "x-forwarded-host",
        "x-forwarded-port",
        "forwarded",
        "x-real-ip",
    ] {
        assert!(
            headers.get(steering).is_none(),
            "{steering} never reaches the upstream: {headers}"
        );
    }

    // The service root with a trailing slash is routed (`down` allows `/*`; its upstream is closed).
    let resp = h.get("/v1/proxy/down/", "portal-key").send().await.unwrap();
    problem(resp, 503, "upstream_unavailable").await;

    // A request id that is not well formed is replaced.
    let resp = h
        .get("/v1/proxy/cat/procedures", "portal-key")
        .header("x-request-id", "bad id!")
        .send()
        .await
        .unwrap();
    let rid = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&rid).unwrap().get_version_num(), 7);

    // Sent raw: HTTP clients would normalise these paths away before sending.
    for bad in [
        "/v1/proxy/cat/echo/%2e%2e/admin",
        "/v1/proxy/cat/echo/../../admin",
        "/v1/proxy/cat/echo/a%2Fb",
    ] {
        let raw = raw_request(
            &h,
            &format!("GET {bad} HTTP/1.1\r\nAuthorization: Bearer portal-key\r\n"),
        )
        .await;
        assert!(raw.starts_with("HTTP/1.1 400"), "{bad}: {raw}");
        assert!(raw.contains("invalid_request"), "{raw}");
    }
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_header_read_timeout() {
    let h = common::start_edited("", |text| {
        text.replace("[limits]\n", "[limits]\nheader_read_timeout_ms = 300\n")
    })
    .await;
    use tokio::io::AsyncReadExt;
    let addr = h.base.trim_start_matches("http://");
    // Connected, and not one byte sent: not even enough to tell HTTP/1 from HTTP/2.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut out)).await;
    assert!(closed.is_ok(), "the gateway closed the silent connection");
    assert!(started.elapsed() >= Duration::from_millis(250));
    // A request sent at once is still served.
    let resp = h.http.get(h.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

/// A service whose admin routes come before a catch-all, and a client that may use only the catch-all.
const LAYERED: &str = r#"
[services.layered]
kind = "passthrough"
base_url = "{UPSTREAM}"
routes = [
  { operation = "admin", methods = ["GET"], path = "/echo/admin/*" },
  { operation = "read", methods = ["GET"], path = "/*" },
]

[[clients]]
id = "reader"
api_keys_sha256 = ["{READER_KEY}"]
allow = [{ service = "layered", operations = ["read"] }]
"#;

#[tokio::test]
async fn pass_through_paths_cannot_escape_their_routes() {
    let h =
        start(&LAYERED.replace("{READER_KEY}", &lienthong::keys::sha256_hex("reader-key"))).await;
    let reader = "Authorization: Bearer reader-key\r\n";
    let ok = h
        .get("/v1/proxy/layered/echo/x", "reader-key")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let resp = h
        .get("/v1/proxy/layered/echo/admin/x", "reader-key")
        .send()
        .await
        .unwrap();
    problem(resp, 403, "forbidden").await;

    // Spellings of the admin path that upstreams read as the admin path: an encoded letter, a
    // path parameter, a parameter on a dot segment, an empty segment. Sent raw: HTTP clients
    // would normalise some of them away.
    for (spelling, status) in [
        ("/v1/proxy/layered/echo/%61dmin/x", "403"),
        ("/v1/proxy/layered/echo/admin;v=1/x", "403"),
        ("/v1/proxy/layered/echo/x/..;/admin/x", "400"),
        ("/v1/proxy/layered/echo//admin/x/", "400"),
    ] {
        let raw = raw_request(&h, &format!("GET {spelling} HTTP/1.1\r\n{reader}")).await;
        assert!(
            raw.starts_with(&format!("HTTP/1.1 {status}")),
            "{spelling}: {raw}"
        );
    }
    // What is let through is forwarded as it was matched.
    let raw = raw_request(
        &h,
        &format!("GET /v1/proxy/layered/%65cho/%7Eme HTTP/1.1\r\n{reader}"),
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.contains(r#""uri":"/echo/~me""#), "{raw}");

    // A route that allows GET answers HEAD too (RFC 9110 §9.1), and says so in `Allow`.
    let resp = h
        .http
        .head(h.url("/v1/proxy/cat/procedures"))
        .bearer_auth("portal-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("content-length"));
    let resp = h
        .http
        .delete(h.url("/v1/proxy/cat/procedures"))
        .bearer_auth("portal-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["allow"], "GET, HEAD");
    problem(resp, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn upstream_down_and_slow_map_to_503_and_504() {
    let h = start("").await;
    let resp = h
        .get("/v1/proxy/down/anything", "portal-key")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("retry-after"));
    problem(resp, 503, "upstream_unavailable").await;
    let started = std::time::Instant::now();
    let resp = h
        .get("/v1/proxy/tight/slow?ms=2000", "portal-key")
        .send()
        .await
        .unwrap();
    problem(resp, 504, "upstream_timeout").await;
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn personal_data_services_require_official_and_dossier() {
    let h = start("").await;
    let resp = h
        .get("/v1/proxy/dossiers/dossiers/HS-1", "portal-key")
        .send()
        .await
        .unwrap();
    let body = problem(resp, 400, "invalid_request").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["X-User-Id", "X-Dossier-Id"]);
    let resp = h
        .get("/v1/proxy/dossiers/dossiers/HS-1", "portal-key")
        .header("x-user-id", "canbo01")
        .send()
        .await
        .unwrap();
    let body = problem(resp, 400, "invalid_request").await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 1);
    // The official is an ID number on every personal-data call, as on the registries.
    let resp = h
        .get("/v1/proxy/dossiers/dossiers/HS-1", "portal-key")
        .header("x-user-id", "canbo01")
        .header("x-dossier-id", "HS-1")
        .send()
        .await
        .unwrap();
    let body = problem(resp, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "X-User-Id");
    assert!(h.gw.store.audit_records(0, 10).await.unwrap().is_empty());
    let resp = h
        .get("/v1/proxy/dossiers/dossiers/HS-1", "portal-key")
        .header("x-user-id", "046185000123")
        .header("x-dossier-id", "HS-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Every call is audited as the registries' are, with the upstream's own error status.
    let resp = h
        .get("/v1/proxy/dossiers/dossiers/nope", "portal-key")
        .header("x-user-id", "046185000123")
        .header("x-dossier-id", "HS-2")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let records = h.gw.store.audit_records(0, 10).await.unwrap();
    assert_eq!(records.len(), 2);
    let (ok, other) = (&records[0].event, &records[1].event);
    assert_eq!(
        (
            ok.client_id.as_str(),
            ok.user_id.as_str(),
            ok.dossier_id.as_str()
        ),
        ("portal", "046185000123", "HS-1")
    );
    assert_eq!(
        (
            ok.service.as_str(),
            ok.operation.as_str(),
            ok.outcome.as_str()
        ),
        ("dossiers", "get", "ok")
    );
    let expected = if status < 400 {
        "ok".to_owned()
    } else {
        format!("http_{status}")
    };
    assert_eq!(other.outcome, expected);
    assert_ne!(
        ok.subject, other.subject,
        "the subject is the path's keyed hash"
    );
}

#[tokio::test]
async fn problem_detail_follows_accept_language() {
    let h = start("").await;
    let vi: Value = h
        .http
        .get(h.url("/v1/services"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let en: Value = h
        .http
        .get(h.url("/v1/services"))
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(vi["detail"].as_str().unwrap().contains("xác thực"), "{vi}");
    assert!(
        en["detail"].as_str().unwrap().contains("Authentication"),
        "{en}"
    );
    assert_eq!(vi["title"], "Chưa xác thực", "{vi}");
    assert_eq!(en["title"], "Authentication required", "{en}");
    let doc: Value = h
        .http
        .get(h.url("/problems/rate_limited"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["status"], 429);
    assert_eq!(doc["title"]["vi"], "Vượt quá tần suất cho phép", "{doc}");
    assert_eq!(doc["title"]["en"], "Too many requests", "{doc}");
    // Every code is documented with its title and description in both languages: Vietnamese
    // with its diacritics, English in plain ASCII.
    let vietnamese = |v: &Value| {
        v.as_str()
            .is_some_and(|t| t.chars().any(|c| c.is_alphabetic() && !c.is_ascii()))
    };
    let english = |v: &Value| v.as_str().is_some_and(|t| !t.is_empty() && t.is_ascii());
    for code in lienthong::error::ErrorCode::ALL {
        let doc = h
            .fetch_json(&h.url(&format!("/problems/{}", code.as_str())))
            .await;
        for member in ["title", "description"] {
            assert!(vietnamese(&doc[member]["vi"]), "{doc}");
            assert!(english(&doc[member]["en"]), "{doc}");
        }
    }
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let h = start("").await;
    assert_eq!(
        h.http.get(h.url("/healthz")).send().await.unwrap().status(),
        200
    );
    let ready: Value = h
        .http
        .get(h.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["store"]["status"], "ok");
    h.get("/v1/proxy/cat/procedures", "portal-key")
        .send()
        .await
        .unwrap();
    let metrics = h.metrics().await;
    assert!(
        metrics
            .contains(r#"lienthong_requests_total{client="portal",service="cat",status="200"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("lienthong_upstream_duration_seconds_bucket"),
        "{metrics}"
    );
}

#[tokio::test]
async fn hot_reload_applies_valid_and_refuses_invalid_config() {
    let h = start("").await;
    assert_eq!(
        h.get("/v1/services", "late-key")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    let extra = format!(
        "\n[[clients]]\nid = \"late\"\napi_keys_sha256 = [\"{}\"]\n",
        lienthong::keys::sha256_hex("late-key")
    );
    let text = std::fs::read_to_string(&h.config_path).unwrap() + &extra;
    std::fs::write(&h.config_path, &text).unwrap();
    let resp = h.post("/v1/admin/reload", "ops-key").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        h.get("/v1/services", "late-key")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    std::fs::write(
        &h.config_path,
        text.replace("kind = \"passthrough\"", "kind = \"teleport\""),
    )
    .unwrap();
    let resp = h.post("/v1/admin/reload", "ops-key").send().await.unwrap();
    let body = problem(resp, 422, "config_rejected").await;
    // The key and what it takes; not the value, which might have been a secret pasted there.
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains(".kind`: not a kind") && !reason.contains("teleport"),
        "{body}"
    );
    // The running config stays.
    assert_eq!(
        h.get("/v1/services", "late-key")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        h.get("/v1/proxy/cat/procedures", "portal-key")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let resp = h
        .post("/v1/admin/reload", "portal-key")
        .send()
        .await
        .unwrap();
    problem(resp, 403, "forbidden").await;
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let h = start("").await;
    let doc: Value = h
        .http
        .get(h.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{service}", "cat")
            .replace("{path}", "echo/x")
            .replace("{id}", "narrow")
            .replace("{code}", "forbidden");
        for method in ["get", "post"] {
            // Demo mode's own routes are served by `serve --demo` only (tests/demo.rs).
            if item.get(method).is_none_or(|op| op["x-demo-only"] == true) {
                continue;
            }
            let req = if method == "get" {
                h.http.get(h.url(&concrete))
            } else {
                h.http.post(h.url(&concrete))
            };
            let key = if concrete.contains("/admin/") {
                "ops-key"
            } else {
                "portal-key"
            };
            let resp = req
                .bearer_auth(key)
                .header("accept-language", "en")
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            // The router's own 404 (no such route) carries the default detail; a handler's is specific.
            let body = resp.text().await.unwrap();
            let is_route_miss =
                status == 404 && body.contains("The requested resource was not found.");
            assert!(
                !is_route_miss && status != 405,
                "{method} {concrete} → {status} {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 12, "{checked}");
}
