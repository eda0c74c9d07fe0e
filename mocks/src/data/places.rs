//! Administrative units: the 63 old provinces with their place in the 34-province scheme of
//! 1 July 2025, and the districts and wards the generator uses (Huế in detail, a few wards of Hà Nội,
//! TP Hồ Chí Minh, Đà Nẵng, Quảng Trị, Quảng Nam and Nghệ An). Names are real; ward, district and
//! new-commune codes are illustrative where marked in docs/mock-data.md.

use super::model::Address;

/// One of the 63 provinces of the old scheme and where it went in the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Province {
    /// Old 2-digit code, "46" (the personal id's `PPP` is this with a leading 0).
    pub code: &'static str,
    /// Old name, "Tỉnh Thừa Thiên Huế".
    pub name: &'static str,
    /// New-scheme 2-digit code, "46".
    pub new_code: &'static str,
    /// New-scheme name, "Thành phố Huế".
    pub new_name: &'static str,
}

const fn p(
    code: &'static str,
    name: &'static str,
    new_code: &'static str,
    new_name: &'static str,
) -> Province {
    Province {
        code,
        name,
        new_code,
        new_name,
    }
}

/// The 63 provinces of the old scheme, by code.
#[rustfmt::skip]
pub static PROVINCES: [Province; 63] = [
    p("01", "Thành phố Hà Nội", "01", "Thành phố Hà Nội"),
    p("02", "Tỉnh Hà Giang", "08", "Tỉnh Tuyên Quang"),
    p("04", "Tỉnh Cao Bằng", "04", "Tỉnh Cao Bằng"),
    p("06", "Tỉnh Bắc Kạn", "19", "Tỉnh Thái Nguyên"),
    p("08", "Tỉnh Tuyên Quang", "08", "Tỉnh Tuyên Quang"),
    p("10", "Tỉnh Lào Cai", "15", "Tỉnh Lào Cai"),
    p("11", "Tỉnh Điện Biên", "11", "Tỉnh Điện Biên"),
    p("12", "Tỉnh Lai Châu", "12", "Tỉnh Lai Châu"),
    p("14", "Tỉnh Sơn La", "14", "Tỉnh Sơn La"),
    p("15", "Tỉnh Yên Bái", "15", "Tỉnh Lào Cai"),
    p("17", "Tỉnh Hoà Bình", "25", "Tỉnh Phú Thọ"),
    p("19", "Tỉnh Thái Nguyên", "19", "Tỉnh Thái Nguyên"),
    p("20", "Tỉnh Lạng Sơn", "20", "Tỉnh Lạng Sơn"),
    p("22", "Tỉnh Quảng Ninh", "22", "Tỉnh Quảng Ninh"),
    p("24", "Tỉnh Bắc Giang", "24", "Tỉnh Bắc Ninh"),
    p("25", "Tỉnh Phú Thọ", "25", "Tỉnh Phú Thọ"),
    p("26", "Tỉnh Vĩnh Phúc", "25", "Tỉnh Phú Thọ"),
    p("27", "Tỉnh Bắc Ninh", "24", "Tỉnh Bắc Ninh"),
    p("30", "Tỉnh Hải Dương", "31", "Thành phố Hải Phòng"),
    p("31", "Thành phố Hải Phòng", "31", "Thành phố Hải Phòng"),
    p("33", "Tỉnh Hưng Yên", "33", "Tỉnh Hưng Yên"),
    p("34", "Tỉnh Thái Bình", "33", "Tỉnh Hưng Yên"),
    p("35", "Tỉnh Hà Nam", "37", "Tỉnh Ninh Bình"),
    p("36", "Tỉnh Nam Định", "37", "Tỉnh Ninh Bình"),
    p("37", "Tỉnh Ninh Bình", "37", "Tỉnh Ninh Bình"),
    p("38", "Tỉnh Thanh Hóa", "38", "Tỉnh Thanh Hóa"),
    p("40", "Tỉnh Nghệ An", "40", "Tỉnh Nghệ An"),
    p("42", "Tỉnh Hà Tĩnh", "42", "Tỉnh Hà Tĩnh"),
    p("44", "Tỉnh Quảng Bình", "44", "Tỉnh Quảng Trị"),
    p("45", "Tỉnh Quảng Trị", "44", "Tỉnh Quảng Trị"),
    p("46", "Tỉnh Thừa Thiên Huế", "46", "Thành phố Huế"),
    p("48", "Thành phố Đà Nẵng", "48", "Thành phố Đà Nẵng"),
    p("49", "Tỉnh Quảng Nam", "48", "Thành phố Đà Nẵng"),
    p("51", "Tỉnh Quảng Ngãi", "51", "Tỉnh Quảng Ngãi"),
    p("52", "Tỉnh Bình Định", "52", "Tỉnh Gia Lai"),
    p("54", "Tỉnh Phú Yên", "66", "Tỉnh Đắk Lắk"),
    p("56", "Tỉnh Khánh Hòa", "56", "Tỉnh Khánh Hòa"),
    p("58", "Tỉnh Ninh Thuận", "56", "Tỉnh Khánh Hòa"),
    p("60", "Tỉnh Bình Thuận", "68", "Tỉnh Lâm Đồng"),
    p("62", "Tỉnh Kon Tum", "51", "Tỉnh Quảng Ngãi"),
    p("64", "Tỉnh Gia Lai", "52", "Tỉnh Gia Lai"),
    p("66", "Tỉnh Đắk Lắk", "66", "Tỉnh Đắk Lắk"),
    p("67", "Tỉnh Đắk Nông", "68", "Tỉnh Lâm Đồng"),
    p("68", "Tỉnh Lâm Đồng", "68", "Tỉnh Lâm Đồng"),
    p("70", "Tỉnh Bình Phước", "75", "Tỉnh Đồng Nai"),
    p("72", "Tỉnh Tây Ninh", "80", "Tỉnh Tây Ninh"),
    p("74", "Tỉnh Bình Dương", "79", "Thành phố Hồ Chí Minh"),
    p("75", "Tỉnh Đồng Nai", "75", "Tỉnh Đồng Nai"),
    p("77", "Tỉnh Bà Rịa - Vũng Tàu", "79", "Thành phố Hồ Chí Minh"),
    p("79", "Thành phố Hồ Chí Minh", "79", "Thành phố Hồ Chí Minh"),
    p("80", "Tỉnh Long An", "80", "Tỉnh Tây Ninh"),
    p("82", "Tỉnh Tiền Giang", "82", "Tỉnh Đồng Tháp"),
    p("83", "Tỉnh Bến Tre", "86", "Tỉnh Vĩnh Long"),
    p("84", "Tỉnh Trà Vinh", "86", "Tỉnh Vĩnh Long"),
    p("86", "Tỉnh Vĩnh Long", "86", "Tỉnh Vĩnh Long"),
    p("87", "Tỉnh Đồng Tháp", "82", "Tỉnh Đồng Tháp"),
    p("89", "Tỉnh An Giang", "91", "Tỉnh An Giang"),
    p("91", "Tỉnh Kiên Giang", "91", "Tỉnh An Giang"),
    p("92", "Thành phố Cần Thơ", "92", "Thành phố Cần Thơ"),
    p("93", "Tỉnh Hậu Giang", "92", "Thành phố Cần Thơ"),
    p("94", "Tỉnh Sóc Trăng", "92", "Thành phố Cần Thơ"),
    p("95", "Tỉnh Bạc Liêu", "96", "Tỉnh Cà Mau"),
    p("96", "Tỉnh Cà Mau", "96", "Tỉnh Cà Mau"),
];

