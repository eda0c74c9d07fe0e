//! The mocks' admin page (`/__admin/ui`) as a tester uses it, in headless Chromium: the journal
//! shows what callers sent as text, fault rules go on and off, a refused scenario says why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::browser::Browser;
use lienthong_mocks::set::{MockSet, MocksConfig, Ports};
use serde_json::{Value, json};

async fn set() -> MockSet {
    MockSet::start(&MocksConfig {
        ports: Ports::any(),
        citizens: 10,
        enterprises: 5,
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_admin_page_turns_a_fault_on_and_off_in_headless_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let set = set().await;
    let catalogue = set.get("catalogue").unwrap();
    let base = catalogue.mock.url();
    // Journal content is the caller's: markup in it must show as text.
    http.post(format!("{base}/echo"))
        .body("<img src=x onerror=alert(1)>")
        .send()
        .await
        .unwrap();
    browser.go(&format!("{base}/__admin/ui")).await;
    browser
        .until("return document.querySelector('#journal tbody').innerText.includes('<img src=x onerror=alert(1)>')")
        .await;
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('#journal img').length")
            .await,
        json!(0)
    );

    // Turn a fault on: every list_procedures call now fails with 503.
    browser
        .eval("document.getElementById('fault-operation').value = 'list_procedures'; document.getElementById('fault-kind').value = 'status'; return true")
        .await;
    browser.click("#add-fault").await;
    browser
        .until("return document.getElementById('faults').textContent.includes('list_procedures')")
        .await;
    assert_eq!(catalogue.control.faults().len(), 1);
    let failed = http.get(format!("{base}/procedures")).send().await.unwrap();
    assert_eq!(failed.status(), 503);
    browser.click("#refresh").await;
    browser
        .until("const r = document.querySelector('#journal tbody tr'); return !!r && r.className === 'failed' && r.querySelector('.status').textContent === '503'")
        .await;
    if let Ok(path) = std::env::var("LIENTHONG_UI_SCREENSHOT") {
        use base64::Engine;
        let png = browser
            .cmd(reqwest::Method::GET, "screenshot", Value::Null)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }

    // And off again.
    browser.click("#clear-faults").await;
    browser
        .until("return document.getElementById('faults').textContent.trim() === '[]'")
        .await;
    assert!(catalogue.control.faults().is_empty());
    assert_eq!(
        http.get(format!("{base}/procedures"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // A refusal shows on the page.
    browser
        .eval("document.getElementById('scenario').value = '{\"mode\": 1}'; return true")
        .await;
    browser.click("#save-scenario").await;
    browser
        .until("return document.getElementById('message').textContent.includes('no scenario key')")
        .await;
    browser.cmd(reqwest::Method::DELETE, "", Value::Null).await;
}
