//! Canonical ↔ wire: the portal's [`CitizenQuery`] becomes a `YeuCauCongDan`; a `CongDan`
//! becomes a [`CitizenRecord`].

use crate::canonical::citizen::{
    Address, AddressScheme, Addresses, CitizenQuery, CitizenRecord, CitizenStatus, CodeName,
    Household, Relative, Sex,
};
use crate::error::AdapterError;

use super::errors::{internal, invalid_input};
use super::wire::{
    Operation, WireAddress, WireBirthDate, WireCitizen, WireCode, WireError, WireHouseholdHead,
    WireRelative, WireRequest,
};
use super::{CallContext, Settings};

/// Longest `HoVaTen` the contract accepts.
pub const MAX_NAME_LEN: usize = 100;

/// Upper case without diacritics, as the register compares names: `Đặng Đức Thọ` →
/// `DANG DUC THO`. Precomposed and decomposed (combining marks) input both work; runs of
/// whitespace collapse to one space; hyphens become spaces and apostrophes vanish (`H'Hen` →
/// `HHEN`). `None` when a character has no such form (a digit, another script…) or nothing is left.
pub fn fold_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut pending_space = false;
    for ch in name.chars() {
        if ch.is_whitespace() || ch == '-' {
            pending_space = !out.is_empty();
            continue;
        }
        if is_combining(ch) || matches!(ch, '\'' | '\u{2019}' | '\u{02bc}') {
            continue;
        }
        for up in ch.to_uppercase() {
            let base = if up.is_ascii_uppercase() {
                up
            } else {
                base_letter(up)?
            };
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(base);
        }
    }
    if out.is_empty() { None } else { Some(out) }
}

fn is_combining(ch: char) -> bool {
    matches!(ch, '\u{0300}'..='\u{036f}')
}

/// The base letter of an upper-case Latin letter with diacritics used in Vietnamese names
/// (and the common Western European ones).
fn base_letter(ch: char) -> Option<char> {
    const TABLE: &[(char, &str)] = &[
        ('A', "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÄÅĀ"),
        ('E', "ÈÉẺẼẸÊỀẾỂỄỆËĒ"),
        ('I', "ÌÍỈĨỊÎÏĪ"),
        ('O', "ÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÖŌ"),
        ('U', "ÙÚỦŨỤƯỪỨỬỮỰÛÜŪ"),
        ('Y', "ỲÝỶỸỴŸ"),
        ('D', "ĐÐ"),
        ('C', "Ç"),
        ('N', "Ñ"),
    ];
    TABLE
        .iter()
        .find(|(_, variants)| variants.contains(ch))
        .map(|(base, _)| *base)
}

/// `YYYY-MM-DD` → `NgayThangNam` `yyyyMMdd` (a real day), `YYYY` → `Nam`.
pub fn birth_date(date: &str) -> Option<WireBirthDate> {
    let b = date.as_bytes();
    match b.len() {
        4 if b.iter().all(u8::is_ascii_digit) => Some(WireBirthDate::Year(date.to_owned())),
        10 if b[4] == b'-' && b[7] == b'-' => {
            let (y, m, d) = (&date[0..4], &date[5..7], &date[8..10]);
            if ![y, m, d]
                .iter()
                .all(|p| p.bytes().all(|c| c.is_ascii_digit()))
            {
                return None;
            }
            let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
            time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()?;
            Some(WireBirthDate::Full(format!("{y}{m}{d}")))
        }
        _ => None,
    }
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|c| c.is_ascii_digit())
}

fn code_ok(s: &str) -> bool {
    (1..=64).contains(&s.chars().count())
}

/// Builds the wire request of `op` from the portal's query, the call's context and the
/// configured codes. Refuses (without calling anyone) what the contract would refuse:
/// an id that is neither 12 nor 9 digits, a name with no upper-case form, a date that is not
/// `YYYY-MM-DD` or `YYYY`, an official id that is not 12 or 9 digits (all `Invalid`, caller);
/// a request id the contract cannot carry (`Invalid`, internal).
pub fn request(
    op: Operation,
    query: &CitizenQuery,
    ctx: &CallContext,
    settings: &Settings,
) -> Result<WireRequest, AdapterError> {
    let id = query.citizen_id.trim();
    let (so_dinh_danh, so_cmnd) = if digits(id, 12) {
        (Some(id.to_owned()), None)
    } else if digits(id, 9) {
        (None, Some(id.to_owned()))
    } else {
        return Err(invalid_input(
            "citizen_id must be 12 digits (or an old id of 9 digits)",
        ));
    };
    let ho_va_ten = fold_name(&query.full_name)
        .filter(|n| n.len() <= MAX_NAME_LEN)
        .ok_or_else(|| {
            invalid_input(
                "full_name must be letters and spaces, at most 100 letters without diacritics",
            )
        })?;
    let ngay_thang_nam_sinh = birth_date(query.date_of_birth.trim())
        .ok_or_else(|| invalid_input("date_of_birth must be YYYY-MM-DD or YYYY"))?;
    let official = ctx.official_id.trim();
    if !(digits(official, 12) || digits(official, 9)) {
        return Err(invalid_input(
            "the official's id (X-User-Id) must be 12 or 9 digits",
        ));
    }
    if !code_ok(&ctx.request_id) {
        return Err(internal("the request id must be 1 to 64 characters"));
    }
    let ma_tich_hop = match op {
        Operation::Lookup => settings.lookup_integration_code.clone(),
        Operation::Verify => settings.verify_integration_code.clone(),
    };
    Ok(WireRequest {
        ma_yeu_cau: ctx.request_id.clone(),
        ma_dvc: settings.service_unit_code.clone(),
        ma_tich_hop,
        ma_can_bo: official.to_owned(),
        ma_don_vi: settings.unit_code.clone(),
        tai_khoan: settings.account.clone(),
        so_dinh_danh,
        so_cmnd,
        ho_va_ten,
        ngay_thang_nam_sinh,
    })
}

