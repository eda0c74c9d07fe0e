//! The mock data set: identifier rules, well-known records, generated data's consistency,
//! determinism, loading testers' files, and the JSON Schema / example files in `schemas/data/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use lienthong_mocks::data::{
    self, DataError, Dataset, Date, REFERENCE_DATE, Sex, ascii_upper, ids, places,
    validate_citizen, validate_enterprise, well_known,
};

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/data")
}

#[test]
fn tax_code_check_digit_rule() {
    assert_eq!(ids::tax_code_check_digit("010023348"), Some(8));
    assert!(ids::is_valid_tax_code("0100233488"));
    assert!(ids::is_valid_tax_code("0314409058"));
    assert!(ids::is_valid_tax_code("0314409058-002"));
    assert!(!ids::is_valid_tax_code("0100233480"));
    // Digits 3–9 all zero are never valid, whatever the check digit.
    for d in 0..10 {
        assert!(!ids::is_valid_tax_code(&format!("010000000{d}")));
        assert!(!ids::is_valid_tax_code(&format!("000000000{d}")));
    }
    assert!(!ids::is_valid_tax_code("0314409058-000"));
    assert!(!ids::is_valid_tax_code("0314409058-0021"));
    assert!(!ids::is_valid_tax_code("0314409058002"));
    assert!(!ids::is_valid_tax_code(""));
    assert_eq!(ids::tax_code_check_digit("01002334"), None);
    assert_eq!(ids::tax_code_check_digit("01002334x"), None);
    assert_eq!(
        ids::complete_tax_code("330123456").as_deref(),
        Some(well_known::ENTERPRISE_DISSOLVED)
    );
    assert_eq!(
        ids::complete_tax_code("330056789").as_deref(),
        Some(well_known::ENTERPRISE_SUSPENDED)
    );
}

#[test]
fn ascii_upper_names() {
    assert_eq!(ascii_upper("Nguyễn Thị Thu Hà"), "NGUYEN THI THU HA");
    assert_eq!(ascii_upper("Đặng Đức"), "DANG DUC");
    let d = Dataset::well_known();
    let ha = d.citizen(well_known::CITIZEN_HA).unwrap();
    assert_eq!(ha.full_name(), "Nguyễn Thị Thu Hà");
    assert_eq!(ha.full_name_ascii_upper(), "NGUYEN THI THU HA");
    let tho = d.citizen(well_known::CITIZEN_THO_DECEASED).unwrap();
    assert_eq!(tho.full_name_ascii_upper(), "DANG DUC THO");
}

#[test]
fn dates() {
    let d = Date::new(1990, 3, 15);
    assert_eq!(d.yyyymmdd(), "19900315");
    assert_eq!(d.iso(), "1990-03-15");
    assert_eq!(Date::parse("1990-03-15"), Some(d));
    assert_eq!(Date::parse("19900315"), Some(d));
    assert_eq!(Date::parse("15/03/1990"), Some(d));
    assert_eq!(Date::parse("1990-02-30"), None);
    assert_eq!(serde_json::to_string(&d).unwrap(), "\"1990-03-15\"");
    assert_eq!(
        serde_json::from_str::<Date>("{\"year\":1990,\"month\":3,\"day\":15}").unwrap(),
        d
    );
    assert!(serde_json::from_str::<Date>("\"2001-02-29\"").is_err());
    assert_eq!(Sex::Male.code(), 1);
    assert_eq!(Sex::Female.code(), 2);
}

