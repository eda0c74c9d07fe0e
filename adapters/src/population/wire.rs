//! Wire format of the population database (SOAP 1.1, document/literal; `schemas/population/`):
//! building request envelopes and reading replies into wire types, with namespaces resolved
//! (any prefix, default namespaces), `xsi:nil`, empty elements and one-or-many lists.
//!
//! Nothing here panics on what an upstream sends: every problem is an [`XmlError`] or a
//! [`WireError`], turned into an `AdapterError` by `errors.rs`.

use std::fmt::Write as _;

use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// SOAP 1.1 envelope namespace.
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// SOAP 1.2 envelope namespace (not spoken by this upstream; recognised to report it).
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// Namespace of the operations, their fields and the fault detail.
pub const BCA_NS: &str = "http://dancuquocgia.bca";
/// Namespace of the citizen records.
pub const DC_NS: &str = "http://www.mic.gov.vn/dancu/1.0";
/// XML Schema instance namespace (`xsi:nil`).
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Deepest element nesting accepted in a reply (the contract needs 8).
pub const MAX_DEPTH: usize = 64;
/// Most elements accepted in one reply (a lookup reply has about 100).
pub const MAX_ELEMENTS: usize = 20_000;

/// The two operations of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `TraCuuThongTinCongDan`: look a citizen up.
    Lookup,
    /// `XacThucThongTinCongDan`: verify that a citizen with these details exists.
    Verify,
}

impl Operation {
    /// The request element's local name.
    pub fn request_element(self) -> &'static str {
        match self {
            Operation::Lookup => "TraCuuThongTinCongDan",
            Operation::Verify => "XacThucThongTinCongDan",
        }
    }

    /// The reply wrapper's local name.
    pub fn response_element(self) -> &'static str {
        match self {
            Operation::Lookup => "TraCuuThongTinCongDanResponse",
            Operation::Verify => "XacThucThongTinCongDanResponse",
        }
    }
}

/// The date of birth of a request (`NgayThangNamSinh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireBirthDate {
    /// `NgayThangNam`, `yyyyMMdd`.
    Full(String),
    /// `Nam`, `yyyy`.
    Year(String),
}

/// The fields of a request (`YeuCauCongDan`, the same for both operations).
#[derive(Clone, PartialEq, Eq)]
pub struct WireRequest {
    /// `MaYeuCau`: request id, echoed in the reply.
    pub ma_yeu_cau: String,
    /// `MaDVC`: the calling unit's code.
    pub ma_dvc: String,
    /// `MaTichHop`: integration code (`037` lookup, `033` verify).
    pub ma_tich_hop: String,
    /// `MaCanBo`: the official's own id number.
    pub ma_can_bo: String,
    /// `MaDonVi`: the official's unit.
    pub ma_don_vi: String,
    /// `TaiKhoan`: the integration account.
    pub tai_khoan: String,
    /// `SoDinhDanh`: the 12-digit personal id, when asked by it.
    pub so_dinh_danh: Option<String>,
    /// `SoCMND`: the old 9-digit id, when asked by it.
    pub so_cmnd: Option<String>,
    /// `HoVaTen`: full name, upper case without diacritics.
    pub ho_va_ten: String,
    /// `NgayThangNamSinh`.
    pub ngay_thang_nam_sinh: WireBirthDate,
}

impl std::fmt::Debug for WireRequest {
    // Personal data stays out of debug output (it may end up in logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireRequest")
            .field("ma_yeu_cau", &self.ma_yeu_cau)
            .field("ma_tich_hop", &self.ma_tich_hop)
            .finish_non_exhaustive()
    }
}

