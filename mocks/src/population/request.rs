//! Reading a population request: the envelope, the operation (the Body's first child element,
//! namespace-resolved) and the validated fields.

use super::fault::Refusal;
use crate::soap::xml::Element;
use crate::soap::{self, Operations, Violation, digits};

/// The request namespace of the population database.
pub(crate) const BCA_NS: &str = "http://dancuquocgia.bca";

/// The two operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    /// `TraCuuThongTinCongDan`, integration code 037.
    Lookup,
    /// `XacThucThongTinCongDan`, service code 033.
    Verify,
}

impl Operations for Operation {
    const NS: &'static str = BCA_NS;
    const ALL: &'static [Operation] = &[Operation::Lookup, Operation::Verify];

    fn name(self) -> &'static str {
        match self {
            Operation::Lookup => "TraCuuThongTinCongDan",
            Operation::Verify => "XacThucThongTinCongDan",
        }
    }
}

impl Operation {
    /// The `MaTichHop` this operation must carry.
    pub(crate) fn integration_code(self) -> &'static str {
        match self {
            Operation::Lookup => "037",
            Operation::Verify => "033",
        }
    }
}

/// The date of birth asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Birth {
    /// `NgayThangNam` (yyyyMMdd).
    Date {
        /// Year.
        year: i32,
        /// Month 1–12.
        month: u8,
        /// Day 1–31.
        day: u8,
    },
    /// `Nam` (year only).
    Year(i32),
}

/// A validated request.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    /// Which operation.
    pub op: Operation,
    /// `MaYeuCau`, echoed in the reply.
    pub request_id: String,
    /// `SoDinhDanh`.
    pub personal_id: Option<String>,
    /// `SoCMND`.
    pub old_id: Option<String>,
    /// `HoVaTen`, white space collapsed.
    pub name: String,
    /// `NgayThangNamSinh`.
    pub birth: Birth,
}

/// Parses and checks the envelope (no header block may be `mustUnderstand`), returning the
/// operation's element.
pub(crate) fn operation_element(root: &Element) -> Result<&Element, Violation> {
    let env = soap::envelope(root)?;
    env.must_understand(|_| false)?;
    env.operation()
}

/// A text field: `None` when absent, empty or `xsi:nil`; refused when repeated or structured.
fn field<'a>(op: &'a Element, name: &'static str) -> Result<Option<&'a str>, Violation> {
    soap::field(op, BCA_NS, name)
}

fn required<'a>(op: &'a Element, name: &'static str) -> Result<&'a str, Violation> {
    soap::required(op, BCA_NS, name)
}

fn birth(op: &Element) -> Result<Birth, Violation> {
    const NAME: &str = "NgayThangNamSinh";
    let mut found = op.children_named(BCA_NS, NAME);
    let e = found.next().ok_or(Violation::MissingField(NAME))?;
    if found.next().is_some() {
        return Err(Violation::InvalidField(NAME));
    }
    let full = field(e, "NgayThangNam")?;
    let year = field(e, "Nam")?;
    let year = match year {
        None => None,
        Some(y) if digits(y, 4) => Some(
            y.parse::<i32>()
                .map_err(|_| Violation::InvalidField("Nam"))?,
        ),
        Some(_) => return Err(Violation::InvalidField("Nam")),
    };
    if year.is_some_and(|y| y < 1800) {
        return Err(Violation::InvalidField("Nam"));
    }
    match (full, year) {
        (None, None) => Err(Violation::MissingField(NAME)),
        (None, Some(y)) => Ok(Birth::Year(y)),
        (Some(d), y) => {
            let parsed = parse_yyyymmdd(d).ok_or(Violation::InvalidField("NgayThangNam"))?;
            if let Birth::Date { year, .. } = parsed
                && y.is_some_and(|y| y != year)
            {
                return Err(Violation::InvalidField(NAME));
            }
            Ok(parsed)
        }
    }
}

fn parse_yyyymmdd(s: &str) -> Option<Birth> {
    if !digits(s, 8) {
        return None;
    }
    let year: i32 = s.get(0..4)?.parse().ok()?;
    let month: u8 = s.get(4..6)?.parse().ok()?;
    let day: u8 = s.get(6..8)?.parse().ok()?;
    let m = time::Month::try_from(month).ok()?;
    time::Date::from_calendar_date(year, m, day).ok()?;
    (year >= 1800).then_some(Birth::Date { year, month, day })
}

