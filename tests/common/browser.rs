//! Headless Chromium for tests of web pages: a W3C WebDriver session on a local chromedriver.
//! Without Chromium the tests skip with a notice, except under `CI=true`.

use serde_json::{Value, json};

/// A W3C WebDriver session on a local chromedriver running headless Chromium.
pub struct Browser {
    pub http: reqwest::Client,
    pub session: String,
    driver: std::process::Child,
}

impl Browser {
    /// Starts chromedriver and a headless session, or `None` (with a notice) when Chromium or
    /// chromedriver is missing outside CI.
    pub async fn start() -> Option<Browser> {
        super::install_crypto();
        let driver_path = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(driver_path) = driver_path else {
            assert!(
                std::env::var("CI").is_err(),
                "chromedriver is required under CI=true (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "skipped: chromedriver not installed (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = std::process::Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true)
            {
                ready = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not start");
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,900"]
        }}}});
        let v: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"));
        Some(Browser {
            http,
            session: format!("{base}/session/{session}"),
            driver,
        })
    }

    pub async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/{path}", self.session));
        if !body.is_null() {
            req = req.json(&body);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        v["value"].clone()
    }

    pub async fn go(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "url", json!({"url": url}))
            .await;
    }

    /// The WebDriver id of the element of a CSS selector.
    pub async fn element(&self, css: &str) -> String {
        let e = self
            .cmd(
                reqwest::Method::POST,
                "element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        e.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {e}"))
            .to_owned()
    }

    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("element/{id}/click"),
            json!({}),
        )
        .await;
    }

    /// Types text into the element of a CSS selector, key by key, as a user does.
    pub async fn type_text(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Evaluates a script's return value.
    pub async fn eval(&self, script: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Waits until a script returns true.
    pub async fn until(&self, script: &str) {
        for _ in 0..100 {
            if self.eval(script).await == json!(true) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let page = self.eval("return document.body.innerText").await;
        panic!("never true: {script}\npage: {page}");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
