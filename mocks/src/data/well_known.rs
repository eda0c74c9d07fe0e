//! Well-known records: the same in every seed, listed first, documented in docs/mock-data.md so that
//! READMEs, demos and tests of every module can name them.

use super::codes;
use super::model::{
    Address, BusinessLine, Citizen, CodeName, Date, Enterprise, Household, Relative,
    Representative, Sex,
};
use super::places;

/// Nguyễn Văn An: male, born 1990-03-15 in Huế, married to [`CITIZEN_NGOC`], old id [`AN_OLD_ID`].
pub const CITIZEN_AN: &str = "046090001234";
/// Old id (CMND) of [`CITIZEN_AN`].
pub const AN_OLD_ID: &str = "191234567";
/// Trần Thị Bích Ngọc: female, born 1995-07-20, wife of [`CITIZEN_AN`], no old id.
pub const CITIZEN_NGOC: &str = "046195004321";
/// Nguyễn Minh Khôi: male, born 2020-09-02, son of [`CITIZEN_AN`] and [`CITIZEN_NGOC`].
pub const CITIZEN_KHOI: &str = "046220012345";
/// Lê Minh Khoa: male, born 2001-01-01 in TP Hồ Chí Minh (G=2), single.
pub const CITIZEN_KHOA: &str = "079201000111";
/// Nguyễn Thị Thu Hà: female, born 2005-11-20 (G=3), a student, single; lives in a dormitory.
pub const CITIZEN_HA: &str = "046305000999";
/// Đặng Đức Thọ: male, born 1945-05-19, deceased, widowed; old id [`THO_OLD_ID`].
pub const CITIZEN_THO_DECEASED: &str = "046045000777";
/// Old id (CMND) of [`CITIZEN_THO_DECEASED`].
pub const THO_OLD_ID: &str = "190123456";
/// Hồ Thị Xuân: female, Tà Ôi, born 1938, only the year known (`birth_year_only`), A Lưới.
pub const CITIZEN_XUAN_YEAR_ONLY: &str = "046138000555";
/// Phạm Quốc Hưng: male, born 1980-11-02 in Hà Nội, married (spouse outside the data set);
/// sole representative of [`ENTERPRISE_ONE_REP`].
pub const CITIZEN_HUNG: &str = "001080012345";
/// Võ Thị Mỹ Linh: female, born 1980-02-14 in TP Hồ Chí Minh; chair of [`ENTERPRISE_THREE_REPS`].
pub const CITIZEN_LINH: &str = "079180004567";
/// Huỳnh Tấn Lộc: male, born 1975-08-30 in TP Hồ Chí Minh; CEO of [`ENTERPRISE_THREE_REPS`].
pub const CITIZEN_LOC: &str = "079075001122";
/// Trương Công Định: male, born 1972-06-10, married to [`CITIZEN_HONG`], Hương Thủy.
pub const CITIZEN_DINH: &str = "046072003456";
/// Lê Thị Hồng: female, born 1978-12-01, wife of [`CITIZEN_DINH`].
pub const CITIZEN_HONG: &str = "046178002345";

/// An enterprise (TNHH một thành viên, Hà Nội) with exactly one representative.
pub const ENTERPRISE_ONE_REP: &str = "0100233488";
/// A joint-stock company (TP Hồ Chí Minh) with three representatives.
pub const ENTERPRISE_THREE_REPS: &str = "0314409058";
/// The Huế branch of [`ENTERPRISE_THREE_REPS`].
pub const ENTERPRISE_BRANCH: &str = "0314409058-002";
/// A dissolved sole proprietorship in Huế.
pub const ENTERPRISE_DISSOLVED: &str = "3301234568";
/// A suspended two-member limited company in Hương Thủy with two representatives.
pub const ENTERPRISE_SUSPENDED: &str = "3300567892";

fn ward_address(code: &str, detail: &str) -> Address {
    places::ward(code)
        .map(|w| places::address(w, detail))
        .unwrap_or_default()
}

fn relative(full_name: &str, personal_id: Option<&str>, old_id: Option<&str>) -> Option<Relative> {
    Some(Relative {
        full_name: full_name.to_owned(),
        personal_id: personal_id.map(str::to_owned),
        old_id: old_id.map(str::to_owned),
        nationality: "VN".to_owned(),
    })
}