#[test]
fn well_known_records() {
    let d = Dataset::standard(42);
    let an = d.citizen(well_known::CITIZEN_AN).unwrap();
    assert_eq!(an.full_name(), "Nguyễn Văn An");
    assert_eq!(
        (an.sex, an.date_of_birth),
        (Sex::Male, Date::new(1990, 3, 15))
    );
    assert_eq!(an.old_id.as_deref(), Some("191234567"));
    assert_eq!(an.marital_status, 2);
    assert_eq!(an.birth_registration.province_code, "46");
    assert_eq!(
        an.permanent_address.full_text(),
        "12 Lê Lợi, Phường Phú Hội, Thành phố Huế, Tỉnh Thừa Thiên Huế"
    );
    assert_eq!(an.permanent_address.new_province_code, "46");
    assert_eq!(an.permanent_address.new_province_name, "Thành phố Huế");
    assert_eq!(
        d.citizen_by_old_id("191234567").unwrap().personal_id,
        well_known::CITIZEN_AN
    );

    let ngoc = d.citizen(well_known::CITIZEN_NGOC).unwrap();
    assert_eq!(ngoc.full_name(), "Trần Thị Bích Ngọc");
    assert_eq!(
        (ngoc.sex, ngoc.date_of_birth),
        (Sex::Female, Date::new(1995, 7, 20))
    );
    assert_eq!(ngoc.old_id, None);
    assert_eq!(
        an.spouse.as_ref().unwrap().personal_id.as_deref(),
        Some(well_known::CITIZEN_NGOC)
    );
    assert_eq!(
        ngoc.spouse.as_ref().unwrap().personal_id.as_deref(),
        Some(well_known::CITIZEN_AN)
    );
    assert_eq!(an.household.number, ngoc.household.number);

    let khoa = d.citizen("079201000111").unwrap();
    assert_eq!(
        (khoa.full_name().as_str(), khoa.sex, khoa.marital_status),
        ("Lê Minh Khoa", Sex::Male, 1)
    );
    assert_eq!(khoa.date_of_birth, Date::new(2001, 1, 1));
    assert!(d.citizen("079301000111").is_none());

    let ha = d.citizen("046305000999").unwrap();
    assert_eq!(
        (ha.sex, ha.date_of_birth.year, ha.marital_status),
        (Sex::Female, 2005, 1)
    );
    assert_ne!(
        ha.current_address, ha.permanent_address,
        "the student lives in a dormitory"
    );

    assert!(
        !d.citizen(well_known::CITIZEN_THO_DECEASED)
            .unwrap()
            .is_alive()
    );
    let xuan = d.citizen(well_known::CITIZEN_XUAN_YEAR_ONLY).unwrap();
    assert!(xuan.birth_year_only);
    assert_eq!(xuan.ethnicity.name, "Tà Ôi");

    let one = d.enterprise(well_known::ENTERPRISE_ONE_REP).unwrap();
    assert_eq!(one.representatives.len(), 1);
    let three = d.enterprise(well_known::ENTERPRISE_THREE_REPS).unwrap();
    assert_eq!(three.representatives.len(), 3);
    let branch = d.enterprise("0314409058-002").unwrap();
    assert!(branch.is_branch());
    assert_eq!(branch.parent_code(), "0314409058");
    assert_eq!(
        d.enterprise("0314409058002").unwrap().code,
        "0314409058-002"
    );
    assert_eq!(
        d.branches("0314409058").first().map(|b| b.code.as_str()),
        Some("0314409058-002")
    );
    assert_eq!(
        d.enterprise(well_known::ENTERPRISE_DISSOLVED)
            .unwrap()
            .status_name,
        "Đã giải thể"
    );
    assert_eq!(
        d.enterprise(well_known::ENTERPRISE_SUSPENDED)
            .unwrap()
            .status_id,
        "2"
    );

    // Representatives who are citizens of the set agree with their records.
    for e in &d.enterprises[..5] {
        for r in &e.representatives {
            let c = d.citizen(&r.doc_no).unwrap();
            assert_eq!(
                (c.full_name(), c.sex.code(), c.date_of_birth),
                (r.full_name.clone(), r.gender_id, r.date_of_birth)
            );
        }
    }

    // The same in every seed, first in the lists.
    let other = Dataset::generate(7, 10, 5);
    assert_eq!(d.citizens[..12], other.citizens[..12]);
    assert_eq!(d.enterprises[..5], other.enterprises[..5]);
}

#[test]
fn every_well_known_code_and_id_is_valid() {
    let d = Dataset::well_known();
    assert_eq!((d.citizens.len(), d.enterprises.len()), (12, 5));
    for code in [
        well_known::ENTERPRISE_ONE_REP,
        well_known::ENTERPRISE_THREE_REPS,
        well_known::ENTERPRISE_BRANCH,
        well_known::ENTERPRISE_DISSOLVED,
        well_known::ENTERPRISE_SUSPENDED,
    ] {
        assert!(ids::is_valid_tax_code(code), "{code}");
        assert!(d.enterprise(code).is_some(), "{code}");
    }
    for c in &d.citizens {
        assert!(
            ids::personal_id_is_consistent(&c.personal_id, c.sex, &c.date_of_birth),
            "{}",
            c.personal_id
        );
        validate_citizen(c).unwrap_or_else(|p| panic!("{}: {p:?}", c.personal_id));
    }
    for e in &d.enterprises {
        validate_enterprise(e).unwrap_or_else(|p| panic!("{}: {p:?}", e.code));
    }
}