/// Builds the SOAP 1.1 envelope of a request (prefix `dan:` for `http://dancuquocgia.bca`).
/// An id that is not given is left out (the contract's `minOccurs="0"`).
pub fn build_envelope(op: Operation, req: &WireRequest) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    out.push_str(r#"<soapenv:Envelope xmlns:soapenv=""#);
    out.push_str(SOAP11_NS);
    out.push_str(r#"" xmlns:dan=""#);
    out.push_str(BCA_NS);
    out.push_str(r#""><soapenv:Header/><soapenv:Body>"#);
    let name = op.request_element();
    let _ = write!(out, "<dan:{name}>");
    field(&mut out, "MaYeuCau", &req.ma_yeu_cau);
    field(&mut out, "MaDVC", &req.ma_dvc);
    field(&mut out, "MaTichHop", &req.ma_tich_hop);
    field(&mut out, "MaCanBo", &req.ma_can_bo);
    field(&mut out, "MaDonVi", &req.ma_don_vi);
    field(&mut out, "TaiKhoan", &req.tai_khoan);
    if let Some(id) = &req.so_dinh_danh {
        field(&mut out, "SoDinhDanh", id);
    }
    if let Some(id) = &req.so_cmnd {
        field(&mut out, "SoCMND", id);
    }
    field(&mut out, "HoVaTen", &req.ho_va_ten);
    out.push_str("<dan:NgayThangNamSinh>");
    match &req.ngay_thang_nam_sinh {
        WireBirthDate::Full(d) => field(&mut out, "NgayThangNam", d),
        WireBirthDate::Year(y) => field(&mut out, "Nam", y),
    }
    out.push_str("</dan:NgayThangNamSinh>");
    let _ = write!(out, "</dan:{name}>");
    out.push_str("</soapenv:Body></soapenv:Envelope>");
    out
}

fn field(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, "<dan:{name}>{}</dan:{name}>", escape(value));
}

// ---------------------------------------------------------------------------------------------
// A namespace-resolved element tree.

/// Why a reply is not well-formed XML (or is refused before reading it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not UTF-8.
    #[error("the reply is not UTF-8")]
    NotUtf8,
    /// Its XML declaration names another encoding than UTF-8 (its text would be misread).
    #[error("the reply declares an encoding other than UTF-8")]
    NotUtf8Declared,
    /// The XML parser refused it.
    #[error("the reply is not well-formed XML")]
    Syntax,
    /// The document ended inside an element, or has no root.
    #[error("the reply's XML document is incomplete")]
    Incomplete,
    /// A DTD (refused: no entity expansion from upstream documents).
    #[error("the reply carries a DTD")]
    Dtd,
    /// Nesting or element count beyond the limits.
    #[error("the reply's XML is too deep or too large")]
    TooLarge,
    /// A prefix without a namespace declaration.
    #[error("the reply uses an undeclared namespace prefix")]
    UnboundPrefix,
    /// Content after the root element.
    #[error("the reply has content after its root element")]
    TrailingContent,
    /// A character XML 1.0 does not allow (a control character, written raw or as a reference).
    #[error("the reply's XML holds a character XML does not allow")]
    ForbiddenChar,
}

/// One element: its namespace and local name, whether it is `xsi:nil`, its text and children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI, `None` when unqualified.
    pub ns: Option<String>,
    /// Local name (without prefix).
    pub local: String,
    /// `xsi:nil="true"` (or `"1"`).
    pub nil: bool,
    /// The element's own text (character data and CDATA, entities resolved), untrimmed.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// Whether this element is `{ns}local`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns.as_deref() == Some(ns)
    }

    /// The first child `{ns}local`.
    pub fn child(&self, ns: &str, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, local))
    }

    /// Every child `{ns}local` (one-or-many lists).
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, local))
    }

    /// The trimmed text of the first child `{ns}local`; `""` when absent, empty or nil.
    pub fn child_text(&self, ns: &str, local: &str) -> String {
        self.child(ns, local)
            .map(Element::value)
            .unwrap_or_default()
    }

    /// This element's trimmed text, `""` when nil.
    pub fn value(&self) -> String {
        if self.nil {
            String::new()
        } else {
            self.text.trim().to_owned()
        }
    }

    /// Whether the element carries nothing: nil, or no children and only whitespace.
    pub fn is_empty(&self) -> bool {
        self.nil || (self.children.is_empty() && self.text.trim().is_empty())
    }
}