/// A province of the old scheme by its 2-digit code ("46") or the 3-digit id prefix ("046").
pub fn province(code: &str) -> Option<&'static Province> {
    let code = match code.len() {
        3 => code.strip_prefix('0')?,
        _ => code,
    };
    PROVINCES.iter().find(|p| p.code == code)
}

/// What kind of place a ward is; decides how addresses inside it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WardKind {
    /// A city ward: "12 Lê Lợi".
    City,
    /// A district town (thị trấn) or suburban ward: "Tổ dân phố 3".
    Town,
    /// A rural commune: "Thôn 5".
    Rural,
}

/// A ward or commune of the old scheme and the commune of the new scheme it became part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ward {
    /// Old 5-digit code.
    pub code: &'static str,
    /// Old name, "Phường Phú Hội".
    pub name: &'static str,
    /// Old 3-digit district code.
    pub district_code: &'static str,
    /// District name, "Thành phố Huế".
    pub district_name: &'static str,
    /// Old 2-digit province code.
    pub province_code: &'static str,
    /// New-scheme commune code.
    pub new_commune_code: &'static str,
    /// New-scheme commune name.
    pub new_commune_name: &'static str,
    /// City, town or rural.
    pub kind: WardKind,
    /// A highland commune where most people belong to ethnic minorities (A Lưới, Nam Đông).
    pub highland: bool,
}

