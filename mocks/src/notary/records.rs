//! The notarised documents the mock knows: a few well-known ones (documented in
//! `schemas/notary/README.md`) and a deterministic set generated from the [`Dataset`].

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::data::{Citizen, Dataset, Date, Enterprise};

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// Sale of a house (`HĐMB`).
    SaleContract,
    /// Transfer of land use rights (`HĐCN`).
    LandTransfer,
    /// Mortgage (`HĐTC`).
    MortgageContract,
    /// Gift (`HĐTCh`).
    GiftContract,
    /// Authorisation contract (`HĐUQ`).
    AuthorisationContract,
    /// Will (`DC`).
    Will,
    /// Agreement dividing an estate (`VBPCDS`).
    EstateDivision,
    /// Certified copy of an original (`SCT/BS`).
    CertifiedCopy,
}

impl DocumentKind {
    /// Every kind.
    pub const ALL: [DocumentKind; 8] = [
        DocumentKind::SaleContract,
        DocumentKind::LandTransfer,
        DocumentKind::MortgageContract,
        DocumentKind::GiftContract,
        DocumentKind::AuthorisationContract,
        DocumentKind::Will,
        DocumentKind::EstateDivision,
        DocumentKind::CertifiedCopy,
    ];

    /// The code in `LoaiVanBan`.
    pub fn code(self) -> &'static str {
        match self {
            DocumentKind::SaleContract => "HOP_DONG_MUA_BAN",
            DocumentKind::LandTransfer => "HOP_DONG_CHUYEN_NHUONG",
            DocumentKind::MortgageContract => "HOP_DONG_THE_CHAP",
            DocumentKind::GiftContract => "HOP_DONG_TANG_CHO",
            DocumentKind::AuthorisationContract => "HOP_DONG_UY_QUYEN",
            DocumentKind::Will => "DI_CHUC",
            DocumentKind::EstateDivision => "VAN_BAN_PHAN_CHIA_DI_SAN",
            DocumentKind::CertifiedCopy => "BAN_SAO_CHUNG_THUC",
        }
    }

    /// The name in `TenLoaiVanBan`.
    pub fn name_vi(self) -> &'static str {
        match self {
            DocumentKind::SaleContract => "Hợp đồng mua bán nhà ở",
            DocumentKind::LandTransfer => "Hợp đồng chuyển nhượng quyền sử dụng đất",
            DocumentKind::MortgageContract => "Hợp đồng thế chấp tài sản",
            DocumentKind::GiftContract => "Hợp đồng tặng cho tài sản",
            DocumentKind::AuthorisationContract => "Hợp đồng ủy quyền",
            DocumentKind::Will => "Di chúc",
            DocumentKind::EstateDivision => "Văn bản thỏa thuận phân chia di sản",
            DocumentKind::CertifiedCopy => "Bản sao chứng thực từ bản chính",
        }
    }

    /// The last part of the document number, e.g. `HĐMB` in `123/2026/HĐMB`.
    pub fn suffix(self) -> &'static str {
        match self {
            DocumentKind::SaleContract => "HĐMB",
            DocumentKind::LandTransfer => "HĐCN",
            DocumentKind::MortgageContract => "HĐTC",
            DocumentKind::GiftContract => "HĐTCh",
            DocumentKind::AuthorisationContract => "HĐUQ",
            DocumentKind::Will => "DC",
            DocumentKind::EstateDivision => "VBPCDS",
            DocumentKind::CertifiedCopy => "SCT/BS",
        }
    }

    /// The roles of the first and the other parties.
    fn roles(self) -> (&'static str, &'static str) {
        match self {
            DocumentKind::SaleContract | DocumentKind::LandTransfer => ("BEN_BAN", "BEN_MUA"),
            DocumentKind::MortgageContract => ("BEN_THE_CHAP", "BEN_NHAN_THE_CHAP"),
            DocumentKind::GiftContract => ("BEN_TANG_CHO", "BEN_DUOC_TANG_CHO"),
            DocumentKind::AuthorisationContract => ("BEN_UY_QUYEN", "BEN_DUOC_UY_QUYEN"),
            DocumentKind::Will => ("NGUOI_LAP_DI_CHUC", "NGUOI_THUA_KE"),
            DocumentKind::EstateDivision => ("NGUOI_THUA_KE", "NGUOI_THUA_KE"),
            DocumentKind::CertifiedCopy => ("NGUOI_YEU_CAU", "NGUOI_YEU_CAU"),
        }
    }
}