#[test]
fn generated_citizens_are_consistent() {
    let d = Dataset::standard(42);
    assert_eq!(d.citizens.len(), 12 + 1000);
    let mut ids_seen = HashSet::new();
    let mut old_seen = HashSet::new();
    let mut hue = 0;
    let mut with_old = 0;
    let mut adults_before_2000 = 0;
    for c in &d.citizens {
        assert!(
            ids::personal_id_is_consistent(&c.personal_id, c.sex, &c.date_of_birth),
            "{}",
            c.personal_id
        );
        assert_eq!(
            &c.personal_id[1..3],
            c.birth_registration.province_code,
            "{}",
            c.personal_id
        );
        validate_citizen(c).unwrap_or_else(|p| panic!("{}: {p:?}", c.personal_id));
        assert!(
            ids_seen.insert(c.personal_id.clone()),
            "duplicate {}",
            c.personal_id
        );
        if let Some(o) = &c.old_id {
            assert!(ids::is_well_formed_old_id(o));
            assert!(old_seen.insert(o.clone()), "duplicate old id {o}");
        }
        let age = c.age_on(&REFERENCE_DATE);
        assert!((0..=96).contains(&age), "{} is {age}", c.personal_id);
        if c.date_of_birth.year > 2008 {
            assert_eq!(c.old_id, None);
            assert_eq!(c.marital_status, 1);
            assert!(c.spouse.is_none());
        }
        if c.date_of_birth.year < 2000 {
            adults_before_2000 += 1;
            with_old += usize::from(c.old_id.is_some());
        }
        assert_eq!(
            c.marital_status == 2,
            c.spouse.is_some(),
            "{}",
            c.personal_id
        );
        if c.personal_id.starts_with("046") {
            hue += 1;
        }
        // Father's family name is the child's (when the father is known by name).
        if let Some(f) = &c.father {
            assert!(
                f.full_name.starts_with(&format!("{} ", c.family_name)),
                "{} / {}",
                c.full_name(),
                f.full_name
            );
        }
        // A spouse inside the data set points back.
        if let Some(s) = c
            .spouse
            .as_ref()
            .and_then(|s| s.personal_id.as_deref())
            .and_then(|id| d.citizen(id))
        {
            assert_eq!(
                s.spouse.as_ref().and_then(|x| x.personal_id.as_deref()),
                Some(c.personal_id.as_str())
            );
            assert_ne!(s.sex, c.sex);
        }
        assert!(!c.permanent_address.new_commune_code.is_empty());
        assert!(!c.permanent_address.ward_name.is_empty());
    }
    let share = f64::from(hue) / d.citizens.len() as f64;
    assert!((0.5..0.7).contains(&share), "Huế share {share}");
    let old_share = with_old as f64 / adults_before_2000 as f64;
    assert!(
        (0.35..0.65).contains(&old_share),
        "old id share {old_share}"
    );
    assert!(d.citizens.iter().any(|c| !c.is_alive()));
    assert!(d.citizens.iter().any(|c| c.ethnicity.code != "01"));
    // Realistic names: Nguyễn about 38 %.
    let nguyen = d
        .citizens
        .iter()
        .filter(|c| c.family_name == "Nguyễn")
        .count() as f64
        / d.citizens.len() as f64;
    assert!((0.25..0.5).contains(&nguyen), "Nguyễn share {nguyen}");
}

