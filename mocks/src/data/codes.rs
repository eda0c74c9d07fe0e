//! Code tables: ethnicities, religions, enterprise types and statuses, VSIC business lines.

/// Ethnic groups used by the data set (official codes of the list of 54 groups).
pub const ETHNICITIES: &[(&str, &str)] = &[
    ("01", "Kinh"),
    ("02", "Tày"),
    ("03", "Thái"),
    ("04", "Hoa"),
    ("05", "Khmer"),
    ("06", "Mường"),
    ("07", "Nùng"),
    ("08", "Hmông"),
    ("09", "Dao"),
    ("10", "Gia Rai"),
    ("12", "Ê Đê"),
    ("13", "Ba Na"),
    ("14", "Xơ Đăng"),
    ("17", "Chăm"),
    ("23", "Bru-Vân Kiều"),
    ("26", "Cơ Tu"),
    ("29", "Khơ Mú"),
    ("31", "Tà Ôi"),
];

/// Religions (codes illustrative; "00" is none).
pub const RELIGIONS: &[(&str, &str)] = &[
    ("00", "Không"),
    ("01", "Phật giáo"),
    ("02", "Công giáo"),
    ("03", "Tin Lành"),
    ("04", "Cao Đài"),
    ("05", "Phật giáo Hòa Hảo"),
    ("06", "Hồi giáo"),
];

/// Enterprise types (ids illustrative).
pub const ENTERPRISE_TYPES: &[(&str, &str)] = &[
    ("1", "Doanh nghiệp tư nhân"),
    ("2", "Công ty trách nhiệm hữu hạn một thành viên"),
    ("3", "Công ty trách nhiệm hữu hạn hai thành viên trở lên"),
    ("4", "Công ty cổ phần"),
    ("5", "Công ty hợp danh"),
    ("9", "Chi nhánh"),
];

/// Enterprise statuses (ids illustrative).
pub const ENTERPRISE_STATUSES: &[(&str, &str)] = &[
    ("1", "Đang hoạt động"),
    ("2", "Tạm ngừng kinh doanh"),
    ("3", "Đã giải thể"),
    ("4", "Đang làm thủ tục giải thể"),
    ("5", "Bị thu hồi giấy chứng nhận đăng ký doanh nghiệp"),
];

