//! QR codes as images: SVG for pages and receipts, PNG for whatever cannot show SVG. Error
//! correction level M (15 %), a quiet zone of four modules as ISO/IEC 18004 asks, black on white.

use qrcode::{Color, EcLevel, QrCode};

/// The quiet zone around the code, in modules.
const QUIET_ZONE: usize = 4;

/// The text does not fit in a QR code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the text does not fit in a QR code")]
pub struct QrTooLong;

fn code(text: &str) -> Result<QrCode, QrTooLong> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|_| QrTooLong)
}

/// An SVG document of the QR code of `text`, at least `min_px` pixels wide.
pub fn svg(text: &str, min_px: u32) -> Result<String, QrTooLong> {
    Ok(code(text)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(min_px, min_px)
        .quiet_zone(true)
        .build())
}

/// A greyscale PNG of the QR code of `text`, `scale` pixels per module.
pub fn png(text: &str, scale: u32) -> Result<Vec<u8>, QrTooLong> {
    let code = code(text)?;
    let modules = code.width();
    let colors = code.to_colors();
    let scale = scale.clamp(1, 32) as usize;
    let side = (modules + 2 * QUIET_ZONE) * scale;
    let mut pixels = vec![0xFFu8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i % modules + QUIET_ZONE, i / modules + QUIET_ZONE);
            for y in my * scale..(my + 1) * scale {
                pixels[y * side + mx * scale..y * side + (mx + 1) * scale].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    let side = u32::try_from(side).map_err(|_| QrTooLong)?;
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    // Writing to a Vec fails only on sizes that do not match, which these cannot.
    let written = encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(&pixels));
    written.map_err(|_| QrTooLong)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the QR code in a greyscale PNG back to its text, as a phone's camera would.
    fn read_back(png_bytes: &[u8]) -> String {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    #[test]
    fn a_png_reads_back_to_its_text() {
        let text = "00020101021238540010A00000072701240006970415011012345678900208QRIBFTTA53037045405500005802VN62140810LT7K2MQ9XD6304ABCD";
        assert_eq!(read_back(&png(text, 4).unwrap()), text);
    }

    #[test]
    fn an_svg_is_a_document_with_the_modules() {
        let svg = svg("LT7K2MQ9XD", 200).unwrap();
        assert!(svg.starts_with("<?xml"), "{svg}");
        assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
    }

    #[test]
    fn too_long_a_text_is_an_error_not_a_panic() {
        let text = "9".repeat(8000);
        assert_eq!(png(&text, 4), Err(QrTooLong));
        assert_eq!(svg(&text, 200), Err(QrTooLong));
    }
}