#[test]
fn generated_enterprises_are_consistent() {
    for seed in [1, 2, 42] {
        let d = Dataset::standard(seed);
        assert_eq!(d.enterprises.len(), 5 + 200);
        let mut codes = HashSet::new();
        let mut several = 0;
        for e in &d.enterprises {
            assert!(ids::is_valid_tax_code(&e.code), "{}", e.code);
            assert!(codes.insert(e.code.clone()), "duplicate {}", e.code);
            assert!(!e.representatives.is_empty());
            assert!(e.representatives.len() <= 3);
            several += usize::from(e.representatives.len() > 1);
            assert!((1..=6).contains(&e.business_lines.len()), "{}", e.code);
            assert_eq!(
                e.business_lines.iter().filter(|l| l.is_main).count(),
                1,
                "{}",
                e.code
            );
            assert!(e.business_lines.iter().all(|l| !l.name.is_empty()));
            validate_enterprise(e).unwrap_or_else(|p| panic!("{}: {p:?}", e.code));
            for r in &e.representatives {
                assert!(ids::personal_id_is_consistent(
                    &r.doc_no,
                    Sex::from_code(r.gender_id).unwrap(),
                    &r.date_of_birth
                ));
            }
            if e.is_branch() {
                assert!(d.enterprise(e.parent_code()).is_some());
            }
        }
        let share = several as f64 / d.enterprises.len() as f64;
        assert!(
            share >= 0.2,
            "seed {seed}: {share} have several representatives"
        );
        assert!(d.enterprises.iter().any(|e| e.status_id != "1"));
        // Names are unique.
        let names: HashSet<_> = d.enterprises.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names.len(), d.enterprises.len());
    }
}

#[test]
fn determinism() {
    let a = serde_json::to_string(&Dataset::standard(42)).unwrap();
    let b = serde_json::to_string(&Dataset::standard(42)).unwrap();
    assert_eq!(a, b);
    let c = serde_json::to_string(&Dataset::standard(43)).unwrap();
    assert_ne!(a, c);
    // A serialised data set reads back with working lookups.
    let back: Dataset = serde_json::from_str(&a).unwrap();
    assert_eq!(back, Dataset::standard(42));
    assert!(back.citizen(well_known::CITIZEN_AN).is_some());
}

#[test]
fn standard_is_fast() {
    let start = std::time::Instant::now();
    let d = Dataset::standard(5);
    let took = start.elapsed();
    assert_eq!(d.citizens.len(), 1012);
    // Release builds take a few milliseconds; unoptimised test builds get more room.
    let limit = if cfg!(debug_assertions) { 2000 } else { 100 };
    assert!(took.as_millis() < limit, "took {took:?}");
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn load_json_adds_and_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "mine.json",
        r#"{
          "citizens": [
            {"personal_id": "046199123456", "family_name": "Phan", "middle_name": "Thị", "given_name": "Mai",
             "sex": "female", "date_of_birth": "1999-04-30",
             "permanent_address": {"detail": "3 Hùng Vương", "ward_code": "19807"}},
            {"personal_id": "046090001234", "old_id": "191234567", "family_name": "Nguyễn", "middle_name": "Văn",
             "given_name": "An", "sex": "male", "date_of_birth": "1990-03-15", "marital_status": 3}
          ],
          "enterprises": [
            {"code": "3301234568-001", "name": "CHI NHÁNH PHÚ VANG - DOANH NGHIỆP TƯ NHÂN MỸ NGHỆ KIM LONG",
             "founding_date": "2010-01-02", "type_id": "9",
             "representatives": [{"full_name": "Phan Thị Mai", "gender_id": 2, "doc_no": "046199123456",
                                  "date_of_birth": "1999-04-30", "position": "Giám đốc chi nhánh"}],
             "business_lines": [{"code": "1629", "is_main": true}]}
          ]
        }"#,
    );
    let mut d = Dataset::standard(42);
    let before = d.citizens.len();
    let report = d.load_file(&path).unwrap();
    assert_eq!((report.citizens, report.enterprises), (2, 1));
    assert_eq!(d.citizens.len(), before + 1, "one added, one replaced");
    let mai = d.citizen("046199123456").unwrap();
    assert_eq!(mai.permanent_address.ward_name, "Phường Phú Hội");
    assert_eq!(mai.permanent_address.new_commune_name, "Phường Thuận Hóa");
    assert_eq!(mai.ethnicity.name, "Kinh");
    assert_eq!(mai.birth_registration.province_code, "46");
    assert_eq!(mai.household.relation_to_head, "Chủ hộ");
    assert_eq!(d.citizen(well_known::CITIZEN_AN).unwrap().marital_status, 3);
    assert_eq!(d.citizen_by_old_id("191234567").unwrap().marital_status, 3);
    let b = d.enterprise("3301234568-001").unwrap();
    assert_eq!(
        b.business_lines[0].name,
        "Sản xuất sản phẩm khác từ gỗ; sản xuất sản phẩm từ tre, nứa, rơm, rạ và vật liệu tết bện"
    );
    assert_eq!(b.type_name, "Chi nhánh");
    assert_eq!(b.status_name, "Đang hoạt động");
}

