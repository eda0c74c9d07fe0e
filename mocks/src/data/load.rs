//! Testers' own records: JSON files shaped like the data set, flat CSV files of citizens; every
//! record completed from the code tables and validated before any is added.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::codes;
use super::ids;
use super::model::{Address, Citizen, CodeName, Date, Enterprise, Household, Relative, Sex};
use super::places;
use super::{DataError, REFERENCE_DATE};

/// The columns of the flat citizens CSV file, in documented order. The first line of a file names
/// its columns (any order, any subset that includes the required ones).
pub const CSV_COLUMNS: &[&str] = &[
    "personal_id",
    "old_id",
    "family_name",
    "middle_name",
    "given_name",
    "sex",
    "date_of_birth",
    "ethnicity_code",
    "religion_code",
    "marital_status",
    "blood_group",
    "status",
    "birth_ward_code",
    "hometown_ward_code",
    "permanent_ward_code",
    "permanent_detail",
    "current_ward_code",
    "current_detail",
    "father_name",
    "father_id",
    "mother_name",
    "mother_id",
    "spouse_name",
    "spouse_id",
    "household_number",
    "household_head_id",
    "relation_to_head",
];

/// Columns a CSV file must have.
pub const CSV_REQUIRED: &[&str] = &[
    "personal_id",
    "family_name",
    "given_name",
    "sex",
    "date_of_birth",
];

/// A record's problem: the field (path) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// Field path, e.g. `personal_id`, `spouse.personal_id`, `representatives[1].doc_no`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

