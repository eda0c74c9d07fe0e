//! Orders: validation of `CreateOrder`, the order book, cancellation, tracking and fee quotes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use rand::{Rng, RngCore};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::fees::{self, Quote, QuoteInput};
use super::timeline::{self, CANCELABLE, CANCELLED, Scenario};
use super::{AppState, clip, failure, lock, reply};

/// Most item codes in one `GetOrdersStatus` call.
pub(super) const MAX_BATCH: usize = 100;
/// Heaviest parcel accepted, grams (a tonne: far beyond any real service, but bounded).
pub(super) const MAX_WEIGHT_G: f64 = 1_000_000.0;
/// Longest side accepted, cm.
pub(super) const MAX_SIDE_CM: f64 = 10_000.0;

/// A field by name; like ASP.NET's JSON binding, an exact match first, then ignoring case.
pub(super) fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Reads fields and collects validation errors (`ModelState`).
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    errors: Vec<(String, String)>,
}

impl<'a> Fields<'a> {
    fn new(obj: &'a Map<String, Value>) -> Self {
        Self {
            obj,
            errors: Vec::new(),
        }
    }

    fn error(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push((key.to_owned(), message.into()));
    }

    /// A text (a JSON string, or a number written as text), trimmed; empty is `None`.
    fn text(&mut self, key: &str) -> Option<String> {
        match field(self.obj, key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                self.error(key, format!("Giá trị của {key} không hợp lệ"));
                None
            }
        }
    }

    fn required_text(&mut self, key: &str, label: &str, max_chars: usize) -> String {
        match self.text(key) {
            None => {
                if !self.errors.iter().any(|(k, _)| k == key) {
                    self.error(key, format!("{label} không được để trống"));
                }
                String::new()
            }
            Some(s) if s.chars().count() > max_chars => {
                self.error(key, format!("{label} không được dài quá {max_chars} ký tự"));
                s
            }
            Some(s) => s,
        }
    }

    /// A number (or a number written as text).
    fn number(&mut self, key: &str) -> Option<f64> {
        let v = match field(self.obj, key) {
            None | Some(Value::Null) => return None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) if s.trim().is_empty() => return None,
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(_) => None,
        };
        match v.filter(|v| v.is_finite()) {
            Some(v) => Some(v),
            None => {
                self.error(key, format!("Giá trị của {key} không phải là số"));
                None
            }
        }
    }

    /// A non-negative number, 0 when absent.
    fn non_negative(&mut self, key: &str) -> f64 {
        match self.number(key) {
            Some(v) if v < 0.0 => {
                self.error(key, format!("{key} không được âm"));
                0.0
            }
            Some(v) => v,
            None => 0.0,
        }
    }

    /// A weight in grams: required, above 0, at most [`MAX_WEIGHT_G`].
    fn weight(&mut self, key: &str) -> f64 {
        match self.number(key) {
            Some(w) if w > 0.0 && w <= MAX_WEIGHT_G => w,
            Some(w) if w > MAX_WEIGHT_G => {
                self.error(
                    key,
                    format!("Khối lượng không được vượt quá {MAX_WEIGHT_G} gram"),
                );
                0.0
            }
            Some(_) => {
                self.error(key, "Khối lượng phải lớn hơn 0");
                0.0
            }
            None => {
                if !self.errors.iter().any(|(k, _)| k == key) {
                    self.error(key, "Khối lượng không được để trống");
                }
                0.0
            }
        }
    }

    /// A side in cm: at least 0, at most [`MAX_SIDE_CM`], 0 when absent.
    fn side(&mut self, key: &str) -> f64 {
        let v = self.non_negative(key);
        if v > MAX_SIDE_CM {
            self.error(key, format!("{key} không được vượt quá {MAX_SIDE_CM} cm"));
            return 0.0;
        }
        v
    }

    /// A whole amount of VND, 0 when absent.
    fn amount(&mut self, key: &str) -> u64 {
        let v = self.non_negative(key);
        if v.fract() != 0.0 || v > 1e15 {
            self.error(key, format!("{key} phải là số tiền nguyên (VND)"));
            return 0;
        }
        v as u64
    }

    /// A boolean (also `"true"`/`"false"`, 0/1), false when absent.
    fn boolean(&mut self, key: &str) -> bool {
        match field(self.obj, key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) if n.as_u64() == Some(0) => false,
            Some(Value::Number(n)) if n.as_u64() == Some(1) => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
            Some(_) => {
                self.error(key, format!("Giá trị của {key} không hợp lệ"));
                false
            }
        }
    }

    /// A phone number: `0` and 9 more digits.
    fn phone(&mut self, key: &str, label: &str) -> String {
        let s = self.required_text(key, label, 20);
        if !s.is_empty() && !is_phone(&s) {
            self.error(key, format!("{label} không hợp lệ (0 và 9 chữ số)"));
        }
        s
    }

    /// A province / district / ward id: 1 to 10 digits.
    fn area_id(&mut self, key: &str, label: &str) -> String {
        let s = self.required_text(key, label, 10);
        if !s.is_empty() && !s.bytes().all(|b| b.is_ascii_digit()) {
            self.error(key, format!("{label} không hợp lệ"));
        }
        s
    }
}