/// Whether a document is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentStatus {
    /// In force (`HIEU_LUC`).
    Valid,
    /// Revoked (`DA_HUY`).
    Revoked,
    /// Replaced by another document (`DA_THAY_THE`).
    Superseded,
}

impl DocumentStatus {
    /// The code in `TrangThai`.
    pub fn code(self) -> &'static str {
        match self {
            DocumentStatus::Valid => "HIEU_LUC",
            DocumentStatus::Revoked => "DA_HUY",
            DocumentStatus::Superseded => "DA_THAY_THE",
        }
    }
}

/// A notary office (or an office that certifies copies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Office {
    /// Five digits: the province's two-digit code and a serial.
    pub code: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Its notaries.
    pub notaries: &'static [&'static str],
}

/// The offices of the mock.
pub const OFFICES: [Office; 6] = [
    Office {
        code: "46001",
        name: "Phòng Công chứng số 1 thành phố Huế",
        notaries: &["Hoàng Văn Minh", "Lê Thị Thu Hà"],
    },
    Office {
        code: "46002",
        name: "Phòng Công chứng số 2 thành phố Huế",
        notaries: &["Trần Quốc Bảo", "Phan Thị Mỹ Linh"],
    },
    Office {
        code: "46003",
        name: "Văn phòng Công chứng Phú Xuân",
        notaries: &["Nguyễn Đăng Khoa", "Tôn Nữ Minh Thư"],
    },
    Office {
        code: "46004",
        name: "Văn phòng Công chứng Thuận Hóa",
        notaries: &["Võ Văn Tùng", "Hồ Thị Ngọc Ánh"],
    },
    Office {
        code: "79001",
        name: "Phòng Công chứng số 1 Thành phố Hồ Chí Minh",
        notaries: &["Đặng Thị Kim Oanh", "Lý Quốc Hùng"],
    },
    Office {
        code: "01001",
        name: "Phòng Công chứng số 1 thành phố Hà Nội",
        notaries: &["Bùi Thanh Tùng", "Ngô Thị Hương"],
    },
];

/// One party to a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// `VaiTro`, e.g. `BEN_BAN`.
    pub role: &'static str,
    /// Full name (a person or an enterprise).
    pub name: String,
    /// `CCCD` (personal id) or `MST` (enterprise code).
    pub id_kind: &'static str,
    /// The id, masked: first four and last two characters kept (`0460******34`).
    pub masked_id: String,
}

/// A notarised document or certified copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotarisedDocument {
    /// `123/2026/HĐMB`.
    pub number: String,
    /// Office code, `46001`.
    pub office_code: &'static str,
    /// Office name.
    pub office_name: &'static str,
    /// Kind.
    pub kind: DocumentKind,
    /// Date of notarisation or certification.
    pub date: Date,
    /// The notary (or certifying official).
    pub notary: &'static str,
    /// The parties.
    pub parties: Vec<Party>,
    /// Number of pages.
    pub pages: u32,
    /// Fee paid, VND.
    pub fee_vnd: u64,
    /// Whether in force.
    pub status: DocumentStatus,
    /// When it was revoked or superseded.
    pub status_date: Option<Date>,
    /// The number of the document that replaced it (same office).
    pub superseded_by: Option<String>,
    /// Registered SHA-256 of the document, lowercase hex.
    pub sha256: String,
}

/// The registered SHA-256 of a document: `sha256(office code + "|" + number)` in lowercase hex
/// (the mock's documents are synthetic; this rule lets a tester produce a matching "file").
pub fn document_hash(office_code: &str, number: &str) -> String {
    hex::encode(Sha256::digest(format!("{office_code}|{number}").as_bytes()))
}

/// Masks an id, keeping its first four and last two characters: `046090001234` → `0460******34`.
pub fn mask_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..4].iter().collect();
    out.push_str(&"*".repeat(chars.len() - 6));
    out.extend(&chars[chars.len() - 2..]);
    out
}

/// The notary fee (Circular 257/2016/TT-BTC, simplified) for a contract worth `value` VND.
fn contract_fee(value: u64) -> u64 {
    let fee = match value {
        v if v < 50_000_000 => 50_000,
        v if v <= 100_000_000 => 100_000,
        v if v <= 1_000_000_000 => v / 1000,
        v if v <= 3_000_000_000 => 1_000_000 + (v - 1_000_000_000) * 6 / 10_000,
        v if v <= 5_000_000_000 => 2_200_000 + (v - 3_000_000_000) * 5 / 10_000,
        v if v <= 10_000_000_000 => 3_200_000 + (v - 5_000_000_000) * 4 / 10_000,
        v => 5_200_000 + (v - 10_000_000_000) * 3 / 10_000,
    };
    fee.min(70_000_000)
}

