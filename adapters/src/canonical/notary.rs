//! Canonical notary types: what `POST /v1/notary/documents/lookup` and `.../verify` take and
//! answer. English snake_case; dates as `"YYYY-MM-DD"`; money in whole VND; hashes lowercase hex.

use serde::{Deserialize, Serialize};

/// Look up a notarised document (or a certified copy) by its number at a notary office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentQuery {
    /// The document number, `{serial}/{year}/{kind}`, e.g. `123/2026/HĐMB` (compared exactly).
    pub document_number: String,
    /// The notary office's code: 5 digits, e.g. `46001`.
    pub office_code: String,
}

/// Verify that a document's SHA-256 matches the registered one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentVerifyQuery {
    /// The document number, as in [`DocumentQuery`].
    pub document_number: String,
    /// The notary office's code, as in [`DocumentQuery`].
    pub office_code: String,
    /// SHA-256 of the document's file: 64 hex digits (either case).
    pub sha256: String,
}

/// Kind of a notarised document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// House sale contract (`HOP_DONG_MUA_BAN`).
    HouseSaleContract,
    /// Land use rights transfer contract (`HOP_DONG_CHUYEN_NHUONG`).
    LandTransferContract,
    /// Mortgage contract (`HOP_DONG_THE_CHAP`).
    MortgageContract,
    /// Gift contract (`HOP_DONG_TANG_CHO`).
    GiftContract,
    /// Authorisation contract (`HOP_DONG_UY_QUYEN`).
    AuthorisationContract,
    /// Will (`DI_CHUC`).
    Will,
    /// Estate division (`VAN_BAN_PHAN_CHIA_DI_SAN`).
    EstateDivision,
    /// Certified copy (`BAN_SAO_CHUNG_THUC`).
    CertifiedCopy,
}

/// Status of a notarised document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    /// In force (`HIEU_LUC`).
    Valid,
    /// Revoked (`DA_HUY`).
    Revoked,
    /// Replaced by a newer document (`DA_THAY_THE`).
    Superseded,
}

/// A party's role in a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyRole {
    /// `BEN_BAN`.
    Seller,
    /// `BEN_MUA`.
    Buyer,
    /// `BEN_THE_CHAP`.
    Mortgagor,
    /// `BEN_NHAN_THE_CHAP`.
    Mortgagee,
    /// `BEN_TANG_CHO`.
    Donor,
    /// `BEN_DUOC_TANG_CHO`.
    Donee,
    /// `BEN_UY_QUYEN`.
    Principal,
    /// `BEN_DUOC_UY_QUYEN`.
    Agent,
    /// `NGUOI_LAP_DI_CHUC`.
    Testator,
    /// `NGUOI_THUA_KE`.
    Heir,
    /// `NGUOI_YEU_CAU` (who asked for a certified copy).
    Requester,
}

/// Kind of a party's identity document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyIdType {
    /// A person's 12-digit personal id (`CCCD`).
    PersonalId,
    /// An organisation's enterprise (tax) code (`MST`).
    EnterpriseCode,
}

/// The notary office that notarised or certified the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotaryOffice {
    /// Office code (5 digits).
    pub code: String,
    /// Office name.
    pub name: String,
}

/// A party to a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// Name of the person or organisation.
    pub name: String,
    /// Role in the document.
    pub role: PartyRole,
    /// Kind of identity document the masked id belongs to.
    pub id_type: PartyIdType,
    /// The id, masked by the registry (first four and last two characters kept).
    pub id_masked: String,
}

/// A notarised document as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentRecord {
    /// The document number.
    pub document_number: String,
    /// The kind of document.
    pub kind: DocumentKind,
    /// The registry's Vietnamese name of the kind.
    pub kind_name: String,
    /// Date of notarisation (or certification), `YYYY-MM-DD`.
    pub date: String,
    /// The office.
    pub office: NotaryOffice,
    /// The notary (or certifying official).
    pub notary_name: String,
    /// The parties, in the registry's order.
    pub parties: Vec<Party>,
    /// Number of pages.
    pub page_count: u32,
    /// Fee paid, VND.
    pub fee_vnd: u64,
    /// Current status.
    pub status: DocumentStatus,
    /// When the document was revoked or superseded, `YYYY-MM-DD`.
    pub status_changed_date: Option<String>,
    /// Number of the replacing document at the same office (only when superseded).
    pub superseded_by: Option<String>,
    /// Registered SHA-256 of the document, lowercase hex.
    pub sha256: String,
}

/// Why a verification succeeded or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyReason {
    /// The hash matches and the document is in force (`HOP_LE`).
    Valid,
    /// The hash differs from the registered one (`KHONG_KHOP`).
    HashMismatch,
    /// The hash matches but the document was revoked (`DA_HUY`).
    Revoked,
    /// The hash matches but the document was superseded (`DA_THAY_THE`).
    Superseded,
    /// No such document at that office (`KHONG_TON_TAI`).
    NotFound,
}

/// The result of a hash verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentVerification {
    /// True only when the hash matches and the document is in force.
    pub valid: bool,
    /// Why.
    pub reason: VerifyReason,
    /// The document's status, when the document exists.
    pub status: Option<DocumentStatus>,
    /// The replacing document's number, when superseded.
    pub superseded_by: Option<String>,
}
