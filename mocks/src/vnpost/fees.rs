//! The mock's fee table *(ours, deterministic)*: a price for the first 500 g and for each further
//! started 500 g, per service and zone, then a fuel surcharge, VAT and value-added services.
//! `schemas/vnpost/README.md` carries the same table.

/// Services the mock knows, in the order `TinhCuocTatCaDichVu` lists them (EMS first, BK second,
/// as clients index them).
pub const SERVICES: [(&str, &str); 7] = [
    ("EMS", "Chuyển phát nhanh EMS"),
    ("BK", "Chuyển phát thường"),
    ("ECOD", "Chuyển phát thương mại điện tử ECOD"),
    ("DONG_GIA", "Đồng giá"),
    ("TMDT_EMS", "TMĐT - Chuyển phát nhanh EMS"),
    ("TMDT_BK", "TMĐT - Chuyển phát tiêu chuẩn"),
    (
        "TMDT_EMS_TK",
        "TMĐT - Chuyển phát nhanh EMS tiết kiệm (liên vùng)",
    ),
];

/// `(first 500 g, each further 500 g)` in VND before VAT, for zones 1 (same province),
/// 2 (near: province ids differ by at most 20), 3 (far).
fn tariff(service: &str) -> [(u64, u64); 3] {
    match service {
        "EMS" => [(13_000, 2_000), (28_000, 3_500), (38_000, 8_000)],
        "BK" => [(10_000, 1_500), (16_000, 2_500), (20_000, 3_500)],
        "ECOD" => [(12_000, 2_000), (19_000, 3_000), (25_000, 4_500)],
        "TMDT_EMS" => [(12_000, 2_000), (26_000, 3_000), (34_000, 7_000)],
        "TMDT_BK" => [(9_000, 1_500), (15_000, 2_000), (19_000, 3_000)],
        "TMDT_EMS_TK" => [(11_000, 1_500), (21_000, 2_500), (28_000, 5_000)],
        // DONG_GIA is priced separately; unknown services never get here.
        _ => [(25_000, 5_000); 3],
    }
}

/// Days to deliver, per zone.
fn days(service: &str) -> [u32; 3] {
    match service {
        "EMS" | "TMDT_EMS" => [1, 2, 3],
        "BK" => [2, 3, 5],
        "TMDT_BK" => [2, 4, 6],
        _ => [2, 3, 4],
    }
}

/// The service's `&'static` name.
pub fn service_static(name: &str) -> Option<&'static str> {
    SERVICES.iter().find(|(s, _)| *s == name).map(|(s, _)| *s)
}

/// What a price depends on.
#[derive(Debug, Clone)]
pub struct QuoteInput {
    /// Sender's province id.
    pub sender_province: String,
    /// Receiver's province id.
    pub receiver_province: String,
    /// Actual weight, grams.
    pub weight_g: f64,
    /// Length, cm.
    pub length_cm: f64,
    /// Width, cm.
    pub width_cm: f64,
    /// Height, cm.
    pub height_cm: f64,
    /// Amount to collect on delivery (COD), VND.
    pub cod: u64,
    /// Delivery receipt (báo phát).
    pub use_bao_phat: bool,
    /// SMS to the receiver before delivery.
    pub sms_before: bool,
    /// SMS to the receiver after delivery.
    pub sms_after: bool,
}

/// A price for one service.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// Service code.
    pub service: &'static str,
    /// 1 same province, 2 near, 3 far.
    pub zone: usize,
    /// Actual weight, rounded up to a gram.
    pub weight_g: u64,
    /// Chargeable weight: the larger of the actual and the volumetric (L·W·H / 6000 kg).
    pub chargeable_g: u64,
    /// Main freight.
    pub main: u64,
    /// Fuel surcharge: 10 % of the main freight.
    pub fuel: u64,
    /// Main + fuel.
    pub before_vat: u64,
    /// 10 % of `before_vat`.
    pub vat: u64,
    /// `before_vat + vat`.
    pub after_vat: u64,
    /// COD fee (VAT included): 0 without COD, else max(11 000, 1 % of the amount).
    pub cod_fee: u64,
    /// Other value-added services (VAT included): receipt 5 500, SMS 1 100 each, invoice 0.
    pub vas: u64,
    /// Everything: `after_vat + cod_fee + vas`.
    pub total: u64,
    /// Expected delivery, in days.
    pub days: u32,
}