/// Picks, from a lookup reply's citizens, the one the query asked for (by personal id or old
/// id). `Ok(None)` when the collection is empty (no such citizen); an error when the reply
/// names only other citizens (never hand out someone else's record).
pub fn select<'a>(
    citizens: &'a [WireCitizen],
    citizen_id: &str,
) -> Result<Option<&'a WireCitizen>, WireError> {
    if citizens.is_empty() {
        return Ok(None);
    }
    let id = citizen_id.trim();
    citizens
        .iter()
        .find(|c| {
            (!c.so_dinh_danh.is_empty() && c.so_dinh_danh == id)
                || (!c.so_cmnd.is_empty() && c.so_cmnd == id)
        })
        .map(Some)
        .ok_or(WireError::BadValue("CongDan (not the citizen asked for)"))
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        None
    } else {
        Some(s.to_owned())
    }
}

/// `yyyyMMdd` → `YYYY-MM-DD` (a real day); `yyyy` → `YYYY`.
pub fn canonical_date(s: &str) -> Option<String> {
    if digits(s, 4) {
        return Some(s.to_owned());
    }
    if !digits(s, 8) {
        return None;
    }
    let (y, m, d) = (&s[0..4], &s[4..6], &s[6..8]);
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()?;
    Some(format!("{y}-{m}-{d}"))
}

/// Translates one `CongDan` into the canonical record. Refuses a record without personal id,
/// family or given name, with a sex, marital status, status or date of birth outside the
/// contract's values.
pub fn citizen(c: &WireCitizen) -> Result<CitizenRecord, WireError> {
    if c.so_dinh_danh.is_empty() {
        return Err(WireError::BadValue("SoDinhDanh"));
    }
    if c.ho.is_empty() || c.ten.is_empty() {
        return Err(WireError::BadValue("HoVaTen"));
    }
    let sex = match c.gioi_tinh.as_str() {
        "1" => Sex::Male,
        "2" => Sex::Female,
        _ => return Err(WireError::BadValue("GioiTinh")),
    };
    let date_of_birth =
        canonical_date(&c.ngay_thang_nam_sinh).ok_or(WireError::BadValue("NgayThangNamSinh"))?;
    let marital_status = match c.tinh_trang_hon_nhan.as_str() {
        "" => None,
        code => Some(CodeName {
            code: code.to_owned(),
            name: match code {
                "1" => "single",
                "2" => "married",
                "3" => "divorced",
                "4" => "widowed",
                _ => return Err(WireError::BadValue("TinhTrangHonNhan")),
            }
            .to_owned(),
        }),
    };
    let status = match c.trang_thai_cong_dan.as_str() {
        "" => None,
        "1" => Some(CitizenStatus::Alive),
        "2" => Some(CitizenStatus::Deceased),
        "3" => Some(CitizenStatus::Missing),
        _ => return Err(WireError::BadValue("TrangThaiCongDan")),
    };
    let full_name = [c.ho.as_str(), c.chu_dem.as_str(), c.ten.as_str()]
        .iter()
        .flat_map(|p| p.split_whitespace())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(CitizenRecord {
        citizen_id: c.so_dinh_danh.clone(),
        old_id: opt(&c.so_cmnd),
        full_name,
        family_name: c.ho.clone(),
        middle_name: opt(&c.chu_dem),
        given_name: c.ten.clone(),
        sex,
        date_of_birth,
        ethnicity: c.dan_toc.as_ref().and_then(code_name),
        religion: c.ton_giao.as_ref().and_then(code_name),
        nationality: opt(&c.quoc_tich),
        marital_status,
        blood_group: opt(&c.nhom_mau),
        status,
        addresses: Addresses {
            birth_registration: c.noi_dang_ky_khai_sinh.as_ref().map(address),
            hometown: c.que_quan.as_ref().map(address),
            permanent: c.thuong_tru.as_ref().map(address),
            current: c.noi_o_hien_tai.as_ref().map(address),
        },
        household: household(c.chu_ho.as_ref(), &c.so_so_ho_khau),
        father: c.cha.as_ref().map(relative),
        mother: c.me.as_ref().map(relative),
        spouse: c.vo_chong.as_ref().map(relative),
        representative: c.nguoi_dai_dien.as_ref().map(relative),
    })
}

