//! The platform's daily statement of a partner's payments *(ours: the platform publishes no
//! format)*, CSV with a header naming five columns in the platform's own field names, in any
//! order (other columns are ignored):
//!
//! | column | content |
//! |---|---|
//! | `MaThamChieu` | our reference (the `MaThamChieu` of `Init`) |
//! | `MaGiaoDich` | the platform's transaction number |
//! | `SoTien` | the amount in VND, a whole number (`70000`, also `70.000` or `70000.00` as spreadsheets write it) |
//! | `ThoiGianGD` | when it happened, `yyyyMMddHHmmss` in Vietnam's time |
//! | `TrangThai` | `1` paid, `4` failed, `5` refunded (a refund: `MaGiaoDich` is the refund's own number) |
//!
//! A statement re-saved by a spreadsheet reads too: a UTF-8 byte-order mark, `;` instead of `,`,
//! CRLF line ends, quoted fields, blank lines.

use serde::Serialize;

/// `TrangThai` of a paid payment.
pub const PAID: &str = "1";
/// `TrangThai` of a failed payment.
pub const FAILED: &str = "4";
/// `TrangThai` of a refund.
pub const REFUNDED: &str = "5";

/// The statement's header, in the order of [`StatementLine`]'s fields.
pub const COLUMNS: [&str; 5] = [
    "MaThamChieu",
    "MaGiaoDich",
    "SoTien",
    "ThoiGianGD",
    "TrangThai",
];

/// One line of the platform's statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementLine {
    /// `MaThamChieu`: our reference.
    pub ma_tham_chieu: String,
    /// `MaGiaoDich`: the platform's transaction number.
    pub ma_giao_dich: String,
    /// `SoTien`, VND.
    pub so_tien: i64,
    /// `ThoiGianGD`, `yyyyMMddHHmmss` GMT+7.
    pub thoi_gian_gd: String,
    /// `TrangThai`: [`PAID`], [`FAILED`] or [`REFUNDED`].
    pub trang_thai: String,
}

/// Parses the platform's statement. Errors name the line and the column at fault.
pub fn parse_statement(text: &str) -> Result<Vec<StatementLine>, String> {
    let (reader, idx) = crate::statement::open(text, COLUMNS)?;
    let mut out = Vec::new();
    for (line, f) in crate::statement::records(text, reader)? {
        let get = |i: usize| f.get(idx[i]).unwrap_or_default().trim().to_owned();
        let ma_tham_chieu = get(0);
        if ma_tham_chieu.is_empty() {
            return Err(format!("line {line}: MaThamChieu is empty"));
        }
        let so_tien = crate::statement::whole_vnd(&get(2))
            .ok_or_else(|| format!("line {line}: SoTien is not a whole number of VND"))?;
        let trang_thai = get(4);
        if ![PAID, FAILED, REFUNDED].contains(&trang_thai.as_str()) {
            return Err(format!("line {line}: TrangThai is not 1, 4 or 5"));
        }
        out.push(StatementLine {
            ma_tham_chieu,
            ma_giao_dich: get(1),
            so_tien,
            thoi_gian_gd: get(3),
            trang_thai,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_plain_and_a_resaved_statement() {
        let plain = "MaThamChieu,MaGiaoDich,SoTien,ThoiGianGD,TrangThai\r\n\
                     HS1,250000001,70000,20260115093000,1\r\n\
                     HS2,250000002,50000,20260115100000,5\r\n";
        let lines = parse_statement(plain).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (
                lines[0].ma_tham_chieu.as_str(),
                lines[0].so_tien,
                lines[0].trang_thai.as_str()
            ),
            ("HS1", 70_000, PAID)
        );
        let resaved = "\u{feff}TrangThai;SoTien;MaGiaoDich;MaThamChieu;ThoiGianGD;GhiChu\r\n\
                       1;\"70.000\";250000001;HS1;20260115093000;x\r\n\
                       \r\n;;;;;\r\n";
        assert_eq!(parse_statement(resaved).unwrap(), lines[..1]);
    }

    #[test]
    fn errors_name_the_line_and_the_column() {
        let e = parse_statement("MaThamChieu,MaGiaoDich,SoTien,ThoiGianGD\n").unwrap_err();
        assert!(e.contains("line 1") && e.contains("TrangThai"), "{e}");
        let e = parse_statement(
            "MaThamChieu,MaGiaoDich,SoTien,ThoiGianGD,TrangThai\nHS1,1,70000,x,1\nHS2,2,7O000,x,1\n",
        )
        .unwrap_err();
        assert!(e.starts_with("line 3: SoTien"), "{e}");
        let e = parse_statement(
            "MaThamChieu,MaGiaoDich,SoTien,ThoiGianGD,TrangThai\nHS1,1,70000,x,9\n",
        )
        .unwrap_err();
        assert!(e.starts_with("line 2: TrangThai"), "{e}");
    }
}
