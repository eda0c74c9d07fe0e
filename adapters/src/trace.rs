//! The trace context of outgoing calls: the gateway names the current attempt in a W3C
//! `traceparent` ([`with_traceparent`]) and each adapter sends it with its request, so that an
//! upstream that traces continues the same trace.

use std::future::Future;

use http::HeaderValue;
use http::header::HeaderName;

/// W3C `traceparent`.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

tokio::task_local! {
    static CURRENT: HeaderValue;
}

/// Runs `fut` with `traceparent` sent on every upstream request it makes (nothing when `None`).
pub async fn with_traceparent<F: Future>(traceparent: Option<HeaderValue>, fut: F) -> F::Output {
    match traceparent {
        Some(value) => CURRENT.scope(value, fut).await,
        None => fut.await,
    }
}

fn current() -> Option<HeaderValue> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Adds the current `traceparent` to a request being built.
pub(crate) fn propagate(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match current() {
        Some(value) => request.header(TRACEPARENT, value),
        None => request,
    }
}

/// Adds the current `traceparent` to a built request.
pub(crate) fn propagate_to(request: &mut reqwest::Request) {
    if let Some(value) = current() {
        request.headers_mut().insert(TRACEPARENT, value);
    }
}