fn invalid(e: DataError) -> (String, String, String) {
    match e {
        DataError::Invalid {
            record,
            field,
            reason,
            ..
        } => (record, field, reason),
        other => panic!("expected Invalid, got {other}"),
    }
}

#[test]
fn load_json_rejects_inconsistent_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Dataset::standard(42);
    let before = d.clone();

    // G=0 means male 1900s, but she is female.
    let path = write(
        &dir,
        "bad.json",
        r#"{"citizens": [
            {"personal_id": "046199123456", "family_name": "Phan", "given_name": "Mai", "sex": "female", "date_of_birth": "1999-04-30"},
            {"personal_id": "046099123457", "family_name": "Phan", "given_name": "Lan", "sex": "female", "date_of_birth": "1999-04-30"}
        ]}"#,
    );
    let err = d.load_file(&path).unwrap_err();
    let message = err.to_string();
    let (record, field, reason) = invalid(err);
    assert_eq!(record, "citizens[1] (046099123457)");
    assert_eq!(field, "personal_id");
    assert!(reason.contains("female"), "{reason}");
    assert!(
        message.contains("bad.json")
            && message.contains("citizens[1]")
            && message.contains("personal_id"),
        "{message}"
    );
    assert_eq!(d, before, "nothing added");

    // YY disagrees with the birth year.
    let path = write(
        &dir,
        "y.json",
        r#"{"citizens": [{"personal_id": "046199123456", "family_name": "Phan", "given_name": "Mai", "sex": "female", "date_of_birth": "1998-04-30"}]}"#,
    );
    let (_, field, reason) = invalid(d.load_file(&path).unwrap_err());
    assert_eq!(field, "personal_id");
    assert!(reason.contains("1998"), "{reason}");

    // Tax code check digit.
    let path = write(
        &dir,
        "e.json",
        r#"{"enterprises": [{"code": "0100233480", "name": "X", "founding_date": "2010-01-01",
            "representatives": [{"full_name": "A", "gender_id": 1, "doc_no": "001080012345", "date_of_birth": "1980-11-02"}],
            "business_lines": [{"code": "6201", "is_main": true}]}]}"#,
    );
    let (record, field, reason) = invalid(d.load_file(&path).unwrap_err());
    assert_eq!(
        (record.as_str(), field.as_str()),
        ("enterprises[0] (0100233480)", "code")
    );
    assert!(reason.contains("check digit"), "{reason}");

    // No representative; two main lines; a representative whose id disagrees.
    let e = |reps: &str, lines: &str| {
        format!(
            r#"{{"enterprises": [{{"code": "0100233488", "name": "X", "founding_date": "2010-01-01", "representatives": {reps}, "business_lines": {lines}}}]}}"#
        )
    };
    let one_line = r#"[{"code": "6201", "is_main": true}]"#;
    let rep = r#"[{"full_name": "A", "gender_id": 2, "doc_no": "001080012345", "date_of_birth": "1980-11-02"}]"#;
    let path = write(&dir, "r.json", &e("[]", one_line));
    assert_eq!(
        invalid(d.load_file(&path).unwrap_err()).1,
        "representatives"
    );
    let path = write(&dir, "i.json", &e(rep, one_line));
    let (_, field, reason) = invalid(d.load_file(&path).unwrap_err());
    assert_eq!(field, "representatives[0].doc_no");
    assert!(reason.contains("female"), "{reason}");
    let good_rep = rep.replace("\"gender_id\": 2", "\"gender_id\": 1");
    let path = write(
        &dir,
        "l.json",
        &e(
            &good_rep,
            r#"[{"code": "6201", "is_main": true}, {"code": "6202", "is_main": true}]"#,
        ),
    );
    let (_, field, reason) = invalid(d.load_file(&path).unwrap_err());
    assert_eq!(field, "business_lines");
    assert!(reason.contains("found 2"), "{reason}");
    let path = write(&dir, "ok.json", &e(&good_rep, one_line));
    assert_eq!(
        d.load_file(&path).unwrap().enterprises,
        1,
        "replaces the well-known record"
    );
    d = before.clone();

    // Shape errors name the record.
    let path = write(
        &dir,
        "m.json",
        r#"{"citizens": [{"personal_id": "046199123456", "family_name": "Phan", "sex": "female", "date_of_birth": "1999-04-30"}]}"#,
    );
    match d.load_file(&path).unwrap_err() {
        DataError::Parse {
            location, message, ..
        } => {
            assert_eq!(location, "citizens[0] (046199123456)");
            assert!(message.contains("given_name"), "{message}");
        }
        other => panic!("{other}"),
    }
    let path = write(
        &dir,
        "s.json",
        "{\"citizens\": [\n  {\"personal_id\": }\n]}",
    );
    match d.load_file(&path).unwrap_err() {
        DataError::Parse { location, .. } => assert!(location.starts_with("line 2"), "{location}"),
        other => panic!("{other}"),
    }
    assert!(matches!(
        d.load_file(&dir.path().join("missing.json")),
        Err(DataError::Io { .. })
    ));
    assert_eq!(d, before, "nothing added by any failed load");
}