/// The certification fee of a copy: 2,000 VND a page for the first two, 1,000 from the third,
/// at most 200,000.
fn copy_fee(pages: u32) -> u64 {
    let pages = u64::from(pages);
    (pages.min(2) * 2_000 + pages.saturating_sub(2) * 1_000).min(200_000)
}

fn citizen_party(role: &'static str, c: &Citizen) -> Party {
    Party {
        role,
        name: c.full_name(),
        id_kind: "CCCD",
        masked_id: mask_id(&c.personal_id),
    }
}

fn enterprise_party(role: &'static str, e: &Enterprise) -> Party {
    Party {
        role,
        name: e.name.clone(),
        id_kind: "MST",
        masked_id: mask_id(&e.code),
    }
}

/// The documents, indexed by (office code, number).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    documents: Vec<NotarisedDocument>,
    index: HashMap<(String, String), usize>,
}

/// How many documents [`Registry::standard`] generates.
pub const STANDARD_COUNT: usize = 300;

fn office(code: &str) -> Office {
    OFFICES
        .iter()
        .copied()
        .find(|o| o.code == code)
        .unwrap_or(OFFICES[0])
}

fn shift(d: Date, days: i64) -> Date {
    match d.to_time() {
        Some(t) => {
            let t = t.saturating_add(time::Duration::days(days));
            Date::new(t.year(), u8::from(t.month()), t.day())
        }
        None => d,
    }
}

