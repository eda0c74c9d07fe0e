//! Generated enterprises: valid MSTs with the tax office's province prefix, names that match their
//! trade, one or several legal representatives (often citizens of the same data set), VSIC lines.

use rand::Rng;

use super::REFERENCE_DATE;
use super::citizens::Gen;
use super::codes;
use super::ids;
use super::model::{BusinessLine, Citizen, Date, Enterprise, Representative, Sex};
use super::names::{self, one_of, weighted};
use super::places;

/// Where generated enterprises have their head office (old province code, weight).
const ENTERPRISE_PROVINCES: &[(&str, u32)] = &[
    ("46", 70),
    ("01", 8),
    ("79", 8),
    ("48", 6),
    ("45", 3),
    ("49", 3),
    ("40", 2),
];

/// First two digits of MSTs issued by each province's tax department (illustrative for some).
fn tax_prefix(province: &str) -> &'static str {
    match province {
        "01" => "01",
        "79" => "03",
        "48" => "04",
        "40" => "29",
        "45" => "32",
        "46" => "33",
        "49" => "40",
        _ => "33",
    }
}

fn province_short(province: &str) -> &'static str {
    match province {
        "01" => "HÀ NỘI",
        "79" => "THÀNH PHỐ HỒ CHÍ MINH",
        "48" => "ĐÀ NẴNG",
        "40" => "NGHỆ AN",
        "45" => "QUẢNG TRỊ",
        "49" => "QUẢNG NAM",
        _ => "HUẾ",
    }
}

struct Sector {
    words: &'static [&'static str],
    english: &'static str,
    main: &'static [&'static str],
    related: &'static [&'static str],
}

const SECTORS: &[(Sector, u32)] = &[
    (
        Sector {
            words: &["THƯƠNG MẠI VÀ DỊCH VỤ", "THƯƠNG MẠI TỔNG HỢP", "THƯƠNG MẠI"],
            english: "TRADING AND SERVICES",
            main: &["4711", "4719", "4690"],
            related: &["4632", "4722", "4659", "4663", "4620", "4641"],
        },
        22,
    ),
    (
        Sector {
            words: &["XÂY DỰNG", "ĐẦU TƯ XÂY DỰNG", "XÂY DỰNG VÀ THƯƠNG MẠI"],
            english: "CONSTRUCTION",
            main: &["4101", "4102", "4299"],
            related: &["4212", "4321", "4330", "7110", "4663"],
        },
        16,
    ),
    (
        Sector {
            words: &["DU LỊCH", "DU LỊCH VÀ LỮ HÀNH", "LỮ HÀNH"],
            english: "TRAVEL",
            main: &["7912", "7911"],
            related: &["7990", "55101", "4932", "56101", "8230"],
        },
        10,
    ),
    (
        Sector {
            words: &["KHÁCH SẠN", "DỊCH VỤ LƯU TRÚ"],
            english: "HOTEL",
            main: &["55101", "5510", "55103"],
            related: &["56101", "5630", "7912", "7990"],
        },
        8,
    ),
    (
        Sector {
            words: &["ẨM THỰC", "NHÀ HÀNG VÀ ẨM THỰC"],
            english: "FOOD AND BEVERAGE",
            main: &["56101", "5610"],
            related: &["5630", "4722", "1079", "4632"],
        },
        9,
    ),
    (
        Sector {
            words: &["CÔNG NGHỆ", "GIẢI PHÁP PHẦN MỀM", "CÔNG NGHỆ THÔNG TIN"],
            english: "TECHNOLOGY",
            main: &["6201", "6202"],
            related: &["6209", "6311", "4741", "7020", "6202"],
        },
        8,
    ),
    (
        Sector {
            words: &["VẬN TẢI", "VẬN TẢI VÀ LOGISTICS"],
            english: "TRANSPORT",
            main: &["4933", "49332", "4932"],
            related: &["5210", "5229", "49321", "4520"],
        },
        8,
    ),
    (
        Sector {
            words: &["BẤT ĐỘNG SẢN", "ĐẦU TƯ VÀ PHÁT TRIỂN NHÀ"],
            english: "REAL ESTATE",
            main: &["6810"],
            related: &["6820", "4101", "7110", "4330"],
        },
        5,
    ),
    (
        Sector {
            words: &["MAY MẶC", "DỆT MAY"],
            english: "GARMENT",
            main: &["1410"],
            related: &["4641", "4771"],
        },
        4,
    ),
    (
        Sector {
            words: &["NÔNG NGHIỆP", "NÔNG SẢN", "THỦY SẢN"],
            english: "AGRICULTURE",
            main: &["0118", "0322"],
            related: &["4620", "1079", "4632"],
        },
        4,
    ),
    (
        Sector {
            words: &["GIÁO DỤC", "ĐÀO TẠO"],
            english: "EDUCATION",
            main: &["8559"],
            related: &["8560", "7020"],
        },
        3,
    ),
    (
        Sector {
            words: &["Ô TÔ", "DỊCH VỤ Ô TÔ"],
            english: "AUTO",
            main: &["4520"],
            related: &["4530", "4511"],
        },
        2,
    ),
    (
        Sector {
            words: &["TRUYỀN THÔNG VÀ SỰ KIỆN", "QUẢNG CÁO"],
            english: "MEDIA AND EVENTS",
            main: &["7310"],
            related: &["8230", "7020"],
        },
        1,
    ),
];

