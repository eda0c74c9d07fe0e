//! `serve --demo` as a new user meets it: the banner's examples, run with curl in the order
//! printed, a port in use, and the flags that do not apply.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Command};
use std::time::Duration;

use common::process::{BIN, lines_of, start_demo};

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with `args`; its standard output arrives line by line.
fn spawn_lines(args: &[&str]) -> (Killed, std::sync::mpsc::Receiver<String>) {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    let (child, rx) = lines_of(cmd);
    (Killed(child), rx)
}

/// Runs a shell command line as a user pastes it, `curl` writing the status code after the body
/// (`write_out`); returns the output.
fn run_shell(cmd: &str, write_out: &str) -> std::process::Output {
    let run = cmd.replacen("curl ", &format!("curl {write_out} "), 1);
    Command::new("sh")
        .arg("-c")
        .arg(&run)
        .env("no_proxy", "*")
        .output()
        .unwrap()
}

/// The shell commands of the banner: each starts at a line `  curl`, and goes on while a line ends
/// with `\` or a quote is open.
fn curl_commands(banner: &[String]) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current: Option<String> = None;
    for line in banner {
        match current.as_mut() {
            Some(cmd) => {
                cmd.push('\n');
                cmd.push_str(line);
            }
            None if line.trim_start().starts_with("curl ") => current = Some(line.clone()),
            None => continue,
        }
        let cmd = current.as_deref().unwrap_or_default();
        let open_quote = cmd.matches('\'').count() % 2 == 1;
        if !open_quote && !cmd.ends_with('\\') {
            commands.extend(current.take());
        }
    }
    assert!(
        current.is_none(),
        "a banner command never ends: {current:?}"
    );
    commands
}

#[test]
fn demo_banner_examples_work_top_to_bottom() {
    let demo = start_demo();
    let commands = curl_commands(&demo.banner);
    assert!(commands.len() >= 10, "{commands:#?}");
    let (last, before) = commands.split_last().unwrap();
    assert!(last.contains("/resume"), "resume comes last: {last}");
    assert!(
        before.last().unwrap().contains("/suspend"),
        "suspend comes just before resume"
    );
    for cmd in &commands {
        // Exactly as printed, with the status code written last on its own line.
        let out = run_shell(cmd, "-w '\\n%{http_code}'");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let status = stdout.lines().last().unwrap_or_default();
        assert!(
            out.status.success() && status.starts_with('2'),
            "{cmd}\nanswered {status}:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // After the resume the portal calls again.
    let out = run_shell(&commands[0], "-o /dev/null -w '%{http_code}'");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    // The developer portal the banner names is there.
    let portal = demo
        .banner
        .iter()
        .find(|l| l.trim_start().starts_with("developer portal"))
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("http://")))
        .expect("the banner names the developer portal");
    let out = run_shell(
        &format!("curl -s {portal}"),
        "-o /dev/null -w '%{http_code} %{content_type}'",
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200 text/html; charset=utf-8"
    );
}

#[test]
fn demo_on_a_port_in_use_says_so_in_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(BIN)
        .args(["serve", "--demo", "--port", &port, "--mocks-port-base", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        out.stdout.is_empty(),
        "no banner for a gateway not listening"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("--port"),
        "{stderr}"
    );
}

#[test]
fn mocks_port_base_moves_every_mock() {
    // The base taken: the catalogue, first of the eight, cannot start there.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = taken.local_addr().unwrap().port();
    if base > 65535 - 7 {
        return;
    }
    let out = Command::new(BIN)
        .args(["mocks", "--port-base", &base.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("catalogue: cannot listen on 127.0.0.1:{base}"))
            && stderr.contains("--port-base"),
        "{stderr}"
    );
    let out = Command::new(BIN)
        .args(["mocks", "--port-base", "65534"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn port_is_refused_with_a_config() {
    let out = Command::new(BIN)
        .args(["serve", "--config", "lienthong.toml", "--port", "9000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`--port` applies to `--demo` only"),
        "{stderr}"
    );
}

/// Demo mode's portal events reach its own inbox, signed as to any portal: a payment paid on the
/// mock bank's page shows up in `GET /v1/demo/events` as a verified `payment.paid`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_events_show_the_portal_events_it_sent() {
    common::install_crypto();
    let demo = start_demo();
    let base = demo.public.clone();
    // The bank's page redirects the citizen back to the portal: not followed here.
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let created: serde_json::Value = http
        .post(format!("{base}/v1/payments"))
        .bearer_auth("demo-portal-key")
        .header("idempotency-key", "\"events-1\"")
        .json(&serde_json::json!({
            "dossier_id": "HS-2026-0009", "provider": "vnpay", "amount_vnd": 50_000,
            "description": "Lệ phí", "return_url": "https://portal.example/ket-qua",
            "items": [{ "code": "LP", "name": "Lệ phí", "amount_vnd": 50_000 }]
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pay_url = created["pay_url"].as_str().unwrap();
    let paid = http
        .get(format!("{pay_url}&mock_choice=pay"))
        .send()
        .await
        .unwrap();
    assert!(paid.status().is_success() || paid.status().is_redirection());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let events: serde_json::Value = http
            .get(format!("{base}/v1/demo/events"))
            .bearer_auth("demo-portal-key")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let found = events["events"].as_array().unwrap().iter().any(|e| {
            e["signature"] == "verified"
                && e["event"]["type"] == "payment.paid"
                && e["event"]["data"]["payment_id"] == created["payment_id"]
        });
        if found {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no payment.paid in {events}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Only callers see them.
    let anonymous = http
        .get(format!("{base}/v1/demo/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

/// `lienthong listen` prints each signed event and refuses, in a printed line, one whose
/// signature does not hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_prints_signed_events_and_refuses_bad_signatures() {
    common::install_crypto();
    let secret = "listen-test-secret-0123456789abcdef";
    let (_child, rx) = spawn_lines(&["listen", "--port", "0", "--secret", secret]);
    let first = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let body = r#"{"id":"ev-1","type":"payment.paid","data":{"payment_id":"p-1"}}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let send = |signature: String| {
        http.post(&url)
            .header("content-type", "application/json")
            .header("lienthong-event-id", "ev-1")
            .header("lienthong-signature", signature)
            .body(body)
            .send()
    };
    let good = send(lienthong::signature::sign(
        secret.as_bytes(),
        now,
        body.as_bytes(),
    ))
    .await
    .unwrap();
    assert_eq!(good.status(), 204);
    let line = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        line.contains("payment.paid") && line.contains("ev-1") && line.contains("verified"),
        "{line}"
    );
    let printed: Vec<String> =
        std::iter::from_fn(|| rx.recv_timeout(Duration::from_millis(500)).ok())
            .take_while(|l| l != "}")
            .collect();
    assert!(printed.iter().any(|l| l.contains("\"p-1\"")), "{printed:?}");
    let bad = send(lienthong::signature::sign(
        b"another-secret-0123456789abcdef",
        now,
        body.as_bytes(),
    ))
    .await
    .unwrap();
    assert_eq!(bad.status(), 400);
    let line = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(line.contains("REFUSED") && line.contains("ev-1"), "{line}");
}
