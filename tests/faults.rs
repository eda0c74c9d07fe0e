//! Faults end to end: the store goes away under a running gateway (the network to PostgreSQL is
//! cut by a proxy in between, as a failover or a partition would; the SQLite store's disk fills
//! up), and one upstream fails or stalls while the others are called.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::vnpay_ipn;
use lienthong::store::test_support::PgTestSchema;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused) and
/// restored on the same port.
struct Cuttable {
    addr: SocketAddr,
    target: String,
    running: Mutex<Option<JoinSet<()>>>,
}

impl Cuttable {
    async fn start(target: &str) -> Arc<Cuttable> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Arc::new(Cuttable {
            addr: listener.local_addr().unwrap(),
            target: target.to_owned(),
            running: Mutex::new(None),
        });
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let mut tasks = JoinSet::new();
        let target = self.target.clone();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                conns.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        *self.running.lock().unwrap() = Some(tasks);
    }

    /// Drops every connection and refuses new ones.
    fn cut(&self) {
        if let Some(mut tasks) = self.running.lock().unwrap().take() {
            tasks.abort_all();
        }
    }

    async fn restore(&self) {
        // The aborted listener's port is free again once its task is gone.
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        self.serve(listener);
    }
}

/// The IPN's `RspCode`.
async fn ipn(h: &common::Harness, query: &str) -> String {
    let body: serde_json::Value = h
        .http
        .get(h.url(&format!("/v1/providers/vnpay/ipn?{query}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["RspCode"].as_str().unwrap().to_owned()
}

/// The retried IPN settles the order, a repeat is "already settled", and the ledger holds one
/// change and one portal event.
async fn settles_once(h: &common::Harness, query: &str, id: &str) {
    assert_eq!(ipn(h, query).await, "00");
    assert_eq!(ipn(h, query).await, "02", "already settled");
    let store = &h.gw.store;
    assert_eq!(store.payment_changes(id).await.unwrap().len(), 1);
    assert_eq!(store.outbox_by_state("pending", 10).await.unwrap().len(), 1);
    assert_eq!(
        store.payment(id).await.unwrap().unwrap().status,
        lienthong::store::PaymentStatus::Paid
    );
}

/// The store is cut off while VNPay calls back: VNPay gets 99 (its "retry later"), readiness says
/// so, nothing is half-written, and when the store is back the retried IPN settles the payment
/// exactly once, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_answers_retry_later_and_heals_by_itself() {
    let Some(schema) = PgTestSchema::create("store_outage").await else {
        return;
    };
    let server = schema
        .url
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?']).next())
        .map(|authority| authority.rsplit('@').next().unwrap_or(authority).to_owned())
        .unwrap();
    let proxy = Cuttable::start(&server).await;
    let url = schema.url.replacen(&server, &proxy.addr.to_string(), 1);
    let dir = tempfile::tempdir().unwrap();
    let extra = vnpay_ipn::ipn_only_config(dir.path());
    let h = common::start_edited(&extra, |text| {
        let sqlite = text
            .lines()
            .find(|l| l.starts_with("url = \"sqlite://"))
            .unwrap()
            .to_owned();
        text.replace(&sqlite, &format!("url = \"{url}\""))
            .replace("request_timeout_ms = 5000", "request_timeout_ms = 20000")
    })
    .await;
    let orders = vnpay_ipn::seed_pending(h.gw.store.as_ref(), "outage", 1).await;
    let (id, txn_ref) = &orders[0];
    let query = vnpay_ipn::paid_ipn_query(txn_ref, "15000001");

    proxy.cut();
    let started = Instant::now();
    assert_eq!(
        ipn(&h, &query).await,
        "99",
        "retry later, never 00 unrecorded"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    let ready = h.http.get(h.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);

    proxy.restore().await;
    // The retried IPN (VNPay retries on 99) settles it; the pool replaced its dead connections.
    settles_once(&h, &query, id).await;
    let ready = h.http.get(h.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    drop(h);
    schema.drop().await;
}

/// A small filesystem of its own (tmpfs), so that the store's disk can fill up. `None` (with a
/// notice) where mounting is not permitted; under `CI=true` that fails instead.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(bytes: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: the disk-full test needs to mount a tmpfs (run as root)"
            );
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Fills every free byte with a file, which `room` removes again.
    fn fill(&self) {
        use std::io::Write;
        let mut filler = std::fs::File::create(self.path().join("filler")).unwrap();
        let block = vec![0u8; 4096];
        while filler.write_all(&block).is_ok() {}
        // The last partial block, byte by byte.
        while filler.write_all(&[0]).is_ok() {}
    }

    fn room(&self) {
        std::fs::remove_file(self.path().join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// The SQLite store's disk fills up while VNPay calls back: VNPay gets 99, readiness says so,
/// nothing is half-written, and once there is room again the retried IPN settles the payment
/// exactly once, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_retry_later_and_heals_by_itself() {
    let Some(disk) = SmallDisk::mount(8 << 20) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let extra = vnpay_ipn::ipn_only_config(dir.path());
    let db = disk.path().join("state.db");
    let h = common::start_edited(&extra, |text| {
        let sqlite = text
            .lines()
            .find(|l| l.starts_with("url = \"sqlite://"))
            .unwrap()
            .to_owned();
        text.replace(&sqlite, &format!("url = \"sqlite://{}\"", db.display()))
    })
    .await;
    let orders = vnpay_ipn::seed_pending(h.gw.store.as_ref(), "full", 1).await;
    let (id, txn_ref) = &orders[0];
    let query = vnpay_ipn::paid_ipn_query(txn_ref, "15000002");

    disk.fill();
    assert_eq!(
        ipn(&h, &query).await,
        "99",
        "retry later, never 00 unrecorded"
    );
    let store = &h.gw.store;
    assert_eq!(
        store.payment(id).await.unwrap().unwrap().status,
        lienthong::store::PaymentStatus::Pending,
        "nothing half-written"
    );
    assert!(store.payment_changes(id).await.unwrap().is_empty());

    disk.room();
    // The retried IPN (VNPay retries on 99) settles it.
    settles_once(&h, &query, id).await;
    drop(h);
}

/// The p99 latency of `count` pass-through calls to the healthy service, `concurrency` at a time.
async fn p99(h: &common::Harness, count: usize, concurrency: usize) -> Duration {
    let times = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let mut workers = JoinSet::new();
    for w in 0..concurrency {
        let (http, url, times) = (
            h.http.clone(),
            h.url("/v1/proxy/cat/procedures"),
            times.clone(),
        );
        let share = count / concurrency + usize::from(w < count % concurrency);
        workers.spawn(async move {
            for _ in 0..share {
                let started = Instant::now();
                let resp = http
                    .get(&url)
                    .bearer_auth("portal-key")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                let _ = resp.bytes().await;
                times.lock().unwrap().push(started.elapsed());
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let mut times = times.lock().unwrap().clone();
    times.sort();
    times[(times.len() * 99).div_ceil(100) - 1]
}

/// A service whose upstream stalls (32 calls hanging on it at once) does not slow the others:
/// the healthy service's p99 beside them stays within reach of its p99 alone. (`bench/faults.sh`
/// measures the figure on a quiet machine; this test catches what would share a bottleneck
/// between services: a lock, a pool, a worker held while an upstream does not answer.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upstream_does_not_slow_the_others() {
    let extra = format!(
        "\n[services.stalled]\nkind = \"passthrough\"\nbase_url = \"{{UPSTREAM}}\"\ntimeout_ms = 30000\nroutes = [{{ operation = \"slow\", methods = [\"GET\"], path = \"/slow\" }}]\n\n[[clients]]\nid = \"staller\"\napi_keys_sha256 = [\"{}\"]\nallow = [{{ service = \"stalled\", operations = [\"*\"] }}]\n",
        lienthong::keys::sha256_hex("staller-key")
    );
    let h = common::start(&extra).await;
    // Warm up the connection pools. Each figure is the best of three rounds: a busy machine
    // slows some rounds, a bottleneck shared with the stalled service slows every one.
    p99(&h, 100, 8).await;
    let mut alone = Duration::MAX;
    for _ in 0..3 {
        alone = alone.min(p99(&h, 300, 8).await);
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut stalled = JoinSet::new();
    for _ in 0..32 {
        let (http, url, stop) = (
            h.http.clone(),
            h.url("/v1/proxy/stalled/slow?ms=3000"),
            stop.clone(),
        );
        stalled.spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let resp = http
                    .get(&url)
                    .bearer_auth("staller-key")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut beside = Duration::MAX;
    for _ in 0..3 {
        beside = beside.min(p99(&h, 300, 8).await);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    eprintln!("healthy service p99: alone {alone:?}, beside a stalled upstream {beside:?}");
    assert!(
        beside <= alone * 3 / 2 + Duration::from_millis(20),
        "alone {alone:?}, beside a stalled upstream {beside:?}"
    );
    stalled.abort_all();
}