#[allow(clippy::too_many_arguments)]
const fn w(
    code: &'static str,
    name: &'static str,
    district_code: &'static str,
    district_name: &'static str,
    province_code: &'static str,
    new_commune_code: &'static str,
    new_commune_name: &'static str,
    kind: WardKind,
) -> Ward {
    Ward {
        code,
        name,
        district_code,
        district_name,
        province_code,
        new_commune_code,
        new_commune_name,
        kind,
        highland: false,
    }
}

const fn hl(ward: Ward) -> Ward {
    Ward {
        highland: true,
        ..ward
    }
}

use WardKind::{City, Rural, Town};

const HUE: &str = "Thành phố Huế";
const HT: &str = "Thị xã Hương Thủy";
const HTR: &str = "Thị xã Hương Trà";
const PD: &str = "Huyện Phong Điền";
const QD: &str = "Huyện Quảng Điền";
const PV: &str = "Huyện Phú Vang";
const PL: &str = "Huyện Phú Lộc";
const AL: &str = "Huyện A Lưới";
const ND: &str = "Huyện Nam Đông";

/// The wards the generator uses, in a fixed order.
#[rustfmt::skip]
pub static WARDS: &[Ward] = &[
    // Thừa Thiên Huế (46): Thành phố Huế (474).
    w("19768", "Phường Đông Ba", "474", HUE, "46", "19768", "Phường Phú Xuân", City),
    w("19771", "Phường Tây Lộc", "474", HUE, "46", "19768", "Phường Phú Xuân", City),
    w("19774", "Phường Thuận Lộc", "474", HUE, "46", "19768", "Phường Phú Xuân", City),
    w("19777", "Phường Gia Hội", "474", HUE, "46", "19768", "Phường Phú Xuân", City),
    w("19780", "Phường Phú Hậu", "474", HUE, "46", "19768", "Phường Phú Xuân", City),
    w("19783", "Phường Thuận Hòa", "474", HUE, "46", "19768", "Phường Phú Xuân", City),
    w("19798", "Phường Kim Long", "474", HUE, "46", "19798", "Phường Kim Long", City),
    w("19801", "Phường Vỹ Dạ", "474", HUE, "46", "19801", "Phường Vỹ Dạ", City),
    w("19804", "Phường Vĩnh Ninh", "474", HUE, "46", "19807", "Phường Thuận Hóa", City),
    w("19807", "Phường Phú Hội", "474", HUE, "46", "19807", "Phường Thuận Hóa", City),
    w("19810", "Phường Phú Nhuận", "474", HUE, "46", "19807", "Phường Thuận Hóa", City),
    w("19813", "Phường Xuân Phú", "474", HUE, "46", "19801", "Phường Vỹ Dạ", City),
    w("19816", "Phường Trường An", "474", HUE, "46", "19822", "Phường An Cựu", City),
    w("19819", "Phường Phước Vĩnh", "474", HUE, "46", "19807", "Phường Thuận Hóa", City),
    w("19822", "Phường An Cựu", "474", HUE, "46", "19822", "Phường An Cựu", City),
    w("19825", "Phường An Hòa", "474", HUE, "46", "19825", "Phường Hương An", City),
    w("19828", "Phường Hương Sơ", "474", HUE, "46", "19825", "Phường Hương An", City),
    w("19831", "Phường Thủy Biều", "474", HUE, "46", "19837", "Phường Thủy Xuân", City),
    w("19834", "Phường Hương Long", "474", HUE, "46", "19798", "Phường Kim Long", City),
    w("19837", "Phường Thủy Xuân", "474", HUE, "46", "19837", "Phường Thủy Xuân", City),
    w("19840", "Phường An Đông", "474", HUE, "46", "19822", "Phường An Cựu", City),
    w("19843", "Phường An Tây", "474", HUE, "46", "19837", "Phường Thủy Xuân", City),
    w("19846", "Phường Thuận An", "474", HUE, "46", "19846", "Phường Thuận An", Town),
    w("19849", "Phường Phú Thượng", "474", HUE, "46", "19801", "Phường Vỹ Dạ", City),
    // Huyện Phong Điền (476).
    w("19744", "Thị trấn Phong Điền", "476", PD, "46", "19744", "Phường Phong Điền", Town),
    w("19747", "Xã Điền Hải", "476", PD, "46", "19747", "Phường Phong Phú", Rural),
    w("19750", "Xã Phong Hiền", "476", PD, "46", "19750", "Phường Phong Thái", Rural),
    // Thị xã Hương Trà (480).
    w("19753", "Phường Tứ Hạ", "480", HTR, "46", "19753", "Phường Hương Trà", Town),
    w("19756", "Phường Hương Văn", "480", HTR, "46", "19753", "Phường Hương Trà", Town),
    w("19759", "Phường Hương Chữ", "480", HTR, "46", "19759", "Phường Kim Trà", Town),
    w("19762", "Xã Bình Điền", "480", HTR, "46", "19762", "Xã Bình Điền", Rural),
    // Huyện Quảng Điền (477).
    w("19855", "Thị trấn Sịa", "477", QD, "46", "19855", "Xã Quảng Điền", Town),
    w("19858", "Xã Quảng Phước", "477", QD, "46", "19855", "Xã Quảng Điền", Rural),
    w("19861", "Xã Quảng Thái", "477", QD, "46", "19861", "Xã Đan Điền", Rural),
    // Huyện Phú Vang (478).
    w("19867", "Thị trấn Phú Đa", "478", PV, "46", "19867", "Xã Phú Vinh", Town),
    w("19870", "Xã Phú Mỹ", "478", PV, "46", "19870", "Xã Phú Hồ", Rural),
    w("19873", "Xã Vinh Thanh", "478", PV, "46", "19867", "Xã Phú Vinh", Rural),
    w("19876", "Xã Phú Diên", "478", PV, "46", "19876", "Xã Phú Vang", Rural),
    // Thị xã Hương Thủy (479).
    w("19900", "Phường Phú Bài", "479", HT, "46", "19900", "Phường Phú Bài", Town),
    w("19903", "Phường Thủy Dương", "479", HT, "46", "19903", "Phường Hương Thủy", Town),
    w("19906", "Phường Thủy Phương", "479", HT, "46", "19906", "Phường Thanh Thủy", Town),
    w("19909", "Phường Thủy Châu", "479", HT, "46", "19900", "Phường Phú Bài", Town),
    // Huyện A Lưới (481), highland.
    hl(w("19918", "Thị trấn A Lưới", "481", AL, "46", "19918", "Xã A Lưới 3", Town)),
    hl(w("19921", "Xã Hồng Kim", "481", AL, "46", "19921", "Xã A Lưới 1", Rural)),
    hl(w("19924", "Xã Hồng Thượng", "481", AL, "46", "19924", "Xã A Lưới 2", Rural)),
    hl(w("19927", "Xã A Ngo", "481", AL, "46", "19918", "Xã A Lưới 3", Rural)),
    hl(w("19930", "Xã Hương Nguyên", "481", AL, "46", "19930", "Xã A Lưới 5", Rural)),
    hl(w("19933", "Xã Lâm Đớt", "481", AL, "46", "19933", "Xã A Lưới 4", Rural)),
    // Huyện Phú Lộc (482).
    w("19960", "Thị trấn Phú Lộc", "482", PL, "46", "19960", "Xã Phú Lộc", Town),
    w("19963", "Thị trấn Lăng Cô", "482", PL, "46", "19963", "Xã Chân Mây - Lăng Cô", Town),
    w("19966", "Xã Lộc An", "482", PL, "46", "19966", "Xã Lộc An", Rural),
    w("19969", "Xã Vinh Hưng", "482", PL, "46", "19969", "Xã Vinh Lộc", Rural),
    w("19972", "Xã Lộc Bổn", "482", PL, "46", "19972", "Xã Hưng Lộc", Rural),
    // Huyện Nam Đông (483), highland.
    hl(w("19981", "Thị trấn Khe Tre", "483", ND, "46", "19981", "Xã Khe Tre", Town)),
    hl(w("19984", "Xã Thượng Long", "483", ND, "46", "19984", "Xã Nam Đông", Rural)),
    hl(w("19987", "Xã Hương Phú", "483", ND, "46", "19987", "Xã Long Quảng", Rural)),
    // Hà Nội (01).
    w("00004", "Phường Trúc Bạch", "001", "Quận Ba Đình", "01", "00004", "Phường Ba Đình", City),
    w("00008", "Phường Liễu Giai", "001", "Quận Ba Đình", "01", "00008", "Phường Ngọc Hà", City),
    w("00028", "Phường Kim Mã", "001", "Quận Ba Đình", "01", "00028", "Phường Giảng Võ", City),
    w("00049", "Phường Hàng Đào", "002", "Quận Hoàn Kiếm", "01", "00049", "Phường Hoàn Kiếm", City),
    w("00070", "Phường Tràng Tiền", "002", "Quận Hoàn Kiếm", "01", "00049", "Phường Hoàn Kiếm", City),
    w("00157", "Phường Nghĩa Đô", "005", "Quận Cầu Giấy", "01", "00157", "Phường Nghĩa Đô", City),
    w("00160", "Phường Dịch Vọng", "005", "Quận Cầu Giấy", "01", "00160", "Phường Cầu Giấy", City),
    w("00163", "Phường Dịch Vọng Hậu", "005", "Quận Cầu Giấy", "01", "00160", "Phường Cầu Giấy", City),
    w("00211", "Phường Văn Miếu", "006", "Quận Đống Đa", "01", "00211", "Phường Văn Miếu - Quốc Tử Giám", City),
    w("00226", "Phường Kim Liên", "006", "Quận Đống Đa", "01", "00226", "Phường Kim Liên", City),
    w("10183", "Xã Đông Xuân", "275", "Huyện Quốc Oai", "01", "10183", "Xã Quốc Oai", Rural),
    // TP Hồ Chí Minh (79).
    w("26734", "Phường Tân Định", "760", "Quận 1", "79", "26734", "Phường Tân Định", City),
    w("26740", "Phường Bến Nghé", "760", "Quận 1", "79", "26740", "Phường Sài Gòn", City),
    w("26743", "Phường Bến Thành", "760", "Quận 1", "79", "26743", "Phường Bến Thành", City),
    w("27139", "Phường Võ Thị Sáu", "770", "Quận 3", "79", "27139", "Phường Xuân Hòa", City),
    w("27484", "Phường Tân Phong", "778", "Quận 7", "79", "27484", "Phường Tân Mỹ", City),
    w("26794", "Phường Thảo Điền", "769", "Thành phố Thủ Đức", "79", "26794", "Phường An Khánh", City),
    w("26800", "Phường An Phú", "769", "Thành phố Thủ Đức", "79", "26794", "Phường An Khánh", City),
    w("27496", "Thị trấn Củ Chi", "783", "Huyện Củ Chi", "79", "27496", "Xã Củ Chi", Town),
    // Đà Nẵng (48).
    w("20227", "Phường Thạch Thang", "492", "Quận Hải Châu", "48", "20227", "Phường Hải Châu", City),
    w("20236", "Phường Hải Châu I", "492", "Quận Hải Châu", "48", "20227", "Phường Hải Châu", City),
    w("20263", "Phường Hòa Cường Bắc", "492", "Quận Hải Châu", "48", "20263", "Phường Hòa Cường", City),
    w("20275", "Phường An Hải Bắc", "493", "Quận Sơn Trà", "48", "20275", "Phường An Hải", City),
    w("20284", "Phường Phước Mỹ", "493", "Quận Sơn Trà", "48", "20284", "Phường Sơn Trà", City),
    w("20197", "Phường Hòa Minh", "490", "Quận Liên Chiểu", "48", "20197", "Phường Hòa Khánh", City),
    w("20308", "Xã Hòa Phong", "497", "Huyện Hòa Vang", "48", "20308", "Xã Hòa Vang", Rural),
    // Quảng Trị (45).
    w("19267", "Phường 1", "461", "Thành phố Đông Hà", "45", "19267", "Phường Đông Hà", City),
    w("19279", "Phường 5", "461", "Thành phố Đông Hà", "45", "19279", "Phường Nam Đông Hà", City),
    w("19297", "Phường 2", "462", "Thị xã Quảng Trị", "45", "19297", "Phường Quảng Trị", Town),
    w("19312", "Thị trấn Hồ Xá", "464", "Huyện Vĩnh Linh", "45", "19312", "Xã Vĩnh Linh", Town),
    w("19570", "Thị trấn Diên Sanh", "468", "Huyện Hải Lăng", "45", "19570", "Xã Diên Sanh", Town),
    hl(w("19384", "Xã Hướng Phùng", "465", "Huyện Hướng Hóa", "45", "19384", "Xã Hướng Phùng", Rural)),
    // Quảng Nam (49).
    w("20335", "Phường An Mỹ", "502", "Thành phố Tam Kỳ", "49", "20335", "Phường Tam Kỳ", City),
    w("20344", "Phường Hòa Hương", "502", "Thành phố Tam Kỳ", "49", "20344", "Phường Hương Trà", City),
    w("20398", "Phường Minh An", "503", "Thành phố Hội An", "49", "20398", "Phường Hội An", City),
    w("20401", "Phường Cẩm Phô", "503", "Thành phố Hội An", "49", "20401", "Phường Hội An Tây", City),
    w("20575", "Phường Vĩnh Điện", "508", "Thị xã Điện Bàn", "49", "20575", "Phường Điện Bàn", Town),
    hl(w("20464", "Xã Lăng", "506", "Huyện Tây Giang", "49", "20464", "Xã Tây Giang", Rural)),
    // Nghệ An (40).
    w("16681", "Phường Lê Lợi", "412", "Thành phố Vinh", "40", "16681", "Phường Thành Vinh", City),
    w("16690", "Phường Hưng Bình", "412", "Thành phố Vinh", "40", "16681", "Phường Thành Vinh", City),
    w("16705", "Phường Bến Thủy", "412", "Thành phố Vinh", "40", "16705", "Phường Trường Vinh", City),
    w("17110", "Thị trấn Diễn Châu", "425", "Huyện Diễn Châu", "40", "17110", "Xã Diễn Châu", Town),
    w("17377", "Xã Nghi Phong", "430", "Huyện Nghi Lộc", "40", "17377", "Xã Nghi Lộc", Rural),
    hl(w("16774", "Xã Châu Kim", "417", "Huyện Quế Phong", "40", "16774", "Xã Quế Phong", Rural)),
];

