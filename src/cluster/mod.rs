//! What several replicas share through Redis: the connection, whether Redis is reachable right now,
//! and the change events ([`events`]) that keep every replica's suspensions, config and caches in step.
//! Shared cache entries live in Redis too ([`crate::cache::shared`]).
//!
//! Redis is never on the critical path of availability: a command that errs or outlasts
//! `redis.timeout_ms` marks Redis unavailable (logged once, counted in `/metrics`), requests then
//! decide locally without waiting on it, and a background probe brings the shared path back as soon
//! as Redis answers again.

pub mod events;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::aio::MultiplexedConnection;

use crate::config::{RateLimitFail, RedisConfig};
use crate::telemetry::metrics::Metrics;

/// How often a replica tries Redis again while it is unavailable.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// Longest wait for a new connection (only the background probe and subscriber connect).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a Redis command did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No connection is open (Redis was unreachable at the last attempt).
    #[error("not connected to Redis")]
    NotConnected,
    /// Redis did not answer within `redis.timeout_ms`.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis or the connection failed.
    #[error("Redis error: {0}")]
    Redis(#[from] redis::RedisError),
    /// The `[redis]` table cannot be used (the URL's variable is unset or the URL is invalid).
    #[error("`redis.url`: {0}")]
    Config(String),
}

/// The Redis side of a replicated deployment.
pub struct Cluster {
    client: redis::Client,
    connection: ArcSwapOption<MultiplexedConnection>,
    available: AtomicBool,
    connect_lock: tokio::sync::Mutex<()>,
    timeout: Duration,
    key_prefix: String,
    replicas: u32,
    on_unavailable: RateLimitFail,
    /// Tells this replica's own events from the others'.
    instance: String,
    /// The recorded changes (reloads, purges) applied here.
    changes: events::AppliedChanges,
    metrics: Arc<Metrics>,
}

impl Cluster {
    /// Prepares the client (no connection yet: [`Cluster::probe`] makes one). Fails only on a URL
    /// that cannot be used.
    pub fn new(config: &RedisConfig, metrics: Arc<Metrics>) -> Result<Arc<Cluster>, ClusterError> {
        let url = config.url.resolve().map_err(ClusterError::Config)?;
        // The parser's message may quote the URL, password included: keep it out.
        let client = redis::Client::open(url.as_str())
            .map_err(|_| ClusterError::Config("not a valid Redis URL".into()))?;
        metrics.redis_available(false);
        Ok(Arc::new(Cluster {
            client,
            connection: ArcSwapOption::empty(),
            available: AtomicBool::new(false),
            connect_lock: tokio::sync::Mutex::new(()),
            timeout: Duration::from_millis(config.timeout_ms),
            key_prefix: config.key_prefix.clone(),
            replicas: config.replicas.max(1),
            on_unavailable: config.on_unavailable,
            instance: uuid::Uuid::new_v4().to_string(),
            changes: events::AppliedChanges::default(),
            metrics,
        }))
    }

    /// Whether requests should use Redis now (it answered last time).
    pub fn is_available(&self) -> bool {
        self.available.load(Ordering::Relaxed)
    }