#[test]
fn load_csv() {
    let dir = tempfile::tempdir().unwrap();
    let header = data::CSV_COLUMNS.join(",");
    let text = format!(
        "{header}\n\
         046199123456,,Phan,Thị,Mai,female,1999-04-30,01,01,2,O,alive,19807,19870,19807,3 Hùng Vương,,,Phan Văn Tâm,,Lê Thị Hoa,,Trần Văn Nam,046095123458,,,\n\
         046095123458,191999888,Trần,Văn,Nam,Nam,30/12/1995,,,2,,,,,19807,3 Hùng Vương,19822,\"10, kiệt 5 Phan Bội Châu\",,,,,Phan Thị Mai,046199123456,460099999,046095123458,Chủ hộ\n\
         045150000321,,Hồ,Thị,Lài,Nữ,1950,23,,4,,deceased,,,19384,Thôn Cợp,,,,,,,,,,,\n"
    );
    let path = write(&dir, "people.csv", &text);
    let mut d = Dataset::standard(1);
    let report = d.load_file(&path).unwrap();
    assert_eq!((report.citizens, report.enterprises), (3, 0));
    let mai = d.citizen("046199123456").unwrap();
    assert_eq!(mai.spouse.as_ref().unwrap().full_name, "Trần Văn Nam");
    assert_eq!(mai.religion.name, "Phật giáo");
    assert_eq!(mai.hometown.ward_name, "Xã Phú Mỹ");
    let nam = d.citizen_by_old_id("191999888").unwrap();
    assert_eq!(nam.date_of_birth, Date::new(1995, 12, 30));
    assert_eq!(nam.current_address.detail, "10, kiệt 5 Phan Bội Châu");
    assert_eq!(nam.current_address.ward_name, "Phường An Cựu");
    assert_eq!(nam.household.number, "460099999");
    let lai = d.citizen("045150000321").unwrap();
    assert!(lai.birth_year_only && !lai.is_alive());
    assert_eq!(lai.ethnicity.name, "Bru-Vân Kiều");
    assert_eq!(lai.birth_registration.province_code, "45");

    // Semicolons (Excel in a Vietnamese locale) and a subset of the columns.
    let path = write(
        &dir,
        "semi.csv",
        "personal_id;family_name;given_name;sex;date_of_birth\n046301777777;Lê;Na;F;20010101\n",
    );
    assert_eq!(d.load_file(&path).unwrap().citizens, 1);

    // An inconsistent id names the line and the field.
    let path = write(
        &dir,
        "bad.csv",
        "personal_id,family_name,given_name,sex,date_of_birth\n046301777778,Lê,Na,female,2001-01-01\n046201777779,Lê,Ni,female,2001-01-01\n",
    );
    let err = d.load_file(&path).unwrap_err();
    let (record, field, reason) = invalid(err);
    assert_eq!(
        (record.as_str(), field.as_str()),
        ("line 3 (046201777779)", "personal_id")
    );
    assert!(reason.contains("male"), "{reason}");
    assert!(
        d.citizen("046301777778").is_none(),
        "nothing of a bad file is added"
    );

    // Unknown columns, unknown wards, bad sex are reported.
    let path = write(
        &dir,
        "c.csv",
        "personal_id,family_name,given_name,sex,date_of_birth,shoe_size\n",
    );
    assert!(matches!(d.load_file(&path), Err(DataError::Parse { .. })));
    let path = write(
        &dir,
        "w.csv",
        "personal_id,family_name,given_name,sex,date_of_birth,permanent_ward_code\n046301777778,Lê,Na,female,2001-01-01,99999\n",
    );
    assert_eq!(
        invalid(d.load_file(&path).unwrap_err()).1,
        "permanent_ward_code"
    );
    let path = write(
        &dir,
        "x.csv",
        "personal_id,family_name,given_name,sex,date_of_birth\n046301777778,Lê,Na,x,2001-01-01\n",
    );
    assert_eq!(invalid(d.load_file(&path).unwrap_err()).1, "sex");
    let path = write(
        &dir,
        "o.csv",
        "personal_id,old_id,family_name,given_name,sex,date_of_birth\n046301777778,191234567,Lê,Na,female,2001-01-01\n",
    );
    let (_, field, reason) = invalid(d.load_file(&path).unwrap_err());
    assert_eq!(field, "old_id");
    assert!(reason.contains(well_known::CITIZEN_AN), "{reason}");
}