/// Parses a document into its root element, resolving namespaces. Refuses DTDs, documents deeper
/// than [`MAX_DEPTH`] or with more than [`MAX_ELEMENTS`] elements, and anything not well-formed.
pub fn parse_xml(bytes: &[u8]) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(bytes).map_err(|_| XmlError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let (resolved, event) = reader.read_resolved_event().map_err(|_| XmlError::Syntax)?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if root.is_some() {
                    return Err(XmlError::TrailingContent);
                }
                count += 1;
                if count > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooLarge);
                }
                let ns = match resolved {
                    ResolveResult::Bound(ns) => Some(
                        std::str::from_utf8(ns.into_inner())
                            .map_err(|_| XmlError::NotUtf8)?
                            .to_owned(),
                    ),
                    ResolveResult::Unbound => None,
                    ResolveResult::Unknown(_) => return Err(XmlError::UnboundPrefix),
                };
                let local = std::str::from_utf8(e.local_name().into_inner())
                    .map_err(|_| XmlError::NotUtf8)?
                    .to_owned();
                let mut nil = false;
                for attr in e.attributes() {
                    let attr = attr.map_err(|_| XmlError::Syntax)?;
                    let (ans, alocal) = reader.resolve_attribute(attr.key);
                    if alocal.into_inner() == b"nil"
                        && matches!(ans, ResolveResult::Bound(ns) if ns.into_inner() == XSI_NS.as_bytes())
                    {
                        let v = attr.unescape_value().map_err(|_| XmlError::Syntax)?;
                        nil = matches!(v.trim(), "true" | "1");
                    }
                }
                let el = Element {
                    ns,
                    local,
                    nil,
                    ..Element::default()
                };
                if matches!(event, Event::Start(_)) {
                    stack.push(el);
                } else {
                    attach(&mut stack, &mut root, el);
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or(XmlError::Syntax)?;
                attach(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                let s = t.unescape().map_err(|_| XmlError::Syntax)?;
                if !crate::reply::xml_chars(&s) {
                    return Err(XmlError::ForbiddenChar);
                }
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None if root.is_some() => return Err(XmlError::TrailingContent),
                    None => return Err(XmlError::Syntax),
                }
            }
            Event::CData(c) => {
                let s = std::str::from_utf8(c.as_ref()).map_err(|_| XmlError::NotUtf8)?;
                if !crate::reply::xml_chars(s) {
                    return Err(XmlError::ForbiddenChar);
                }
                match stack.last_mut() {
                    Some(top) => top.text.push_str(s),
                    None => return Err(XmlError::Syntax),
                }
            }
            Event::DocType(_) => return Err(XmlError::Dtd),
            Event::Decl(d) => match d.encoding() {
                None => {}
                Some(Ok(enc)) if is_utf8_label(&enc) => {}
                Some(_) => return Err(XmlError::NotUtf8Declared),
            },
            Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => {
                return if stack.is_empty() {
                    root.ok_or(XmlError::Incomplete)
                } else {
                    Err(XmlError::Incomplete)
                };
            }
        }
    }
}

/// Whether an XML declaration's `encoding` names UTF-8.
fn is_utf8_label(enc: &[u8]) -> bool {
    enc.eq_ignore_ascii_case(b"utf-8") || enc.eq_ignore_ascii_case(b"utf8")
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

// ---------------------------------------------------------------------------------------------
// SOAP envelopes.

/// Why a reply is not a usable SOAP 1.1 message of this contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not well-formed XML.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// A SOAP 1.2 envelope.
    #[error("the reply is a SOAP 1.2 envelope")]
    Soap12,
    /// Not a SOAP 1.1 envelope with a body holding an element.
    #[error("the reply is not a SOAP 1.1 envelope with a body")]
    NotEnvelope,
    /// The body holds another element than the expected reply.
    #[error("the reply's body holds an unexpected element")]
    UnexpectedElement,
    /// The reply's `MaYeuCau` is not the request's.
    #[error("the reply echoes another request id")]
    RequestIdMismatch,
    /// A value is missing or not of its type.
    #[error("the reply's {0} is missing or ill-formed")]
    BadValue(&'static str),
}

/// A SOAP 1.1 Fault with this contract's detail (`ThongTinLoi`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoapFault {
    /// `faultcode`'s local part (`Client`, `Server`, `VersionMismatch`, `MustUnderstand`,
    /// possibly dotted: `Client.Authentication`).
    pub faultcode: String,
    /// `faultstring` (a human-readable text from the upstream; may name the citizen's fields).
    pub faultstring: String,
    /// `detail/ThongTinLoi/MaLoi`, when given.
    pub code: Option<String>,
    /// `detail/ThongTinLoi/MoTaLoi`, when given.
    pub description: Option<String>,
}

