//! The real `lienthong` binary as a child process, for tests that need whole processes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_lienthong");

/// Writes the standard test config plus `extra` (and its token key) into `dir`, with the `info`
/// JSON logs that [`spawn_gateway`] reads.
pub fn write_config(dir: &std::path::Path, upstream: &str, extra: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("token.key"), super::TOKEN_KEY).unwrap();
    let text = super::config_text(upstream, dir, extra)
        .replace("log_level = \"warn\"", "log_level = \"info\"");
    let path = dir.join("lienthong.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Sends the signal `sig` (`TERM`, `HUP`) to `child`.
pub fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

/// A running gateway process, killed when dropped.
pub struct GatewayProcess {
    pub child: Child,
    pub addr: String,
    /// Every line the gateway wrote to standard output so far.
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `lienthong serve --config <config>` and waits for its `listening` log line (JSON logs).
pub fn spawn_gateway(config: &std::path::Path) -> GatewayProcess {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--config"]).arg(config);
    spawn_command(cmd)
}

/// Starts `cmd` (a `lienthong serve` with JSON logs) and waits up to 20 s for its `listening` log
/// line.
pub fn spawn_command(mut cmd: Command) -> GatewayProcess {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            kept.lock().unwrap().push(line.clone());
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v["message"] == "listening"
            {
                let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the gateway did not start");
    GatewayProcess {
        child,
        addr,
        stdout: lines,
    }
}

/// `lienthong serve --demo` on free ports, killed when dropped.
pub struct DemoProcess {
    pub child: Child,
    /// Every banner line up to the mocks' table.
    pub banner: Vec<String>,
    /// The public surface, `http://127.0.0.1:PORT`.
    pub public: String,
    /// The operators' surface.
    pub admin: String,
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve --demo` on free ports and reads its banner.
pub fn start_demo() -> DemoProcess {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--demo", "--port", "0", "--mocks-port-base", "0"]);
    let (child, rx) = lines_of(cmd);
    let mut banner = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the demo printed no banner (`lienthong serve --demo` says why)");
        if line.starts_with("Mock upstreams") {
            break;
        }
        banner.push(line);
    }
    let url_of = |start: &str| {
        banner
            .iter()
            .find(|l| l.trim_start().starts_with(start))
            .and_then(|l| l.split_whitespace().find(|w| w.starts_with("http://")))
            .unwrap_or_else(|| panic!("no `{start}` line in the banner: {banner:#?}"))
            .to_owned()
    };
    let (public, admin) = (
        url_of("lienthong demo gateway on"),
        url_of("operators' surface"),
    );
    DemoProcess {
        child,
        banner,
        public,
        admin,
    }
}

/// Starts `cmd` (standard error dropped); its standard output arrives line by line.
pub fn lines_of(mut cmd: Command) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}
