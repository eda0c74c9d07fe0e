//! Canonical shipments ↔ VNPost's wire format, and VNPost's status codes ↔ normalised statuses.

use crate::canonical::shipment::{
    QuoteRequest, ServiceQuote, ShipmentOrder, ShipmentStatus, StatusSnapshot, Tracking,
    TrackingEvent,
};

use super::{errors, wire};

/// The carrier's service codes.
pub const SERVICES: [&str; 7] = [
    "EMS",
    "BK",
    "ECOD",
    "DONG_GIA",
    "TMDT_EMS",
    "TMDT_BK",
    "TMDT_EMS_TK",
];

/// The carrier's name of a status code (`schemas/vnpost/README.md` §6), `""` for unknown codes.
pub fn status_name(code: u16) -> &'static str {
    match code {
        1 => "Đã tạo đơn",
        2 => "Đã giao cho bưu tá thu gom",
        3 => "Đang xử lý",
        4 => "Đang thu gom",
        5 => "Thu gom thất bại",
        6 => "Đã thu gom",
        7 => "Đã nhận tại bưu cục gốc",
        10 => "Đang vận chuyển",
        11 => "Đã đến bưu cục phát",
        12 => "Đang phát",
        13 => "Chuyển tiếp",
        14 => "Phát thành công",
        15 => "Phát không thành công",
        16 => "Chờ chuyển hoàn",
        19 => "Hoàn tất",
        20 => "Đã chuyển hoàn",
        21 => "Đã trả tiền thu hộ (COD)",
        22 => "Đã hủy",
        _ => "",
    }
}

/// District id sent for an address of the two-level (34-province) scheme, which has no districts:
/// the carrier requires the field to be present and made of digits.
pub const NO_DISTRICT: &str = "0";

/// The normalised status of a VNPost status code (`None`: a code the contract does not list).
pub fn normalise(code: u16) -> Option<ShipmentStatus> {
    Some(match code {
        // Created, sent to postman, processing, collecting: nothing has left the sender yet.
        1..=4 => ShipmentStatus::Created,
        // Collection failed: the shipment could not start.
        5 => ShipmentStatus::DeliveryFailed,
        6 | 7 => ShipmentStatus::PickedUp,
        10 | 11 | 13 => ShipmentStatus::InTransit,
        12 => ShipmentStatus::Delivering,
        // Delivered, completed, COD paid.
        14 | 19 | 21 => ShipmentStatus::Delivered,
        // Delivery failed, awaiting return.
        15 | 16 => ShipmentStatus::DeliveryFailed,
        20 => ShipmentStatus::Returned,
        22 => ShipmentStatus::Cancelled,
        _ => return None,
    })
}

/// Whether a VNPost status code is final: the order will not change any more.
pub fn is_final(code: u16) -> bool {
    matches!(code, 19 | 20 | 22)
}

/// How far along its path a status is, to tell a late (older) push from a new one. Alternatives
/// (delivered or failed) rank alike; final states rank highest.
pub fn progress_rank(code: u16) -> u16 {
    match code {
        1..=7 => code,
        10 | 11 => code,
        13 => 12,
        12 => 13,
        14 | 15 => 14,
        16 => 15,
        21 => 16,
        19 | 20 => 17,
        22 => 18,
        _ => 0,
    }
}

/// The carrier's local time `yyyy-MM-ddTHH:mm:ss` (UTC+7, no zone) as RFC 3339; `None` unless it
/// is a real time (`2026-13-45T25:61:00` has the shape, not the meaning).
pub fn local_time_rfc3339(t: &str) -> Option<String> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let b = t.as_bytes();
    let shape_ok = b.len() == 19 && b.iter().take(4).all(u8::is_ascii_digit);
    (shape_ok && time::PrimitiveDateTime::parse(t, format).is_ok()).then(|| format!("{t}+07:00"))
}

fn status_code(v: Option<i64>, what: &str) -> Result<u16, crate::AdapterError> {
    v.and_then(|c| u16::try_from(c).ok())
        .ok_or_else(|| errors::protocol(format!("the carrier's {what} reply has no status")))
}

/// The `CreateOrder` request of a shipment.
pub fn create_request(o: &ShipmentOrder, customer_code: Option<&str>) -> wire::CreateOrderRequest {
    let district = |d: &Option<String>| d.clone().unwrap_or_else(|| NO_DISTRICT.to_owned());
    wire::CreateOrderRequest {
        order_code: o.order_code.clone(),
        sender_fullname: o.sender.name.clone(),
        sender_tel: o.sender.phone.clone(),
        sender_address: o.sender.address.clone(),
        sender_province_id: o.sender.province_code.clone(),
        sender_district_id: district(&o.sender.district_code),
        sender_ward_id: o.sender.commune_code.clone(),
        receiver_fullname: o.receiver.name.clone(),
        receiver_tel: o.receiver.phone.clone(),
        receiver_address: o.receiver.address.clone(),
        receiver_province_id: o.receiver.province_code.clone(),
        receiver_district_id: district(&o.receiver.district_code),
        receiver_ward_id: o.receiver.commune_code.clone(),
        service_name: o.service.clone(),
        package_content: o.content.clone(),
        weight_evaluation: o.weight_g,
        cod_amount_evaluation: o.cod_amount_vnd,
        is_receiver_pay_freight: false,
        pickup_type: 1,
        customer_note: o.note.clone(),
        customer_code: customer_code.map(str::to_owned),
    }
}