const BRANDS: &[&str] = &[
    "HƯƠNG GIANG",
    "THIÊN AN",
    "PHÚ XUÂN",
    "NGỰ BÌNH",
    "AN PHÚ",
    "MINH KHANG",
    "SÔNG HƯƠNG",
    "THUẬN AN",
    "KIM LONG",
    "VỸ DẠ",
    "TRƯỜNG TIỀN",
    "HOÀNG GIA",
    "PHÚC THỊNH",
    "TÂN PHÁT",
    "HÒA BÌNH",
    "AN KHANG",
    "THÀNH ĐẠT",
    "HƯNG THỊNH",
    "NAM VIỆT",
    "BẠCH MÃ",
    "LĂNG CÔ",
    "HẢI VÂN",
    "TAM GIANG",
    "ĐÔNG BA",
    "VIỆT Á",
    "SAO MAI",
    "BÌNH MINH",
    "QUANG MINH",
    "TRÀNG AN",
    "HỒNG HÀ",
    "SƠN TRÀ",
    "HỘI AN",
    "HIỀN LƯƠNG",
    "THĂNG LONG",
    "BẾN THÀNH",
    "PHƯƠNG NAM",
    "ĐẠI PHÁT",
    "TIẾN THÀNH",
    "ÁNH DƯƠNG",
    "NHẬT MINH",
    "KHÁNH AN",
    "GIA BẢO",
    "THANH BÌNH",
    "CẦU HAI",
];

/// Type id, Vietnamese name prefix, English suffix, short English suffix.
type TypeRow = (&'static str, &'static str, &'static str, &'static str);

const TYPES: &[(TypeRow, u32)] = &[
    (("2", "CÔNG TY TNHH", "COMPANY LIMITED", "CO., LTD"), 40),
    (("3", "CÔNG TY TNHH", "COMPANY LIMITED", "CO., LTD"), 24),
    (("4", "CÔNG TY CỔ PHẦN", "JOINT STOCK COMPANY", "JSC"), 20),
    (("1", "DOANH NGHIỆP TƯ NHÂN", "", ""), 13),
    (("5", "CÔNG TY HỢP DANH", "PARTNERSHIP", "PARTNERSHIP"), 3),
];

