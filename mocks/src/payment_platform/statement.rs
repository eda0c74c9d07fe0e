//! `GET /statement?date=YYYY-MM-DD&MaDoiTac=…` — the platform's daily statement of a partner's
//! payments *(ours: the platform publishes no format)*: CSV with the platform's field names
//! (`MaThamChieu`, `MaGiaoDich`, `SoTien`, `ThoiGianGD`, `TrangThai`: `1` paid, `4` failed), one
//! line per payment the platform numbered that Vietnam day, CRLF line ends. Without `MaDoiTac`,
//! every partner's.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde::{Deserialize, Serialize};

use super::Shared;

/// The CSV header.
const HEADER: [&str; 5] = [
    "MaThamChieu",
    "MaGiaoDich",
    "SoTien",
    "ThoiGianGD",
    "TrangThai",
];

/// One line; its fields serialise in the order of [`HEADER`].
#[derive(Serialize)]
struct Line {
    ma_tham_chieu: String,
    ma_giao_dich: String,
    so_tien: u64,
    thoi_gian_gd: String,
    trang_thai: &'static str,
}

#[derive(Deserialize)]
pub(crate) struct StatementQuery {
    date: String,
    #[serde(rename = "MaDoiTac")]
    ma_doi_tac: Option<String>,
}

fn render(lines: &[Line]) -> Result<Vec<u8>, csv::Error> {
    crate::vnpay::statement::render_csv(&HEADER, lines)
}

/// The statement handler.
pub(crate) async fn statement(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<StatementQuery>,
) -> Response {
    let compact: String = q.date.chars().filter(char::is_ascii_digit).collect();
    if compact.len() != 8 || q.date.len() != 10 {
        return (StatusCode::BAD_REQUEST, "date: YYYY-MM-DD\n").into_response();
    }
    let mut lines: Vec<Line> = shared
        .book()
        .orders
        .values()
        .filter(|o| q.ma_doi_tac.as_ref().is_none_or(|m| *m == o.ma_doi_tac))
        .filter_map(|o| {
            let out = o.outcome.as_ref()?;
            (!out.ma_giao_dich.is_empty() && out.thoi_gian_gd.starts_with(&compact)).then(|| Line {
                ma_tham_chieu: o.ma_tham_chieu.clone(),
                ma_giao_dich: out.ma_giao_dich.clone(),
                so_tien: o.so_tien,
                thoi_gian_gd: out.thoi_gian_gd.clone(),
                trang_thai: if out.ma_loi == "00" { "1" } else { "4" },
            })
        })
        .collect();
    lines.sort_by(|a, b| {
        (&a.thoi_gian_gd, &a.ma_giao_dich).cmp(&(&b.thoi_gian_gd, &b.ma_giao_dich))
    });
    match render(&lines) {
        Ok(body) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"statement-{}.csv\"", q.date),
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_platforms_field_names_with_crlf() {
        let body = render(&[Line {
            ma_tham_chieu: "HS1".into(),
            ma_giao_dich: "250000001".into(),
            so_tien: 70_000,
            thoi_gian_gd: "20260115093000".into(),
            trang_thai: "1",
        }])
        .unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "MaThamChieu,MaGiaoDich,SoTien,ThoiGianGD,TrangThai\r\nHS1,250000001,70000,20260115093000,1\r\n"
        );
    }
}