/// The `CreateOrder` reply.
pub fn created(
    r: wire::CreateOrderReply,
) -> Result<crate::canonical::shipment::CreatedShipment, crate::AdapterError> {
    let carrier_order_id =
        r.id.filter(|s| !s.is_empty())
            .ok_or_else(|| errors::protocol("the carrier's order reply has no Id"))?;
    let tracking_code = r
        .item_code
        .filter(|s| !s.is_empty())
        .ok_or_else(|| errors::protocol("the carrier's order reply has no ItemCode"))?;
    Ok(crate::canonical::shipment::CreatedShipment {
        carrier_order_id,
        tracking_code,
        carrier_status: r
            .order_status_id
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(1),
        fee_vnd: r.total_freight_include_vat_evaluation.unwrap_or(0),
    })
}

/// The `GetOrderTracking` reply.
pub fn tracking(r: wire::TrackingReply) -> Result<Tracking, crate::AdapterError> {
    let carrier_status = status_code(r.order_status_id, "tracking")?;
    let history = r
        .history
        .into_iter()
        .filter_map(|h| {
            let code = u16::try_from(h.status?).ok()?;
            Some(TrackingEvent {
                carrier_status: code,
                carrier_status_name: h.status_name.unwrap_or_default(),
                status: normalise(code)?,
                at: h.time.as_deref().and_then(local_time_rfc3339),
                post_office: h.post_office,
            })
        })
        .collect();
    Ok(Tracking {
        carrier_order_id: r.order_id.unwrap_or_default(),
        tracking_code: r.item_code.unwrap_or_default(),
        carrier_status,
        carrier_status_name: r.order_status_name.unwrap_or_default(),
        history,
    })
}

/// The `GetOrdersStatus` reply.
pub fn statuses(r: wire::StatusesReply) -> Result<Vec<StatusSnapshot>, crate::AdapterError> {
    r.items
        .into_iter()
        .map(|i| {
            Ok(StatusSnapshot {
                tracking_code: i
                    .item_code
                    .ok_or_else(|| errors::protocol("a status item has no ItemCode"))?,
                carrier_status: status_code(i.order_status_id, "status")?,
                carrier_status_name: i.order_status_name.unwrap_or_default(),
            })
        })
        .collect()
}

/// The `TinhCuocTatCaDichVu` request.
pub fn quote_request(q: &QuoteRequest, customer_code: Option<&str>) -> wire::QuoteRequest {
    wire::QuoteRequest {
        sender_province_id: q.from_province_code.clone(),
        sender_district_id: q.from_district_code.clone(),
        receiver_province_id: q.to_province_code.clone(),
        receiver_district_id: q.to_district_code.clone(),
        weight: q.weight_g,
        cod_amount: q.cod_amount_vnd,
        is_receiver_pay_freight: false,
        customer_code: customer_code.map(str::to_owned),
    }
}

/// The quote reply: the services that can carry the parcel.
pub fn quotes(entries: Vec<wire::QuoteEntry>) -> Vec<ServiceQuote> {
    entries
        .into_iter()
        .filter(|e| e.success)
        .filter_map(|e| {
            Some(ServiceQuote {
                service: e.service?,
                name: e.name.unwrap_or_default(),
                fee_vnd: e.total?,
                estimated_delivery: e.delivery_time.map(|v| match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                }),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_code_has_a_status_and_finals_are_final() {
        for code in [
            1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 19, 20, 21, 22,
        ] {
            assert!(normalise(code).is_some(), "{code}");
        }
        assert_eq!(normalise(8), None);
        assert_eq!(normalise(14), Some(ShipmentStatus::Delivered));
        assert_eq!(normalise(20), Some(ShipmentStatus::Returned));
        assert!(is_final(19) && is_final(22) && !is_final(14));
    }

    #[test]
    fn local_times_gain_the_vietnam_offset() {
        assert_eq!(
            local_time_rfc3339("2026-11-28T22:50:46").as_deref(),
            Some("2026-11-28T22:50:46+07:00")
        );
        assert_eq!(local_time_rfc3339("28/11/2026 22:50"), None);
    }
}