fn problem(field: impl Into<String>, reason: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A parsed record with where it came from ("citizens[2]" or "line 3").
pub(crate) struct Sourced<T> {
    pub(crate) at: String,
    pub(crate) record: T,
}

fn label<T>(s: &Sourced<T>, key: &str) -> String {
    if key.is_empty() {
        s.at.clone()
    } else {
        format!("{} ({key})", s.at)
    }
}

// ---------------------------------------------------------------------------------------------
// Completion and validation.

/// Fills what a loaded citizen may leave out: code names, address names and new scheme, the birth
/// registration province (from the id), the household (the citizen alone, as head).
pub fn complete_citizen(c: &mut Citizen) {
    c.personal_id = c.personal_id.trim().to_owned();
    if let Some(o) = &mut c.old_id {
        *o = o.trim().to_owned();
    }
    if c.old_id.as_deref() == Some("") {
        c.old_id = None;
    }
    fill_code_name(&mut c.ethnicity, codes::ETHNICITIES);
    fill_code_name(&mut c.religion, codes::RELIGIONS);
    if let Some(b) = &mut c.blood_group {
        *b = b.trim().to_uppercase();
    }
    for a in [
        &mut c.birth_registration,
        &mut c.hometown,
        &mut c.permanent_address,
        &mut c.current_address,
    ] {
        places::complete_address(a);
    }
    if c.birth_registration.is_empty() && c.personal_id.len() == 12 {
        if let Some(p) = places::province(&c.personal_id[..3]) {
            c.birth_registration = places::province_address(p, "");
        }
    }
    if c.hometown.is_empty() {
        c.hometown = c.birth_registration.clone();
        c.hometown.detail.clear();
    }
    if c.current_address.is_empty() {
        c.current_address = c.permanent_address.clone();
    }
    let h = &mut c.household;
    if h.number.is_empty() {
        h.number = c.personal_id.clone();
    }
    if h.head_id.is_empty() {
        h.head_id = c.personal_id.clone();
    }
    if h.relation_to_head.is_empty() && h.head_id == c.personal_id {
        h.relation_to_head = "Chủ hộ".to_owned();
    }
}

fn fill_code_name(cn: &mut CodeName, table: &[(&str, &'static str)]) {
    cn.code = cn.code.trim().to_owned();
    if cn.name.is_empty() {
        if let Some(n) = codes::name_of(table, &cn.code) {
            cn.name = n.to_owned();
        }
    }
}

/// Fills what a loaded enterprise may leave out: tax code, internal id, status/type/VSIC names,
/// address names and new scheme.
pub fn complete_enterprise(e: &mut Enterprise) {
    e.code = e.code.trim().to_owned();
    if e.gdt_code.is_empty() {
        e.gdt_code = e.code.clone();
    }
    if e.id.is_empty() {
        e.id = e.code.replace('-', "");
    }
    if e.status_name.is_empty() {
        e.status_name = codes::name_of(codes::ENTERPRISE_STATUSES, &e.status_id)
            .unwrap_or_default()
            .to_owned();
    }
    if e.type_name.is_empty() {
        e.type_name = codes::name_of(codes::ENTERPRISE_TYPES, &e.type_id)
            .unwrap_or_default()
            .to_owned();
    }
    for l in &mut e.business_lines {
        if l.name.is_empty() {
            l.name = codes::vsic_name(&l.code).unwrap_or_default().to_owned();
        }
    }
    places::complete_address(&mut e.address);
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn check_relative(field: &str, r: &Option<Relative>) -> Result<(), FieldProblem> {
    let Some(r) = r else { return Ok(()) };
    if r.full_name.trim().is_empty() {
        return Err(problem(format!("{field}.full_name"), "is empty"));
    }
    if let Some(id) = &r.personal_id {
        if let Some(why) = ids::personal_id_structure_problem(id) {
            return Err(problem(format!("{field}.personal_id"), why));
        }
    }
    if let Some(id) = &r.old_id {
        if !ids::is_well_formed_old_id(id) {
            return Err(problem(
                format!("{field}.old_id"),
                format!("`{id}` is not 9 digits"),
            ));
        }
    }
    Ok(())
}

/// Checks a citizen: id structure and agreement with sex and birth date, old id, names, marital
/// status against age and spouse, codes, relatives, household. The first problem found is returned.
pub fn validate_citizen(c: &Citizen) -> Result<(), FieldProblem> {
    if let Some(why) = ids::personal_id_structure_problem(&c.personal_id) {
        return Err(problem("personal_id", why));
    }
    if !c.date_of_birth.is_valid() {
        return Err(problem(
            "date_of_birth",
            format!("{} is not a real day", c.date_of_birth.iso()),
        ));
    }
    if !(1900..=2399).contains(&c.date_of_birth.year) {
        return Err(problem("date_of_birth", "year must be 1900 or later"));
    }
    if let Some(why) = ids::personal_id_mismatch(&c.personal_id, c.sex, &c.date_of_birth) {
        return Err(problem("personal_id", why));
    }
    if let Some(o) = &c.old_id {
        if !ids::is_well_formed_old_id(o) {
            return Err(problem("old_id", format!("`{o}` is not 9 digits")));
        }
    }
    if c.family_name.trim().is_empty() {
        return Err(problem("family_name", "is empty"));
    }
    if c.given_name.trim().is_empty() {
        return Err(problem("given_name", "is empty"));
    }
    if !(1..=4).contains(&c.marital_status) {
        return Err(problem(
            "marital_status",
            format!(
                "{} is not 1 (single), 2 (married), 3 (divorced) or 4 (widowed)",
                c.marital_status
            ),
        ));
    }
    if c.marital_status != 1 && c.age_on(&REFERENCE_DATE) < 18 {
        return Err(problem(
            "marital_status",
            "a citizen under 18 is single (1)",
        ));
    }
    match (c.marital_status, &c.spouse) {
        (2, None) => {
            return Err(problem(
                "spouse",
                "a married citizen (marital_status 2) needs a spouse",
            ));
        }
        (m, Some(_)) if m != 2 => {
            return Err(problem(
                "spouse",
                format!("only a married citizen has a spouse (marital_status is {m})"),
            ));
        }
        _ => {}
    }
    if let Some(b) = &c.blood_group {
        if !["A", "B", "AB", "O"].contains(&b.as_str()) {
            return Err(problem(
                "blood_group",
                format!("`{b}` is not A, B, AB or O"),
            ));
        }
    }
    if c.status != "alive" && c.status != "deceased" {
        return Err(problem(
            "status",
            format!("`{}` is not alive or deceased", c.status),
        ));
    }
    if c.nationality.len() != 2 || !c.nationality.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(problem(
            "nationality",
            format!("`{}` is not a two-letter country code", c.nationality),
        ));
    }
    for (field, cn) in [
        ("ethnicity.code", &c.ethnicity),
        ("religion.code", &c.religion),
    ] {
        if cn.code.len() != 2 || !all_digits(&cn.code) {
            return Err(problem(
                field,
                format!("`{}` is not a 2-digit code", cn.code),
            ));
        }
    }
    check_relative("father", &c.father)?;
    check_relative("mother", &c.mother)?;
    check_relative("spouse", &c.spouse)?;
    if let Some(s) = &c.spouse {
        if s.personal_id.as_deref() == Some(c.personal_id.as_str()) {
            return Err(problem("spouse.personal_id", "is the citizen's own id"));
        }
    }
    let h: &Household = &c.household;
    if !(9..=12).contains(&h.number.len()) || !all_digits(&h.number) {
        return Err(problem(
            "household.number",
            format!("`{}` is not 9–12 digits", h.number),
        ));
    }
    if let Some(why) = ids::personal_id_structure_problem(&h.head_id) {
        return Err(problem("household.head_id", why));
    }
    Ok(())
}

/// Checks an enterprise: MST and tax code, names, dates, representatives (at least one; personal
/// ids agree with gender and birth date), business lines (at least one, exactly one main).
pub fn validate_enterprise(e: &Enterprise) -> Result<(), FieldProblem> {
    if let Some(why) = ids::tax_code_problem(&e.code) {
        return Err(problem("code", why));
    }
    if e.gdt_code != e.code && !ids::is_well_formed_personal_id(&e.gdt_code) {
        if let Some(why) = ids::tax_code_problem(&e.gdt_code) {
            return Err(problem("gdt_code", why));
        }
    }
    if e.name.trim().is_empty() {
        return Err(problem("name", "is empty"));
    }
    if !e.founding_date.is_valid() {
        return Err(problem("founding_date", "is not a real day"));
    }
    if let Some(d) = &e.last_amend_date {
        if d < &e.founding_date {
            return Err(problem(
                "last_amend_date",
                format!("{} is before founding_date {}", d, e.founding_date),
            ));
        }
    }
    if e.representatives.is_empty() {
        return Err(problem(
            "representatives",
            "an enterprise has at least one legal representative",
        ));
    }
    for (i, r) in e.representatives.iter().enumerate() {
        let f = |name: &str| format!("representatives[{i}].{name}");
        if r.full_name.trim().is_empty() {
            return Err(problem(f("full_name"), "is empty"));
        }
        let Some(sex) = Sex::from_code(r.gender_id) else {
            return Err(problem(
                f("gender_id"),
                format!("{} is not 1 (male) or 2 (female)", r.gender_id),
            ));
        };
        if (r.doc_no.len() == 12 && all_digits(&r.doc_no)) || r.doc_name.contains("Căn cước") {
            if let Some(why) = ids::personal_id_mismatch(&r.doc_no, sex, &r.date_of_birth) {
                return Err(problem(f("doc_no"), why));
            }
        } else if r.doc_no.trim().is_empty() {
            return Err(problem(f("doc_no"), "is empty"));
        }
    }
    if e.business_lines.is_empty() {
        return Err(problem("business_lines", "at least one business line"));
    }
    for (i, l) in e.business_lines.iter().enumerate() {
        if !(4..=5).contains(&l.code.len()) || !all_digits(&l.code) {
            return Err(problem(
                format!("business_lines[{i}].code"),
                format!("`{}` is not a 4- or 5-digit VSIC code", l.code),
            ));
        }
    }
    let mains = e.business_lines.iter().filter(|l| l.is_main).count();
    if mains != 1 {
        return Err(problem(
            "business_lines",
            format!("exactly one line is main (is_main), found {mains}"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// JSON.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(rename = "$schema", default)]
    _schema: Option<String>,
    #[serde(default)]
    citizens: Vec<Value>,
    #[serde(default)]
    enterprises: Vec<Value>,
}

type Parsed = (Vec<Sourced<Citizen>>, Vec<Sourced<Enterprise>>);

pub(crate) fn parse_json(path: &Path, text: &str) -> Result<Parsed, DataError> {
    let raw: RawFile = serde_json::from_str(text).map_err(|e| DataError::Parse {
        path: path.to_owned(),
        location: format!("line {}, column {}", e.line(), e.column()),
        message: e.to_string(),
    })?;
    let mut citizens = Vec::with_capacity(raw.citizens.len());
    for (i, v) in raw.citizens.into_iter().enumerate() {
        let at = format!("citizens[{i}]");
        let key = v
            .get("personal_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let record = Citizen::deserialize(v).map_err(|e| DataError::Parse {
            path: path.to_owned(),
            location: if key.is_empty() {
                at.clone()
            } else {
                format!("{at} ({key})")
            },
            message: e.to_string(),
        })?;
        citizens.push(Sourced { at, record });
    }
    let mut enterprises = Vec::with_capacity(raw.enterprises.len());
    for (i, v) in raw.enterprises.into_iter().enumerate() {
        let at = format!("enterprises[{i}]");
        let key = v
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let record = Enterprise::deserialize(v).map_err(|e| DataError::Parse {
            path: path.to_owned(),
            location: if key.is_empty() {
                at.clone()
            } else {
                format!("{at} ({key})")
            },
            message: e.to_string(),
        })?;
        enterprises.push(Sourced { at, record });
    }
    Ok((citizens, enterprises))
}

// ---------------------------------------------------------------------------------------------
// CSV.

/// CSV records with the line each starts on.
type CsvRecords = Vec<(usize, Vec<String>)>;

/// Reads CSV text into records with the line each starts on, by the csv crate: RFC 4180 quoting
/// (`""` inside quoted fields, line breaks inside quotes); `,` or `;` as delimiter, chosen from the
/// header line; a UTF-8 byte-order mark and blank lines are ignored.
fn split_csv(text: &str) -> Result<CsvRecords, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first_line = text.lines().next().unwrap_or_default();
    let delimiter = if !first_line.contains(',') && first_line.contains(';') {
        b';'
    } else {
        b','
    };
    check_quotes(text, delimiter).map_err(|(line, why)| (line, why.to_owned()))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    // The csv crate gives where it began to read a record, which is before the end of the
    // previous line (of a CRLF) and any blank lines: the record starts after those.
    let line = |at: Option<&csv::Position>| {
        let Some(at) = at else {
            return 1;
        };
        let skipped = text
            .as_bytes()
            .get(usize::try_from(at.byte()).unwrap_or(usize::MAX)..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .filter(|b| **b == b'\n')
            .count();
        usize::try_from(at.line()).unwrap_or(usize::MAX) + skipped
    };
    let mut records = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| (line(e.position()), e.to_string()))?;
        // A line of white space only.
        if record.len() == 1 && record[0].trim().is_empty() {
            continue;
        }
        records.push((
            line(record.position()),
            record.iter().map(str::to_owned).collect(),
        ));
    }
    Ok(records)
}

/// Refuses the quotes RFC 4180 does not allow, which the csv crate reads as text by design: a
/// quote inside an unquoted field, text after a closing quote (white space is fine), a quoted
/// field never closed. The error names the line.
fn check_quotes(text: &str, delimiter: u8) -> Result<(), (usize, &'static str)> {
    #[derive(Clone, Copy, PartialEq)]
    enum At {
        FieldStart,
        Unquoted,
        Quoted,
        AfterQuote,
    }
    let (mut at, mut line, mut opened_on) = (At::FieldStart, 1, 1);
    for b in text.bytes() {
        at = match (at, b) {
            (At::Quoted, b'"') => At::AfterQuote,
            (At::Quoted, _) => At::Quoted,
            // `""` inside quotes.
            (At::AfterQuote, b'"') => At::Quoted,
            (At::FieldStart, b'"') => {
                opened_on = line;
                At::Quoted
            }
            (At::Unquoted, b'"') => return Err((line, "a quote inside an unquoted field")),
            (_, b'\r' | b'\n') => At::FieldStart,
            (_, b) if b == delimiter => At::FieldStart,
            (At::AfterQuote, b' ' | b'\t') => At::AfterQuote,
            (At::AfterQuote, _) => return Err((line, "text after a closing quote")),
            (At::FieldStart | At::Unquoted, _) => At::Unquoted,
        };
        if b == b'\n' {
            line += 1;
        }
    }
    if at == At::Quoted {
        return Err((opened_on, "a quoted field is never closed"));
    }
    Ok(())
}

struct Row<'a> {
    columns: &'a HashMap<&'a str, usize>,
    fields: &'a [String],
}

impl Row<'_> {
    fn get(&self, name: &str) -> &str {
        self.columns
            .get(name)
            .and_then(|i| self.fields.get(*i))
            .map(|s| s.trim())
            .unwrap_or_default()
    }
    fn opt(&self, name: &str) -> Option<String> {
        let v = self.get(name);
        (!v.is_empty()).then(|| v.to_owned())
    }
}

fn ward_address(
    row: &Row<'_>,
    column: &str,
    detail: &str,
) -> Result<Option<Address>, FieldProblem> {
    let code = row.get(column);
    if code.is_empty() {
        return Ok(None);
    }
    match places::ward(code) {
        Some(w) => Ok(Some(places::address(w, detail))),
        None => Err(problem(
            column,
            format!("unknown ward code `{code}` (docs/mock-data.md lists the known ones)"),
        )),
    }
}

fn relative_from(row: &Row<'_>, who: &str) -> Result<Option<Relative>, FieldProblem> {
    let name = row.get(&format!("{who}_name"));
    let id = row.opt(&format!("{who}_id"));
    if name.is_empty() {
        return match id {
            Some(_) => Err(problem(
                format!("{who}_name"),
                format!("is needed when {who}_id is given"),
            )),
            None => Ok(None),
        };
    }
    Ok(Some(Relative {
        full_name: name.to_owned(),
        personal_id: id,
        old_id: None,
        nationality: "VN".to_owned(),
    }))
}

fn citizen_from_row(row: &Row<'_>) -> Result<Citizen, FieldProblem> {
    let personal_id = row.get("personal_id").to_owned();
    let sex_text = row.get("sex");
    let sex = Sex::parse(sex_text).ok_or_else(|| {
        problem(
            "sex",
            format!("`{sex_text}` is not male/female (or 1/2, Nam/Nữ)"),
        )
    })?;
    let dob_text = row.get("date_of_birth");
    let (date_of_birth, birth_year_only) = if dob_text.len() == 4 && all_digits(dob_text) {
        let year: i32 = dob_text
            .parse()
            .map_err(|_| problem("date_of_birth", "bad year"))?;
        (Date::new(year, 1, 1), true)
    } else {
        let d = Date::parse(dob_text).ok_or_else(|| {
            problem(
                "date_of_birth",
                format!("`{dob_text}` is not YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY or YYYY"),
            )
        })?;
        (d, false)
    };
    let marital_status = match row.get("marital_status") {
        "" => 1,
        m => m
            .parse()
            .map_err(|_| problem("marital_status", format!("`{m}` is not 1–4")))?,
    };
    let permanent = ward_address(row, "permanent_ward_code", row.get("permanent_detail"))?;
    let permanent = match permanent {
        Some(a) => a,
        None if !row.get("permanent_detail").is_empty() => Address {
            detail: row.get("permanent_detail").to_owned(),
            ..Address::default()
        },
        None => Address::default(),
    };
    let current = match ward_address(row, "current_ward_code", row.get("current_detail"))? {
        Some(a) => a,
        None => permanent.clone(),
    };
    let birth_registration = match ward_address(row, "birth_ward_code", "")? {
        Some(a) => a,
        None if personal_id.len() == 12
            && permanent.province_code == personal_id.get(1..3).unwrap_or_default() =>
        {
            Address {
                detail: String::new(),
                ..permanent.clone()
            }
        }
        None => Address::default(),
    };
    let hometown = ward_address(row, "hometown_ward_code", "")?.unwrap_or_default();
    let spouse = relative_from(row, "spouse")?;
    Ok(Citizen {
        personal_id,
        old_id: row.opt("old_id"),
        family_name: row.get("family_name").to_owned(),
        middle_name: row.get("middle_name").to_owned(),
        given_name: row.get("given_name").to_owned(),
        sex,
        date_of_birth,
        birth_year_only,
        ethnicity: CodeName::new(row.opt("ethnicity_code").as_deref().unwrap_or("01"), ""),
        religion: CodeName::new(row.opt("religion_code").as_deref().unwrap_or("00"), ""),
        nationality: "VN".to_owned(),
        marital_status,
        blood_group: row.opt("blood_group"),
        birth_registration,
        hometown,
        permanent_address: permanent,
        current_address: current,
        father: relative_from(row, "father")?,
        mother: relative_from(row, "mother")?,
        spouse,
        household: Household {
            number: row.get("household_number").to_owned(),
            head_id: row.get("household_head_id").to_owned(),
            relation_to_head: row.get("relation_to_head").to_owned(),
        },
        status: row.opt("status").unwrap_or_else(|| "alive".to_owned()),
    })
}

pub(crate) fn parse_csv(path: &Path, text: &str) -> Result<Vec<Sourced<Citizen>>, DataError> {
    let parse_error = |line: usize, message: String| DataError::Parse {
        path: path.to_owned(),
        location: format!("line {line}"),
        message,
    };
    let records = split_csv(text).map_err(|(line, m)| parse_error(line, m))?;
    let Some(((header_line, header), rows)) = records.split_first() else {
        return Err(parse_error(
            1,
            "empty file: the first line must name the columns".to_owned(),
        ));
    };
    let mut columns: HashMap<&str, usize> = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim();
        let Some(known) = CSV_COLUMNS.iter().find(|c| **c == name) else {
            return Err(parse_error(
                *header_line,
                format!(
                    "unknown column `{name}`; columns are: {}",
                    CSV_COLUMNS.join(",")
                ),
            ));
        };
        if columns.insert(known, i).is_some() {
            return Err(parse_error(
                *header_line,
                format!("column `{name}` appears twice"),
            ));
        }
    }
    if let Some(missing) = CSV_REQUIRED.iter().find(|c| !columns.contains_key(**c)) {
        return Err(parse_error(
            *header_line,
            format!("required column `{missing}` is missing"),
        ));
    }
    let mut out = Vec::with_capacity(rows.len());
    for (line, fields) in rows {
        if fields.len() != header.len() {
            return Err(parse_error(
                *line,
                format!(
                    "{} fields but the header has {}",
                    fields.len(),
                    header.len()
                ),
            ));
        }
        let row = Row {
            columns: &columns,
            fields,
        };
        let at = format!("line {line}");
        let record = citizen_from_row(&row).map_err(|p| DataError::Invalid {
            path: path.to_owned(),
            record: format!("{at} ({})", row.get("personal_id")),
            field: p.field,
            reason: p.reason,
        })?;
        out.push(Sourced { at, record });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Checking a whole file against itself and the data set.

/// Completes and validates every record; checks that no id appears twice in the file and that an
/// old id does not already belong to another citizen. Nothing is added unless everything passes.
pub(crate) fn check(
    path: &Path,
    existing_old_ids: &HashMap<String, String>,
    citizens: &mut [Sourced<Citizen>],
    enterprises: &mut [Sourced<Enterprise>],
) -> Result<(), DataError> {
    let invalid = |record: String, p: FieldProblem| DataError::Invalid {
        path: path.to_owned(),
        record,
        field: p.field,
        reason: p.reason,
    };
    for s in citizens.iter_mut() {
        complete_citizen(&mut s.record);
    }
    let file_ids: HashSet<&str> = citizens
        .iter()
        .map(|s| s.record.personal_id.as_str())
        .collect();
    let mut seen_ids: HashMap<&str, &str> = HashMap::new();
    let mut seen_old: HashMap<&str, &str> = HashMap::new();
    for s in citizens.iter() {
        let c = &s.record;
        validate_citizen(c).map_err(|p| invalid(label(s, &c.personal_id), p))?;
        if let Some(first) = seen_ids.insert(&c.personal_id, &s.at) {
            return Err(invalid(
                label(s, &c.personal_id),
                problem(
                    "personal_id",
                    format!("appears twice in the file (also {first})"),
                ),
            ));
        }
        if let Some(o) = &c.old_id {
            if let Some(first) = seen_old.insert(o, &s.at) {
                return Err(invalid(
                    label(s, &c.personal_id),
                    problem(
                        "old_id",
                        format!("`{o}` appears twice in the file (also {first})"),
                    ),
                ));
            }
            // Taken by another citizen, unless the file replaces that citizen too.
            if let Some(owner) = existing_old_ids.get(o) {
                if owner != &c.personal_id && !file_ids.contains(owner.as_str()) {
                    return Err(invalid(
                        label(s, &c.personal_id),
                        problem(
                            "old_id",
                            format!("`{o}` already belongs to citizen {owner}"),
                        ),
                    ));
                }
            }
        }
    }
    let mut seen_codes: HashMap<String, String> = HashMap::new();
    for s in enterprises.iter_mut() {
        complete_enterprise(&mut s.record);
        let e = &s.record;
        validate_enterprise(e).map_err(|p| invalid(label(s, &e.code), p))?;
        if let Some(first) = seen_codes.insert(e.code.clone(), s.at.clone()) {
            return Err(invalid(
                label(s, &e.code),
                problem("code", format!("appears twice in the file (also {first})")),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_splitting() {
        let text = "\u{feff}a,b,c\r\n1,\"x, \"\"y\"\"\",3\n\n4,\"multi\nline\",6";
        let recs = split_csv(text).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(
            recs[1],
            (
                2,
                vec!["1".to_owned(), "x, \"y\"".to_owned(), "3".to_owned()]
            )
        );
        assert_eq!(recs[2].0, 4);
        assert_eq!(recs[2].1[1], "multi\nline");
        let semi = split_csv("a;b\n1;2\n").unwrap();
        assert_eq!(semi[1].1, vec!["1", "2"]);
        assert!(split_csv("a,b\n\"open,2\n").is_err());
        assert!(split_csv("a,b\nx\"y,2\n").is_err());
    }

    #[test]
    fn csv_quote_errors_name_the_line() {
        assert_eq!(
            split_csv("a,b\n1,2\n\"open,2\n3,4\n"),
            Err((3, "a quoted field is never closed".to_owned()))
        );
        assert_eq!(
            split_csv("a,b\n1,x\"y\n"),
            Err((2, "a quote inside an unquoted field".to_owned()))
        );
        assert_eq!(
            split_csv("a,b\n\"1\"x,2\n"),
            Err((2, "text after a closing quote".to_owned()))
        );
        // White space after a closing quote, a quoted header, `;` with quoted `,` and a BOM.
        let recs = split_csv("\u{feff}\"a\";b\r\n\"1,5\" ;2\r\n").unwrap();
        assert_eq!(recs[0], (1, vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(recs[1], (2, vec!["1,5 ".to_owned(), "2".to_owned()]));
    }
}