/// A ward of [`WARDS`] by its old 5-digit code.
pub fn ward(code: &str) -> Option<&'static Ward> {
    WARDS.iter().find(|w| w.code == code)
}

/// A full address in both schemes for a ward and a house/village detail.
pub fn address(ward: &Ward, detail: &str) -> Address {
    let province = province(ward.province_code);
    Address {
        detail: detail.to_owned(),
        ward_code: ward.code.to_owned(),
        ward_name: ward.name.to_owned(),
        district_code: ward.district_code.to_owned(),
        district_name: ward.district_name.to_owned(),
        province_code: ward.province_code.to_owned(),
        province_name: province.map(|p| p.name.to_owned()).unwrap_or_default(),
        new_province_code: province.map(|p| p.new_code.to_owned()).unwrap_or_default(),
        new_province_name: province.map(|p| p.new_name.to_owned()).unwrap_or_default(),
        new_commune_code: ward.new_commune_code.to_owned(),
        new_commune_name: ward.new_commune_name.to_owned(),
        country: "VN".to_owned(),
    }
}

/// An address that knows only its province (both schemes).
pub fn province_address(province: &Province, detail: &str) -> Address {
    Address {
        detail: detail.to_owned(),
        province_code: province.code.to_owned(),
        province_name: province.name.to_owned(),
        new_province_code: province.new_code.to_owned(),
        new_province_name: province.new_name.to_owned(),
        ..Address::default()
    }
}

