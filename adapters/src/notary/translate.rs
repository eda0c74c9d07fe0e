//! Wire → canonical: `TraCuuVanBanResponse/VanBan` becomes a [`DocumentRecord`],
//! `XacThucVanBanResponse` a [`DocumentVerification`]. The contract's codes become English
//! snake_case; a code the contract does not list is a protocol error (its meaning is unknown).

use super::errors;
use super::wire::{Element, NT_NS};
use crate::AdapterError;
use crate::canonical::notary::{
    DocumentKind, DocumentRecord, DocumentStatus, DocumentVerification, NotaryOffice, Party,
    PartyIdType, PartyRole, VerifyReason,
};

fn req<'a>(e: &'a Element, name: &str) -> Result<&'a str, AdapterError> {
    e.child_value(NT_NS, name)
        .ok_or_else(|| errors::protocol(format!("{name} is missing")))
}

/// `LoaiVanBan` → kind.
pub fn kind(code: &str) -> Option<DocumentKind> {
    Some(match code {
        "HOP_DONG_MUA_BAN" => DocumentKind::HouseSaleContract,
        "HOP_DONG_CHUYEN_NHUONG" => DocumentKind::LandTransferContract,
        "HOP_DONG_THE_CHAP" => DocumentKind::MortgageContract,
        "HOP_DONG_TANG_CHO" => DocumentKind::GiftContract,
        "HOP_DONG_UY_QUYEN" => DocumentKind::AuthorisationContract,
        "DI_CHUC" => DocumentKind::Will,
        "VAN_BAN_PHAN_CHIA_DI_SAN" => DocumentKind::EstateDivision,
        "BAN_SAO_CHUNG_THUC" => DocumentKind::CertifiedCopy,
        _ => return None,
    })
}

/// `TrangThai` → status.
pub fn status(code: &str) -> Option<DocumentStatus> {
    Some(match code {
        "HIEU_LUC" => DocumentStatus::Valid,
        "DA_HUY" => DocumentStatus::Revoked,
        "DA_THAY_THE" => DocumentStatus::Superseded,
        _ => return None,
    })
}

/// `VaiTro` → role.
pub fn role(code: &str) -> Option<PartyRole> {
    Some(match code {
        "BEN_BAN" => PartyRole::Seller,
        "BEN_MUA" => PartyRole::Buyer,
        "BEN_THE_CHAP" => PartyRole::Mortgagor,
        "BEN_NHAN_THE_CHAP" => PartyRole::Mortgagee,
        "BEN_TANG_CHO" => PartyRole::Donor,
        "BEN_DUOC_TANG_CHO" => PartyRole::Donee,
        "BEN_UY_QUYEN" => PartyRole::Principal,
        "BEN_DUOC_UY_QUYEN" => PartyRole::Agent,
        "NGUOI_LAP_DI_CHUC" => PartyRole::Testator,
        "NGUOI_THUA_KE" => PartyRole::Heir,
        "NGUOI_YEU_CAU" => PartyRole::Requester,
        _ => return None,
    })
}

/// `MaLyDo` → reason.
pub fn reason(code: &str) -> Option<VerifyReason> {
    Some(match code {
        "HOP_LE" => VerifyReason::Valid,
        "KHONG_KHOP" => VerifyReason::HashMismatch,
        "DA_HUY" => VerifyReason::Revoked,
        "DA_THAY_THE" => VerifyReason::Superseded,
        "KHONG_TON_TAI" => VerifyReason::NotFound,
        _ => return None,
    })
}

