//! Vietnamese names: frequency tables for the generator and the diacritic folding the population
//! database uses to compare names ("Nguyễn Thị Thu Hà" → "NGUYEN THI THU HA").

use rand::Rng;

use super::model::Sex;

/// Folds a name the way the population database compares names: diacritics removed, `đ`/`Đ` → `D`,
/// upper case, runs of white space collapsed to one space, trimmed. Decomposed input (combining
/// marks) folds the same as precomposed input.
pub fn ascii_upper(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for ch in s.chars() {
        if ('\u{300}'..='\u{36f}').contains(&ch) {
            continue;
        }
        if ch.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.extend(fold_char(ch).to_uppercase());
    }
    out
}

const FOLDS: &[(&str, char)] = &[
    ("àáạảãâầấậẩẫăằắặẳẵ", 'a'),
    ("ÀÁẠẢÃÂẦẤẬẨẪĂẰẮẶẲẴ", 'A'),
    ("èéẹẻẽêềếệểễ", 'e'),
    ("ÈÉẸẺẼÊỀẾỆỂỄ", 'E'),
    ("ìíịỉĩ", 'i'),
    ("ÌÍỊỈĨ", 'I'),
    ("òóọỏõôồốộổỗơờớợởỡ", 'o'),
    ("ÒÓỌỎÕÔỒỐỘỔỖƠỜỚỢỞỠ", 'O'),
    ("ùúụủũưừứựửữ", 'u'),
    ("ÙÚỤỦŨƯỪỨỰỬỮ", 'U'),
    ("ỳýỵỷỹ", 'y'),
    ("ỲÝỴỶỸ", 'Y'),
    ("đ", 'd'),
    ("Đ", 'D'),
];

fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c;
    }
    FOLDS
        .iter()
        .find(|(set, _)| set.contains(c))
        .map(|(_, base)| *base)
        .unwrap_or(c)
}

/// Picks from a weighted table.
pub(crate) fn weighted<'a, T, R: Rng + ?Sized>(rng: &mut R, table: &'a [(T, u32)]) -> &'a T {
    let total: u32 = table.iter().map(|(_, w)| *w).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for (item, weight) in table {
        if roll < *weight {
            return item;
        }
        roll -= weight;
    }
    &table[table.len() - 1].0
}

/// Picks uniformly from a slice.
pub(crate) fn one_of<'a, T, R: Rng + ?Sized>(rng: &mut R, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Family names of the Kinh majority with their frequency (per mille, national).
const FAMILY: &[(&str, u32)] = &[
    ("Nguyễn", 380),
    ("Trần", 110),
    ("Lê", 95),
    ("Phạm", 70),
    ("Hoàng", 51),
    ("Phan", 45),
    ("Vũ", 39),
    ("Đặng", 21),
    ("Bùi", 20),
    ("Đỗ", 14),
    ("Hồ", 13),
    ("Ngô", 13),
    ("Dương", 10),
    ("Trương", 10),
    ("Đinh", 8),
    ("Đoàn", 7),
    ("Lý", 5),
    ("Lâm", 5),
    ("Mai", 5),
    ("Trịnh", 4),
    ("Cao", 4),
    ("Lương", 4),
    ("Hà", 4),
    ("Thái", 3),
    ("Tôn", 2),
    ("Châu", 2),
    ("Tạ", 2),
];

/// Family names of the Tà Ôi, Cơ Tu and Bru-Vân Kiều people of Huế and Quảng Trị's highlands.
const FAMILY_HIGHLAND: &[(&str, u32)] = &[
    ("Hồ", 34),
    ("Kăn", 8),
    ("Pả", 8),
    ("Quỳnh", 6),
    ("Blúp", 6),
    ("Alăng", 6),
    ("A Viết", 5),
    ("Arất", 5),
    ("Coor", 5),
    ("Lê", 9),
    ("Nguyễn", 8),
];

