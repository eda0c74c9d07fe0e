//! Rendering the population database's replies, with the real system's quirks on purpose:
//! namespace prefixes that change between replies, absent relatives as empty elements or
//! `xsi:nil`, two address schemes, and a one-element list.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use crate::data::{Address, Citizen, Dataset, Date, Relative};
use crate::soap;

use super::request::Query;

/// How a reply spells its namespaces, chosen from the request id (`MaYeuCau`):
/// the first byte of `sha256(MaYeuCau)` modulo 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// 0: `S:` envelope, `ns3:` operation namespace, `ns2:` records declared on the wrapper.
    Ns2,
    /// 1: `soap:` envelope, default operation namespace, `dc:` records declared on the collection.
    Dc,
    /// 2: `soapenv:` envelope, `bca:` operation namespace, records in a default namespace.
    Default,
}

impl Style {
    /// The style of the reply to this request id.
    pub(crate) fn for_request(request_id: &str) -> Style {
        match Sha256::digest(request_id.as_bytes())[0] % 3 {
            0 => Style::Ns2,
            1 => Style::Dc,
            _ => Style::Default,
        }
    }

    fn env(self) -> &'static str {
        match self {
            Style::Ns2 => "S",
            Style::Dc => "soap",
            Style::Default => "soapenv",
        }
    }

    fn bca(self) -> &'static str {
        match self {
            Style::Ns2 => "ns3:",
            Style::Dc => "",
            Style::Default => "bca:",
        }
    }

    /// The namespace declarations on the response wrapper: the operations' namespace
    /// (`http://dancuquocgia.bca`) and, in the `ns2` style, the citizen records' namespace
    /// (`http://www.mic.gov.vn/dancu/1.0`), written out so that the reply is built with plain
    /// copies (a test checks them against the schemas' namespaces).
    fn wrapper_decl(self) -> &'static str {
        match self {
            Style::Ns2 => {
                " xmlns:ns3=\"http://dancuquocgia.bca\" xmlns:ns2=\"http://www.mic.gov.vn/dancu/1.0\""
            }
            Style::Dc => " xmlns=\"http://dancuquocgia.bca\"",
            Style::Default => " xmlns:bca=\"http://dancuquocgia.bca\"",
        }
    }

    /// The declarations on the verify reply's wrapper, which has no citizen records.
    fn verify_decl(self) -> &'static str {
        match self {
            Style::Ns2 => " xmlns:ns3=\"http://dancuquocgia.bca\"",
            _ => self.wrapper_decl(),
        }
    }

    fn dancu(self) -> &'static str {
        match self {
            Style::Ns2 => "ns2:",
            Style::Dc => "dc:",
            Style::Default => "",
        }
    }

    fn collection_decl(self) -> &'static str {
        match self {
            Style::Ns2 => "",
            Style::Dc => " xmlns:dc=\"http://www.mic.gov.vn/dancu/1.0\"",
            Style::Default => " xmlns=\"http://www.mic.gov.vn/dancu/1.0\"",
        }
    }
}

/// Appends elements with one prefix.
struct Writer<'a> {
    out: &'a mut String,
    p: &'static str,
}

// Plain `push_str`s rather than `write!`: the reply is a few hundred small pieces, and the
// formatting machinery costs more than the copies.
impl Writer<'_> {
    /// `{before}{prefix}{name}{after}`.
    fn tag(&mut self, before: &str, name: &str, after: &str) {
        self.out.push_str(before);
        self.out.push_str(self.p);
        self.out.push_str(name);
        self.out.push_str(after);
    }

    fn open(&mut self, name: &str) {
        self.tag("<", name, ">");
    }

    fn close(&mut self, name: &str) {
        self.tag("</", name, ">");
    }

    /// `<p:name>text</p:name>`, or `<p:name/>` when the text is empty.
    fn leaf(&mut self, name: &str, text: &str) {
        if text.is_empty() {
            self.tag("<", name, "/>");
        } else {
            soap::push_element(self.out, self.p, name, text);
        }
    }

    fn nil(&mut self, name: &str) {
        self.tag("<", name, " xsi:nil=\"true\"/>");
    }
}

/// Whether absent relatives of this citizen come as `xsi:nil="true"` (even digit sum of the
/// personal id) rather than as empty elements (odd).
pub(crate) fn absent_as_nil(personal_id: &str) -> bool {
    personal_id
        .bytes()
        .map(|b| u32::from(b.wrapping_sub(b'0')))
        .sum::<u32>()
        % 2
        == 0
}