/// Parses a body into a validated query.
pub(crate) fn parse(body: &[u8]) -> Result<Query, Refusal> {
    let root = soap::parse(body)?;
    let op_el = operation_element(&root)?;
    let op: Operation = soap::operation(op_el)?;

    let request_id = soap::code(op_el, BCA_NS, "MaYeuCau")?;
    soap::code(op_el, BCA_NS, "MaDVC")?;
    let integration = required(op_el, "MaTichHop")?;
    if integration != op.integration_code() {
        return Err(Refusal::WrongIntegrationCode);
    }
    soap::official(op_el, BCA_NS)?;
    soap::code(op_el, BCA_NS, "MaDonVi")?;
    soap::code(op_el, BCA_NS, "TaiKhoan")?;

    let personal_id = field(op_el, "SoDinhDanh")?;
    if personal_id.is_some_and(|p| !digits(p, 12)) {
        return Err(Violation::InvalidField("SoDinhDanh").into());
    }
    let old_id = field(op_el, "SoCMND")?;
    if old_id.is_some_and(|p| !digits(p, 9)) {
        return Err(Violation::InvalidField("SoCMND").into());
    }
    if personal_id.is_none() && old_id.is_none() {
        return Err(Violation::MissingField("SoDinhDanh").into());
    }

    let name = required(op_el, "HoVaTen")?;
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.len() > 100 || !name.bytes().all(|b| b.is_ascii_uppercase() || b == b' ') {
        return Err(Violation::InvalidField("HoVaTen").into());
    }
    let birth = birth(op_el)?;

    Ok(Query {
        op,
        request_id: request_id.to_owned(),
        personal_id: personal_id.map(str::to_owned),
        old_id: old_id.map(str::to_owned),
        name,
        birth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(op: &str, fields: &str) -> String {
        format!(
            r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><q:{op} xmlns:q="http://dancuquocgia.bca">{fields}</q:{op}></e:Body></e:Envelope>"#
        )
    }

    const GOOD: &str = "<q:MaYeuCau>r1</q:MaYeuCau><q:MaDVC>DVC</q:MaDVC><q:MaTichHop>037</q:MaTichHop><q:MaCanBo>046090001234</q:MaCanBo><q:MaDonVi>U</q:MaDonVi><q:TaiKhoan>T</q:TaiKhoan><q:SoDinhDanh>046090001234</q:SoDinhDanh><q:HoVaTen> NGUYEN  VAN AN </q:HoVaTen><q:NgayThangNamSinh><q:NgayThangNam>19900315</q:NgayThangNam></q:NgayThangNamSinh>";

    #[test]
    fn reads_a_lookup() {
        let q = parse(request("TraCuuThongTinCongDan", GOOD).as_bytes()).unwrap();
        assert_eq!(q.op, Operation::Lookup);
        assert_eq!(q.name, "NGUYEN VAN AN");
        assert_eq!(
            q.birth,
            Birth::Date {
                year: 1990,
                month: 3,
                day: 15
            }
        );
        assert_eq!(q.old_id, None);
    }

    #[test]
    fn refuses_bad_fields() {
        let cases = [
            (
                GOOD.replace("19900315", "19900230"),
                Refusal::Soap(Violation::InvalidField("NgayThangNam")),
            ),
            (
                GOOD.replace("NGUYEN", "Nguyen"),
                Refusal::Soap(Violation::InvalidField("HoVaTen")),
            ),
            (
                GOOD.replace(">037<", ">033<"),
                Refusal::WrongIntegrationCode,
            ),
            (
                GOOD.replace("<q:MaDVC>DVC</q:MaDVC>", ""),
                Refusal::Soap(Violation::MissingField("MaDVC")),
            ),
            (
                GOOD.replace(
                    "<q:SoDinhDanh>046090001234</q:SoDinhDanh>",
                    "<q:SoDinhDanh>04609000123</q:SoDinhDanh>",
                ),
                Refusal::Soap(Violation::InvalidField("SoDinhDanh")),
            ),
        ];
        for (fields, want) in cases {
            let got = parse(request("TraCuuThongTinCongDan", &fields).as_bytes()).unwrap_err();
            assert_eq!(got, want, "{fields}");
        }
        assert!(matches!(
            parse(request("Other", GOOD).as_bytes()).unwrap_err(),
            Refusal::Soap(Violation::UnknownOperation(_))
        ));
    }
}
