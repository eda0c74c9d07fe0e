//! The developer portal (`/docs`) in headless Chromium on a demo gateway, its assets' caching,
//! and the error codes' pages (`/problems/{code}`) a browser gets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::browser::Browser;
use serde_json::{Value, json};

/// Waits until a script expression finds an element, then clicks it as a user would (through
/// an id given to it).
async fn click_when(browser: &Browser, find: &str, id: &str) {
    browser.until(&format!("return !!({find})")).await;
    browser
        .eval(&format!(
            "const e = ({find}); e.id = '{id}'; e.scrollIntoView({{block: 'center'}}); return true"
        ))
        .await;
    browser.click(&format!("#{id}")).await;
}

/// The operation block of `GET /v1/services`.
const SERVICES_BLOCK: &str = "[...document.querySelectorAll('.opblock.opblock-get')].find(b => b.querySelector('.opblock-summary-path')?.getAttribute('data-path') === '/v1/services')";

#[tokio::test]
async fn the_portal_lists_the_operations_and_tries_one_with_the_demo_key_in_headless_chromium() {
    common::install_crypto();
    let Some(browser) = Browser::start().await else {
        return;
    };
    let gateway = common::demo_gateway().await;
    browser.go(&format!("{}/docs", gateway.base)).await;
    browser
        .until("return document.querySelectorAll('.opblock').length > 30")
        .await;
    for path in ["/v1/citizens/verify", "/v1/payments", "/v1/shipments"] {
        assert_eq!(
            browser
                .eval(&format!(
                    "return !!document.querySelector('.opblock-summary-path[data-path=\"{path}\"]')"
                ))
                .await,
            json!(true),
            "{path} is not listed"
        );
    }

    // Authorize with the demo portal's API key, as a developer does.
    browser.click(".auth-wrapper .authorize").await;
    browser
        .until("return !!document.querySelector('.modal-ux input[aria-label=auth-bearer-value]')")
        .await;
    // The bearer scheme's field, not the OAuth2 client id's above it.
    browser
        .type_text(
            ".modal-ux input[aria-label=auth-bearer-value]",
            lienthong::app::demo::PORTAL_API_KEY,
        )
        .await;
    click_when(
        &browser,
        "document.querySelector('.modal-ux form:has(input[aria-label=auth-bearer-value]) button.authorize')",
        "authorize-bearer",
    )
    .await;
    click_when(
        &browser,
        "document.querySelector('.modal-ux button.close-modal')",
        "close-auth",
    )
    .await;

    // Try GET /v1/services: the gateway answers 200 with the demo portal's services.
    for (inside, id) in [
        (
            ".opblock-summary-control, .opblock-summary",
            "services-summary",
        ),
        (".try-out__btn", "try-services"),
        ("button.execute", "execute-services"),
    ] {
        let find = format!("{SERVICES_BLOCK}?.querySelector('{inside}')");
        click_when(&browser, &find, id).await;
    }
    browser
        .until(&format!(
            "const s = ({SERVICES_BLOCK})?.querySelector('.live-responses-table tr.response .response-col_status'); return !!s && s.textContent.trim() === '200'"
        ))
        .await;
    let answer = browser
        .eval(&format!(
            "return ({SERVICES_BLOCK}).querySelector('.live-responses-table tr.response .response-col_description').textContent"
        ))
        .await;
    assert!(
        answer
            .as_str()
            .unwrap()
            .contains(lienthong::app::demo::PORTAL_CLIENT),
        "{answer}"
    );

    // Everything the page loaded, scripts, styles, the document and the call, came from the
    // gateway itself.
    let loaded = browser
        .eval("return performance.getEntriesByType('resource').map(e => e.name)")
        .await;
    let loaded: Vec<&str> = loaded
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        loaded.iter().any(|u| u.ends_with("/openapi.json"))
            && loaded.iter().any(|u| u.ends_with("/v1/services"))
            && loaded
                .iter()
                .any(|u| u.contains("/docs/assets/swagger-ui-bundle.js")),
        "{loaded:?}"
    );
    for url in &loaded {
        assert!(
            url.starts_with(&format!("{}/", gateway.base)),
            "loaded from another origin: {url}"
        );
    }
}