fn code_name(table: &[(&str, &'static str)], code: &str) -> CodeName {
    CodeName::new(code, codes::name_of(table, code).unwrap_or_default())
}

struct Base<'a> {
    id: &'a str,
    old_id: Option<&'a str>,
    name: (&'a str, &'a str, &'a str),
    sex: Sex,
    born: Date,
    birth_ward: &'a str,
    hometown_ward: &'a str,
    home_ward: &'a str,
    home_detail: &'a str,
    household: (&'a str, &'a str, &'a str),
}

fn base(b: Base<'_>) -> Citizen {
    let home = ward_address(b.home_ward, b.home_detail);
    Citizen {
        personal_id: b.id.to_owned(),
        old_id: b.old_id.map(str::to_owned),
        family_name: b.name.0.to_owned(),
        middle_name: b.name.1.to_owned(),
        given_name: b.name.2.to_owned(),
        sex: b.sex,
        date_of_birth: b.born,
        birth_year_only: false,
        ethnicity: code_name(codes::ETHNICITIES, "01"),
        religion: code_name(codes::RELIGIONS, "00"),
        nationality: "VN".to_owned(),
        marital_status: 1,
        blood_group: None,
        birth_registration: ward_address(b.birth_ward, ""),
        hometown: ward_address(b.hometown_ward, ""),
        permanent_address: home.clone(),
        current_address: home,
        father: None,
        mother: None,
        spouse: None,
        household: Household {
            number: b.household.0.to_owned(),
            head_id: b.household.1.to_owned(),
            relation_to_head: b.household.2.to_owned(),
        },
        status: "alive".to_owned(),
    }
}

/// The well-known citizens, in documented order.
pub fn citizens() -> Vec<Citizen> {
    let mut an = base(Base {
        id: CITIZEN_AN,
        old_id: Some(AN_OLD_ID),
        name: ("Nguyễn", "Văn", "An"),
        sex: Sex::Male,
        born: Date::new(1990, 3, 15),
        birth_ward: "19807",
        hometown_ward: "19870",
        home_ward: "19807",
        home_detail: "12 Lê Lợi",
        household: ("460001234", CITIZEN_AN, "Chủ hộ"),
    });
    an.religion = code_name(codes::RELIGIONS, "01");
    an.blood_group = Some("O".to_owned());
    an.father = relative("Nguyễn Văn Hùng", Some("046060002222"), Some("190222333"));
    an.mother = relative("Lê Thị Mai", Some("046162003333"), None);

    let mut ngoc = base(Base {
        id: CITIZEN_NGOC,
        old_id: None,
        name: ("Trần", "Thị Bích", "Ngọc"),
        sex: Sex::Female,
        born: Date::new(1995, 7, 20),
        birth_ward: "19804",
        hometown_ward: "19858",
        home_ward: "19807",
        home_detail: "12 Lê Lợi",
        household: ("460001234", CITIZEN_AN, "Vợ"),
    });
    ngoc.religion = code_name(codes::RELIGIONS, "01");
    ngoc.blood_group = Some("A".to_owned());
    ngoc.father = relative("Trần Văn Phúc", Some("046065004444"), None);
    ngoc.mother = relative("Phạm Thị Lan", Some("046168005555"), None);

    an.marital_status = 2;
    ngoc.marital_status = 2;
    an.spouse = Some(ngoc.as_relative());
    ngoc.spouse = Some(an.as_relative());

    let mut khoi = base(Base {
        id: CITIZEN_KHOI,
        old_id: None,
        name: ("Nguyễn", "Minh", "Khôi"),
        sex: Sex::Male,
        born: Date::new(2020, 9, 2),
        birth_ward: "19807",
        hometown_ward: "19870",
        home_ward: "19807",
        home_detail: "12 Lê Lợi",
        household: ("460001234", CITIZEN_AN, "Con"),
    });
    khoi.religion = code_name(codes::RELIGIONS, "01");
    khoi.father = Some(an.as_relative());
    khoi.mother = Some(ngoc.as_relative());

    let mut khoa = base(Base {
        id: CITIZEN_KHOA,
        old_id: None,
        name: ("Lê", "Minh", "Khoa"),
        sex: Sex::Male,
        born: Date::new(2001, 1, 1),
        birth_ward: "26734",
        hometown_ward: "26734",
        home_ward: "26734",
        home_detail: "45/7 Hai Bà Trưng",
        household: ("790000111", CITIZEN_KHOA, "Chủ hộ"),
    });
    khoa.blood_group = Some("B".to_owned());
    khoa.father = relative("Lê Văn Thành", Some("079070006666"), Some("022111222"));
    khoa.mother = relative("Huỳnh Thị Kim Hoa", Some("079172007777"), None);

    let mut ha = base(Base {
        id: CITIZEN_HA,
        old_id: None,
        name: ("Nguyễn", "Thị Thu", "Hà"),
        sex: Sex::Female,
        born: Date::new(2005, 11, 20),
        birth_ward: "19870",
        hometown_ward: "19870",
        home_ward: "19870",
        home_detail: "Thôn 3",
        household: ("460000999", "046070005678", "Con"),
    });
    ha.current_address = ward_address("19804", "Ký túc xá Trường Đại học Khoa học, 77 Nguyễn Huệ");
    ha.father = relative("Nguyễn Văn Bình", Some("046070005678"), Some("191000888"));
    ha.mother = relative("Hoàng Thị Lan", Some("046173008888"), None);

    let mut tho = base(Base {
        id: CITIZEN_THO_DECEASED,
        old_id: Some(THO_OLD_ID),
        name: ("Đặng", "Đức", "Thọ"),
        sex: Sex::Male,
        born: Date::new(1945, 5, 19),
        birth_ward: "19798",
        hometown_ward: "19798",
        home_ward: "19798",
        home_detail: "25 Kim Long",
        household: ("460000777", CITIZEN_THO_DECEASED, "Chủ hộ"),
    });
    tho.marital_status = 4;
    tho.religion = code_name(codes::RELIGIONS, "01");
    tho.status = "deceased".to_owned();
    tho.father = relative("Đặng Đức Hạnh", None, None);
    tho.mother = relative("Tôn Nữ Thị Cúc", None, None);

    let mut xuan = base(Base {
        id: CITIZEN_XUAN_YEAR_ONLY,
        old_id: None,
        name: ("Hồ", "Thị", "Xuân"),
        sex: Sex::Female,
        born: Date::new(1938, 1, 1),
        birth_ward: "19921",
        hometown_ward: "19921",
        home_ward: "19921",
        home_detail: "Thôn A Tin",
        household: ("460000555", CITIZEN_XUAN_YEAR_ONLY, "Chủ hộ"),
    });
    xuan.birth_year_only = true;
    xuan.ethnicity = code_name(codes::ETHNICITIES, "31");
    xuan.marital_status = 4;
    xuan.father = relative("Hồ Văn Pả", None, None);
    xuan.mother = relative("Kăn Thị Ly", None, None);

    let mut hung = base(Base {
        id: CITIZEN_HUNG,
        old_id: Some("012345678"),
        name: ("Phạm", "Quốc", "Hưng"),
        sex: Sex::Male,
        born: Date::new(1980, 11, 2),
        birth_ward: "00049",
        hometown_ward: "10183",
        home_ward: "00163",
        home_detail: "18 Xuân Thủy",
        household: ("010012345", CITIZEN_HUNG, "Chủ hộ"),
    });
    hung.marital_status = 2;
    hung.blood_group = Some("AB".to_owned());
    hung.spouse = relative("Đỗ Thu Trang", Some("001185006789"), None);
    hung.father = relative("Phạm Văn Tiến", Some("001052001111"), Some("010203040"));
    hung.mother = relative("Vũ Thị Hạnh", Some("001155002222"), None);

    let mut linh = base(Base {
        id: CITIZEN_LINH,
        old_id: Some("023456789"),
        name: ("Võ", "Thị Mỹ", "Linh"),
        sex: Sex::Female,
        born: Date::new(1980, 2, 14),
        birth_ward: "27139",
        hometown_ward: "20398",
        home_ward: "26794",
        home_detail: "9 Thảo Điền",
        household: ("790004567", "079078003344", "Vợ"),
    });
    linh.marital_status = 2;
    linh.religion = code_name(codes::RELIGIONS, "02");
    linh.spouse = relative("Trần Quốc Bảo", Some("079078003344"), None);
    linh.father = relative("Võ Văn Sáu", Some("079050003355"), None);
    linh.mother = relative("Phan Thị Mỹ", Some("079153003366"), None);

    let mut loc = base(Base {
        id: CITIZEN_LOC,
        old_id: Some("022334455"),
        name: ("Huỳnh", "Tấn", "Lộc"),
        sex: Sex::Male,
        born: Date::new(1975, 8, 30),
        birth_ward: "26740",
        hometown_ward: "20335",
        home_ward: "27484",
        home_detail: "120 Huỳnh Tấn Phát",
        household: ("790001122", CITIZEN_LOC, "Chủ hộ"),
    });
    loc.marital_status = 2;
    loc.spouse = relative("Nguyễn Thị Kim Oanh", Some("079180009911"), None);
    loc.father = relative("Huỳnh Tấn Tài", Some("079048009922"), None);
    loc.mother = relative("Lê Thị Năm", None, None);

    let mut dinh = base(Base {
        id: CITIZEN_DINH,
        old_id: Some("191122334"),
        name: ("Trương", "Công", "Định"),
        sex: Sex::Male,
        born: Date::new(1972, 6, 10),
        birth_ward: "19900",
        hometown_ward: "19903",
        home_ward: "19900",
        home_detail: "Số 8 Nguyễn Tất Thành",
        household: ("460003456", CITIZEN_DINH, "Chủ hộ"),
    });
    dinh.father = relative("Trương Công Lý", Some("046045009933"), None);
    dinh.mother = relative("Ngô Thị Tư", None, None);
    let mut hong = base(Base {
        id: CITIZEN_HONG,
        old_id: None,
        name: ("Lê", "Thị", "Hồng"),
        sex: Sex::Female,
        born: Date::new(1978, 12, 1),
        birth_ward: "19906",
        hometown_ward: "19906",
        home_ward: "19900",
        home_detail: "Số 8 Nguyễn Tất Thành",
        household: ("460003456", CITIZEN_DINH, "Vợ"),
    });
    hong.father = relative("Lê Văn Cẩn", Some("046050009944"), None);
    hong.mother = relative("Trần Thị Gái", None, None);
    dinh.marital_status = 2;
    hong.marital_status = 2;
    dinh.spouse = Some(hong.as_relative());
    hong.spouse = Some(dinh.as_relative());

    vec![
        an, ngoc, khoi, khoa, ha, tho, xuan, hung, linh, loc, dinh, hong,
    ]
}

fn representative(c: &Citizen, position: &str) -> Representative {
    Representative {
        full_name: c.full_name(),
        gender_id: c.sex.code(),
        doc_no: c.personal_id.clone(),
        doc_name: "Căn cước công dân".to_owned(),
        date_of_birth: c.date_of_birth,
        nationality: "Việt Nam".to_owned(),
        position: position.to_owned(),
    }
}

fn lines(codes_main_first: &[&str]) -> Vec<BusinessLine> {
    codes_main_first
        .iter()
        .enumerate()
        .map(|(i, c)| BusinessLine {
            code: (*c).to_owned(),
            name: codes::vsic_name(c).unwrap_or_default().to_owned(),
            is_main: i == 0,
        })
        .collect()
}

struct EBase<'a> {
    id: &'a str,
    code: &'a str,
    name: &'a str,
    status: &'a str,
    kind: &'a str,
    founded: Date,
    ward: &'a str,
    detail: &'a str,
}

fn ebase(b: EBase<'_>) -> Enterprise {
    Enterprise {
        id: b.id.to_owned(),
        code: b.code.to_owned(),
        gdt_code: b.code.to_owned(),
        name: b.name.to_owned(),
        name_foreign: None,
        short_name: None,
        status_id: b.status.to_owned(),
        status_name: codes::name_of(codes::ENTERPRISE_STATUSES, b.status)
            .unwrap_or_default()
            .to_owned(),
        type_id: b.kind.to_owned(),
        type_name: codes::name_of(codes::ENTERPRISE_TYPES, b.kind)
            .unwrap_or_default()
            .to_owned(),
        founding_date: b.founded,
        last_amend_date: None,
        capital_vnd: 0,
        number_changes: 0,
        address: ward_address(b.ward, b.detail),
        representatives: Vec::new(),
        business_lines: Vec::new(),
    }
}

/// The well-known enterprises, in documented order; representatives come from `citizens`.
pub fn enterprises(citizens: &[Citizen]) -> Vec<Enterprise> {
    let person = |id: &str| citizens.iter().find(|c| c.personal_id == id);
    let rep = |id: &str, position: &str| person(id).map(|c| representative(c, position));

    let mut one = ebase(EBase {
        id: "1000233",
        code: ENTERPRISE_ONE_REP,
        name: "CÔNG TY TNHH MỘT THÀNH VIÊN GIẢI PHÁP SỐ THĂNG LONG",
        status: "1",
        kind: "2",
        founded: Date::new(2008, 4, 10),
        ward: "00163",
        detail: "Số 18 Xuân Thủy",
    });
    one.name_foreign = Some("THANG LONG DIGITAL SOLUTIONS COMPANY LIMITED".to_owned());
    one.short_name = Some("THANG LONG DIGITAL CO., LTD".to_owned());
    one.capital_vnd = 5_000_000_000;
    one.number_changes = 4;
    one.last_amend_date = Some(Date::new(2023, 6, 12));
    one.representatives = rep(CITIZEN_HUNG, "Giám đốc").into_iter().collect();
    one.business_lines = lines(&["6201", "6202", "6209", "6311"]);

    let mut three = ebase(EBase {
        id: "3144090",
        code: ENTERPRISE_THREE_REPS,
        name: "CÔNG TY CỔ PHẦN LỮ HÀNH CỐ ĐÔ XANH",
        status: "1",
        kind: "4",
        founded: Date::new(2017, 3, 2),
        ward: "26740",
        detail: "Số 45 Đồng Khởi",
    });
    three.name_foreign = Some("CO DO XANH TRAVEL JOINT STOCK COMPANY".to_owned());
    three.short_name = Some("CO DO XANH TRAVEL JSC".to_owned());
    three.capital_vnd = 30_000_000_000;
    three.number_changes = 6;
    three.last_amend_date = Some(Date::new(2024, 11, 5));
    three.representatives = [
        rep(CITIZEN_LINH, "Chủ tịch Hội đồng quản trị"),
        rep(CITIZEN_LOC, "Tổng giám đốc"),
        rep(CITIZEN_AN, "Phó Tổng giám đốc"),
    ]
    .into_iter()
    .flatten()
    .collect();
    three.business_lines = lines(&["7912", "7911", "7990", "55101", "56101"]);

    let mut branch = ebase(EBase {
        id: "3144091",
        code: ENTERPRISE_BRANCH,
        name: "CHI NHÁNH HUẾ - CÔNG TY CỔ PHẦN LỮ HÀNH CỐ ĐÔ XANH",
        status: "1",
        kind: "9",
        founded: Date::new(2019, 5, 16),
        ward: "19807",
        detail: "Số 7 Phạm Ngũ Lão",
    });
    branch.representatives = rep(CITIZEN_AN, "Giám đốc chi nhánh").into_iter().collect();
    branch.business_lines = lines(&["7912", "55101"]);

    let mut dissolved = ebase(EBase {
        id: "3012345",
        code: ENTERPRISE_DISSOLVED,
        name: "DOANH NGHIỆP TƯ NHÂN MỸ NGHỆ KIM LONG",
        status: "3",
        kind: "1",
        founded: Date::new(2004, 9, 20),
        ward: "19798",
        detail: "Số 25 Kim Long",
    });
    dissolved.capital_vnd = 800_000_000;
    dissolved.number_changes = 2;
    dissolved.last_amend_date = Some(Date::new(2022, 12, 30));
    dissolved.representatives = rep(CITIZEN_THO_DECEASED, "Chủ doanh nghiệp")
        .into_iter()
        .collect();
    dissolved.business_lines = lines(&["1629", "4719"]);

    let mut suspended = ebase(EBase {
        id: "3005678",
        code: ENTERPRISE_SUSPENDED,
        name: "CÔNG TY TNHH VẬN TẢI PHÚ BÀI",
        status: "2",
        kind: "3",
        founded: Date::new(2012, 8, 8),
        ward: "19900",
        detail: "Số 150 Nguyễn Tất Thành",
    });
    suspended.capital_vnd = 3_500_000_000;
    suspended.number_changes = 3;
    suspended.last_amend_date = Some(Date::new(2025, 3, 17));
    suspended.representatives = [
        rep(CITIZEN_DINH, "Chủ tịch Hội đồng thành viên"),
        rep(CITIZEN_HONG, "Giám đốc"),
    ]
    .into_iter()
    .flatten()
    .collect();
    suspended.business_lines = lines(&["4933", "5229", "49321"]);

    vec![one, three, branch, dissolved, suspended]
}