/// `0` followed by exactly 9 digits.
pub(super) fn is_phone(s: &str) -> bool {
    s.len() == 10 && s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit())
}

/// The 400 reply of a request that failed validation.
fn invalid(errors: Vec<(String, String)>) -> Response {
    let message = errors
        .first()
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| "Yêu cầu không hợp lệ".to_owned());
    let mut model_state = Map::new();
    for (k, m) in errors {
        if let Value::Array(list) = model_state
            .entry(k)
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            list.push(Value::from(m));
        }
    }
    reply(
        StatusCode::BAD_REQUEST,
        &json!({
            "IsSuccess": false,
            "Message": message,
            "ErrorCode": "INVALID_REQUEST",
            "ModelState": model_state,
        }),
    )
}

/// A validated `CreateOrder` request.
#[derive(Debug, Clone)]
pub(super) struct NewOrder {
    order_code: Option<String>,
    sender_fullname: String,
    sender_tel: String,
    sender_address: String,
    sender_province: String,
    sender_district: String,
    sender_ward: String,
    receiver_fullname: String,
    receiver_tel: String,
    receiver_address: String,
    receiver_province: String,
    receiver_district: String,
    receiver_ward: String,
    receiver_address_type: Option<u8>,
    service: &'static str,
    package_content: String,
    weight: f64,
    width: f64,
    length: f64,
    height: f64,
    cod: u64,
    order_amount: u64,
    receiver_pays: bool,
    viewable: bool,
    pickup_type: u8,
    customer_note: String,
    use_bao_phat: bool,
    use_hoa_don: bool,
    sms_before: bool,
    sms_after: bool,
}