    /// `redis.key_prefix` followed by `name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.key_prefix)
    }

    /// The expected number of replicas.
    pub fn replicas(&self) -> u32 {
        self.replicas
    }

    /// What client limits do while Redis is unavailable, unless the service says otherwise.
    pub fn on_unavailable(&self) -> RateLimitFail {
        self.on_unavailable
    }

    /// This replica's id in change events.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The recorded changes (reloads, purges) this replica has applied.
    pub fn changes(&self) -> &events::AppliedChanges {
        &self.changes
    }

    /// The metrics this cluster reports to.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The open connection, for one command.
    pub fn connection(&self) -> Result<MultiplexedConnection, ClusterError> {
        self.connection
            .load()
            .as_deref()
            .cloned()
            .ok_or(ClusterError::NotConnected)
    }

    /// Awaits one command within `redis.timeout_ms`. A failure marks Redis unavailable (and drops a
    /// broken connection) so that the next requests do not wait on it.
    pub async fn call<T>(
        &self,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, ClusterError> {
        let result = match tokio::time::timeout(self.timeout, command).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => {
                if e.is_io_error() || e.is_unrecoverable_error() || e.is_connection_dropped() {
                    self.connection.store(None);
                }
                ClusterError::Redis(e)
            }
            Err(_) => ClusterError::Timeout(self.timeout),
        };
        self.set_available(false, Some(&result));
        Err(result)
    }

    /// Connects if needed and checks that Redis answers; marks it available when it does.
    /// Returns whether it is available.
    pub async fn probe(&self) -> bool {
        let outcome = async {
            let conn = match self.connection() {
                Ok(conn) => conn,
                Err(_) => self.connect().await?,
            };
            let mut ping_conn = conn.clone();
            self.call(redis::cmd("PING").query_async::<String>(&mut ping_conn))
                .await
                .map(|_| ())
        }
        .await;
        match outcome {
            Ok(()) => {
                self.set_available(true, None);
                true
            }
            Err(e) => {
                self.set_available(false, Some(&e));
                false
            }
        }
    }

    async fn connect(&self) -> Result<MultiplexedConnection, ClusterError> {
        let _one_at_a_time = self.connect_lock.lock().await;
        if let Ok(conn) = self.connection() {
            return Ok(conn);
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(self.timeout));
        let conn = tokio::time::timeout(
            CONNECT_TIMEOUT * 2,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| ClusterError::Timeout(CONNECT_TIMEOUT))??;
        self.connection.store(Some(Arc::new(conn.clone())));
        Ok(conn)
    }

    /// A dedicated connection for pub/sub (a subscribed connection can do nothing else).
    pub(crate) async fn pubsub(&self) -> Result<redis::aio::PubSub, ClusterError> {
        tokio::time::timeout(CONNECT_TIMEOUT * 2, self.client.get_async_pubsub())
            .await
            .map_err(|_| ClusterError::Timeout(CONNECT_TIMEOUT))?
            .map_err(ClusterError::from)
    }

    /// Records a change of availability: logged and gauged on transitions only, never per request.
    fn set_available(&self, available: bool, cause: Option<&ClusterError>) {
        if self.available.swap(available, Ordering::Relaxed) == available {
            return;
        }
        self.metrics.redis_available(available);
        if available {
            tracing::info!("Redis reachable again: shared rate limits and caches resume");
        } else {
            let cause = cause.map(ToString::to_string).unwrap_or_default();
            tracing::warn!(
                error = %cause,
                fallback = self.on_unavailable.as_str(),
                replicas = self.replicas,
                "Redis unavailable: rate limits fall back and shared caches are skipped until it answers again"
            );
        }
    }

    /// Counts one rate-limit decision made without Redis.
    pub fn count_fallback(&self, mode: RateLimitFail) {
        self.metrics.ratelimit_fallback(mode.as_str());
    }
}

/// For tests that need a real Redis: the URL in `LIENTHONG_TEST_REDIS_URL`, checked to answer.
#[doc(hidden)]
pub mod testing {
    /// The test Redis URL, or `None` (with a printed notice) when it is not set or not reachable.
    /// Under `CI=true` a missing or unreachable server is a failure, not a skip.
    pub async fn redis_url(test: &str) -> Option<String> {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        let Ok(url) = std::env::var("LIENTHONG_TEST_REDIS_URL") else {
            assert!(!ci, "{test}: LIENTHONG_TEST_REDIS_URL is not set (CI=true)");
            eprintln!("{test}: skipped, LIENTHONG_TEST_REDIS_URL is not set");
            return None;
        };
        let reachable = async {
            let client = redis::Client::open(url.as_str()).ok()?;
            let mut conn = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .ok()
        };
        let answered = tokio::time::timeout(std::time::Duration::from_secs(5), reachable)
            .await
            .ok()
            .flatten()
            .is_some();
        if !answered {
            assert!(!ci, "{test}: Redis at {url} does not answer (CI=true)");
            eprintln!("{test}: skipped, Redis at {url} does not answer");
            return None;
        }
        Some(url)
    }

    /// A key prefix of its own for one test, so that runs never share state.
    pub fn unique_prefix(test: &str) -> String {
        format!("lienthong-test:{test}:{}:", uuid::Uuid::new_v4().simple())
    }
}