/// Whether the current addresses (`ThuongTru`, `NoiOHienTai`) of this citizen use the post-2025
/// scheme `{MaDonViHanhChinh, ChiTiet, QuocGia}`: personal ids ending in an even digit.
pub(crate) fn new_address_scheme(personal_id: &str) -> bool {
    personal_id
        .bytes()
        .last()
        .is_some_and(|b| b.is_ascii_digit() && (b - b'0') % 2 == 0)
}

fn address(w: &mut Writer<'_>, name: &str, a: &Address, new_scheme: bool) {
    w.open(name);
    if new_scheme && !a.new_commune_code.is_empty() {
        w.leaf("MaDonViHanhChinh", &a.new_commune_code);
    } else {
        w.leaf("MaTinhThanh", &a.province_code);
        w.leaf("MaQuanHuyen", &a.district_code);
        w.leaf("MaPhuongXa", &a.ward_code);
    }
    w.leaf("ChiTiet", &a.detail);
    w.leaf("QuocGia", &a.country);
    w.close(name);
}

fn relative(w: &mut Writer<'_>, name: &str, r: Option<&Relative>, nil: bool) {
    match r {
        Some(r) => {
            w.open(name);
            w.leaf("HoVaTen", &r.full_name);
            w.leaf("QuocTich", &r.nationality);
            w.leaf("SoDinhDanh", r.personal_id.as_deref().unwrap_or(""));
            w.leaf("SoCMND", r.old_id.as_deref().unwrap_or(""));
            w.close(name);
        }
        None if nil => w.nil(name),
        None => w.leaf(name, ""),
    }
}

/// `TrangThaiCongDan`: 1 alive, 2 deceased, 3 missing.
fn status_code(status: &str) -> &'static str {
    match status {
        "deceased" => "2",
        "missing" => "3",
        _ => "1",
    }
}

/// A small code as decimal text, without an allocation for the usual one-digit codes.
fn code_text(code: u8) -> Cow<'static, str> {
    const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    match DIGITS.get(usize::from(code)) {
        Some(digit) => Cow::Borrowed(digit),
        None => Cow::Owned(code.to_string()),
    }
}

/// One `CongDan` record.
fn citizen(w: &mut Writer<'_>, c: &Citizen, data: &Dataset, today: Date) {
    let nil = absent_as_nil(&c.personal_id);
    let new_scheme = new_address_scheme(&c.personal_id);
    w.open("CongDan");
    w.leaf("SoDinhDanh", &c.personal_id);
    w.leaf("SoCMND", c.old_id.as_deref().unwrap_or(""));
    w.open("HoVaTen");
    w.leaf("Ho", &c.family_name);
    w.leaf("ChuDem", &c.middle_name);
    w.leaf("Ten", &c.given_name);
    w.close("HoVaTen");
    w.leaf("GioiTinh", &code_text(c.sex.code()));
    w.open("DanToc");
    w.leaf("MaDanToc", &c.ethnicity.code);
    w.leaf("TenGoiKhac", &c.ethnicity.name);
    w.close("DanToc");
    w.open("TonGiao");
    w.leaf("MaTonGiao", &c.religion.code);
    w.leaf("TenGoiKhac", &c.religion.name);
    w.close("TonGiao");
    w.leaf("QuocTich", &c.nationality);
    w.leaf("TinhTrangHonNhan", &code_text(c.marital_status));
    w.leaf("NhomMau", c.blood_group.as_deref().unwrap_or(""));
    let dob = if c.birth_year_only {
        format!("{:04}", c.date_of_birth.year)
    } else {
        c.date_of_birth.yyyymmdd()
    };
    w.leaf("NgayThangNamSinh", &dob);
    address(w, "NoiDangKyKhaiSinh", &c.birth_registration, false);
    address(w, "QueQuan", &c.hometown, false);
    address(w, "ThuongTru", &c.permanent_address, new_scheme);
    address(w, "NoiOHienTai", &c.current_address, new_scheme);
    relative(w, "Cha", c.father.as_ref(), nil);
    relative(w, "Me", c.mother.as_ref(), nil);
    relative(w, "VoChong", c.spouse.as_ref(), nil);
    // A parent represents a minor; age counted on the data set's reference date so that replies
    // stay the same from one day to the next.
    let representative = if c.age_on(&today) < 18 {
        c.father.as_ref().or(c.mother.as_ref())
    } else {
        None
    };
    relative(w, "NguoiDaiDien", representative, nil);
    w.open("ChuHo");
    w.leaf("QuanHe", &c.household.relation_to_head);
    let head = data.citizen(&c.household.head_id);
    w.leaf("HoVaTen", &head.map(Citizen::full_name).unwrap_or_default());
    w.leaf("SoDinhDanh", &c.household.head_id);
    w.leaf(
        "SoCMND",
        head.and_then(|h| h.old_id.as_deref()).unwrap_or(""),
    );
    w.close("ChuHo");
    w.leaf("SoSoHoKhau", &c.household.number);
    w.leaf("TrangThaiCongDan", status_code(&c.status));
    w.close("CongDan");
}