impl NewOrder {
    fn parse(obj: &Map<String, Value>) -> Result<NewOrder, Vec<(String, String)>> {
        let mut f = Fields::new(obj);
        let order_code = f.text("OrderCode");
        if order_code.as_ref().is_some_and(|c| c.chars().count() > 50) {
            f.error("OrderCode", "Mã đơn hàng không được dài quá 50 ký tự");
        }
        let sender_fullname = f.required_text("SenderFullname", "Họ tên người gửi", 200);
        let sender_tel = f.phone("SenderTel", "Số điện thoại người gửi");
        let sender_address = f.required_text("SenderAddress", "Địa chỉ người gửi", 500);
        let sender_province = f.area_id("SenderProvinceId", "Mã tỉnh/thành người gửi");
        let sender_district = f.area_id("SenderDistrictId", "Mã quận/huyện người gửi");
        let sender_ward = f.area_id("SenderWardId", "Mã phường/xã người gửi");
        let receiver_fullname = f.required_text("ReceiverFullname", "Họ tên người nhận", 200);
        let receiver_tel = f.phone("ReceiverTel", "Số điện thoại người nhận");
        let receiver_address = f.required_text("ReceiverAddress", "Địa chỉ người nhận", 500);
        let receiver_province = f.area_id("ReceiverProvinceId", "Mã tỉnh/thành người nhận");
        let receiver_district = f.area_id("ReceiverDistrictId", "Mã quận/huyện người nhận");
        let receiver_ward = f.area_id("ReceiverWardId", "Mã phường/xã người nhận");
        let receiver_address_type = match f.number("ReceiverAddressType") {
            None => None,
            Some(v) if v == 1.0 || v == 2.0 => Some(v as u8),
            Some(_) => {
                f.error(
                    "ReceiverAddressType",
                    "Loại địa chỉ người nhận phải là 1 (nhà riêng) hoặc 2 (cơ quan)",
                );
                None
            }
        };
        let service_text = f.required_text("ServiceName", "Dịch vụ", 50);
        let service = match fees::service_static(&service_text) {
            Some(s) => s,
            None => {
                if !service_text.is_empty() {
                    f.error(
                        "ServiceName",
                        format!("Dịch vụ {} không tồn tại", clip(&service_text)),
                    );
                }
                ""
            }
        };
        let package_content = f.text("PackageContent").unwrap_or_default();
        let weight = f.weight("WeightEvaluation");
        let width = f.side("WidthEvaluation");
        let length = f.side("LengthEvaluation");
        let height = f.side("HeightEvaluation");
        let cod = f.amount("CodAmountEvaluation");
        let order_amount = f.amount("OrderAmountEvaluation");
        let receiver_pays = f.boolean("IsReceiverPayFreight");
        let viewable = f.boolean("IsPackageViewable");
        let pickup_type = match f.number("PickupType") {
            None => 1,
            Some(v) if v == 1.0 || v == 2.0 => v as u8,
            Some(_) => {
                f.error(
                    "PickupType",
                    "Hình thức gửi phải là 1 (thu gom tận nơi) hoặc 2 (gửi tại bưu cục)",
                );
                1
            }
        };
        let customer_note = f.text("CustomerNote").unwrap_or_default();
        let use_bao_phat = f.boolean("UseBaoPhat");
        let use_hoa_don = f.boolean("UseHoaDon");
        let sms_before = f.boolean("UseNhanTinSmsNguoiNhanTruocPhat");
        let sms_after = f.boolean("UseNhanTinSmsNguoiNhanSauPhat");
        if !f.errors.is_empty() {
            return Err(f.errors);
        }
        Ok(NewOrder {
            order_code,
            sender_fullname,
            sender_tel,
            sender_address,
            sender_province,
            sender_district,
            sender_ward,
            receiver_fullname,
            receiver_tel,
            receiver_address,
            receiver_province,
            receiver_district,
            receiver_ward,
            receiver_address_type,
            service,
            package_content,
            weight,
            width,
            length,
            height,
            cod,
            order_amount,
            receiver_pays,
            viewable,
            pickup_type,
            customer_note,
            use_bao_phat,
            use_hoa_don,
            sms_before,
            sms_after,
        })
    }

    fn quote_input(&self) -> QuoteInput {
        QuoteInput {
            sender_province: self.sender_province.clone(),
            receiver_province: self.receiver_province.clone(),
            weight_g: self.weight,
            length_cm: self.length,
            width_cm: self.width,
            height_cm: self.height,
            cod: self.cod,
            use_bao_phat: self.use_bao_phat,
            sms_before: self.sms_before,
            sms_after: self.sms_after,
        }
    }
}

