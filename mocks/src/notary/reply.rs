//! Rendering the notary service's replies (always the `nt:` prefix: our contract has no quirks).

use std::fmt::Write as _;

use crate::soap;

use super::NOTARY_NS;
use super::records::{DocumentStatus, NotarisedDocument};
use super::request::Query;

fn leaf(out: &mut String, name: &str, text: &str) {
    soap::push_element(out, "nt:", name, text);
}

fn start(out: &mut String, wrapper: &str) {
    soap::open_envelope(out, "soap", false);
    let _ = write!(out, "<nt:{wrapper} xmlns:nt=\"{NOTARY_NS}\">");
}

fn end(out: &mut String, wrapper: &str) {
    let _ = write!(out, "</nt:{wrapper}>");
    soap::close_envelope(out, "soap");
}

/// The reply to `TraCuuVanBan`.
pub(crate) fn lookup(q: &Query, d: &NotarisedDocument) -> String {
    let mut out = String::with_capacity(2048);
    start(&mut out, "TraCuuVanBanResponse");
    leaf(&mut out, "MaYeuCau", &q.request_id);
    out.push_str("<nt:VanBan>");
    leaf(&mut out, "SoVanBan", &d.number);
    leaf(&mut out, "LoaiVanBan", d.kind.code());
    leaf(&mut out, "TenLoaiVanBan", d.kind.name_vi());
    leaf(&mut out, "NgayCongChung", &d.date.iso());
    out.push_str("<nt:ToChucCongChung>");
    leaf(&mut out, "MaToChuc", d.office_code);
    leaf(&mut out, "TenToChuc", d.office_name);
    out.push_str("</nt:ToChucCongChung>");
    leaf(&mut out, "CongChungVien", d.notary);
    out.push_str("<nt:DanhSachDuongSu>");
    for p in &d.parties {
        out.push_str("<nt:DuongSu>");
        leaf(&mut out, "VaiTro", p.role);
        leaf(&mut out, "HoVaTen", &p.name);
        leaf(&mut out, "LoaiGiayTo", p.id_kind);
        leaf(&mut out, "SoGiayTo", &p.masked_id);
        out.push_str("</nt:DuongSu>");
    }
    out.push_str("</nt:DanhSachDuongSu>");
    leaf(&mut out, "SoTrang", &d.pages.to_string());
    leaf(&mut out, "PhiCongChung", &d.fee_vnd.to_string());
    leaf(&mut out, "TrangThai", d.status.code());
    if let Some(when) = &d.status_date {
        leaf(&mut out, "NgayThayDoiTrangThai", &when.iso());
    }
    if let Some(by) = &d.superseded_by {
        leaf(&mut out, "SoVanBanThayThe", by);
    }
    leaf(&mut out, "MaBam", &d.sha256);
    out.push_str("</nt:VanBan>");
    end(&mut out, "TraCuuVanBanResponse");
    out
}

/// The outcome of a verification: (`HopLe`, `MaLyDo`, `LyDo`).
fn verdict(q: &Query, d: Option<&NotarisedDocument>) -> (bool, &'static str, String) {
    let Some(d) = d else {
        return (
            false,
            "KHONG_TON_TAI",
            "Không tìm thấy văn bản công chứng".to_owned(),
        );
    };
    if q.hash.as_deref() != Some(d.sha256.as_str()) {
        return (
            false,
            "KHONG_KHOP",
            "Mã băm không khớp với văn bản đã đăng ký".to_owned(),
        );
    }
    match d.status {
        DocumentStatus::Valid => (
            true,
            "HOP_LE",
            "Mã băm khớp với văn bản đã đăng ký, văn bản đang có hiệu lực".to_owned(),
        ),
        DocumentStatus::Revoked => (
            false,
            "DA_HUY",
            "Mã băm khớp nhưng văn bản đã bị hủy".to_owned(),
        ),
        DocumentStatus::Superseded => (
            false,
            "DA_THAY_THE",
            format!(
                "Mã băm khớp nhưng văn bản đã được thay thế bởi văn bản số {}",
                d.superseded_by.as_deref().unwrap_or("")
            ),
        ),
    }
}

/// The reply to `XacThucVanBan`.
pub(crate) fn verify(q: &Query, d: Option<&NotarisedDocument>) -> String {
    let (valid, code, reason) = verdict(q, d);
    let mut out = String::with_capacity(1024);
    start(&mut out, "XacThucVanBanResponse");
    leaf(&mut out, "MaYeuCau", &q.request_id);
    leaf(&mut out, "HopLe", if valid { "true" } else { "false" });
    leaf(&mut out, "MaLyDo", code);
    leaf(&mut out, "LyDo", &reason);
    if let Some(d) = d {
        leaf(&mut out, "TrangThai", d.status.code());
        if let Some(by) = &d.superseded_by {
            leaf(&mut out, "SoVanBanThayThe", by);
        }
    }
    end(&mut out, "XacThucVanBanResponse");
    out
}
