//! The carrier's `h-token`: fetched with the account name and password
//! (`POST /MobileAuthentication/GetAccessToken`), cached in memory, replaced before it expires and
//! once more when a call is refused with 401. Concurrent callers that find no usable token wait
//! for one fetch (a tokio mutex held across the token request). Tokens and passwords are never
//! logged: [`AccessToken`]'s `Debug` hides the value.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub use crate::enterprise::auth::{AccessToken, refresh_margin};

/// A token and when to replace it.
#[derive(Clone)]
pub(super) struct Cached {
    pub token: AccessToken,
    pub refresh_at: Instant,
}

impl Cached {
    /// A token of `lifetime` whose request left at `sent_at` (it was issued after that).
    pub fn new(token: AccessToken, sent_at: Instant, lifetime: Duration) -> Self {
        Self {
            token,
            refresh_at: sent_at + lifetime.saturating_sub(refresh_margin(lifetime)),
        }
    }
}

/// The in-memory `h-token` cache of one carrier account.
#[derive(Default)]
pub struct TokenCache {
    state: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache")
    }
}

impl TokenCache {
    /// A usable token: the cached one while it is not due, else one fetched by `fetch` (once for
    /// every waiting caller). `rejected`: the token the carrier just refused, which is never
    /// returned again.
    pub(super) async fn get<F, Fut>(
        &self,
        rejected: Option<&AccessToken>,
        fetch: F,
    ) -> Result<AccessToken, crate::AdapterError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Cached, crate::AdapterError>>,
    {
        let mut state = self.state.lock().await;
        if let Some(c) = state.as_ref()
            && Instant::now() < c.refresh_at
            && Some(&c.token) != rejected
        {
            return Ok(c.token.clone());
        }
        *state = None;
        let fresh = fetch().await?;
        let token = fresh.token.clone();
        *state = Some(fresh);
        Ok(token)
    }

    /// Forgets the cached token.
    pub async fn clear(&self) {
        *self.state.lock().await = None;
    }
}