/// One order in the book.
pub(super) struct Order {
    pub(super) id: String,
    pub(super) item_code: String,
    input: NewOrder,
    quote: Quote,
    scenario: Scenario,
    plan: Vec<u16>,
    created_at: Instant,
    created_wall: OffsetDateTime,
    /// When it was cancelled and how far along its plan it was then.
    cancelled: Option<(Instant, usize)>,
    /// Wakes the push task when the order is cancelled.
    pub(super) changed: Arc<Notify>,
}

impl Order {
    /// The caller's order code, if it gave one.
    pub(super) fn input_order_code(&self) -> Option<&str> {
        self.input.order_code.as_deref()
    }
}

/// Every order, by id, item code and order code.
#[derive(Default)]
pub(super) struct Orders {
    list: Vec<Order>,
    by_id: HashMap<String, usize>,
    by_item: HashMap<String, usize>,
    by_code: HashMap<String, usize>,
}

impl Orders {
    pub(super) fn by_id(&self, id: &str) -> Option<&Order> {
        self.by_id.get(id).map(|&i| &self.list[i])
    }

    fn by_item(&self, code: &str) -> Option<&Order> {
        self.by_item.get(code).map(|&i| &self.list[i])
    }

    fn by_code(&self, code: &str) -> Option<&Order> {
        self.by_code.get(code).map(|&i| &self.list[i])
    }
}

/// One status an order went through.
#[derive(Debug, Clone)]
pub(super) struct Event {
    pub(super) status: u16,
    pub(super) time: OffsetDateTime,
    pub(super) post_office: Option<String>,
}

impl Event {
    pub(super) fn json(&self) -> Value {
        json!({
            "Status": self.status,
            "StatusName": timeline::status_name(self.status),
            "Time": local_time(self.time),
            "PostOffice": self.post_office,
        })
    }
}

/// `yyyy-MM-ddTHH:mm:ss` in Vietnam's time (UTC+7), no zone, as VNPost writes times.
pub(super) fn local_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::macros::offset!(+7));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A UUID v4 from the seeded generator.
fn uuid(rng: &mut impl RngCore) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A whole number when the value is whole, else the float.
fn num(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9e15 {
        Value::from(v as i64)
    } else {
        Value::from(v)
    }
}

impl AppState {
    /// Simulated seconds since the order was created, at `at`.
    fn simulated_s(&self, order: &Order, at: Instant, offset_s: f64) -> f64 {
        at.saturating_duration_since(order.created_at).as_secs_f64() * self.time_scale + offset_s
    }

    /// Real time after creation at which plan step `i` is reached.
    fn step_real_offset(&self, i: usize, offset_s: f64) -> std::time::Duration {
        let sim = i as f64 * self.settings.step_seconds as f64 - offset_s;
        std::time::Duration::from_secs_f64((sim / self.time_scale).clamp(0.0, 1e12))
    }

    /// How far along its plan the order is now.
    fn reached(&self, order: &Order, now: Instant, offset_s: f64) -> usize {
        match order.cancelled {
            Some((_, idx)) => idx,
            None => timeline::index_at(
                self.simulated_s(order, now, offset_s),
                self.settings.step_seconds,
                order.plan.len(),
            ),
        }
    }

    /// Every status the order has been through, oldest first.
    pub(super) fn history(&self, order: &Order, now: Instant, offset_s: f64) -> Vec<Event> {
        let reached = self.reached(order, now, offset_s);
        let elapsed = now.saturating_duration_since(order.created_at);
        let n = &order.input;
        let mut out: Vec<Event> = order.plan[..=reached.min(order.plan.len() - 1)]
            .iter()
            .enumerate()
            .map(|(i, &status)| Event {
                status,
                time: order.created_wall + self.step_real_offset(i, offset_s).min(elapsed),
                post_office: timeline::post_office(
                    status,
                    &n.sender_province,
                    &n.sender_district,
                    &n.receiver_province,
                    &n.receiver_district,
                ),
            })
            .collect();
        if let Some((at, _)) = order.cancelled {
            out.push(Event {
                status: CANCELLED,
                time: order.created_wall + at.saturating_duration_since(order.created_at),
                post_office: None,
            });
        }
        out
    }