/// Fills the names and the new scheme of an address from its ward code (when it is one of
/// [`WARDS`]) or its province code, leaving what is already set alone.
pub fn complete_address(a: &mut Address) {
    fn fill(slot: &mut String, value: &str) {
        if slot.is_empty() {
            value.clone_into(slot);
        }
    }
    if let Some(wd) = ward(&a.ward_code) {
        let full = address(wd, "");
        fill(&mut a.ward_name, &full.ward_name);
        fill(&mut a.district_code, &full.district_code);
        fill(&mut a.district_name, &full.district_name);
        fill(&mut a.province_code, &full.province_code);
        fill(&mut a.new_commune_code, &full.new_commune_code);
        fill(&mut a.new_commune_name, &full.new_commune_name);
    }
    if let Some(pr) = province(&a.province_code) {
        fill(&mut a.province_name, pr.name);
        fill(&mut a.new_province_code, pr.new_code);
        fill(&mut a.new_province_name, pr.new_name);
    }
    if a.country.is_empty() {
        a.country = "VN".to_owned();
    }
}

/// Streets used for city addresses of a province (old code).
pub(crate) fn streets(province_code: &str) -> &'static [&'static str] {
    match province_code {
        "46" => &[
            "Lê Lợi",
            "Hùng Vương",
            "Trần Hưng Đạo",
            "Nguyễn Huệ",
            "Bến Nghé",
            "Đống Đa",
            "Lý Thường Kiệt",
            "Nguyễn Trãi",
            "Phan Đình Phùng",
            "Điện Biên Phủ",
            "Trường Chinh",
            "Bà Triệu",
            "Phạm Văn Đồng",
            "Tố Hữu",
            "Nguyễn Sinh Cung",
            "Lê Duẩn",
            "Chi Lăng",
            "Mai Thúc Loan",
            "Đinh Tiên Hoàng",
            "Kim Long",
            "Ngự Bình",
            "Nguyễn Tri Phương",
            "Hai Bà Trưng",
            "Võ Thị Sáu",
            "Chu Văn An",
            "Phạm Ngũ Lão",
            "Lê Thánh Tôn",
            "Phan Chu Trinh",
            "Nguyễn Công Trứ",
            "An Dương Vương",
            "Bùi Thị Xuân",
            "Huyền Trân Công Chúa",
            "Nguyễn Lộ Trạch",
            "Dương Văn An",
        ],
        "01" => &[
            "Hàng Đào",
            "Tràng Tiền",
            "Kim Mã",
            "Liễu Giai",
            "Cầu Giấy",
            "Xuân Thủy",
            "Trần Duy Hưng",
            "Nguyễn Chí Thanh",
            "Đội Cấn",
            "Láng Hạ",
            "Tôn Đức Thắng",
            "Khâm Thiên",
            "Giải Phóng",
            "Hoàng Quốc Việt",
            "Quán Thánh",
            "Văn Miếu",
        ],
        "79" => &[
            "Nguyễn Huệ",
            "Lê Lợi",
            "Đồng Khởi",
            "Hai Bà Trưng",
            "Pasteur",
            "Nam Kỳ Khởi Nghĩa",
            "Điện Biên Phủ",
            "Võ Văn Tần",
            "Cách Mạng Tháng Tám",
            "Nguyễn Thị Minh Khai",
            "Xa lộ Hà Nội",
            "Nguyễn Văn Linh",
            "Thảo Điền",
            "Huỳnh Tấn Phát",
        ],
        "48" => &[
            "Bạch Đằng",
            "Trần Phú",
            "Lê Duẩn",
            "Nguyễn Văn Linh",
            "Hùng Vương",
            "Phan Châu Trinh",
            "Ngô Quyền",
            "Võ Nguyên Giáp",
            "Hoàng Sa",
            "Nguyễn Tất Thành",
            "2 Tháng 9",
        ],
        "45" => &[
            "Hùng Vương",
            "Lê Duẩn",
            "Trần Hưng Đạo",
            "Nguyễn Huệ",
            "Lê Lợi",
            "Quốc lộ 9",
        ],
        "49" => &[
            "Phan Châu Trinh",
            "Hùng Vương",
            "Trần Hưng Đạo",
            "Nguyễn Thái Học",
            "Lê Lợi",
            "Phan Bội Châu",
        ],
        "40" => &[
            "Quang Trung",
            "Lê Lợi",
            "Nguyễn Du",
            "Trường Thi",
            "Nguyễn Văn Cừ",
            "Lê Hồng Phong",
            "Phan Bội Châu",
        ],
        _ => &["Lê Lợi", "Trần Hưng Đạo", "Nguyễn Huệ"],
    }
}