/// What a SOAP body holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoapBody {
    /// The operation's reply element (the body's first element child).
    Payload(Element),
    /// A fault.
    Fault(SoapFault),
}

/// Reads a SOAP 1.1 envelope: a Fault, or the body's first element child.
pub fn parse_envelope(bytes: &[u8]) -> Result<SoapBody, WireError> {
    let root = parse_xml(bytes)?;
    if root.is(SOAP12_NS, "Envelope") {
        return Err(WireError::Soap12);
    }
    if !root.is(SOAP11_NS, "Envelope") {
        return Err(WireError::NotEnvelope);
    }
    let body = root
        .child(SOAP11_NS, "Body")
        .ok_or(WireError::NotEnvelope)?;
    let first = body.children.first().ok_or(WireError::NotEnvelope)?;
    if first.is(SOAP11_NS, "Fault") {
        return Ok(SoapBody::Fault(read_fault(first)));
    }
    Ok(SoapBody::Payload(first.clone()))
}

fn read_fault(f: &Element) -> SoapFault {
    // faultcode, faultstring and detail are unqualified in SOAP 1.1; some servers qualify them.
    let get = |name: &str| {
        f.children
            .iter()
            .find(|c| c.local == name && (c.ns.is_none() || c.ns.as_deref() == Some(SOAP11_NS)))
    };
    let faultcode = get("faultcode").map(Element::value).unwrap_or_default();
    let faultcode = match faultcode.rsplit_once(':') {
        Some((_, local)) => local.to_owned(),
        None => faultcode,
    };
    let faultstring = get("faultstring").map(Element::value).unwrap_or_default();
    let info = get("detail").and_then(|d| find_descendant(d, BCA_NS, "ThongTinLoi", 4));
    let text_of = |name: &str| {
        info.and_then(|i| {
            i.children
                .iter()
                .find(|c| c.local == name && (c.ns.is_none() || c.ns.as_deref() == Some(BCA_NS)))
        })
        .map(Element::value)
        .filter(|v| !v.is_empty())
    };
    SoapFault {
        faultcode,
        faultstring,
        code: text_of("MaLoi"),
        description: text_of("MoTaLoi"),
    }
}

fn find_descendant<'a>(
    el: &'a Element,
    ns: &str,
    local: &str,
    depth: usize,
) -> Option<&'a Element> {
    if depth == 0 {
        return None;
    }
    el.children.iter().find_map(|c| {
        if c.is(ns, local) {
            Some(c)
        } else {
            find_descendant(c, ns, local, depth - 1)
        }
    })
}

/// Checks that `payload` is `op`'s reply wrapper and that it echoes `request_id` (a missing
/// echo is tolerated; another id is refused: the reply belongs to another request).
pub fn check_wrapper(op: Operation, payload: &Element, request_id: &str) -> Result<(), WireError> {
    if !payload.is(BCA_NS, op.response_element()) {
        return Err(WireError::UnexpectedElement);
    }
    match payload.child(BCA_NS, "MaYeuCau").map(Element::value) {
        Some(echo) if !echo.is_empty() && echo != request_id => Err(WireError::RequestIdMismatch),
        _ => Ok(()),
    }
}

/// Reads `TonTai` (`xs:boolean`: `true`, `false`, `1`, `0`) from a verification reply.
pub fn read_verify(payload: &Element) -> Result<bool, WireError> {
    match payload.child_text(BCA_NS, "TonTai").as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(WireError::BadValue("TonTai")),
    }
}

/// A code and its name (`DanToc`, `TonGiao`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireCode {
    /// `MaDanToc` / `MaTonGiao`.
    pub code: String,
    /// `TenGoiKhac`.
    pub name: String,
}