#[tokio::test]
async fn the_portal_s_assets_are_cached_and_its_policy_loads_nothing_from_elsewhere() {
    let h = common::start("").await;
    let page = h.http.get(h.url("/docs")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self'")
            && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-eval") && !csp.contains("http"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    let css = html
        .split('"')
        .find(|s| s.starts_with("/docs/assets/swagger-ui.css?v="))
        .unwrap()
        .to_owned();

    let first = h.http.get(h.url(&css)).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-type"], "text/css; charset=utf-8");
    assert!(
        first.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    let etag = first.headers()["etag"].clone();
    assert!(css.ends_with(etag.to_str().unwrap().trim_matches('"')));
    let again = h
        .http
        .get(h.url(&css))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());

    // Gzipped for a browser that takes it: the same bytes, under their own tag.
    let bundle = html
        .split('"')
        .find(|s| s.starts_with("/docs/assets/swagger-ui-bundle.js?v="))
        .unwrap()
        .to_owned();
    let plain = h.http.get(h.url(&bundle)).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    let gzipped = h
        .http
        .get(h.url(&bundle))
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    assert_eq!(gzipped.headers()["vary"], "accept-encoding");
    assert!(
        gzipped.headers()["etag"]
            .to_str()
            .unwrap()
            .ends_with("-gz\"")
    );
    let gzipped = gzipped.bytes().await.unwrap();
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&gzipped[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, plain);
    assert!(
        gzipped.len() * 3 < plain.len(),
        "{} of {}",
        gzipped.len(),
        plain.len()
    );

    let missing = h
        .http
        .get(h.url("/docs/assets/../Cargo.toml"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let missing = h
        .http
        .get(h.url("/docs/assets/evil.js"))
        .send()
        .await
        .unwrap();
    common::problem(missing, 404, "not_found").await;
}

#[tokio::test]
async fn a_browser_gets_a_code_s_page_in_its_language_and_a_program_its_json() {
    let h = common::start("").await;
    let browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let page = |lang: &'static str| {
        h.http
            .get(h.url("/problems/rate_limited"))
            .header("accept", browser_accept)
            .header("accept-language", lang)
    };

    let en = page("en-GB,en;q=0.9,vi;q=0.5").send().await.unwrap();
    assert_eq!(en.status(), 200);
    assert_eq!(en.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(en.headers()["content-language"], "en");
    let en = en.text().await.unwrap();
    assert!(en.contains("<html lang=\"en\">") && en.contains("HTTP 429"));
    // Both languages, English first: the title, what it means and what to do.
    let at = |page: &str, text: &str| page.find(text).unwrap_or_else(|| panic!("no {text}"));
    assert!(at(&en, "Too many requests") < at(&en, "Vượt quá tần suất cho phép"));
    assert!(at(&en, "What to do") < at(&en, "Cần làm gì"));
    assert!(en.contains("Retry-After") && en.contains("href=\"/docs\""));

    let vi = page("vi-VN,vi;q=0.9").send().await.unwrap();
    assert_eq!(vi.headers()["content-language"], "vi");
    let vi = vi.text().await.unwrap();
    assert!(vi.contains("<html lang=\"vi\">"));
    assert!(at(&vi, "Vượt quá tần suất cho phép") < at(&vi, "Too many requests"));

    // A program keeps today's JSON.
    for accept in [
        None,
        Some("application/json"),
        Some("application/json, text/html;q=0.5"),
    ] {
        let mut req = h.http.get(h.url("/problems/rate_limited"));
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let doc: Value = resp.json().await.unwrap();
        assert_eq!(
            doc,
            json!({
                "code": "rate_limited",
                "status": 429,
                "title": { "vi": "Vượt quá tần suất cho phép", "en": "Too many requests" },
                "description": {
                    "vi": "Vượt quá giới hạn tần suất gọi; vui lòng thử lại sau.",
                    "en": "Rate limit exceeded; retry later."
                }
            })
        );
    }

    // An unknown code is a problem, whatever the caller accepts.
    let unknown = h
        .http
        .get(h.url("/problems/no_such_code"))
        .header("accept", browser_accept)
        .send()
        .await
        .unwrap();
    common::problem(unknown, 404, "not_found").await;

    // The list of codes, as JSON and as a page linking each one.
    let list = h.fetch_json(&h.url("/problems")).await;
    let codes = list["problems"].as_array().unwrap();
    assert_eq!(codes.len(), lienthong::error::ErrorCode::ALL.len());
    assert!(
        codes
            .iter()
            .any(|c| c["code"] == "client_suspended" && c["status"] == 403)
    );
    let index = h
        .http
        .get(h.url("/problems"))
        .header("accept", browser_accept)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(index.contains("href=\"/problems/rate_limited\""));
}