#[test]
fn example_files_load() {
    let mut d = Dataset::standard(42);
    let r = d.load_file(&schemas_dir().join("example.json")).unwrap();
    assert!(r.citizens >= 1 && r.enterprises >= 1);
    let r = d
        .load_file(&schemas_dir().join("example-citizens.csv"))
        .unwrap();
    assert!(r.citizens >= 1);
}

/// Property names of a JSON Schema object definition.
fn schema_properties(schema: &serde_json::Value, def: &str) -> BTreeSet<String> {
    schema["$defs"][def]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("$defs.{def}.properties"))
        .keys()
        .cloned()
        .collect()
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn schema_matches_the_structs() {
    let text = std::fs::read_to_string(schemas_dir().join("dataset.schema.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let d = Dataset::well_known();
    let an = serde_json::to_value(d.citizen(well_known::CITIZEN_AN).unwrap()).unwrap();
    let three =
        serde_json::to_value(d.enterprise(well_known::ENTERPRISE_THREE_REPS).unwrap()).unwrap();
    assert_eq!(schema_properties(&schema, "citizen"), keys(&an));
    assert_eq!(
        schema_properties(&schema, "address"),
        keys(&an["permanent_address"])
    );
    assert_eq!(schema_properties(&schema, "relative"), keys(&an["spouse"]));
    assert_eq!(
        schema_properties(&schema, "household"),
        keys(&an["household"])
    );
    assert_eq!(
        schema_properties(&schema, "code_name"),
        keys(&an["ethnicity"])
    );
    assert_eq!(schema_properties(&schema, "enterprise"), keys(&three));
    assert_eq!(
        schema_properties(&schema, "representative"),
        keys(&three["representatives"][0])
    );
    assert_eq!(
        schema_properties(&schema, "business_line"),
        keys(&three["business_lines"][0])
    );
    // The documented CSV header is the real one.
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/mock-data.md"))
            .unwrap();
    assert!(
        doc.contains(&data::CSV_COLUMNS.join(",")),
        "docs/mock-data.md shows the CSV header"
    );
    for id in [
        well_known::CITIZEN_AN,
        well_known::CITIZEN_NGOC,
        well_known::ENTERPRISE_BRANCH,
    ] {
        assert!(doc.contains(id), "docs/mock-data.md lists {id}");
    }
}

#[test]
fn places_have_both_schemes() {
    let d = Dataset::standard(3);
    let mut new_provinces: HashMap<&str, &str> = HashMap::new();
    for c in &d.citizens {
        for a in [&c.permanent_address, &c.birth_registration] {
            assert!(places::province(&a.province_code).is_some());
            new_provinces.insert(&a.new_province_code, &a.new_province_name);
        }
    }
    assert_eq!(new_provinces.get("46"), Some(&"Thành phố Huế"));
    assert_eq!(new_provinces.get("48"), Some(&"Thành phố Đà Nẵng"));
}