/// `xs:date` (`YYYY-MM-DD`, optionally with a zone `Z` / `±hh:mm`, dropped) → `YYYY-MM-DD`.
pub fn xs_date(s: &str) -> Option<String> {
    let s = s.trim();
    let day = s.get(..10)?;
    let zone = &s[10..];
    let zone_ok = zone.is_empty()
        || zone == "Z"
        || (zone.len() == 6
            && (zone.starts_with('+') || zone.starts_with('-'))
            && zone.as_bytes().get(3) == Some(&b':'));
    if !zone_ok {
        return None;
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(day, format).ok()?;
    d.format(format).ok()
}

/// `xs:boolean`.
pub fn xs_boolean(s: &str) -> Option<bool> {
    match s.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// A SHA-256 as 64 hex digits, lowercased.
pub fn sha256_hex(s: &str) -> Option<String> {
    let s = s.trim();
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// The echoed `MaYeuCau` must be the one sent (when the reply carries it).
pub fn check_request_id(resp: &Element, sent: &str) -> Result<(), AdapterError> {
    match resp.child_value(NT_NS, "MaYeuCau") {
        Some(got) if got != sent => Err(errors::protocol(
            "the reply answers another request (MaYeuCau)",
        )),
        _ => Ok(()),
    }
}

/// `TraCuuVanBanResponse` → the record.
pub fn document_record(resp: &Element) -> Result<DocumentRecord, AdapterError> {
    let v = resp
        .child(NT_NS, "VanBan")
        .filter(|v| !v.is_nil())
        .ok_or_else(|| errors::protocol("VanBan is missing"))?;
    let office = v
        .child(NT_NS, "ToChucCongChung")
        .ok_or_else(|| errors::protocol("ToChucCongChung is missing"))?;
    let mut parties = Vec::new();
    if let Some(list) = v.child(NT_NS, "DanhSachDuongSu") {
        for p in list
            .children_named(NT_NS, "DuongSu")
            .filter(|p| !p.is_nil())
        {
            parties.push(Party {
                name: req(p, "HoVaTen")?.to_owned(),
                role: role(req(p, "VaiTro")?).ok_or_else(|| errors::protocol("unknown VaiTro"))?,
                id_type: match req(p, "LoaiGiayTo")? {
                    "CCCD" => PartyIdType::PersonalId,
                    "MST" => PartyIdType::EnterpriseCode,
                    _ => return Err(errors::protocol("unknown LoaiGiayTo")),
                },
                id_masked: p
                    .child_value(NT_NS, "SoGiayTo")
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
    }
    let status_changed_date = match v.child_value(NT_NS, "NgayThayDoiTrangThai") {
        Some(d) => {
            Some(xs_date(d).ok_or_else(|| errors::protocol("NgayThayDoiTrangThai is not a date"))?)
        }
        None => None,
    };
    Ok(DocumentRecord {
        document_number: req(v, "SoVanBan")?.to_owned(),
        kind: kind(req(v, "LoaiVanBan")?).ok_or_else(|| errors::protocol("unknown LoaiVanBan"))?,
        kind_name: v
            .child_value(NT_NS, "TenLoaiVanBan")
            .unwrap_or_default()
            .to_owned(),
        date: xs_date(req(v, "NgayCongChung")?)
            .ok_or_else(|| errors::protocol("NgayCongChung is not a date"))?,
        office: NotaryOffice {
            code: req(office, "MaToChuc")?.to_owned(),
            name: office
                .child_value(NT_NS, "TenToChuc")
                .unwrap_or_default()
                .to_owned(),
        },
        notary_name: v
            .child_value(NT_NS, "CongChungVien")
            .unwrap_or_default()
            .to_owned(),
        parties,
        page_count: req(v, "SoTrang")?
            .parse()
            .map_err(|_| errors::protocol("SoTrang is not a count"))?,
        fee_vnd: req(v, "PhiCongChung")?
            .parse()
            .map_err(|_| errors::protocol("PhiCongChung is not an amount"))?,
        status: status(req(v, "TrangThai")?)
            .ok_or_else(|| errors::protocol("unknown TrangThai"))?,
        status_changed_date,
        superseded_by: v.child_value(NT_NS, "SoVanBanThayThe").map(str::to_owned),
        sha256: sha256_hex(req(v, "MaBam")?)
            .ok_or_else(|| errors::protocol("MaBam is not a SHA-256"))?,
    })
}

/// `XacThucVanBanResponse` → the verification. `HopLe` must agree with `MaLyDo`.
pub fn document_verification(resp: &Element) -> Result<DocumentVerification, AdapterError> {
    let valid = xs_boolean(req(resp, "HopLe")?)
        .ok_or_else(|| errors::protocol("HopLe is not a boolean"))?;
    let reason = reason(req(resp, "MaLyDo")?).ok_or_else(|| errors::protocol("unknown MaLyDo"))?;
    if valid != (reason == VerifyReason::Valid) {
        return Err(errors::protocol("HopLe contradicts MaLyDo"));
    }
    let status = match resp.child_value(NT_NS, "TrangThai") {
        Some(s) => Some(status(s).ok_or_else(|| errors::protocol("unknown TrangThai"))?),
        None => None,
    };
    Ok(DocumentVerification {
        valid,
        reason,
        status,
        superseded_by: resp
            .child_value(NT_NS, "SoVanBanThayThe")
            .map(str::to_owned),
    })
}
