//! What the statement files of the providers and banks share: CSV as a spreadsheet re-saves it
//! (a UTF-8 byte-order mark, `;` or `,`, CRLF or LF, quoted fields, blank lines), and the line a
//! record starts on, for errors that name it.

/// A statement reader with this separator; the first record is the header.
fn reader(text: &str, separator: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(separator)
        // A short line reads as empty fields (then refused for its Amount), as before.
        .flexible(true)
        .from_reader(text.as_bytes())
}

/// The line of `text` a record starts on. The csv crate gives where it began to read the record,
/// which is before the end of the previous line (of a CRLF) and any blank lines.
pub(crate) fn line_of(text: &str, at: Option<&csv::Position>) -> u64 {
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
    at.line() + skipped as u64
}

/// Where each of `columns` is in a header, or how many are there and the first that is not.
fn columns<const N: usize>(
    header: &csv::StringRecord,
    names: [&'static str; N],
) -> Result<[usize; N], (usize, &'static str)> {
    let found: Vec<Option<usize>> = names
        .iter()
        .map(|name| {
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        })
        .collect();
    let mut idx = [0; N];
    for (i, (name, at)) in names.iter().zip(&found).enumerate() {
        idx[i] = at.ok_or((found.iter().flatten().count(), *name))?;
    }
    Ok(idx)
}

/// A statement's reader past its header, and where each of `names` is in it. The separator is
/// whichever of `,` and `;` splits the header into those columns (names compared without case
/// and surrounding spaces); the error names the line and the first column missing.
pub(crate) fn open<'t, const N: usize>(
    text: &'t str,
    names: [&'static str; N],
) -> Result<(csv::Reader<&'t [u8]>, [usize; N]), String> {
    // The csv crate skips a UTF-8 byte-order mark and blank lines itself.
    let mut best: Option<(usize, u64, &str)> = None;
    for separator in [b',', b';'] {
        let mut reader = reader(text, separator);
        let header = reader
            .headers()
            .map_err(|e| format!("line {}: {e}", line_of(text, e.position())))?
            .clone();
        match columns(&header, names) {
            Ok(idx) => return Ok((reader, idx)),
            Err((found, missing)) => {
                if best.is_none_or(|(most, _, _)| found > most) {
                    best = Some((found, line_of(text, header.position()), missing));
                }
            }
        }
    }
    let (_, line, missing) = best.unwrap_or((0, 1, names.first().copied().unwrap_or("")));
    Err(format!("line {line}: the header has no column {missing}"))
}

/// The records after the header with the line each starts on, lines of empty cells (a
/// spreadsheet may end with some) left out; an unreadable record is an error naming its line.
pub(crate) fn records(
    text: &str,
    mut reader: csv::Reader<&[u8]>,
) -> Result<Vec<(u64, csv::StringRecord)>, String> {
    let mut out = Vec::new();
    for record in reader.records() {
        let f = record.map_err(|e| format!("line {}: {e}", line_of(text, e.position())))?;
        if f.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        out.push((line_of(text, f.position()), f));
    }
    Ok(out)
}

/// A whole VND amount as banks' spreadsheets write it: digits, optionally grouped by `.`, `,` or
/// spaces, optionally with `.00`/`,00`.
pub(crate) fn whole_vnd(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let whole = raw
        .strip_suffix(".00")
        .or_else(|| raw.strip_suffix(",00"))
        .unwrap_or(raw);
    let digits: String = whole
        .chars()
        .filter(|c| !matches!(c, '.' | ',' | ' ' | '\u{a0}'))
        .collect();
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
