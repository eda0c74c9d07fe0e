//! The `Confirm` callback to the partner, its reply check, retries and misbehaviour scenarios.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::sign::{self, CONFIRM_FIELDS, SHORT_REPLY_FIELDS};
use super::{CallbackAttempt, Order, Outcome, Shared};
use crate::vnpay::outbound::{self, now_ms};
use crate::vnpay::sign::hex_eq;

/// How the platform delivers the next Confirm callbacks (`callback_mode` of the scenario).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackMode {
    /// One callback, retried per the schedule until the partner's reply is accepted.
    Normal,
    /// The same callback sent `duplicates` times at once (then retried like `normal`).
    Duplicate,
    /// The callback sent `callback_delay_ms` after the customer's choice.
    Late,
    /// No callback: the partner must query (`GetBill`).
    None,
    /// A callback whose `MaXacThuc` is wrong (hashed with another key), retried per the schedule.
    BadSignature,
}

/// The payment platform scenario, read from the shared scenario JSON (`PUT /__admin/scenario`)
/// when a customer makes a choice. Every key is optional; other keys are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scenario {
    /// `callback_mode`: normal | duplicate | late | none | bad_signature.
    pub callback_mode: CallbackMode,
    /// `callback_delay_ms` (mode `late`, default 2 000).
    pub callback_delay_ms: u64,
    /// `duplicates`: copies sent at once (mode `duplicate`, default 3).
    pub duplicates: u32,
    /// `callback_retries`: retry delays in ms, replacing the configured schedule.
    pub callback_retries: Option<Vec<u64>>,
    /// `callback_timeout_ms`: replaces the configured reply timeout.
    pub callback_timeout_ms: Option<u64>,
    /// `callback_url`: sends every partner's callback here instead.
    pub callback_url: Option<String>,
    /// `refund_ma_loi`: every new refund is refused with this `MaLoi` (e.g. `99`).
    pub refund_ma_loi: Option<String>,
    /// `refund_delay_ms`: a refund is made, then answered this late.
    pub refund_delay_ms: u64,
}

#[derive(Deserialize)]
struct RawScenario {
    callback_mode: Option<String>,
    callback_delay_ms: Option<u64>,
    duplicates: Option<u32>,
    callback_retries: Option<Vec<u64>>,
    callback_timeout_ms: Option<u64>,
    callback_url: Option<String>,
    refund_ma_loi: Option<String>,
    refund_delay_ms: Option<u64>,
}

impl Scenario {
    /// Reads the scenario; an error names the bad key.
    pub fn from_value(v: &Value) -> Result<Scenario, String> {
        let raw: RawScenario = serde_json::from_value(v.clone())
            .map_err(|e| format!("payment_platform scenario: {e}"))?;
        let callback_mode = match raw.callback_mode.as_deref().unwrap_or("normal") {
            "normal" => CallbackMode::Normal,
            "duplicate" => CallbackMode::Duplicate,
            "late" => CallbackMode::Late,
            "none" => CallbackMode::None,
            "bad_signature" => CallbackMode::BadSignature,
            other => {
                return Err(format!(
                    "payment_platform scenario: unknown callback_mode {other:?}"
                ));
            }
        };
        let duplicates = raw.duplicates.unwrap_or(3);
        if duplicates == 0 || duplicates > 100 {
            return Err("payment_platform scenario: duplicates must be 1–100".to_owned());
        }
        if let Some(url) = &raw.callback_url
            && !url.starts_with("http://")
        {
            return Err(
                "payment_platform scenario: callback_url must be an http:// URL".to_owned(),
            );
        }
        if let Some(code) = &raw.refund_ma_loi
            && !(code.len() == 2 && code.bytes().all(|b| b.is_ascii_digit()) && code != "00")
        {
            return Err(
                "payment_platform scenario: refund_ma_loi must be two digits other than 00"
                    .to_owned(),
            );
        }
        Ok(Scenario {
            refund_ma_loi: raw.refund_ma_loi,
            refund_delay_ms: raw.refund_delay_ms.unwrap_or(0),
            callback_mode,
            callback_delay_ms: raw.callback_delay_ms.unwrap_or(2_000),
            duplicates,
            callback_retries: raw.callback_retries,
            callback_timeout_ms: raw.callback_timeout_ms,
            callback_url: raw.callback_url,
        })
    }
}

/// The signed Confirm message of a completed payment.
pub(crate) fn confirm_message(order: &Order, outcome: &Outcome, hash_key: &str) -> Value {
    let mut msg = json!({
        "LoaiBanTin": "Confirm",
        "MaLoi": outcome.ma_loi,
        "MaDoiTac": order.ma_doi_tac,
        "MaThamChieu": order.ma_tham_chieu,
        "SoTien": order.so_tien,
        "MaTienTe": order.ma_tien_te,
        "MaGiaoDich": outcome.ma_giao_dich,
        "MaNganHang": outcome.ma_ngan_hang,
        "ThoiGianGD": outcome.thoi_gian_gd,
        "ThongTinGiaoDich": order.thong_tin_giao_dich,
    });
    msg["MaXacThuc"] = Value::String(sign::sign_message(&msg, CONFIRM_FIELDS, hash_key));
    msg
}

/// Everything a callback task needs, computed when the choice is made.
pub(crate) struct Plan {
    generation: u64,
    ma_doi_tac: String,
    ma_tham_chieu: String,
    hash_key: String,
    url: String,
    mode: CallbackMode,
    mode_name: String,
    delay: Duration,
    duplicates: u32,
    retries: Vec<u64>,
    timeout: Duration,
    body: Value,
}