    /// When the order's next status is due, if it has one.
    pub(super) fn next_change(
        &self,
        order: &Order,
        now: Instant,
        offset_s: f64,
    ) -> Option<Instant> {
        if order.cancelled.is_some() {
            return None;
        }
        let next = self.reached(order, now, offset_s) + 1;
        (next < order.plan.len()).then(|| order.created_at + self.step_real_offset(next, offset_s))
    }
}

fn status_json(state: &AppState, order: &Order, now: Instant, offset_s: f64) -> Value {
    let history = state.history(order, now, offset_s);
    let (status, last_time) = history
        .last()
        .map(|e| (e.status, local_time(e.time)))
        .unwrap_or((1, local_time(order.created_wall)));
    json!({
        "OrderId": order.id,
        "ItemCode": order.item_code,
        "OrderCode": order.input.order_code,
        "OrderStatusId": status,
        "OrderStatusName": timeline::status_name(status),
        "LastUpdateTime": last_time,
    })
}

/// `POST /CustomerConnect/CreateOrder`.
pub(super) fn create(state: &Arc<AppState>, obj: &Map<String, Value>) -> Response {
    let input = match NewOrder::parse(obj) {
        Ok(o) => o,
        Err(errors) => return invalid(errors),
    };
    let scenario_state = state.control.scenario();
    let scenario = Scenario::from_note(&input.customer_note)
        .or_else(|| {
            let code = input.order_code.as_deref()?;
            scenario_state
                .get("order_scenarios")?
                .get(code)?
                .as_str()
                .and_then(Scenario::from_name)
        })
        .or_else(|| {
            scenario_state
                .get("default_scenario")?
                .as_str()
                .and_then(Scenario::from_name)
        })
        .unwrap_or(Scenario::Normal);
    let quote = fees::quote(input.service, &input.quote_input());
    let now = Instant::now();
    let created_wall = OffsetDateTime::now_utc();
    let mut inner = lock(&state.inner);
    if let Some(code) = &input.order_code
        && inner.orders.by_code.contains_key(code)
    {
        return failure(
            StatusCode::BAD_REQUEST,
            "DUPLICATE_ORDER_CODE",
            &format!("Mã đơn hàng {} đã tồn tại trên hệ thống", clip(code)),
        );
    }
    let id = uuid(&mut inner.rng);
    let prefix = if input.service.contains("EMS") {
        "EL"
    } else {
        "CP"
    };
    let item_code = loop {
        let serial: u32 = inner.rng.random_range(0..100_000_000);
        let code = super::s10::item_code(prefix, serial);
        if !inner.orders.by_item.contains_key(&code) {
            break code;
        }
    };
    let plan = scenario.plan(input.cod > 0);
    let order = Order {
        id: id.clone(),
        item_code: item_code.clone(),
        input,
        quote,
        scenario,
        plan,
        created_at: now,
        created_wall,
        cancelled: None,
        changed: Arc::new(Notify::new()),
    };
    let body = created_json(state, &order);
    let changed = order.changed.clone();
    let orders = &mut inner.orders;
    let idx = orders.list.len();
    orders.by_id.insert(id.clone(), idx);
    orders.by_item.insert(item_code, idx);
    if let Some(code) = &order.input.order_code {
        orders.by_code.insert(code.clone(), idx);
    }
    orders.list.push(order);
    drop(inner);
    if let Some(pusher) = &state.push {
        pusher.spawn(Arc::downgrade(state), id, changed);
    }
    reply(StatusCode::OK, &body)
}