/// An address (`DiaChi`) in either shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireAddress {
    /// `MaTinhThanh` (three-level shape).
    pub ma_tinh_thanh: Option<String>,
    /// `MaQuanHuyen` (three-level shape).
    pub ma_quan_huyen: Option<String>,
    /// `MaPhuongXa` (three-level shape).
    pub ma_phuong_xa: Option<String>,
    /// `MaDonViHanhChinh` (two-level shape); `Some` when the element is present.
    pub ma_don_vi_hanh_chinh: Option<String>,
    /// `ChiTiet`.
    pub chi_tiet: String,
    /// `QuocGia`.
    pub quoc_gia: String,
}

/// A relative (`ThanNhan`); all values trimmed, `""` when empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireRelative {
    /// `HoVaTen` (a single string with diacritics).
    pub ho_va_ten: String,
    /// `QuocTich`.
    pub quoc_tich: String,
    /// `SoDinhDanh`.
    pub so_dinh_danh: String,
    /// `SoCMND`.
    pub so_cmnd: String,
}

/// The head of household (`ChuHo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireHouseholdHead {
    /// `QuanHe`: the citizen's relation to the head.
    pub quan_he: String,
    /// `HoVaTen`.
    pub ho_va_ten: String,
    /// `SoDinhDanh`.
    pub so_dinh_danh: String,
    /// `SoCMND`.
    pub so_cmnd: String,
}

/// One `CongDan` as sent: trimmed text, `""` for empty or nil values, `None` for absent or
/// empty structured elements.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WireCitizen {
    /// `SoDinhDanh`.
    pub so_dinh_danh: String,
    /// `SoCMND`.
    pub so_cmnd: String,
    /// `HoVaTen/Ho`.
    pub ho: String,
    /// `HoVaTen/ChuDem`.
    pub chu_dem: String,
    /// `HoVaTen/Ten`.
    pub ten: String,
    /// `GioiTinh`.
    pub gioi_tinh: String,
    /// `DanToc`.
    pub dan_toc: Option<WireCode>,
    /// `TonGiao`.
    pub ton_giao: Option<WireCode>,
    /// `QuocTich`.
    pub quoc_tich: String,
    /// `TinhTrangHonNhan`.
    pub tinh_trang_hon_nhan: String,
    /// `NhomMau`.
    pub nhom_mau: String,
    /// `NgayThangNamSinh`.
    pub ngay_thang_nam_sinh: String,
    /// `NoiDangKyKhaiSinh`.
    pub noi_dang_ky_khai_sinh: Option<WireAddress>,
    /// `QueQuan`.
    pub que_quan: Option<WireAddress>,
    /// `ThuongTru`.
    pub thuong_tru: Option<WireAddress>,
    /// `NoiOHienTai`.
    pub noi_o_hien_tai: Option<WireAddress>,
    /// `Cha`.
    pub cha: Option<WireRelative>,
    /// `Me`.
    pub me: Option<WireRelative>,
    /// `VoChong`.
    pub vo_chong: Option<WireRelative>,
    /// `NguoiDaiDien`.
    pub nguoi_dai_dien: Option<WireRelative>,
    /// `ChuHo`.
    pub chu_ho: Option<WireHouseholdHead>,
    /// `SoSoHoKhau`.
    pub so_so_ho_khau: String,
    /// `TrangThaiCongDan`.
    pub trang_thai_cong_dan: String,
}

impl std::fmt::Debug for WireCitizen {
    // Personal data stays out of debug output (it may end up in logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireCitizen").finish_non_exhaustive()
    }
}

/// Reads every `CongDan` of a lookup reply's `CongdanCollection` (one-or-many; zero when the
/// collection is empty or absent).
pub fn read_lookup(payload: &Element) -> Vec<WireCitizen> {
    payload
        .children_named(DC_NS, "CongdanCollection")
        .flat_map(|c| c.children_named(DC_NS, "CongDan"))
        .map(read_citizen)
        .collect()
}

fn present(el: Option<&Element>) -> Option<&Element> {
    el.filter(|e| !e.is_empty())
}