impl Plan {
    /// The callback plan of a completed payment, or `None` when the mode sends nothing.
    pub(crate) fn new(
        shared: &Shared,
        scenario: Scenario,
        order: &Order,
        outcome: &Outcome,
    ) -> Option<Plan> {
        if scenario.callback_mode == CallbackMode::None {
            return None;
        }
        let partner = shared.partner(&order.ma_doi_tac)?;
        let key = if scenario.callback_mode == CallbackMode::BadSignature {
            format!("not-{}", partner.hash_key)
        } else {
            partner.hash_key.clone()
        };
        Some(Plan {
            generation: shared.generation.load(Ordering::SeqCst),
            ma_doi_tac: order.ma_doi_tac.clone(),
            ma_tham_chieu: order.ma_tham_chieu.clone(),
            hash_key: partner.hash_key.clone(),
            url: scenario
                .callback_url
                .clone()
                .unwrap_or_else(|| partner.callback_url.clone()),
            mode: scenario.callback_mode,
            mode_name: serde_json::to_value(scenario.callback_mode)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            delay: Duration::from_millis(scenario.callback_delay_ms),
            duplicates: scenario.duplicates,
            retries: scenario
                .callback_retries
                .clone()
                .unwrap_or_else(|| shared.callback_retries.clone()),
            timeout: scenario
                .callback_timeout_ms
                .map(|ms| Duration::from_millis(ms.max(1)))
                .unwrap_or(shared.callback_timeout),
            body: confirm_message(order, outcome, &key),
        })
    }
}

/// Runs a plan in the background; it stops when the mock is reset or dropped.
pub(crate) fn spawn(shared: &Arc<Shared>, plan: Plan) {
    let weak = Arc::downgrade(shared);
    let generation = plan.generation;
    tokio::spawn(async move {
        run(weak, generation, Arc::new(plan)).await;
    });
}

async fn run(weak: Weak<Shared>, generation: u64, plan: Arc<Plan>) {
    if plan.mode == CallbackMode::Late {
        tokio::time::sleep(plan.delay).await;
    }
    let copies = if plan.mode == CallbackMode::Duplicate {
        plan.duplicates
    } else {
        1
    };
    outbound::deliver(
        &weak,
        generation,
        &plan.retries,
        copies,
        |shared, number, copy| {
            let plan = plan.clone();
            async move { send(&shared, &plan, number, copy).await }
        },
    )
    .await;
}

/// Judges the partner's reply (see `CallbackAttempt::verdict`).
fn judge(plan: &Plan, status: Option<u16>, reply: Option<&str>) -> &'static str {
    let Some(status) = status else {
        return "no_answer";
    };
    if status != 200 {
        return "http_error";
    }
    let Some(v) = reply
        .and_then(|r| serde_json::from_str::<Value>(r).ok())
        .filter(Value::is_object)
    else {
        return "not_json";
    };
    let received = v.get("MaXacThuc").and_then(Value::as_str).unwrap_or("");
    if received.is_empty() {
        return "unsigned";
    }
    if !hex_eq(
        &sign::sign_message(&v, SHORT_REPLY_FIELDS, &plan.hash_key),
        received,
    ) {
        return "bad_signature";
    }
    let text = |k: &str| sign::field_text(&v, k).unwrap_or_default();
    if text("MaDoiTac") != plan.ma_doi_tac || text("MaThamChieu") != plan.ma_tham_chieu {
        return "mismatch";
    }
    if text("MaLoi") != "00" {
        return "refused";
    }
    "accepted"
}

/// Sends one callback and records the attempt; true when the reply was accepted.
async fn send(shared: &Shared, plan: &Plan, attempt: u32, copy: u32) -> bool {
    let body = plan.body.to_string().into_bytes();
    let result = shared
        .outbound
        .send(
            Method::POST,
            &plan.url,
            Some(("application/json; charset=utf-8", body)),
            plan.timeout,
        )
        .await;
    let (status, reply, error) = match result {
        Ok(a) => (Some(a.status), Some(a.body), None),
        Err(e) => (None, None, Some(e)),
    };
    let verdict = judge(plan, status, reply.as_deref());
    let accepted = verdict == "accepted";
    let at_ms = now_ms();
    let mut book = shared.book();
    if shared.generation.load(Ordering::SeqCst) != plan.generation {
        // The mock was reset while this callback was in flight.
        return false;
    }
    let seq = book.callbacks.len() as u64 + 1;
    book.callbacks.push(CallbackAttempt {
        seq,
        at_ms,
        ma_doi_tac: plan.ma_doi_tac.clone(),
        ma_tham_chieu: plan.ma_tham_chieu.clone(),
        kind: if copy > 1 { "duplicate" } else { "confirm" },
        mode: plan.mode_name.clone(),
        attempt,
        url: plan.url.clone(),
        request: plan.body.clone(),
        status,
        reply,
        verdict,
        error,
        accepted,
    });
    accepted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_parses_and_refuses_typos() {
        let s = Scenario::from_value(&json!({"callback_mode": "late", "callback_delay_ms": 5}));
        assert_eq!(
            s.map(|s| (s.callback_mode, s.callback_delay_ms)),
            Ok((CallbackMode::Late, 5))
        );
        assert!(Scenario::from_value(&json!({"callback_mode": "sometimes"})).is_err());
        assert!(Scenario::from_value(&json!({"callback_url": "https://x"})).is_err());
    }
}
