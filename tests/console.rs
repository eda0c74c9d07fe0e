//! The operator console (`/console`) over HTTP and in a real headless Chromium: sign-in with an
//! admin client's API key into a session cookie, the cookie's flags (with `Secure` on TLS), the
//! CSRF token and the origin check of every action, the idle timeout and the lifetime, refused
//! sign-ins; an operator watching an upstream go red and recover, suspending a client and
//! resuming it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::pki::{ca, client_tls, leaf};
use rcgen::Issuer;
use serde_json::json;

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in with `key` on the admin surface at `base`; the response as is.
async fn sign_in(http: &reqwest::Client, base: &str, key: &str) -> reqwest::Response {
    http.post(format!("{base}/console/sign-in"))
        .form(&[("api_key", key)])
        .send()
        .await
        .unwrap()
}

/// The `lienthong_console=…` pair of a sign-in's `Set-Cookie`, and the whole header.
fn session_cookie(resp: &reqwest::Response) -> (String, String) {
    let header = resp
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    let pair = header.split(';').next().unwrap().to_owned();
    assert!(pair.starts_with("lienthong_console="), "{header}");
    (pair, header)
}

/// The CSRF token in a page's forms.
fn csrf_of(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect("a form") + 19;
    page[start..start + 64].to_owned()
}