/// The reply to `TraCuuThongTinCongDan`.
pub(crate) fn lookup(q: &Query, c: &Citizen, data: &Dataset, today: Date) -> String {
    let style = Style::for_request(&q.request_id);
    let mut out = String::with_capacity(4096);
    soap::open_envelope(&mut out, style.env(), true);
    let mut w = Writer {
        out: &mut out,
        p: style.bca(),
    };
    w.tag("<", "TraCuuThongTinCongDanResponse", style.wrapper_decl());
    w.out.push('>');
    w.leaf("MaYeuCau", &q.request_id);
    let mut records = Writer {
        out: w.out,
        p: style.dancu(),
    };
    records.tag("<", "CongdanCollection", style.collection_decl());
    records.out.push('>');
    citizen(&mut records, c, data, today);
    records.close("CongdanCollection");
    let mut w = Writer {
        out: records.out,
        p: style.bca(),
    };
    w.close("TraCuuThongTinCongDanResponse");
    soap::close_envelope(&mut out, style.env());
    out
}

/// The reply to `XacThucThongTinCongDan`.
pub(crate) fn verify(q: &Query, exists: bool) -> String {
    let style = Style::for_request(&q.request_id);
    let mut out = String::with_capacity(1024);
    soap::open_envelope(&mut out, style.env(), true);
    let mut w = Writer {
        out: &mut out,
        p: style.bca(),
    };
    w.tag("<", "XacThucThongTinCongDanResponse", style.verify_decl());
    w.out.push('>');
    w.leaf("MaYeuCau", &q.request_id);
    w.leaf("TonTai", if exists { "true" } else { "false" });
    w.close("XacThucThongTinCongDanResponse");
    soap::close_envelope(&mut out, style.env());
    out
}

#[cfg(test)]
mod tests {
    use super::super::request::BCA_NS;
    use super::*;

    /// The namespace of the citizen records in a lookup reply (`schemas/population/dancu.xsd`).
    const DANCU_NS: &str = "http://www.mic.gov.vn/dancu/1.0";

    #[test]
    fn styles_spread_over_request_ids() {
        let styles: std::collections::HashSet<_> = (0..30)
            .map(|i| format!("{i}"))
            .map(|id| format!("{:?}", Style::for_request(&id)))
            .collect();
        assert_eq!(styles.len(), 3);
    }

    #[test]
    fn declarations_name_the_namespaces_of_the_schemas() {
        for style in [Style::Ns2, Style::Dc, Style::Default] {
            let bca = style.bca().trim_end_matches(':');
            let bca_attr = if bca.is_empty() {
                "xmlns".to_owned()
            } else {
                format!("xmlns:{bca}")
            };
            let wrapper = style.wrapper_decl();
            assert!(
                wrapper.contains(&format!(" {bca_attr}=\"{BCA_NS}\"")),
                "{wrapper}"
            );
            assert!(
                style
                    .verify_decl()
                    .contains(&format!(" {bca_attr}=\"{BCA_NS}\""))
            );
            assert!(!style.verify_decl().contains(DANCU_NS));
            let dc = style.dancu().trim_end_matches(':');
            let dc_attr = if dc.is_empty() {
                "xmlns".to_owned()
            } else {
                format!("xmlns:{dc}")
            };
            let both = format!("{wrapper}{}", style.collection_decl());
            assert!(
                both.contains(&format!(" {dc_attr}=\"{DANCU_NS}\"")),
                "{both}"
            );
        }
    }

    #[test]
    fn codes_print_as_decimal() {
        for n in [0u8, 1, 2, 9, 10, 42, 255] {
            assert_eq!(code_text(n), n.to_string());
        }
    }

    #[test]
    fn quirk_rules() {
        assert!(new_address_scheme("046090001234"));
        assert!(!new_address_scheme("079201000111"));
        assert!(absent_as_nil("000000000011"));
        assert!(!absent_as_nil("000000000001"));
    }
}