fn created_json(state: &AppState, o: &Order) -> Value {
    let n = &o.input;
    let q = &o.quote;
    // "Add the freight to the amount collected": the receiver pays COD + freight.
    let cod_collected = if n.receiver_pays {
        n.cod.saturating_add(q.total)
    } else {
        n.cod
    };
    let pairs: Vec<(&str, Value)> = vec![
        ("Id", json!(o.id)),
        ("ItemCode", json!(o.item_code)),
        ("OrderCode", json!(n.order_code)),
        ("CustomerCode", json!(state.settings.customer_code)),
        ("OrderStatusId", json!(1)),
        ("OrderStatusName", json!(timeline::status_name(1))),
        ("ServiceName", json!(n.service)),
        ("PackageContent", json!(n.package_content)),
        ("SenderFullname", json!(n.sender_fullname)),
        ("SenderTel", json!(n.sender_tel)),
        ("SenderAddress", json!(n.sender_address)),
        ("SenderProvinceId", json!(n.sender_province)),
        ("SenderDistrictId", json!(n.sender_district)),
        ("SenderWardId", json!(n.sender_ward)),
        ("ReceiverFullname", json!(n.receiver_fullname)),
        ("ReceiverTel", json!(n.receiver_tel)),
        ("ReceiverAddress", json!(n.receiver_address)),
        ("ReceiverProvinceId", json!(n.receiver_province)),
        ("ReceiverDistrictId", json!(n.receiver_district)),
        ("ReceiverWardId", json!(n.receiver_ward)),
        ("ReceiverAddressType", json!(n.receiver_address_type)),
        ("WeightEvaluation", json!(num(n.weight))),
        ("WidthEvaluation", json!(num(n.width))),
        ("LengthEvaluation", json!(num(n.length))),
        ("HeightEvaluation", json!(num(n.height))),
        ("WeightConvert", json!(q.chargeable_g)),
        ("CodAmountEvaluation", json!(cod_collected)),
        ("OriginalCodAmountEvaluation", json!(n.cod)),
        ("OrderAmountEvaluation", json!(n.order_amount)),
        ("IsReceiverPayFreight", json!(n.receiver_pays)),
        ("IsPackageViewable", json!(n.viewable)),
        ("PickupType", json!(n.pickup_type)),
        ("CustomerNote", json!(n.customer_note)),
        ("UseBaoPhat", json!(n.use_bao_phat)),
        ("UseHoaDon", json!(n.use_hoa_don)),
        ("ShippingFreightEvaluation", json!(q.main)),
        ("FuelFreightEvaluation", json!(q.fuel)),
        ("TotalFreightExcludeVatEvaluation", json!(q.before_vat)),
        ("VatFreightEvaluation", json!(q.vat)),
        ("CodFreightEvaluation", json!(q.cod_fee)),
        ("VasFreightEvaluation", json!(q.vas)),
        ("TotalFreightIncludeVatEvaluation", json!(q.total)),
        ("Scenario", json!(o.scenario.name())),
        ("CreateTime", json!(local_time(o.created_wall))),
        ("IsCancelable", json!(true)),
        ("IsSuccess", json!(true)),
        ("Message", json!(Value::Null)),
    ];
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// `POST /CustomerConnect/CancelOrder` `{OrderId}`: only while created … collecting (1–4).
pub(super) fn cancel(state: &AppState, obj: &Map<String, Value>) -> Response {
    let mut f = Fields::new(obj);
    let id = f.required_text("OrderId", "Mã đơn hàng (OrderId)", 64);
    if !f.errors.is_empty() {
        return invalid(f.errors);
    }
    let now = Instant::now();
    let offset = state.clock_offset_s();
    let mut inner = lock(&state.inner);
    let Some(&idx) = inner.orders.by_id.get(&id) else {
        return not_found();
    };
    let order = &inner.orders.list[idx];
    let reached = state.reached(order, now, offset);
    let status = if order.cancelled.is_some() {
        CANCELLED
    } else {
        order.plan[reached]
    };
    if !CANCELABLE.contains(&status) {
        return failure(
            StatusCode::BAD_REQUEST,
            "CANCEL_NOT_ALLOWED",
            &format!(
                "Không thể hủy đơn hàng ở trạng thái {} ({})",
                status,
                timeline::status_name(status)
            ),
        );
    }
    let order = &mut inner.orders.list[idx];
    order.cancelled = Some((now, reached));
    order.changed.notify_one();
    let (item_code, order_code) = (order.item_code.clone(), order.input.order_code.clone());
    reply(
        StatusCode::OK,
        &json!({
            "IsSuccess": true,
            "Message": "Hủy đơn hàng thành công",
            "OrderId": id,
            "ItemCode": item_code,
            "OrderCode": order_code,
            "OrderStatusId": CANCELLED,
            "OrderStatusName": timeline::status_name(CANCELLED),
        }),
    )
}

fn not_found() -> Response {
    failure(
        StatusCode::NOT_FOUND,
        "ORDER_NOT_FOUND",
        "Không tìm thấy đơn hàng",
    )
}

/// `POST /CustomerConnect/GetOrderTracking` `{OrderId | ItemCode | OrderCode}` *(ours)*.
pub(super) fn tracking(state: &AppState, obj: &Map<String, Value>) -> Response {
    let mut f = Fields::new(obj);
    let id = f.text("OrderId");
    let item = f.text("ItemCode");
    let code = f.text("OrderCode");
    if !f.errors.is_empty() {
        return invalid(f.errors);
    }
    if id.is_none() && item.is_none() && code.is_none() {
        return invalid(vec![(
            "OrderId".to_owned(),
            "Cần OrderId, ItemCode hoặc OrderCode".to_owned(),
        )]);
    }
    let now = Instant::now();
    let offset = state.clock_offset_s();
    let inner = lock(&state.inner);
    let order = if let Some(id) = &id {
        inner.orders.by_id(id)
    } else if let Some(item) = &item {
        inner.orders.by_item(item)
    } else {
        code.as_deref().and_then(|c| inner.orders.by_code(c))
    };
    let Some(order) = order else {
        return not_found();
    };
    let history = state.history(order, now, offset);
    let mut body = status_json(state, order, now, offset);
    let current = history.last().map(|e| e.status).unwrap_or(1);
    if let Value::Object(m) = &mut body {
        m.insert("IsSuccess".into(), Value::Bool(true));
        m.insert("Message".into(), Value::Null);
        m.insert("ServiceName".into(), Value::from(order.input.service));
        m.insert(
            "IsCancelable".into(),
            Value::Bool(order.cancelled.is_none() && CANCELABLE.contains(&current)),
        );
        m.insert(
            "History".into(),
            Value::Array(history.iter().map(Event::json).collect()),
        );
    }
    reply(StatusCode::OK, &body)
}

/// `POST /CustomerConnect/GetOrdersStatus` `{ItemCodes: [...]}` *(ours)*, at most 100 codes.
pub(super) fn statuses(state: &AppState, obj: &Map<String, Value>) -> Response {
    let codes: Vec<String> = match field(obj, "ItemCodes") {
        Some(Value::Array(list)) if !list.is_empty() && list.len() <= MAX_BATCH => {
            let mut out = Vec::with_capacity(list.len());
            for v in list {
                match v.as_str() {
                    Some(s) => out.push(s.trim().to_owned()),
                    None => {
                        return invalid(vec![(
                            "ItemCodes".to_owned(),
                            "ItemCodes chỉ chứa chuỗi ký tự".to_owned(),
                        )]);
                    }
                }
            }
            out
        }
        _ => {
            return invalid(vec![(
                "ItemCodes".to_owned(),
                format!("ItemCodes phải là danh sách từ 1 đến {MAX_BATCH} mã bưu gửi"),
            )]);
        }
    };
    let now = Instant::now();
    let offset = state.clock_offset_s();
    let inner = lock(&state.inner);
    let mut items = Vec::new();
    let mut missing = Vec::new();
    for code in codes {
        match inner.orders.by_item(&code) {
            Some(order) => items.push(status_json(state, order, now, offset)),
            None => missing.push(Value::from(code)),
        }
    }
    reply(
        StatusCode::OK,
        &json!({ "IsSuccess": true, "Message": Value::Null, "Items": items, "NotFound": missing }),
    )
}

/// `POST /CustomerConnect/TinhCuocTatCaDichVu`: a price for every service, EMS first.
pub(super) fn quote_all(obj: &Map<String, Value>) -> Response {
    let mut f = Fields::new(obj);
    let sender_province = f.area_id("SenderProvinceId", "Mã tỉnh/thành người gửi");
    let receiver_province = f.area_id("ReceiverProvinceId", "Mã tỉnh/thành người nhận");
    for (key, label) in [
        ("SenderDistrictId", "Mã quận/huyện người gửi"),
        ("ReceiverDistrictId", "Mã quận/huyện người nhận"),
    ] {
        if let Some(v) = f.text(key)
            && !v.bytes().all(|b| b.is_ascii_digit())
        {
            f.error(key, format!("{label} không hợp lệ"));
        }
    }
    let weight = f.weight("Weight");
    let input = QuoteInput {
        sender_province,
        receiver_province,
        weight_g: weight,
        length_cm: f.side("Length"),
        width_cm: f.side("Width"),
        height_cm: f.side("Height"),
        cod: f.amount("CodAmount"),
        use_bao_phat: f.boolean("UseBaoPhat"),
        sms_before: f.boolean("UseNhanTinSmsNguoiNhanTruocPhat"),
        sms_after: f.boolean("UseNhanTinSmsNguoiNhanSauPhat"),
    };
    let receiver_pays = f.boolean("IsReceiverPayFreight");
    // Validated, though neither changes the price here.
    let _ = f.amount("OrderAmount");
    let _ = f.boolean("UseHoaDon");
    if !f.errors.is_empty() {
        return invalid(f.errors);
    }
    let list: Vec<Value> = fees::SERVICES
        .iter()
        .map(|(service, name)| {
            let q = fees::quote(service, &input);
            json!({
                "MaDichVu": service,
                "TenDichVu": name,
                "TrongLuongQuyDoiGoc": q.weight_g,
                "TrongLuongQuyDoi": q.chargeable_g,
                "CuocChinh": q.main,
                "PhuPhiVungXa": 0,
                "PhuPhiXangDau": q.fuel,
                "TongCuocTruocVAT": q.before_vat,
                "VAT": q.vat,
                "TongCuocSauVAT": q.after_vat,
                "CuocCod": q.cod_fee,
                "TongCuocDichVuCongThem": q.cod_fee + q.vas,
                "TongCuocBaoGomDVCT": q.total,
                "SoTienCodThuNoiNguoiNhan": if receiver_pays { input.cod.saturating_add(q.total) } else { input.cod },
                "NoiTinh": q.zone == 1,
                "ThoiGianPhatDuKien": format!("{} ngày", q.days),
                "Success": true,
                "Message": Value::Null,
            })
        })
        .collect();
    reply(StatusCode::OK, &Value::Array(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        assert!(is_phone("0912345678"));
        assert!(is_phone("0284088888"));
        assert!(!is_phone("912345678"));
        assert!(!is_phone("09123456789"));
        assert!(!is_phone("091234567a"));
        assert!(!is_phone("+84912345678"));
    }

    #[test]
    fn field_lookup_ignores_case() {
        let obj = json!({"orderid": "x", "OrderId": "y", "ItemCode": 5});
        let obj = obj.as_object().unwrap();
        assert_eq!(field(obj, "OrderId"), Some(&json!("y")));
        assert_eq!(field(obj, "ITEMCODE"), Some(&json!(5)));
        let mut f = Fields::new(obj);
        assert_eq!(f.text("ItemCode").as_deref(), Some("5"));
    }

    #[test]
    fn uuid_shape() {
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
        let u = uuid(&mut rng);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
