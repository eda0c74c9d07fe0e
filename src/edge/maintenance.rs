//! The services an operator paused, as the guard sees them: a small map swapped whole when
//! an admin acts here or the store says another replica did. A window ends by itself at its
//! `until`, timed on tokio's clock (so a paused clock ends it in tests).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::time::Instant;

use crate::error::{ApiError, ErrorCode};
use crate::store::{Maintenance, now_ms};

/// One service's maintenance window, as the guard checks it.
#[derive(Debug, Clone)]
pub struct Window {
    /// The window as stored.
    pub record: Maintenance,
    /// When it ends, on tokio's clock.
    ends_at: Instant,
}

impl Window {
    fn new(record: Maintenance) -> Window {
        let left = u64::try_from(record.until_ms.saturating_sub(now_ms())).unwrap_or(0);
        Window {
            ends_at: Instant::now() + Duration::from_millis(left),
            record,
        }
    }

    /// Time left until it ends (zero once over).
    pub fn left(&self) -> Duration {
        self.ends_at.saturating_duration_since(Instant::now())
    }

    /// The refusal of a call to the service: 503 `service_maintenance` with the operator's
    /// message and `Retry-After` in seconds to the end (rounded up).
    pub fn refusal(&self) -> ApiError {
        let left = self.left();
        let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        ApiError::new(ErrorCode::ServiceMaintenance)
            .with_detail(
                self.record.message_vi.clone(),
                self.record.message_en.clone(),
            )
            .with_retry_after(seconds.max(1))
    }
}

/// The live maintenance windows of this process.
#[derive(Debug, Default)]
pub struct MaintenanceBoard {
    windows: ArcSwap<HashMap<String, Arc<Window>>>,
}

impl MaintenanceBoard {
    /// The window of `service` if it is in maintenance now.
    pub fn active(&self, service: &str) -> Option<Arc<Window>> {
        self.windows
            .load()
            .get(service)
            .filter(|w| w.left() > Duration::ZERO)
            .cloned()
    }

    /// Every window in force now, by service name.
    pub fn all(&self) -> Vec<Arc<Window>> {
        let mut windows: Vec<_> = self
            .windows
            .load()
            .values()
            .filter(|w| w.left() > Duration::ZERO)
            .cloned()
            .collect();
        windows.sort_by(|a, b| a.record.service.cmp(&b.record.service));
        windows
    }

    /// Replaces every window with those read from the store.
    pub fn replace(&self, records: Vec<Maintenance>) {
        let windows = records
            .into_iter()
            .map(|m| (m.service.clone(), Arc::new(Window::new(m))))
            .collect();
        self.windows.store(Arc::new(windows));
    }

    /// Sets (or replaces) one service's window.
    pub fn set(&self, record: Maintenance) {
        self.windows.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.insert(
                record.service.clone(),
                Arc::new(Window::new(record.clone())),
            );
            next
        });
    }

    /// Ends one service's window.
    pub fn end(&self, service: &str) {
        self.windows.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.remove(service);
            next
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(service: &str, minutes: i64) -> Maintenance {
        Maintenance {
            service: service.into(),
            message_vi: "Bảo trì định kỳ".into(),
            message_en: "Scheduled maintenance".into(),
            started_at_ms: now_ms(),
            until_ms: now_ms() + minutes * 60_000,
            actor: "ops".into(),
        }
    }

    /// A window refuses with the seconds left, and ends by itself at its `until`.
    #[tokio::test(start_paused = true)]
    async fn a_window_refuses_until_its_end_then_ends_by_itself() {
        let board = MaintenanceBoard::default();
        board.set(record("population", 10));
        board.set(record("notary", 20));
        let refusal = board.active("population").unwrap().refusal();
        assert_eq!(refusal.code, ErrorCode::ServiceMaintenance);
        let retry = refusal.retry_after.unwrap();
        assert!((599..=600).contains(&retry), "{retry}");
        tokio::time::advance(Duration::from_secs(9 * 60)).await;
        let retry = board.active("population").unwrap().refusal().retry_after;
        assert!(matches!(retry, Some(59..=60)), "{retry:?}");
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(board.active("population").is_none(), "over at its end");
        assert_eq!(board.all().len(), 1);
        board.end("notary");
        assert!(board.active("notary").is_none());
        board.replace(vec![record("enterprise", 1)]);
        assert!(board.active("enterprise").is_some());
    }
}
