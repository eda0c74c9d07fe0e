//! The layer around a system's routes: each request is read, classified, journaled, delayed and
//! possibly failed (an error status, a SOAP Fault, a truncated or malformed body, a dropped or
//! never answered connection) according to the fault rules.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use super::faults::FaultKind;
use super::journal::Recorded;
use super::stubs::{Answer, Stub};
use super::{Classifier, MockControl};

/// Largest request body a mock reads (larger → 413, like a real front end would).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// The page a `wrong_content_type` fault answers instead of the expected type.
const MAINTENANCE_PAGE: &str = "<!DOCTYPE html><html><head><title>Thông báo</title></head><body><h1>Hệ thống đang bảo trì</h1></body></html>";

/// Marker on a response: drop the connection instead of answering (see [`crate::spawn`]).
#[derive(Clone, Copy, Debug)]
pub struct DropConnection;

/// The middleware [`MockControl::wrap`] puts around a system's routes.
pub(super) async fn control_layer(
    State((control, classify)): State<(Arc<MockControl>, Classifier)>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let generation = control.generation.load(Ordering::SeqCst);
    let operation = classify(&parts, &bytes);
    // A stub answers instead of the system and of the fault rules.
    let stub = control.find_stub(operation.as_deref(), &parts, &bytes);
    let (delay, fault, canned) = match &stub {
        Some(s) => match &s.answer {
            Answer::Reply(reply) => {
                let (delay, resp) = s.reply(reply, control.reply_format());
                (delay, None, Some(resp))
            }
            Answer::Fault(rule) => {
                let (delay, fault) = Stub::fault(rule);
                (delay, fault, None)
            }
        },
        None => {
            let (delay, fault) = control.decide(operation.as_deref());
            (delay, fault, None)
        }
    };
    let mut entry = Recorded::new(
        operation,
        &parts,
        &bytes,
        fault.as_ref().map(FaultKind::name),
    );
    entry.stub = stub.map(|s| s.id);
    let entry = Journalled {
        entry: Some(entry),
        control: &control,
        generation,
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let req = Request::from_parts(parts, Body::from(bytes));
    let resp = match fault {
        None => match canned {
            Some(resp) => resp,
            None => next.run(req).await,
        },
        Some(FaultKind::SoapFault {
            code,
            message,
            in_http_200,
        }) => {
            let code = code.unwrap_or_else(|| "soap:Server".to_owned());
            let message =
                message.unwrap_or_else(|| "Lỗi hệ thống, vui lòng thử lại sau".to_owned());
            let xml = match control.soap_fault {
                Some(render) => render(&code, &message),
                None => crate::soap::envelope::default_soap_fault(&code, &message),
            };
            let status = if in_http_200 {
                StatusCode::OK
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            (
                status,
                [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
                xml,
            )
                .into_response()
        }
        Some(FaultKind::Status { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let text = status.canonical_reason().unwrap_or("error");
            (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                text,
            )
                .into_response()
        }
        Some(FaultKind::TooManyRequests { retry_after_s }) => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            r
        }
        Some(FaultKind::NeverAnswer) => {
            entry.finish(0);
            // Long enough for any caller to give up; bounded so a forgotten test cannot hang forever.
            tokio::time::sleep(Duration::from_secs(600)).await;
            return (StatusCode::GATEWAY_TIMEOUT, "").into_response();
        }
        Some(FaultKind::ConnectionReset) => {
            let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            r.extensions_mut().insert(DropConnection);
            r
        }
        Some(FaultKind::Truncated) => {
            let (mut parts, full) = answer_read(next, req).await;
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
            let half = full.slice(..full.len() / 2);
            Response::from_parts(
                parts,
                Body::new(TruncatedBody {
                    data: Some(half),
                    pause: None,
                }),
            )
        }
        Some(FaultKind::Malformed) => {
            let (mut parts, full) = answer_read(next, req).await;
            let cut = full.slice(..full.len() / 2);
            parts.headers.remove(header::CONTENT_LENGTH);
            parts.status = StatusCode::OK;
            Response::from_parts(parts, Body::from(cut))
        }
        Some(FaultKind::WrongContentType) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            MAINTENANCE_PAGE,
        )
            .into_response(),
    };
    entry.finish(if resp.extensions().get::<DropConnection>().is_some() {
        0
    } else {
        resp.status().as_u16()
    });
    resp
}

/// A request's journal entry, recorded when answered or, if the caller gave up first (its
/// connection closed and the answer was dropped unfinished), when dropped, with status 0: a
/// request the system acted on is in the journal even when nobody heard the answer.
struct Journalled<'a> {
    entry: Option<Recorded>,
    control: &'a MockControl,
    generation: u64,
}

impl Journalled<'_> {
    /// Records the entry with the status answered.
    fn finish(mut self, status: u16) {
        if let Some(mut entry) = self.entry.take() {
            entry.status = status;
            self.control.record_since(entry, self.generation);
        }
    }
}

impl Drop for Journalled<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.control.record_since(entry, self.generation);
        }
    }
}

/// The system's answer, its body read whole (to be cut).
async fn answer_read(next: Next, req: Request) -> (http::response::Parts, Bytes) {
    let (parts, body) = next.run(req).await.into_parts();
    let full = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    (parts, full)
}

/// A body that sends its data and then fails, so the connection closes short of `Content-Length`.
/// The failure comes a moment later, so the head and the first half are flushed first.
struct TruncatedBody {
    data: Option<Bytes>,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for TruncatedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        if let Some(d) = self.data.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(d))));
        }
        let pause = self
            .pause
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(50))));
        if pause.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "truncated by fault injection",
        ))))
    }
}
