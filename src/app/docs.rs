//! `GET /docs`: the developer portal, Swagger UI rendered from `/openapi.json`, with "try it"
//! against this gateway. Everything the page loads is in the binary (`docs_assets/`, see its
//! README for the vendored version and licence): it works on a network that reaches nothing
//! outside, and its Content-Security-Policy lets it load nothing from anywhere else.

use std::io::Write;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};

/// The page's policy: scripts and styles from this origin only, calls to this origin only.
/// Swagger UI sets inline styles and draws its icons from `data:` URIs; it never evaluates code.
const PORTAL_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One file served under `/docs/assets/`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// An asset as it goes out: its bytes in one coding, and their entity tag.
struct Representation {
    bytes: Vec<u8>,
    etag: String,
}

/// Each asset as is and gzipped, made once, at the first request for the portal: the bundle is
/// 1.8 MB, a quarter of it gzipped, and the gateway compresses nothing else.
struct Prepared {
    identity: Representation,
    gzip: Representation,
}

/// The portal's files: Swagger UI's bundle and style (vendored), and our start script.
const ASSETS: [Asset; 5] = [
    Asset {
        name: "swagger-ui-bundle.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("docs_assets/swagger-ui-bundle.js"),
    },
    Asset {
        name: "swagger-ui.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("docs_assets/swagger-ui.css"),
    },
    Asset {
        name: "portal.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("docs_assets/portal.js"),
    },
    Asset {
        name: "portal.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("docs_assets/portal.css"),
    },
    Asset {
        name: "LICENSE",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("docs_assets/LICENSE"),
    },
];

/// Each asset's two representations. The entity tag is a hash of the bytes as is (the gzipped
/// one's marked `-gz`, RFC 9110 §8.8.3); the page links every asset with it in the query, so a
/// new binary's assets are new URLs and the old ones may be cached for a year.
static PREPARED: LazyLock<Vec<Prepared>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let tag = &hex::encode(Sha256::digest(a.bytes))[..16];
            let mut gz = GzEncoder::new(Vec::new(), Compression::default());
            // Writing to a Vec cannot fail; should it, the asset goes out as is.
            let gzip = gz
                .write_all(a.bytes)
                .and_then(|()| gz.finish())
                .unwrap_or_else(|_| a.bytes.to_vec());
            Prepared {
                identity: Representation {
                    bytes: a.bytes.to_vec(),
                    etag: format!("\"{tag}\""),
                },
                gzip: Representation {
                    bytes: gzip,
                    etag: format!("\"{tag}-gz\""),
                },
            }
        })
        .collect()
});

/// The portal page, with each asset's URL carrying its tag.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    let url = |name: &str| {
        let at = ASSETS.iter().position(|a| a.name == name).unwrap_or(0);
        format!(
            "/docs/assets/{name}?v={}",
            PREPARED[at].identity.etag.trim_matches('"')
        )
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lienthong API: developer portal</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
<link rel="stylesheet" href="{portal_css}">
</head>
<body>
<header class="portal-header">
<strong>lienthong</strong> developer portal ·
<a href="/openapi.json">openapi.json</a> ·
<a href="/problems">error codes / mã lỗi</a>
<span class="portal-hint">Authorize with your API key or access token, then "Try it out".</span>
</header>
<div id="swagger-ui"></div>
<script src="{bundle}"></script>
<script src="{portal_js}"></script>
</body>
</html>
"#,
        css = url("swagger-ui.css"),
        portal_css = url("portal.css"),
        bundle = url("swagger-ui-bundle.js"),
        portal_js = url("portal.js"),
    )
});

/// `GET /docs`: the portal page.
pub async fn page() -> Response {
    let mut resp = PAGE.as_str().into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The page names its assets' versions: it must be fetched again after an upgrade.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(h);
    resp
}

/// `GET /docs/assets/{file}`: one of the portal's files, gzipped when the browser takes it,
/// cached for a year, `304` when the browser already holds it.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let at = ASSETS.iter().position(|a| a.name == file).ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound).with_detail(
            "Cổng tài liệu không có tệp này.",
            "The developer portal has no such file.",
        )
    })?;
    let gzip = accepts_gzip(&headers);
    let prepared = &PREPARED[at];
    let chosen = if gzip {
        &prepared.gzip
    } else {
        &prepared.identity
    };
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == chosen.etag
        });
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        chosen.bytes.clone().into_response()
    };
    let h = resp.headers_mut();
    if !fresh {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(ASSETS[at].content_type),
        );
        if gzip {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
    }
    if let Ok(v) = HeaderValue::from_str(&chosen.etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    secure(h);
    Ok(resp)
}

/// Whether `Accept-Encoding` takes gzip (RFC 9110 §12.5.3): `gzip` or `*` with a non-zero
/// quality.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
                .unwrap_or(0.0);
            (name == "gzip" || name == "x-gzip" || name == "*") && q > 0.0
        })
}

/// The headers every portal response carries.
fn secure(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PORTAL_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_every_script_and_style_by_its_tag() {
        for name in [
            "swagger-ui-bundle.js",
            "swagger-ui.css",
            "portal.js",
            "portal.css",
        ] {
            let at = ASSETS.iter().position(|a| a.name == name).unwrap();
            let tag = PREPARED[at].identity.etag.trim_matches('"');
            assert!(
                PAGE.contains(&format!("/docs/assets/{name}?v={tag}")),
                "{name}"
            );
        }
        assert!(!PAGE.contains("http://") && !PAGE.contains("https://"));
    }

    #[test]
    fn gzip_when_the_browser_takes_it() {
        let takes = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&h)
        };
        assert!(takes("gzip, deflate, br, zstd"));
        assert!(takes("br;q=1.0, gzip;q=0.8"));
        assert!(takes("*"));
        assert!(!takes("gzip;q=0"));
        assert!(!takes("br, identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