const FAMILY_HOA: &[(&str, u32)] = &[
    ("Lý", 20),
    ("Trương", 20),
    ("Lâm", 20),
    ("Quách", 10),
    ("Mạch", 10),
    ("Tăng", 10),
    ("Hứa", 10),
];
const FAMILY_KHMER: &[(&str, u32)] = &[
    ("Thạch", 30),
    ("Sơn", 25),
    ("Kim", 20),
    ("Danh", 15),
    ("Lâm", 10),
];
const FAMILY_THAI: &[(&str, u32)] = &[
    ("Lò", 25),
    ("Lương", 20),
    ("Vi", 20),
    ("Lang", 15),
    ("Quang", 10),
    ("Lô", 10),
];
const FAMILY_MUONG: &[(&str, u32)] = &[("Đinh", 30), ("Bùi", 30), ("Quách", 20), ("Hà", 20)];
const FAMILY_TAY_NUNG: &[(&str, u32)] = &[
    ("Hoàng", 30),
    ("Nông", 25),
    ("Lục", 15),
    ("Ma", 15),
    ("Vi", 15),
];

/// A family name for someone of ethnicity `ethnicity_code` living in province `province_code`
/// (old code): "Vũ" reads "Võ" and "Hoàng" reads "Huỳnh" more often the further south.
pub(crate) fn family_name<R: Rng + ?Sized>(
    rng: &mut R,
    ethnicity_code: &str,
    province_code: &str,
) -> String {
    let table = match ethnicity_code {
        "23" | "26" | "31" | "14" => FAMILY_HIGHLAND,
        "04" => FAMILY_HOA,
        "05" => FAMILY_KHMER,
        "03" | "29" | "08" => FAMILY_THAI,
        "06" => FAMILY_MUONG,
        "02" | "07" => FAMILY_TAY_NUNG,
        _ => FAMILY,
    };
    let name = *weighted(rng, table);
    let (vo, huynh) = match province_code {
        "79" => (0.9, 0.85),
        "48" | "49" => (0.85, 0.6),
        "46" | "45" => (0.85, 0.3),
        "40" => (0.3, 0.0),
        _ => (0.1, 0.0),
    };
    match name {
        "Vũ" if rng.random_bool(vo) => "Võ".to_owned(),
        "Hoàng" if rng.random_bool(huynh) => "Huỳnh".to_owned(),
        other => other.to_owned(),
    }
}

const MIDDLE_MALE_OLD: &[(&str, u32)] = &[
    ("Văn", 55),
    ("Đức", 8),
    ("Hữu", 8),
    ("Công", 6),
    ("Đình", 5),
    ("Minh", 5),
    ("Quang", 5),
    ("Ngọc", 4),
    ("Xuân", 4),
    ("Thanh", 4),
    ("Quốc", 4),
    ("Trọng", 3),
    ("Bá", 2),
];
const MIDDLE_MALE_NEW: &[(&str, u32)] = &[
    ("Văn", 20),
    ("Minh", 14),
    ("Đức", 10),
    ("Quốc", 8),
    ("Gia", 8),
    ("Hoàng", 7),
    ("Quang", 7),
    ("Anh", 6),
    ("Thanh", 5),
    ("Hữu", 5),
    ("Bảo", 5),
    ("Tuấn", 4),
    ("Nhật", 4),
    ("Công", 3),
];
const MIDDLE_FEMALE_OLD: &[(&str, u32)] = &[
    ("Thị", 70),
    ("Thị Thu", 5),
    ("Thị Kim", 5),
    ("Thị Ngọc", 4),
    ("Thị Thanh", 4),
    ("Ngọc", 4),
    ("Kim", 3),
    ("Thu", 3),
    ("Thanh", 2),
];
const MIDDLE_FEMALE_NEW: &[(&str, u32)] = &[
    ("Thị", 30),
    ("Ngọc", 10),
    ("Thu", 8),
    ("Thanh", 6),
    ("Bảo", 6),
    ("Khánh", 6),
    ("Minh", 6),
    ("Thị Thu", 5),
    ("Phương", 5),
    ("Thùy", 5),
    ("Thị Ngọc", 4),
    ("Hồng", 4),
    ("Thị Bích", 3),
    ("Mai", 3),
    ("Hoài", 3),
    ("Diệu", 3),
    ("Kim", 3),
];