fn percent(amount: u64, pct: u64) -> u64 {
    amount.saturating_mul(pct).saturating_add(50) / 100
}

fn zone(a: &str, b: &str) -> usize {
    if a == b {
        return 1;
    }
    match (a.parse::<i64>(), b.parse::<i64>()) {
        (Ok(x), Ok(y)) if (x - y).abs() <= 20 => 2,
        _ => 3,
    }
}

/// Prices one service (a known service name; anything else is priced like `DONG_GIA`).
pub fn quote(service: &'static str, q: &QuoteInput) -> Quote {
    let zone = zone(&q.sender_province, &q.receiver_province);
    let weight_g = q.weight_g.max(0.0).ceil() as u64;
    let volumetric_g =
        (q.length_cm.max(0.0) * q.width_cm.max(0.0) * q.height_cm.max(0.0) / 6.0).ceil() as u64;
    let chargeable_g = weight_g.max(volumetric_g).max(1);
    let main = if service == "DONG_GIA" {
        let extra = chargeable_g.saturating_sub(2_000).div_ceil(500);
        extra.saturating_mul(5_000).saturating_add(25_000)
    } else {
        let (first, step) = tariff(service)[zone - 1];
        chargeable_g
            .saturating_sub(500)
            .div_ceil(500)
            .saturating_mul(step)
            .saturating_add(first)
    };
    let fuel = percent(main, 10);
    let before_vat = main.saturating_add(fuel);
    let vat = percent(before_vat, 10);
    let after_vat = before_vat.saturating_add(vat);
    let cod_fee = if q.cod == 0 {
        0
    } else {
        percent(q.cod, 1).max(11_000)
    };
    let vas = if q.use_bao_phat { 5_500 } else { 0 }
        + if q.sms_before { 1_100 } else { 0 }
        + if q.sms_after { 1_100 } else { 0 };
    Quote {
        service,
        zone,
        weight_g,
        chargeable_g,
        main,
        fuel,
        before_vat,
        vat,
        after_vat,
        cod_fee,
        vas,
        total: after_vat.saturating_add(cod_fee).saturating_add(vas),
        days: days(service)[zone - 1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(from: &str, to: &str, g: f64) -> QuoteInput {
        QuoteInput {
            sender_province: from.into(),
            receiver_province: to.into(),
            weight_g: g,
            length_cm: 0.0,
            width_cm: 0.0,
            height_cm: 0.0,
            cod: 0,
            use_bao_phat: false,
            sms_before: false,
            sms_after: false,
        }
    }

    #[test]
    fn table() {
        let q = quote("EMS", &input("10", "70", 500.0));
        assert_eq!(
            (q.zone, q.main, q.fuel, q.vat, q.total),
            (3, 38_000, 3_800, 4_180, 45_980)
        );
        let q = quote("EMS", &input("49", "49", 1200.0));
        assert_eq!(
            (q.zone, q.chargeable_g, q.main),
            (1, 1200, 13_000 + 2 * 2_000)
        );
        let q = quote("BK", &input("49", "55", 501.0));
        assert_eq!((q.zone, q.main), (2, 16_000 + 2_500));
        let q = quote("DONG_GIA", &input("10", "70", 2000.0));
        assert_eq!(q.main, 25_000);
        let q = quote("DONG_GIA", &input("10", "70", 2001.0));
        assert_eq!(q.main, 30_000);
        // Volumetric: 30×20×10 cm = 6000 cm³ → 1 kg.
        let mut i = input("49", "49", 300.0);
        (i.length_cm, i.width_cm, i.height_cm) = (30.0, 20.0, 10.0);
        assert_eq!(quote("EMS", &i).chargeable_g, 1000);
        i.cod = 500_000;
        i.use_bao_phat = true;
        let q = quote("EMS", &i);
        assert_eq!((q.cod_fee, q.vas), (11_000, 5_500));
        assert_eq!(q.total, q.after_vat + 16_500);
    }
}