/// A seed drawn from the dataset's content, so the same dataset gives the same documents.
fn dataset_seed(data: &Dataset) -> u64 {
    let mut h = Sha256::new();
    for c in &data.citizens {
        h.update(c.personal_id.as_bytes());
    }
    for e in &data.enterprises {
        h.update(e.code.as_bytes());
    }
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

struct Spec {
    number: &'static str,
    office: &'static str,
    kind: DocumentKind,
    date: Date,
    notary: usize,
    parties: &'static [(&'static str, &'static str)],
    pages: u32,
    value: u64,
    status: DocumentStatus,
    status_date: Option<Date>,
    superseded_by: Option<&'static str>,
}

/// The well-known documents present with every dataset (parties left out when the dataset lacks
/// them). Listed in `schemas/notary/README.md`.
const WELL_KNOWN: [Spec; 6] = [
    Spec {
        number: "123/2026/HĐMB",
        office: "46001",
        kind: DocumentKind::SaleContract,
        date: Date::new(2026, 1, 15),
        notary: 0,
        parties: &[("BEN_BAN", "046090001234"), ("BEN_MUA", "046195004321")],
        pages: 12,
        value: 2_500_000_000,
        status: DocumentStatus::Valid,
        status_date: None,
        superseded_by: None,
    },
    Spec {
        number: "88/2024/HĐTC",
        office: "46001",
        kind: DocumentKind::MortgageContract,
        date: Date::new(2024, 5, 20),
        notary: 1,
        parties: &[
            ("BEN_THE_CHAP", "079201000111"),
            ("BEN_NHAN_THE_CHAP", "0100233488"),
        ],
        pages: 8,
        value: 800_000_000,
        status: DocumentStatus::Superseded,
        status_date: Some(Date::new(2025, 2, 10)),
        superseded_by: Some("12/2025/HĐTC"),
    },
    Spec {
        number: "12/2025/HĐTC",
        office: "46001",
        kind: DocumentKind::MortgageContract,
        date: Date::new(2025, 2, 10),
        notary: 1,
        parties: &[
            ("BEN_THE_CHAP", "079201000111"),
            ("BEN_NHAN_THE_CHAP", "0100233488"),
        ],
        pages: 9,
        value: 1_200_000_000,
        status: DocumentStatus::Valid,
        status_date: None,
        superseded_by: None,
    },
    Spec {
        number: "77/2025/HĐUQ",
        office: "46002",
        kind: DocumentKind::AuthorisationContract,
        date: Date::new(2025, 3, 3),
        notary: 0,
        parties: &[
            ("BEN_UY_QUYEN", "046195004321"),
            ("BEN_DUOC_UY_QUYEN", "046090001234"),
        ],
        pages: 4,
        value: 0,
        status: DocumentStatus::Revoked,
        status_date: Some(Date::new(2025, 9, 1)),
        superseded_by: None,
    },
    Spec {
        number: "45/2023/DC",
        office: "46003",
        kind: DocumentKind::Will,
        date: Date::new(2023, 11, 8),
        notary: 1,
        parties: &[("NGUOI_LAP_DI_CHUC", "046090001234")],
        pages: 3,
        value: 0,
        status: DocumentStatus::Valid,
        status_date: None,
        superseded_by: None,
    },
    Spec {
        number: "501/2026/SCT/BS",
        office: "46004",
        kind: DocumentKind::CertifiedCopy,
        date: Date::new(2026, 2, 2),
        notary: 0,
        parties: &[("NGUOI_YEU_CAU", "046305000999")],
        pages: 3,
        value: 0,
        status: DocumentStatus::Valid,
        status_date: None,
        superseded_by: None,
    },
];

fn fee(kind: DocumentKind, value: u64, pages: u32) -> u64 {
    match kind {
        DocumentKind::SaleContract
        | DocumentKind::LandTransfer
        | DocumentKind::MortgageContract
        | DocumentKind::GiftContract
        | DocumentKind::EstateDivision => contract_fee(value),
        DocumentKind::AuthorisationContract | DocumentKind::Will => 50_000,
        DocumentKind::CertifiedCopy => copy_fee(pages),
    }
}

impl Registry {
    /// The well-known documents and generated ones up to [`STANDARD_COUNT`] in all.
    pub fn standard(data: &Dataset) -> Registry {
        Registry::generate(data, STANDARD_COUNT)
    }

    /// The well-known documents and generated ones up to `count` in all, deterministic for a
    /// given dataset: parties drawn from its citizens and enterprises, about 4 % revoked and 4 %
    /// superseded (each by a newer document of the same office).
    pub fn generate(data: &Dataset, count: usize) -> Registry {
        let mut reg = Registry::default();
        for spec in &WELL_KNOWN {
            let office = office(spec.office);
            let parties = spec
                .parties
                .iter()
                .filter_map(|(role, id)| {
                    data.citizen(id)
                        .map(|c| citizen_party(role, c))
                        .or_else(|| data.enterprise(id).map(|e| enterprise_party(role, e)))
                })
                .collect();
            reg.push(NotarisedDocument {
                number: spec.number.to_owned(),
                office_code: office.code,
                office_name: office.name,
                kind: spec.kind,
                date: spec.date,
                notary: office.notaries[spec.notary % office.notaries.len()],
                parties,
                pages: spec.pages,
                fee_vnd: fee(spec.kind, spec.value, spec.pages),
                status: spec.status,
                status_date: spec.status_date,
                superseded_by: spec.superseded_by.map(str::to_owned),
                sha256: document_hash(office.code, spec.number),
            });
        }

        let mut rng = ChaCha8Rng::seed_from_u64(dataset_seed(data) ^ 0x6e6f_7461_7279);
        let mut attempts = 0usize;
        while reg.documents.len() < count && attempts < count * 20 {
            attempts += 1;
            // Huế's offices are the busiest.
            let office = OFFICES[match rng.random_range(0..10u8) {
                0..=2 => 0,
                3..=4 => 1,
                5..=6 => 2,
                7 => 3,
                8 => 4,
                _ => 5,
            }];
            let kind = DocumentKind::ALL[rng.random_range(0..DocumentKind::ALL.len())];
            let date = Date::new(
                rng.random_range(2018..=2025),
                rng.random_range(1..=12),
                rng.random_range(1..=28),
            );
            let number = format!(
                "{}/{}/{}",
                rng.random_range(1..=2999u32),
                date.year,
                kind.suffix()
            );
            if reg.get(office.code, &number).is_some() {
                continue;
            }
            let parties = draw_parties(&mut rng, data, kind);
            let pages = match kind {
                DocumentKind::CertifiedCopy => rng.random_range(1..=15),
                DocumentKind::Will | DocumentKind::AuthorisationContract => rng.random_range(2..=6),
                _ => rng.random_range(4..=20),
            };
            let value = rng.random_range(20u64..=12_000u64) * 1_000_000;
            let notary = office.notaries[rng.random_range(0..office.notaries.len())];
            let roll: f64 = rng.random();
            let mut doc = NotarisedDocument {
                sha256: document_hash(office.code, &number),
                number,
                office_code: office.code,
                office_name: office.name,
                kind,
                date,
                notary,
                parties,
                pages,
                fee_vnd: fee(kind, value, pages),
                status: DocumentStatus::Valid,
                status_date: None,
                superseded_by: None,
            };
            if roll < 0.04 {
                doc.status = DocumentStatus::Revoked;
                doc.status_date = Some(shift(date, rng.random_range(10..=200)));
            } else if roll < 0.08 && kind != DocumentKind::CertifiedCopy {
                let later = shift(date, rng.random_range(10..=200));
                let new_number = format!(
                    "{}/{}/{}",
                    rng.random_range(3000..=5999u32),
                    later.year,
                    kind.suffix()
                );
                if reg.get(office.code, &new_number).is_some() {
                    continue;
                }
                doc.status = DocumentStatus::Superseded;
                doc.status_date = Some(later);
                doc.superseded_by = Some(new_number.clone());
                let replacement = NotarisedDocument {
                    sha256: document_hash(office.code, &new_number),
                    number: new_number,
                    date: later,
                    status: DocumentStatus::Valid,
                    status_date: None,
                    superseded_by: None,
                    ..doc.clone()
                };
                reg.push(doc);
                reg.push(replacement);
                continue;
            }
            reg.push(doc);
        }
        reg
    }

    fn push(&mut self, doc: NotarisedDocument) {
        let key = (doc.office_code.to_owned(), doc.number.clone());
        if self.index.contains_key(&key) {
            return;
        }
        self.index.insert(key, self.documents.len());
        self.documents.push(doc);
    }

    /// The document with this number at this office.
    pub fn get(&self, office_code: &str, number: &str) -> Option<&NotarisedDocument> {
        self.index
            .get(&(office_code.to_owned(), number.to_owned()))
            .and_then(|&i| self.documents.get(i))
    }

    /// Every document, well-known ones first.
    pub fn documents(&self) -> &[NotarisedDocument] {
        &self.documents
    }
}

fn pick_citizen<'a>(rng: &mut ChaCha8Rng, data: &'a Dataset) -> Option<&'a Citizen> {
    if data.citizens.is_empty() {
        return None;
    }
    data.citizens.get(rng.random_range(0..data.citizens.len()))
}