/// The text of a console page read with the session `cookie`.
async fn page(http: &reqwest::Client, h: &common::Harness, cookie: &str, path: &str) -> String {
    http.get(format!("{}{path}", h.admin_base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The latest admin audit records, read through the admin API.
async fn admin_audit(h: &common::Harness) -> serde_json::Value {
    h.http
        .get(format!("{}/v1/admin/audit", h.admin_base))
        .bearer_auth("ops-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Signs in as `ops` and reads the CSRF token from the clients page: (cookie, token).
async fn signed_in(h: &common::Harness, http: &reqwest::Client) -> (String, String) {
    let resp = sign_in(http, &h.admin_base, "ops-key").await;
    assert_eq!(resp.status(), 303);
    let (cookie, _) = session_cookie(&resp);
    let page = page(http, h, &cookie, "/console/clients").await;
    (cookie.clone(), csrf_of(&page))
}

/// The standard gateway with a one-minute idle timeout and a lifetime of 150 s.
async fn gateway() -> common::Harness {
    common::start("[console]\nidle_timeout_secs = 60\nlifetime_secs = 150\n").await
}

/// An admin signs in: the cookie is `HttpOnly`, `SameSite=Strict`, scoped to `/console`, not
/// `Secure` over plain HTTP; the overview shows every upstream under a policy that allows no
/// script; without a session a page sends the browser to the sign-in page.
#[tokio::test]
async fn an_admin_signs_in_to_a_strict_http_only_session() {
    let h = gateway().await;
    let http = no_redirects();
    let resp = http
        .get(format!("{}/console", h.admin_base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/console/sign-in");
    let resp = http
        .get(format!("{}/console/sign-in", h.admin_base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("name=\"api_key\""));

    let resp = sign_in(&http, &h.admin_base, "ops-key").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/console");
    let (cookie, header) = session_cookie(&resp);
    assert_eq!(cookie.len(), "lienthong_console=".len() + 64, "256 bits");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(header.contains(flag), "{header}");
    }
    assert!(!header.contains("Secure"), "plain HTTP: {header}");

    let resp = http
        .get(format!("{}/console", h.admin_base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert!(csp.contains("script-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let page = resp.text().await.unwrap();
    for service in ["cat", "dossiers", "down", "tight"] {
        assert!(
            page.contains(&format!("data-service=\"{service}\"")),
            "{service}"
        );
    }
    assert!(page.contains("+07:00"), "times in Vietnam's zone");
    assert!(page.contains("<svg"), "charts");
    assert!(!page.contains("<script"), "no script");
    assert!(
        !page.contains(" src=") && !page.contains("<link"),
        "nothing loaded from elsewhere"
    );

    // The sign-in is in the admin audit.
    let audit = admin_audit(&h).await;
    assert_eq!(audit["records"][0]["action"], "console_sign_in");
    assert_eq!(audit["records"][0]["actor"], "ops");

    // Sign-out ends the session.
    let token = csrf_of(&page);
    let resp = act(&http, &h, (&cookie, &token), "/console/sign-out", &[]).await;
    assert_eq!(resp.status(), 303);
    assert!(
        resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let resp = http
        .get(format!("{}/console", h.admin_base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "signed out");
}

/// A key that is no admin's is refused: an unknown key 401 (and, past the token endpoint's
/// per-source quota, 429 even for the right key), a client's key 403.
#[tokio::test]
async fn unknown_keys_and_non_admin_keys_are_refused_and_guessing_is_throttled() {
    let h = common::start_edited("", |text| {
        text.replacen(
            "token_lifetime_s = 900",
            "token_lifetime_s = 900\ntoken_failures = { per_minute = 6, burst = 2 }",
            1,
        )
    })
    .await;
    let http = no_redirects();
    let resp = sign_in(&http, &h.admin_base, "portal-key").await;
    common::problem(resp, 403, "forbidden").await;
    let resp = sign_in(&http, &h.admin_base, "wrong-key").await;
    assert!(resp.headers().get("set-cookie").is_none());
    common::problem(resp, 401, "unauthenticated").await;
    let resp = sign_in(&http, &h.admin_base, "wrong-key-2").await;
    common::problem(resp, 401, "unauthenticated").await;
    let resp = sign_in(&http, &h.admin_base, "ops-key").await;
    let body = common::problem(resp, 429, "rate_limited").await;
    assert!(body["detail"].is_string());
}

/// Every action needs the session's CSRF token and a same-origin request: without the token,
/// with another session's, from another origin (by `Origin` or `Sec-Fetch-Site`) the client
/// stays as it was. With them, the suspension holds at once (403 `client_suspended`), is in the
/// admin audit under the operator's id, and the clients page shows why, when and by whom.
#[tokio::test]
async fn actions_need_the_csrf_token_and_the_same_origin() {
    let h = gateway().await;
    let http = no_redirects();
    let (cookie, token) = signed_in(&h, &http).await;
    let (_, other_token) = signed_in(&h, &http).await;
    assert_ne!(token, other_token);
    let suspend = format!("{}/console/clients/narrow/suspend", h.admin_base);
    let own_origin = h.admin_base.clone();
    for (name, form, origin, site) in [
        ("no token", vec![("reason", "x")], None, None),
        (
            "another session's token",
            vec![("reason", "x"), ("csrf", other_token.as_str())],
            None,
            None,
        ),
        (
            "another origin",
            vec![("reason", "x"), ("csrf", token.as_str())],
            Some("http://evil.example"),
            None,
        ),
        (
            "a cross-site fetch",
            vec![("reason", "x"), ("csrf", token.as_str())],
            Some(own_origin.as_str()),
            Some("cross-site"),
        ),
    ] {
        let mut req = http.post(&suspend).header("cookie", &cookie).form(&form);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        let resp = req.send().await.unwrap();
        common::problem(resp, 403, "forbidden").await;
        assert!(!h.gw.is_suspended("narrow"), "{name}");
    }
    // No session at all.
    let resp = http
        .post(&suspend)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    common::problem(resp, 403, "forbidden").await;

    let resp = http
        .post(&suspend)
        .header("cookie", &cookie)
        .header("origin", &own_origin)
        .header("sec-fetch-site", "same-origin")
        .form(&[("reason", "hết hạn hợp đồng"), ("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/console/clients");
    assert!(h.gw.is_suspended("narrow"));
    let resp = h
        .get("/v1/proxy/cat/procedures", "narrow-key")
        .send()
        .await
        .unwrap();
    common::problem(resp, 403, "client_suspended").await;
    let audit = admin_audit(&h).await;
    let record = &audit["records"][0];
    assert_eq!(
        (
            &record["actor"],
            &record["action"],
            &record["target"],
            &record["detail"]
        ),
        (
            &json!("ops"),
            &json!("suspend"),
            &json!("narrow"),
            &json!("hết hạn hợp đồng")
        )
    );
    let page = page(&http, &h, &cookie, "/console/clients").await;
    assert!(page.contains("data-client=\"narrow\" data-suspended=\"true\""));
    assert!(page.contains("hết hạn hợp đồng"));

    let resp = http
        .post(format!("{}/console/clients/narrow/resume", h.admin_base))
        .header("cookie", &cookie)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert!(!h.gw.is_suspended("narrow"));
}

/// A session ends after `idle_timeout_secs` without a request (the overview's own reloads do
/// not count) and `lifetime_secs` after sign-in however busy, on the sessions' clock.
#[tokio::test]
async fn a_session_ends_when_idle_and_at_the_end_of_its_lifetime() {
    let h = gateway().await;
    let skew = Arc::new(Mutex::new(Duration::ZERO));
    let base = Instant::now();
    let clock = skew.clone();
    h.gw.console
        .use_clock(Arc::new(move || base + *clock.lock().unwrap()));
    let advance = |secs: u64| *skew.lock().unwrap() += Duration::from_secs(secs);
    let http = no_redirects();
    let status = |cookie: String, path: &'static str| {
        let http = http.clone();
        let url = format!("{}{path}", h.admin_base);
        async move {
            http.get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    let (cookie, _) = session_cookie(&sign_in(&http, &h.admin_base, "ops-key").await);
    advance(59);
    assert_eq!(status(cookie.clone(), "/console/clients").await, 200);
    advance(40);
    // Reloads of the overview keep nothing alive: 59 + 40 - 59 = 40 s idle so far.
    assert_eq!(status(cookie.clone(), "/console?auto=1").await, 200);
    advance(21);
    assert_eq!(
        status(cookie.clone(), "/console/clients").await,
        303,
        "idle 61 s"
    );

    // A busy session still ends at its lifetime (150 s).
    let (cookie, _) = session_cookie(&sign_in(&http, &h.admin_base, "ops-key").await);
    for _ in 0..2 {
        advance(50);
        assert_eq!(status(cookie.clone(), "/console/clients").await, 200);
    }
    advance(50);
    assert_eq!(
        status(cookie.clone(), "/console/clients").await,
        303,
        "150 s old"
    );
}

/// On a TLS listener the session cookie is also `Secure`.
#[tokio::test]
async fn the_session_cookie_is_secure_on_a_tls_listener() {
    common::install_crypto();
    let (pki, ca_params, ca_key) = ca();
    let server = leaf(&Issuer::new(ca_params, ca_key), &["localhost"], "lienthong");
    let upstream = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("token.key"), common::TOKEN_KEY).unwrap();
    std::fs::write(p.join("server.crt"), &server.cert_pem).unwrap();
    std::fs::write(p.join("server.key"), &server.key_pem).unwrap();
    let text = common::config_text(&upstream.url(), p, "").replacen(
        "plain_http = true",
        &format!(
            "tls = {{ cert = \"{d}/server.crt\", key = \"file:{d}/server.key\" }}",
            d = p.display()
        ),
        1,
    );
    let config_path = p.join("lienthong.toml");
    std::fs::write(&config_path, text).unwrap();
    let h = common::start_with(upstream, dir, config_path).await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured(client_tls(&pki, None))
        .build()
        .unwrap();
    let base = h.base.replace("127.0.0.1", "localhost");
    assert!(base.starts_with("https://"), "{base}");
    let resp = sign_in(&http, &base, "ops-key").await;
    assert_eq!(resp.status(), 303);
    let (_, header) = session_cookie(&resp);
    assert!(header.ends_with("; Secure"), "{header}");
    assert!(header.contains("HttpOnly") && header.contains("SameSite=Strict"));
}

/// Waits (up to 30 s) until `script` returns true in the page.
async fn wait_in_page(browser: &common::browser::Browser, script: &str) {
    for _ in 0..300 {
        if browser.eval(script).await == json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = browser.eval("return document.body.innerText").await;
    panic!("never true: {script}\npage: {page}");
}

/// In Chromium: an operator signs in, sees the notary go red when its WSDL fails and green
/// again when it is back (the overview reloads itself), suspends a client with a reason (whose
/// calls are then refused) and resumes it.
#[tokio::test]
async fn an_operator_watches_an_upstream_fail_and_recover_and_suspends_a_client() {
    common::install_crypto();
    let Some(browser) = common::browser::Browser::start().await else {
        return;
    };
    let notary = common::notary_records().await;
    let upstream = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token.key"), common::TOKEN_KEY).unwrap();
    let extra = format!(
        "{}description = \"Công chứng\"\nprobe = {{ interval_s = 1, failures_to_open = 2 }}\n",
        common::notary_extra(&notary.mock.url(), dir.path())
    );
    let text = common::config_text(&upstream.url(), dir.path(), &extra);
    let path = dir.path().join("lienthong.toml");
    std::fs::write(&path, text).unwrap();
    let h = common::start_with(upstream, dir, path).await;
    let _workers = h.gw.spawn_workers();

    browser
        .go(&format!("{}/console/sign-in", h.admin_base))
        .await;
    browser
        .eval("document.getElementById('api_key').value = 'ops-key'; return true")
        .await;
    browser.click("#sign-in").await;
    let notary_state = "var r = document.querySelector('tr[data-service=notary]'); \
                        return r !== null && r.dataset.state";
    wait_in_page(&browser, &format!("{notary_state} === 'operational'")).await;

    let faults = format!("{}/__admin/faults", notary.mock.url());
    h.http
        .post(&faults)
        .json(&json!({"operation": "wsdl", "kind": "status", "status": 503}))
        .send()
        .await
        .unwrap();
    wait_in_page(&browser, &format!("{notary_state} === 'down'")).await;
    let shown = browser
        .eval("return document.querySelector('tr[data-service=notary] .state').innerText")
        .await;
    assert_eq!(shown, "down");
    let color = browser
        .eval("return getComputedStyle(document.querySelector('tr[data-service=notary] .state')).backgroundColor")
        .await;
    assert_eq!(color, "rgb(198, 40, 40)", "red");
    h.http.delete(&faults).send().await.unwrap();
    wait_in_page(&browser, &format!("{notary_state} === 'operational'")).await;

    browser.click("nav a[href='/console/clients']").await;
    wait_in_page(
        &browser,
        "return document.getElementById('reason-narrow') !== null",
    )
    .await;
    browser
        .eval("document.getElementById('reason-narrow').value = 'kiểm tra'; return true")
        .await;
    browser.click("#suspend-narrow").await;
    wait_in_page(
        &browser,
        "var r = document.querySelector('tr[data-client=narrow]'); return r !== null && r.dataset.suspended === 'true'",
    )
    .await;
    let row = browser
        .eval("return document.querySelector('tr[data-client=narrow]').innerText")
        .await;
    let row = row.as_str().unwrap();
    assert!(
        row.contains("kiểm tra") && row.contains("ops") && row.contains("+07:00"),
        "{row}"
    );
    let resp = h
        .get("/v1/proxy/cat/procedures", "narrow-key")
        .send()
        .await
        .unwrap();
    common::problem(resp, 403, "client_suspended").await;

    browser.click("#resume-narrow").await;
    wait_in_page(
        &browser,
        "var r = document.querySelector('tr[data-client=narrow]'); return r !== null && r.dataset.suspended === 'false'",
    )
    .await;
    let resp = h
        .get("/v1/proxy/cat/procedures", "narrow-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// Posts a console form with the session's cookie and token; the response as is.
async fn act(
    http: &reqwest::Client,
    h: &common::Harness,
    (cookie, token): (&str, &str),
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("csrf", token)];
    form.extend_from_slice(fields);
    http.post(format!("{}{path}", h.admin_base))
        .header("cookie", cookie)
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// An operator pauses a service from the overview: its calls get 503 `service_maintenance`,
/// the overview says so, the admin audit names the operator; ending it lets calls through.
#[tokio::test]
async fn an_operator_puts_a_service_in_maintenance_and_ends_it() {
    let h = gateway().await;
    let http = no_redirects();
    let (cookie, token) = signed_in(&h, &http).await;
    let session = (cookie.as_str(), token.as_str());
    let path = "/console/services/cat/maintenance";
    let resp = act(
        &http,
        &h,
        session,
        path,
        &[
            ("message_vi", "Bảo trì"),
            ("message_en", "Upkeep"),
            ("minutes", "0"),
        ],
    )
    .await;
    let body = common::problem(resp, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "minutes", "{body}");
    let resp = act(
        &http,
        &h,
        session,
        path,
        &[
            ("message_vi", ""),
            ("message_en", "Upkeep"),
            ("minutes", "30"),
        ],
    )
    .await;
    common::problem(resp, 422, "validation_failed").await;
    let resp = act(
        &http,
        &h,
        session,
        path,
        &[
            ("message_vi", "Bảo trì"),
            ("message_en", "Upkeep"),
            ("minutes", "30"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let resp = h
        .get("/v1/proxy/cat/procedures", "portal-key")
        .send()
        .await
        .unwrap();
    let body = common::problem(resp, 503, "service_maintenance").await;
    assert!(
        body.to_string().contains("Upkeep") || body.to_string().contains("Bảo trì"),
        "{body}"
    );
    let page = page(&http, &h, &cookie, "/console").await;
    assert!(page.contains("data-service=\"cat\" data-state=\"maintenance\""));
    let audit = admin_audit(&h).await;
    assert_eq!(audit["records"][0]["action"], "maintenance_start");
    assert_eq!(audit["records"][0]["actor"], "ops");

    let resp = act(
        &http,
        &h,
        session,
        "/console/services/cat/maintenance/end",
        &[],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let resp = h
        .get("/v1/proxy/cat/procedures", "portal-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = act(
        &http,
        &h,
        session,
        "/console/services/nope/maintenance/end",
        &[],
    )
    .await;
    common::problem(resp, 404, "not_found").await;
}

/// The timeline finds a payment by its dossier id and shows its ledger changes, the provider
/// message received and its portal notification, without the payer; a notification given up
/// is on the outbox page, and replaying it puts it back in the queue (audited).
#[tokio::test]
async fn the_timeline_follows_a_payment_and_a_given_up_notification_is_replayed() {
    use lienthong::store::{Evidence, NewOutboxEvent, NewPayment, PaymentStatus, Settlement};
    let h = gateway().await;
    let mut record = common::vnpay_ipn::pending_record("pay-1", "TXN1", 70_000);
    record.payer = Some("Nguyễn Văn A".into());
    h.gw.store
        .insert_payment(&NewPayment {
            record,
            idempotency: None,
        })
        .await
        .unwrap();
    let now = lienthong::store::now_ms();
    h.gw.store
        .settle(&Settlement {
            payment_id: "pay-1".into(),
            to: PaymentStatus::Paid,
            provider_txn_no: Some("VNP1".into()),
            bank_code: Some("NCB".into()),
            paid_at_ms: Some(now),
            failure_code: None,
            receipt_no: Some("BL-1".into()),
            source: "ipn".into(),
            note: None,
            event: Some(NewOutboxEvent {
                id: "evt-1".into(),
                event_type: "payment.paid".into(),
                payload: "{}".into(),
            }),
            evidence: Some(Evidence {
                provider: "vnpay".into(),
                kind: "ipn".into(),
                payment_id: Some("pay-1".into()),
                raw: "vnp_TxnRef=TXN1&secret-looking=1".into(),
                verdict: "RspCode 00".into(),
                at_ms: now,
            }),
            at_ms: now,
        })
        .await
        .unwrap();
    h.gw.store
        .outbox_attempt_failed("evt-1", "portal answered 500", None)
        .await
        .unwrap();

    let http = no_redirects();
    let (cookie, token) = signed_in(&h, &http).await;
    let get = |path: String| {
        let (http, cookie) = (http.clone(), cookie.clone());
        async move {
            let resp = http
                .get(path)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.text().await.unwrap()
        }
    };
    let page = get(format!("{}/console/timeline?q=HS-TXN1", h.admin_base)).await;
    assert!(page.contains("data-payment=\"pay-1\""), "{page}");
    assert!(page.contains("RspCode 00") && page.contains("BL-1") && page.contains("evt-1"));
    assert!(
        page.contains("pending") && page.contains("paid"),
        "ledger change"
    );
    assert!(!page.contains("Nguyễn Văn A"), "no payer");
    assert!(!page.contains("secret-looking"), "no raw message");
    let page = get(format!("{}/console/timeline?q=pay-1", h.admin_base)).await;
    assert!(page.contains("data-payment=\"pay-1\""));
    let page = get(format!("{}/console/timeline?q=nothing", h.admin_base)).await;
    assert!(!page.contains("data-payment="));

    let page = get(format!("{}/console/outbox", h.admin_base)).await;
    assert!(page.contains("data-event=\"evt-1\"") && page.contains("portal answered 500"));
    let resp = act(
        &http,
        &h,
        (&cookie, &token),
        "/console/outbox/evt-1/replay",
        &[],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let pending = h.gw.store.outbox_by_state("pending", 10).await.unwrap();
    assert_eq!(pending[0].id, "evt-1");
    let resp = act(
        &http,
        &h,
        (&cookie, &token),
        "/console/outbox/evt-1/replay",
        &[],
    )
    .await;
    common::problem(resp, 404, "not_found").await;
    let audit = h.gw.store.admin_audit(1).await.unwrap();
    assert_eq!(
        (audit[0].actor.as_str(), audit[0].action.as_str()),
        ("ops", "outbox_replay")
    );
}