const GIVEN_MALE_OLD: &[&str] = &[
    "Hùng", "Dũng", "Thắng", "Bình", "Sơn", "Hải", "Minh", "Tuấn", "Thành", "Long", "Cường", "Hòa",
    "Thanh", "Phúc", "Lộc", "Hưng", "Quang", "Tâm", "Trung", "Hiếu", "Nam", "Tú", "Định", "Thọ",
    "Tài", "Đức", "Vinh", "Toàn", "Thịnh", "Kiên", "Phong", "Thân", "Lợi", "Châu",
];
const GIVEN_MALE_NEW: &[&str] = &[
    "An", "Bảo", "Huy", "Khang", "Khoa", "Khôi", "Minh", "Nam", "Phúc", "Quân", "Tùng", "Việt",
    "Đạt", "Hiếu", "Long", "Hoàng", "Kiên", "Lâm", "Nguyên", "Phong", "Thịnh", "Trí", "Tuấn",
    "Duy", "Hưng", "Nhật", "Vinh", "Đăng", "Sơn", "Thành",
];
const GIVEN_FEMALE_OLD: &[&str] = &[
    "Lan",
    "Hoa",
    "Hương",
    "Hồng",
    "Mai",
    "Nga",
    "Hằng",
    "Thủy",
    "Hà",
    "Loan",
    "Liên",
    "Tuyết",
    "Dung",
    "Hạnh",
    "Oanh",
    "Nhung",
    "Phượng",
    "Vân",
    "Xuân",
    "Thu",
    "Sương",
    "Lài",
    "Cúc",
    "Hiền",
    "Tâm",
    "Yến",
    "Lệ",
    "Bích",
    "Huệ",
    "Thảo",
];
const GIVEN_FEMALE_NEW: &[&str] = &[
    "Anh", "Chi", "Giang", "Hà", "Hân", "Hương", "Huyền", "Linh", "Ly", "Mai", "My", "Ngân",
    "Ngọc", "Nhi", "Nhung", "Phương", "Quyên", "Quỳnh", "Thảo", "Trang", "Trâm", "Uyên", "Vân",
    "Vy", "Yến", "Hiền", "Diệp", "Châu", "Tiên", "Như",
];

/// A middle and a given name for someone of `sex` born in `birth_year`; names follow the fashion
/// of the birth decade and the middle name never ends with the given name.
pub(crate) fn middle_and_given<R: Rng + ?Sized>(
    rng: &mut R,
    sex: Sex,
    birth_year: i32,
) -> (String, String) {
    let modern = birth_year >= 1980;
    let (middles, givens) = match (sex, modern) {
        (Sex::Male, false) => (MIDDLE_MALE_OLD, GIVEN_MALE_OLD),
        (Sex::Male, true) => (MIDDLE_MALE_NEW, GIVEN_MALE_NEW),
        (Sex::Female, false) => (MIDDLE_FEMALE_OLD, GIVEN_FEMALE_OLD),
        (Sex::Female, true) => (MIDDLE_FEMALE_NEW, GIVEN_FEMALE_NEW),
    };
    loop {
        let middle = *weighted(rng, middles);
        let given = *one_of(rng, givens);
        if !middle.ends_with(given) {
            return (middle.to_owned(), given.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_vietnamese_names() {
        assert_eq!(ascii_upper("Nguyễn Thị Thu Hà"), "NGUYEN THI THU HA");
        assert_eq!(ascii_upper("Đặng Đức"), "DANG DUC");
        assert_eq!(
            ascii_upper("  Trần   Thị\tBích Ngọc "),
            "TRAN THI BICH NGOC"
        );
        assert_eq!(ascii_upper("Huỳnh Tấn Lộc"), "HUYNH TAN LOC");
        assert_eq!(ascii_upper("Vỹ Dạ Ưng Ơn"), "VY DA UNG ON");
        // Decomposed: "Hà" as H + a + U+0300, "Ư" as U + U+031B.
        assert_eq!(ascii_upper("Ha\u{300} U\u{31b}"), "HA U");
        assert_eq!(ascii_upper("Kăn Blúp"), "KAN BLUP");
    }
}