fn code_name(w: &WireCode) -> Option<CodeName> {
    if w.code.is_empty() && w.name.is_empty() {
        None
    } else {
        Some(CodeName {
            code: w.code.clone(),
            name: w.name.clone(),
        })
    }
}

fn address(a: &WireAddress) -> Address {
    let o = |v: &Option<String>| v.as_deref().and_then(opt);
    if a.ma_don_vi_hanh_chinh.is_some() {
        Address {
            scheme: AddressScheme::TwoLevel,
            province_code: None,
            district_code: None,
            ward_code: None,
            admin_unit_code: o(&a.ma_don_vi_hanh_chinh),
            detail: opt(&a.chi_tiet),
            country: opt(&a.quoc_gia),
        }
    } else {
        Address {
            scheme: AddressScheme::ThreeLevel,
            province_code: o(&a.ma_tinh_thanh),
            district_code: o(&a.ma_quan_huyen),
            ward_code: o(&a.ma_phuong_xa),
            admin_unit_code: None,
            detail: opt(&a.chi_tiet),
            country: opt(&a.quoc_gia),
        }
    }
}

fn household(head: Option<&WireHouseholdHead>, number: &str) -> Option<Household> {
    let h = Household {
        number: opt(number),
        head_relation: head.and_then(|h| opt(&h.quan_he)),
        head_id: head.and_then(|h| opt(&h.so_dinh_danh)),
        head_name: head.and_then(|h| opt(&h.ho_va_ten)),
        head_old_id: head.and_then(|h| opt(&h.so_cmnd)),
    };
    let empty = h.number.is_none()
        && h.head_relation.is_none()
        && h.head_id.is_none()
        && h.head_name.is_none()
        && h.head_old_id.is_none();
    if empty { None } else { Some(h) }
}

fn relative(r: &WireRelative) -> Relative {
    Relative {
        full_name: r.ho_va_ten.split_whitespace().collect::<Vec<_>>().join(" "),
        citizen_id: opt(&r.so_dinh_danh),
        old_id: opt(&r.so_cmnd),
        nationality: opt(&r.quoc_tich),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_vietnamese_names() {
        assert_eq!(fold_name("Nguyễn Văn An").as_deref(), Some("NGUYEN VAN AN"));
        assert_eq!(fold_name("Đặng Đức Thọ").as_deref(), Some("DANG DUC THO"));
        assert_eq!(
            fold_name("  trần   thị bích  ngọc ").as_deref(),
            Some("TRAN THI BICH NGOC")
        );
        assert_eq!(
            fold_name("Huỳnh Thị Kim Hoa").as_deref(),
            Some("HUYNH THI KIM HOA")
        );
        assert_eq!(fold_name("Hồ Thị Xuân").as_deref(), Some("HO THI XUAN"));
        assert_eq!(
            fold_name("Trương Công Định").as_deref(),
            Some("TRUONG CONG DINH")
        );
        // Decomposed input (NFD): base letters followed by combining marks.
        assert_eq!(fold_name("Nguye\u{302}\u{303}n").as_deref(), Some("NGUYEN"));
        assert_eq!(fold_name("H'Hen Niê").as_deref(), Some("HHEN NIE"));
        assert_eq!(fold_name("Nguyen2"), None);
        assert_eq!(fold_name("   "), None);
        assert_eq!(fold_name("Иван"), None);
    }

    #[test]
    fn every_vietnamese_vowel_folds() {
        let lower = "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđ";
        let folded = fold_name(lower).unwrap();
        assert!(folded.bytes().all(|b| b.is_ascii_uppercase()), "{folded}");
        assert_eq!(folded.len(), lower.chars().count());
        assert_eq!(fold_name(&lower.to_uppercase()).unwrap(), folded);
    }

    #[test]
    fn birth_dates() {
        assert_eq!(
            birth_date("1990-03-15"),
            Some(WireBirthDate::Full("19900315".into()))
        );
        assert_eq!(birth_date("1938"), Some(WireBirthDate::Year("1938".into())));
        assert_eq!(birth_date("1990-02-30"), None);
        assert_eq!(birth_date("1990-3-15"), None);
        assert_eq!(birth_date("19900315"), None);
        assert_eq!(birth_date("199a"), None);
        assert_eq!(canonical_date("20000229").as_deref(), Some("2000-02-29"));
        assert_eq!(canonical_date("19000229"), None);
        assert_eq!(canonical_date("1938").as_deref(), Some("1938"));
    }
}