fn read_citizen(c: &Element) -> WireCitizen {
    let t = |name: &str| c.child_text(DC_NS, name);
    let name = c.child(DC_NS, "HoVaTen");
    let nt = |part: &str| name.map(|n| n.child_text(DC_NS, part)).unwrap_or_default();
    let code = |el: &str, code: &str| {
        present(c.child(DC_NS, el)).map(|e| WireCode {
            code: e.child_text(DC_NS, code),
            name: e.child_text(DC_NS, "TenGoiKhac"),
        })
    };
    let relative = |el: &str| {
        present(c.child(DC_NS, el))
            .map(|e| WireRelative {
                ho_va_ten: e.child_text(DC_NS, "HoVaTen"),
                quoc_tich: e.child_text(DC_NS, "QuocTich"),
                so_dinh_danh: e.child_text(DC_NS, "SoDinhDanh"),
                so_cmnd: e.child_text(DC_NS, "SoCMND"),
            })
            .filter(|r| {
                !(r.ho_va_ten.is_empty() && r.so_dinh_danh.is_empty() && r.so_cmnd.is_empty())
            })
    };
    WireCitizen {
        so_dinh_danh: t("SoDinhDanh"),
        so_cmnd: t("SoCMND"),
        ho: nt("Ho"),
        chu_dem: nt("ChuDem"),
        ten: nt("Ten"),
        gioi_tinh: t("GioiTinh"),
        dan_toc: code("DanToc", "MaDanToc"),
        ton_giao: code("TonGiao", "MaTonGiao"),
        quoc_tich: t("QuocTich"),
        tinh_trang_hon_nhan: t("TinhTrangHonNhan"),
        nhom_mau: t("NhomMau"),
        ngay_thang_nam_sinh: t("NgayThangNamSinh"),
        noi_dang_ky_khai_sinh: read_address(c.child(DC_NS, "NoiDangKyKhaiSinh")),
        que_quan: read_address(c.child(DC_NS, "QueQuan")),
        thuong_tru: read_address(c.child(DC_NS, "ThuongTru")),
        noi_o_hien_tai: read_address(c.child(DC_NS, "NoiOHienTai")),
        cha: relative("Cha"),
        me: relative("Me"),
        vo_chong: relative("VoChong"),
        nguoi_dai_dien: relative("NguoiDaiDien"),
        chu_ho: present(c.child(DC_NS, "ChuHo")).map(|h| WireHouseholdHead {
            quan_he: h.child_text(DC_NS, "QuanHe"),
            ho_va_ten: h.child_text(DC_NS, "HoVaTen"),
            so_dinh_danh: h.child_text(DC_NS, "SoDinhDanh"),
            so_cmnd: h.child_text(DC_NS, "SoCMND"),
        }),
        so_so_ho_khau: t("SoSoHoKhau"),
        trang_thai_cong_dan: t("TrangThaiCongDan"),
    }
}

fn read_address(el: Option<&Element>) -> Option<WireAddress> {
    let a = present(el)?;
    let opt = |name: &str| a.child(DC_NS, name).map(Element::value);
    Some(WireAddress {
        ma_tinh_thanh: opt("MaTinhThanh"),
        ma_quan_huyen: opt("MaQuanHuyen"),
        ma_phuong_xa: opt("MaPhuongXa"),
        ma_don_vi_hanh_chinh: opt("MaDonViHanhChinh"),
        chi_tiet: a.child_text(DC_NS, "ChiTiet"),
        quoc_gia: a.child_text(DC_NS, "QuocGia"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A control character, raw or as a character reference, is no XML: refused, never passed on.
    #[test]
    fn characters_xml_does_not_allow_are_refused() {
        assert!(parse_xml(b"<a>tab\tand\nline</a>").is_ok());
        for doc in [
            &b"<a>x&#1;y</a>"[..],
            b"<a>x\x01y</a>",
            b"<a><![CDATA[x\x02y]]></a>",
            b"<a>&#xFFFE;</a>",
        ] {
            assert!(parse_xml(doc).is_err(), "{}", String::from_utf8_lossy(doc));
        }
    }
}