/// Business lines of the Vietnamese Standard Industrial Classification (VSIC 2018) used here.
pub const VSIC: &[(&str, &str)] = &[
    ("0118", "Trồng rau, đậu các loại và trồng hoa"),
    ("0322", "Nuôi trồng thuỷ sản nội địa"),
    ("1079", "Sản xuất thực phẩm khác chưa được phân vào đâu"),
    ("1410", "May trang phục (trừ trang phục từ da lông thú)"),
    (
        "1629",
        "Sản xuất sản phẩm khác từ gỗ; sản xuất sản phẩm từ tre, nứa, rơm, rạ và vật liệu tết bện",
    ),
    ("4101", "Xây dựng nhà để ở"),
    ("4102", "Xây dựng nhà không để ở"),
    ("4212", "Xây dựng công trình đường bộ"),
    ("4299", "Xây dựng công trình kỹ thuật dân dụng khác"),
    ("4321", "Lắp đặt hệ thống điện"),
    ("4330", "Hoàn thiện công trình xây dựng"),
    ("4511", "Bán buôn ô tô và xe có động cơ khác"),
    ("4520", "Bảo dưỡng, sửa chữa ô tô và xe có động cơ khác"),
    (
        "4530",
        "Bán phụ tùng và các bộ phận phụ trợ của ô tô và xe có động cơ khác",
    ),
    (
        "4620",
        "Bán buôn nông, lâm sản nguyên liệu (trừ gỗ, tre, nứa) và động vật sống",
    ),
    ("4632", "Bán buôn thực phẩm"),
    ("4641", "Bán buôn vải, hàng may mặc, giày dép"),
    ("4659", "Bán buôn máy móc, thiết bị và phụ tùng máy khác"),
    (
        "4663",
        "Bán buôn vật liệu, thiết bị lắp đặt khác trong xây dựng",
    ),
    ("4690", "Bán buôn tổng hợp"),
    (
        "4711",
        "Bán lẻ lương thực, thực phẩm, đồ uống, thuốc lá, thuốc lào chiếm tỷ trọng lớn trong các cửa hàng kinh doanh tổng hợp",
    ),
    ("4719", "Bán lẻ khác trong các cửa hàng kinh doanh tổng hợp"),
    ("4722", "Bán lẻ thực phẩm trong các cửa hàng chuyên doanh"),
    (
        "4741",
        "Bán lẻ máy vi tính, thiết bị ngoại vi, phần mềm và thiết bị viễn thông trong các cửa hàng chuyên doanh",
    ),
    (
        "4771",
        "Bán lẻ hàng may mặc, giày dép, hàng da và giả da trong các cửa hàng chuyên doanh",
    ),
    ("4932", "Vận tải hành khách đường bộ khác"),
    ("49321", "Vận tải hành khách bằng taxi"),
    ("4933", "Vận tải hàng hóa bằng đường bộ"),
    (
        "49332",
        "Vận tải hàng hóa bằng ô tô loại khác (trừ ô tô chuyên dụng)",
    ),
    ("5210", "Kho bãi và lưu giữ hàng hóa"),
    (
        "5229",
        "Hoạt động dịch vụ hỗ trợ khác liên quan đến vận tải",
    ),
    ("5510", "Dịch vụ lưu trú ngắn ngày"),
    ("55101", "Khách sạn"),
    (
        "55103",
        "Nhà khách, nhà nghỉ kinh doanh dịch vụ lưu trú ngắn ngày",
    ),
    ("5610", "Nhà hàng và các dịch vụ ăn uống phục vụ lưu động"),
    ("56101", "Nhà hàng, quán ăn, hàng ăn uống"),
    ("5630", "Dịch vụ phục vụ đồ uống"),
    ("6201", "Lập trình máy vi tính"),
    (
        "6202",
        "Tư vấn máy vi tính và quản trị hệ thống máy vi tính",
    ),
    (
        "6209",
        "Hoạt động dịch vụ công nghệ thông tin và dịch vụ khác liên quan đến máy vi tính",
    ),
    ("6311", "Xử lý dữ liệu, cho thuê và các hoạt động liên quan"),
    (
        "6810",
        "Kinh doanh bất động sản, quyền sử dụng đất thuộc chủ sở hữu, chủ sử dụng hoặc đi thuê",
    ),
    (
        "6820",
        "Tư vấn, môi giới, đấu giá bất động sản, đấu giá quyền sử dụng đất",
    ),
    ("7020", "Hoạt động tư vấn quản lý"),
    (
        "7110",
        "Hoạt động kiến trúc và tư vấn kỹ thuật có liên quan",
    ),
    ("7310", "Quảng cáo"),
    ("7911", "Đại lý du lịch"),
    ("7912", "Điều hành tua du lịch"),
    (
        "7990",
        "Dịch vụ đặt chỗ và các dịch vụ hỗ trợ liên quan đến quảng bá và tổ chức tua du lịch",
    ),
    ("8230", "Tổ chức giới thiệu và xúc tiến thương mại"),
    ("8559", "Giáo dục khác chưa được phân vào đâu"),
    ("8560", "Dịch vụ hỗ trợ giáo dục"),
];

/// The name of a code in a table.
pub fn name_of(table: &[(&str, &'static str)], code: &str) -> Option<&'static str> {
    table.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// The VSIC name of a business-line code.
pub fn vsic_name(code: &str) -> Option<&'static str> {
    name_of(VSIC, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique() {
        for table in [
            ETHNICITIES,
            RELIGIONS,
            ENTERPRISE_TYPES,
            ENTERPRISE_STATUSES,
            VSIC,
        ] {
            let mut codes: Vec<_> = table.iter().map(|(c, _)| *c).collect();
            codes.sort_unstable();
            codes.dedup();
            assert_eq!(codes.len(), table.len());
        }
        assert!(VSIC.iter().all(|(c, _)| (4..=5).contains(&c.len())));
    }
}