/// Village names for rural addresses.
pub(crate) const VILLAGES: &[&str] = &[
    "Phú Lễ",
    "An Lỗ",
    "Thanh Hà",
    "Đông Lâm",
    "Vân Trình",
    "Thủy Lập",
    "Phước Yên",
    "Mỹ Xá",
    "Lại Ân",
    "Bao Vinh",
    "La Chữ",
    "Thế Lại",
    "Dương Nỗ",
    "Vĩnh Xương",
    "An Truyền",
];

/// Village names of highland communes.
pub(crate) const HIGHLAND_VILLAGES: &[&str] = &[
    "A Tin",
    "Pa Ring",
    "Ka Nôn",
    "A Hố",
    "Tà Lưng",
    "Căn Sâm",
    "Pa E",
    "A Đớt",
    "Ta Lay",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_consistent() {
        let mut codes: Vec<_> = PROVINCES.iter().map(|p| p.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 63);
        let mut new: Vec<_> = PROVINCES.iter().map(|p| p.new_code).collect();
        new.sort_unstable();
        new.dedup();
        assert_eq!(new.len(), 34);
        let mut wards: Vec<_> = WARDS.iter().map(|w| w.code).collect();
        wards.sort_unstable();
        wards.dedup();
        assert_eq!(wards.len(), WARDS.len(), "ward codes are unique");
        for wd in WARDS {
            assert!(province(wd.province_code).is_some(), "{}", wd.name);
            assert_eq!(wd.code.len(), 5);
            // One new commune code, one name.
            for other in WARDS {
                if other.new_commune_code == wd.new_commune_code {
                    assert_eq!(other.new_commune_name, wd.new_commune_name);
                    assert_eq!(other.province_code, wd.province_code);
                }
            }
        }
        assert_eq!(
            address(ward("19807").unwrap(), "12 Lê Lợi").full_text(),
            "12 Lê Lợi, Phường Phú Hội, Thành phố Huế, Tỉnh Thừa Thiên Huế"
        );
        assert_eq!(province("046").unwrap().new_name, "Thành phố Huế");
    }
}