fn positions(type_id: &str, count: usize) -> &'static [&'static str] {
    match (type_id, count) {
        ("1", _) => &["Chủ doanh nghiệp"],
        ("2", 1) => &["Giám đốc"],
        ("2", _) => &["Chủ tịch công ty", "Giám đốc"],
        ("3", 1) => &["Giám đốc"],
        ("3", _) => &["Chủ tịch Hội đồng thành viên", "Giám đốc"],
        ("4", 1) => &["Tổng giám đốc"],
        ("4", 2) => &["Chủ tịch Hội đồng quản trị", "Tổng giám đốc"],
        ("4", _) => &[
            "Chủ tịch Hội đồng quản trị",
            "Tổng giám đốc",
            "Phó Tổng giám đốc",
        ],
        ("5", _) => &["Thành viên hợp danh", "Thành viên hợp danh"],
        _ => &["Giám đốc chi nhánh"],
    }
}

/// Days since 0000-03-01 style serial (proleptic Gregorian), for date arithmetic.
fn day_number(d: &Date) -> i64 {
    let (y, m) = if d.month <= 2 {
        (i64::from(d.year) - 1, i64::from(d.month) + 9)
    } else {
        (i64::from(d.year), i64::from(d.month) - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + i64::from(d.day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe
}

fn from_day_number(n: i64) -> Date {
    let era = n.div_euclid(146_097);
    let doe = n - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Date::new(
        i32::try_from(year).unwrap_or(2000),
        u8::try_from(month).unwrap_or(1),
        u8::try_from(day).unwrap_or(1),
    )
}

impl Gen {
    /// A day strictly after `after` and before the data set's "today".
    fn date_after(&mut self, after: &Date) -> Date {
        let start = day_number(after) + 1;
        let end = day_number(&REFERENCE_DATE) - 1;
        if start >= end {
            return *after;
        }
        from_day_number(self.rng.random_range(start..=end))
    }

    fn new_code(&mut self, province: &str) -> String {
        let prefix = tax_prefix(province);
        loop {
            let first9 = format!("{prefix}{:07}", self.rng.random_range(0..10_000_000));
            if let Some(code) = ids::complete_tax_code(&first9) {
                if self.used_codes.insert(code.clone()) {
                    return code;
                }
            }
        }
    }

    fn new_enterprise_id(&mut self) -> String {
        loop {
            let id = self.rng.random_range(1_000_000..10_000_000).to_string();
            if self.used_enterprise_ids.insert(id.clone()) {
                return id;
            }
        }
    }

    /// A representative: an adult of the data set half the time, otherwise someone from outside.
    fn representative(
        &mut self,
        pool: &[&Citizen],
        taken: &mut Vec<String>,
        province: &str,
        position: &str,
    ) -> Representative {
        if !pool.is_empty() && self.chance(0.5) {
            let local: Vec<&Citizen> = pool
                .iter()
                .filter(|c| c.permanent_address.province_code == province)
                .copied()
                .collect();
            for _ in 0..12 {
                let from = if !local.is_empty() && self.chance(0.85) {
                    &local
                } else {
                    pool
                };
                let c = *one_of(&mut self.rng, from);
                if !taken.contains(&c.personal_id)
                    && self.used_representatives.insert(c.personal_id.clone())
                {
                    taken.push(c.personal_id.clone());
                    return Representative {
                        full_name: c.full_name(),
                        gender_id: c.sex.code(),
                        doc_no: c.personal_id.clone(),
                        doc_name: "Căn cước công dân".to_owned(),
                        date_of_birth: c.date_of_birth,
                        nationality: "Việt Nam".to_owned(),
                        position: position.to_owned(),
                    };
                }
            }
        }
        let sex = if self.chance(0.7) {
            Sex::Male
        } else {
            Sex::Female
        };
        let year = REFERENCE_DATE.year - self.range(26..=68);
        let family = names::family_name(&mut self.rng, "01", province);
        let (middle, given) = names::middle_and_given(&mut self.rng, sex, year);
        let date_of_birth = self.date_in(year);
        let doc_no = self.new_personal_id(province, sex, year);
        taken.push(doc_no.clone());
        Representative {
            full_name: format!("{family} {middle} {given}"),
            gender_id: sex.code(),
            doc_no,
            doc_name: if self.chance(0.15) {
                "Căn cước".to_owned()
            } else {
                "Căn cước công dân".to_owned()
            },
            date_of_birth,
            nationality: "Việt Nam".to_owned(),
            position: position.to_owned(),
        }
    }

    fn business_lines(&mut self, sector: &Sector) -> Vec<BusinessLine> {
        let main = *one_of(&mut self.rng, sector.main);
        let mut lines = vec![line(main, true)];
        let extra = *weighted(
            &mut self.rng,
            &[(0usize, 15), (1, 20), (2, 25), (3, 20), (4, 12), (5, 8)],
        );
        for _ in 0..extra {
            let code = *one_of(&mut self.rng, sector.related);
            if lines.iter().all(|l| l.code != code) {
                lines.push(line(code, false));
            }
        }
        lines
    }

    fn unique_name(&mut self, prefix: &str, words: &str, brand: &str, province: &str) -> String {
        let plain = format!("{prefix} {words} {brand}");
        if self.used_names.insert(plain.clone()) {
            return plain;
        }
        let local = format!("{plain} {}", province_short(province));
        if self.used_names.insert(local.clone()) {
            return local;
        }
        let mut n = 2;
        loop {
            let numbered = format!("{plain} {n}");
            if self.used_names.insert(numbered.clone()) {
                return numbered;
            }
            n += 1;
        }
    }

    /// `count` enterprises and branches; representatives are drawn from `citizens` when possible.
    pub(crate) fn enterprises(&mut self, count: usize, citizens: &[Citizen]) -> Vec<Enterprise> {
        let pool: Vec<&Citizen> = citizens
            .iter()
            .filter(|c| c.is_alive() && (25..=70).contains(&c.age_on(&REFERENCE_DATE)))
            .collect();
        let mut out: Vec<Enterprise> = Vec::with_capacity(count);
        while out.len() < count {
            let e = self.enterprise(&pool);
            let branches = if e.type_id != "1" && self.chance(0.07) {
                self.range(1..=2)
            } else {
                0
            };
            let parent = e.clone();
            out.push(e);
            for n in 1..=branches {
                if out.len() == count {
                    break;
                }
                let b = self.branch(&parent, n, &pool);
                out.push(b);
            }
        }
        out
    }

    fn enterprise(&mut self, pool: &[&Citizen]) -> Enterprise {
        let province = *weighted(&mut self.rng, ENTERPRISE_PROVINCES);
        let code = self.new_code(province);
        let (type_id, prefix, english, short) = *weighted(&mut self.rng, TYPES);
        let sector = weighted(&mut self.rng, SECTORS);
        let words = *one_of(&mut self.rng, sector.words);
        let brand = *one_of(&mut self.rng, BRANDS);
        let name = self.unique_name(prefix, words, brand, province);
        let (name_foreign, short_name) = if type_id != "1" && self.chance(0.6) {
            let brand_ascii = names::ascii_upper(brand);
            let foreign = format!("{brand_ascii} {} {english}", sector.english);
            let short = self
                .chance(0.7)
                .then(|| format!("{brand_ascii} {} {short}", sector.english));
            (Some(foreign), short)
        } else {
            (None, None)
        };
        let status_id = *weighted(&mut self.rng, &[("1", 88), ("2", 6), ("3", 4), ("4", 2)]);
        let founding_year = self.range(1995..=2025);
        let founding_date = self.date_in(founding_year);
        let number_changes = u32::try_from(self.range(0..=6).min(self.range(0..=12))).unwrap_or(0);
        let last_amend_date = (number_changes > 0).then(|| self.date_after(&founding_date));
        let (low, high, step) = match type_id {
            "1" => (2, 60, 50_000_000u64),
            "2" => (2, 100, 100_000_000),
            "3" => (5, 200, 100_000_000),
            "4" => (2, 400, 500_000_000),
            _ => (5, 50, 100_000_000),
        };
        let capital_vnd = u64::try_from(self.range(low..=high)).unwrap_or(1) * step;
        let ward = self.ward_in(province);
        let detail = self.detail(ward, true);
        let address = places::address(ward, &detail);
        let rep_count = match type_id {
            "1" => 1,
            "2" => *weighted(&mut self.rng, &[(1usize, 75), (2, 25)]),
            "3" => *weighted(&mut self.rng, &[(1usize, 60), (2, 40)]),
            "4" => *weighted(&mut self.rng, &[(1usize, 40), (2, 35), (3, 25)]),
            _ => 2,
        };
        let mut taken = Vec::new();
        let representatives = positions(type_id, rep_count)
            .iter()
            .map(|p| self.representative(pool, &mut taken, province, p))
            .collect();
        let business_lines = self.business_lines(sector);
        Enterprise {
            id: self.new_enterprise_id(),
            gdt_code: code.clone(),
            code,
            name,
            name_foreign,
            short_name,
            status_id: status_id.to_owned(),
            status_name: codes::name_of(codes::ENTERPRISE_STATUSES, status_id)
                .unwrap_or_default()
                .to_owned(),
            type_id: type_id.to_owned(),
            type_name: codes::name_of(codes::ENTERPRISE_TYPES, type_id)
                .unwrap_or_default()
                .to_owned(),
            founding_date,
            last_amend_date,
            capital_vnd,
            number_changes,
            address,
            representatives,
            business_lines,
        }
    }

    fn branch(&mut self, parent: &Enterprise, n: i32, pool: &[&Citizen]) -> Enterprise {
        let province = *weighted(&mut self.rng, ENTERPRISE_PROVINCES);
        let code = format!("{}-{n:03}", parent.code);
        self.used_codes.insert(code.clone());
        let local = format!("CHI NHÁNH {} - {}", province_short(province), parent.name);
        let name =
            if province != parent.address.province_code && self.used_names.insert(local.clone()) {
                local
            } else {
                let numbered = format!("CHI NHÁNH SỐ {n} - {}", parent.name);
                self.used_names.insert(numbered.clone());
                numbered
            };
        let ward = self.ward_in(province);
        let detail = self.detail(ward, true);
        let founding_date = self.date_after(&parent.founding_date);
        let mut taken = Vec::new();
        let representative = self.representative(pool, &mut taken, province, "Giám đốc chi nhánh");
        let mut business_lines = vec![
            parent
                .business_lines
                .iter()
                .find(|l| l.is_main)
                .cloned()
                .unwrap_or_else(|| line("4690", true)),
        ];
        if let Some(other) = parent.business_lines.iter().find(|l| !l.is_main) {
            business_lines.push(other.clone());
        }
        let status_id = if parent.status_id == "1" {
            "1"
        } else {
            parent.status_id.as_str()
        };
        Enterprise {
            id: self.new_enterprise_id(),
            gdt_code: code.clone(),
            code,
            name,
            name_foreign: None,
            short_name: None,
            status_id: status_id.to_owned(),
            status_name: codes::name_of(codes::ENTERPRISE_STATUSES, status_id)
                .unwrap_or_default()
                .to_owned(),
            type_id: "9".to_owned(),
            type_name: "Chi nhánh".to_owned(),
            founding_date,
            last_amend_date: None,
            capital_vnd: 0,
            number_changes: 0,
            address: places::address(ward, &detail),
            representatives: vec![representative],
            business_lines,
        }
    }
}

fn line(code: &str, is_main: bool) -> BusinessLine {
    BusinessLine {
        code: code.to_owned(),
        name: codes::vsic_name(code).unwrap_or_default().to_owned(),
        is_main,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip() {
        for d in [
            Date::new(1995, 1, 1),
            Date::new(2000, 2, 29),
            Date::new(2025, 12, 31),
            Date::new(1970, 3, 1),
        ] {
            assert_eq!(from_day_number(day_number(&d)), d);
        }
        assert_eq!(
            day_number(&Date::new(2000, 3, 1)) - day_number(&Date::new(2000, 2, 28)),
            2
        );
    }

    #[test]
    fn every_vsic_code_used_has_a_name() {
        for (s, _) in SECTORS {
            for c in s.main.iter().chain(s.related) {
                assert!(codes::vsic_name(c).is_some(), "{c}");
            }
        }
    }
}