fn pick_enterprise<'a>(rng: &mut ChaCha8Rng, data: &'a Dataset) -> Option<&'a Enterprise> {
    if data.enterprises.is_empty() {
        return None;
    }
    data.enterprises
        .get(rng.random_range(0..data.enterprises.len()))
}

fn draw_parties(rng: &mut ChaCha8Rng, data: &Dataset, kind: DocumentKind) -> Vec<Party> {
    let (first, other) = kind.roles();
    let others = match kind {
        DocumentKind::CertifiedCopy => 0,
        DocumentKind::Will => rng.random_range(0..=2),
        DocumentKind::EstateDivision => rng.random_range(1..=3),
        _ => 1,
    };
    let mut parties: Vec<Party> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    if let Some(c) = pick_citizen(rng, data) {
        seen.push(c.personal_id.clone());
        parties.push(citizen_party(first, c));
    }
    for _ in 0..others {
        // The other side of a sale, transfer or mortgage is sometimes an enterprise (a bank).
        let enterprise_side = matches!(
            kind,
            DocumentKind::MortgageContract
                | DocumentKind::SaleContract
                | DocumentKind::LandTransfer
        ) && rng.random_bool(if kind == DocumentKind::MortgageContract {
            0.8
        } else {
            0.2
        });
        if enterprise_side && let Some(e) = pick_enterprise(rng, data) {
            if !seen.contains(&e.code) {
                seen.push(e.code.clone());
                parties.push(enterprise_party(other, e));
            }
            continue;
        }
        if let Some(c) = pick_citizen(rng, data)
            && !seen.contains(&c.personal_id)
        {
            seen.push(c.personal_id.clone());
            parties.push(citizen_party(other, c));
        }
    }
    parties
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_fees() {
        assert_eq!(mask_id("046090001234"), "0460******34");
        assert_eq!(mask_id("0100233488"), "0100****88");
        assert_eq!(contract_fee(2_500_000_000), 1_900_000);
        assert_eq!(contract_fee(40_000_000), 50_000);
        assert_eq!(contract_fee(800_000_000), 800_000);
        assert_eq!(contract_fee(1_000_000_000_000), 70_000_000);
        assert_eq!(copy_fee(3), 5_000);
        assert_eq!(copy_fee(1000), 200_000);
    }

    #[test]
    fn well_known_documents_exist_without_data() {
        let reg = Registry::generate(&Dataset::generate(1, 0, 0), 50);
        let doc = reg.get("46001", "123/2026/HĐMB").unwrap();
        assert_eq!(doc.fee_vnd, 1_900_000);
        assert_eq!(doc.sha256, document_hash("46001", "123/2026/HĐMB"));
        assert_eq!(reg.documents().len(), 50);
    }
}
