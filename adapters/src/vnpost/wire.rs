//! VNPost's JSON on the wire (`schemas/vnpost/README.md`): PascalCase keys, every call a `POST`.
//! Replies are read leniently where the platform is lenient (numbers may come as strings).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `POST /MobileAuthentication/GetAccessToken`.
pub const TOKEN_PATH: &str = "MobileAuthentication/GetAccessToken";
/// `POST /CustomerConnect/CreateOrder`.
pub const CREATE_PATH: &str = "CustomerConnect/CreateOrder";
/// `POST /CustomerConnect/CancelOrder`.
pub const CANCEL_PATH: &str = "CustomerConnect/CancelOrder";
/// `POST /CustomerConnect/TinhCuocTatCaDichVu` (fee of every service).
pub const QUOTE_PATH: &str = "CustomerConnect/TinhCuocTatCaDichVu";
/// `POST /CustomerConnect/GetOrderTracking`.
pub const TRACKING_PATH: &str = "CustomerConnect/GetOrderTracking";
/// `POST /CustomerConnect/GetOrdersStatus` (1 to 100 item codes).
pub const STATUSES_PATH: &str = "CustomerConnect/GetOrdersStatus";
/// Most item codes one `GetOrdersStatus` call takes.
pub const MAX_STATUS_BATCH: usize = 100;

/// Token request.
#[derive(Serialize)]
pub struct TokenRequest<'a> {
    /// Account name.
    #[serde(rename = "TenDangNhap")]
    pub username: &'a str,
    /// Password.
    #[serde(rename = "MatKhau")]
    pub password: &'a str,
}

/// Token reply (HTTP 200 even when refused).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TokenReply {
    /// Whether the credentials were accepted.
    #[serde(default)]
    pub is_success: bool,
    /// The token.
    pub token: Option<String>,
    /// Lifetime in seconds (ours; absent at the real carrier).
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub expires_in: Option<i64>,
}

/// `CreateOrder` request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)] // the fields are named as in schemas/vnpost/README.md
pub struct CreateOrderRequest {
    pub order_code: String,
    pub sender_fullname: String,
    pub sender_tel: String,
    pub sender_address: String,
    pub sender_province_id: String,
    pub sender_district_id: String,
    pub sender_ward_id: String,
    pub receiver_fullname: String,
    pub receiver_tel: String,
    pub receiver_address: String,
    pub receiver_province_id: String,
    pub receiver_district_id: String,
    pub receiver_ward_id: String,
    pub service_name: String,
    pub package_content: String,
    pub weight_evaluation: u32,
    pub cod_amount_evaluation: u64,
    pub is_receiver_pay_freight: bool,
    pub pickup_type: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_code: Option<String>,
}

/// `CreateOrder` reply (the fields we keep).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateOrderReply {
    /// The carrier's order id.
    pub id: Option<String>,
    /// Tracking number.
    pub item_code: Option<String>,
    /// Status (1).
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub order_status_id: Option<i64>,
    /// Total fee, VAT included.
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub total_freight_include_vat_evaluation: Option<i64>,
}

/// `CancelOrder`, `GetOrderTracking` by order id.
#[derive(Serialize)]
pub struct OrderIdRequest<'a> {
    /// The carrier's order id.
    #[serde(rename = "OrderId")]
    pub order_id: &'a str,
}

/// `GetOrderTracking` by our order code.
#[derive(Serialize)]
pub struct OrderCodeRequest<'a> {
    /// Our order code.
    #[serde(rename = "OrderCode")]
    pub order_code: &'a str,
}

/// One history entry of a tracking reply.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryEntry {
    /// Status code.
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub status: Option<i64>,
    /// Status name.
    pub status_name: Option<String>,
    /// Local time `yyyy-MM-ddTHH:mm:ss` (UTC+7).
    pub time: Option<String>,
    /// Post office.
    pub post_office: Option<String>,
}

/// `GetOrderTracking` reply.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)] // the fields are named as in schemas/vnpost/README.md
pub struct TrackingReply {
    pub order_id: Option<String>,
    pub item_code: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub order_status_id: Option<i64>,
    pub order_status_name: Option<String>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

/// `GetOrdersStatus` request.
#[derive(Serialize)]
pub struct StatusesRequest<'a> {
    /// Item codes, 1 to 100.
    #[serde(rename = "ItemCodes")]
    pub item_codes: &'a [String],
}

/// One item of a `GetOrdersStatus` reply.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)] // the fields are named as in schemas/vnpost/README.md
pub struct StatusItem {
    pub item_code: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub order_status_id: Option<i64>,
    pub order_status_name: Option<String>,
}

/// `GetOrdersStatus` reply.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)] // the fields are named as in schemas/vnpost/README.md
pub struct StatusesReply {
    #[serde(default)]
    pub items: Vec<StatusItem>,
}

/// `TinhCuocTatCaDichVu` request.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)] // the fields are named as in schemas/vnpost/README.md
pub struct QuoteRequest {
    pub sender_province_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_district_id: Option<String>,
    pub receiver_province_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver_district_id: Option<String>,
    pub weight: u32,
    pub cod_amount: u64,
    pub is_receiver_pay_freight: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_code: Option<String>,
}

/// One service of a quote reply.
#[derive(Deserialize)]
pub struct QuoteEntry {
    /// Service code.
    #[serde(rename = "MaDichVu")]
    pub service: Option<String>,
    /// Service name.
    #[serde(rename = "TenDichVu")]
    pub name: Option<String>,
    /// Total, extra services included.
    #[serde(
        rename = "TongCuocBaoGomDVCT",
        default,
        deserialize_with = "lenient_opt_i64"
    )]
    pub total: Option<i64>,
    /// Expected delivery time.
    #[serde(rename = "ThoiGianPhatDuKien", default)]
    pub delivery_time: Option<Value>,
    /// Whether this service can carry the parcel.
    #[serde(rename = "Success", default = "yes")]
    pub success: bool,
}

fn yes() -> bool {
    true
}

/// An integer sent as a JSON number or a numeric string (ASP.NET binds both).
fn lenient_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f.round() as i64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A reply: HTTP status and the body parsed as JSON (`Null` when it is not JSON).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Parsed body.
    pub json: Value,
}

impl Reply {
    /// Reads a reply, refusing bodies over `max_bytes`.
    pub async fn read(
        resp: reqwest::Response,
        max_bytes: usize,
        read: bool,
    ) -> Result<Reply, crate::AdapterError> {
        let status = resp.status().as_u16();
        if resp.content_length().is_some_and(|l| l > max_bytes as u64) {
            return Err(super::errors::protocol("the carrier's reply is too large"));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| super::errors::from_transport(&e, read))?;
        if bytes.len() > max_bytes {
            return Err(super::errors::protocol("the carrier's reply is too large"));
        }
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply { status, json })
    }

    /// The body as `T`, or a protocol error.
    pub fn parse<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
    ) -> Result<T, crate::AdapterError> {
        T::deserialize(&self.json).map_err(|_| {
            super::errors::protocol(format!("the carrier's {what} reply is unreadable"))
        })
    }
}
