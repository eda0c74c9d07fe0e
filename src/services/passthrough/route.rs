//! Route patterns and request paths of pass-through services. Paths are normalised and checked
//! before matching (no dot segments, no encoded slashes, no encoded letters) so that what the
//! access rule approved is exactly what the upstream receives.

use std::borrow::Cow;

/// A path pattern of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    segments: Vec<Segment>,
    prefix: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
}

impl RoutePattern {
    /// Parses `/a/{id}/b` or `/a/*`.
    pub fn parse(pattern: &str) -> Result<RoutePattern, String> {
        let Some(rest) = pattern.strip_prefix('/') else {
            return Err("must start with `/`".into());
        };
        let (rest, prefix) = match rest.strip_suffix("*") {
            Some(r) if r.is_empty() || r.ends_with('/') => (r.trim_end_matches('/'), true),
            Some(_) => return Err("`*` is only allowed as the last segment, after `/`".into()),
            None => (rest, false),
        };
        let mut segments = Vec::new();
        if !rest.is_empty() {
            for seg in rest.split('/') {
                if seg.is_empty() || seg == "." || seg == ".." {
                    return Err("empty or dot segments are not allowed".into());
                }
                if seg.starts_with('{') && seg.ends_with('}') && seg.len() > 2 {
                    segments.push(Segment::Param);
                } else if seg.contains(['{', '}', '*', '?', '#', '%', ';']) {
                    return Err(format!(
                        "segment `{seg}` is not a literal, a `{{param}}` or a final `*`"
                    ));
                } else {
                    segments.push(Segment::Literal(seg.to_owned()));
                }
            }
        }
        Ok(RoutePattern { segments, prefix })
    }

    /// Whether a checked path matches. Segments are compared without their `;` parameters, which
    /// many servers drop (`/admin;x/users` is `/admin/users` to them).
    pub fn matches(&self, path: &str) -> bool {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let mut parts = trimmed
            .split('/')
            .filter(|_| !trimmed.is_empty())
            .map(without_params);
        for segment in &self.segments {
            let ok = match (segment, parts.next()) {
                (_, None) => false,
                (Segment::Literal(l), Some(p)) => l == p,
                (Segment::Param, Some(p)) => !p.is_empty(),
            };
            if !ok {
                return false;
            }
        }
        self.prefix || parts.next().is_none()
    }
}

/// A path segment without its `;` parameters (RFC 3986 §3.3).
fn without_params(segment: &str) -> &str {
    segment.split(';').next().unwrap_or(segment)
}

/// Decodes percent-encoded letters, digits, `-`, `_` and `~` (RFC 3986 §6.2.2.2): `/%61dmin` is
/// `/admin` to every upstream, so it is matched, and forwarded, as `/admin`. Encoded dots are
/// left for [`check_path`] to refuse.
pub fn decode_unreserved(path: &str) -> Cow<'_, str> {
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let unreserved = rest
            .get(i + 1..i + 3)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'~'));
        match unreserved {
            Some(c) => {
                out.push(char::from(c));
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Refuses paths that could mean something else upstream than what the access rule saw. The path
/// is one [`decode_unreserved`] gave: an escape of an unreserved character left in it was encoded
/// twice (`/%%36%31dmin` decodes to `/%61dmin`, which the upstream reads as `/admin`).
pub fn check_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("the path must start with /");
    }
    if path.contains('\\') {
        return Err("encoded slashes are not allowed in the path");
    }
    for escape in path.split('%').skip(1) {
        let byte = escape
            .get(..2)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match byte {
            None => return Err("a `%` in the path must start a percent-encoded byte"),
            Some(b'/' | b'\\') => return Err("encoded slashes are not allowed in the path"),
            Some(b'.' | 0) => return Err("encoded dots or NUL are not allowed in the path"),
            // `;` starts a segment's parameters: encoded, it would hide them from the route
            // (`/admin%3bx` is not `/admin` here, and is to servers that decode it first).
            Some(b';') => return Err("an encoded `;` is not allowed in the path"),
            Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'~') => {
                return Err("characters encoded twice are not allowed in the path");
            }
            Some(_) => {}
        }
    }
    let mut segments = path[1..].split('/').peekable();
    while let Some(seg) = segments.next() {
        // `..;x` is `..` to servers that drop path parameters.
        let name = without_params(seg);
        if name == "." || name == ".." {
            return Err("dot segments are not allowed in the path");
        }
        // Only the last segment may be empty: `/a/` is a path of its own, `/a//b` is not.
        if name.is_empty() && segments.peek().is_some() {
            return Err("empty path segments are not allowed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_exact_params_and_prefixes() {
        let p = RoutePattern::parse("/procedures/{id}").unwrap();
        assert!(p.matches("/procedures/12"));
        assert!(!p.matches("/procedures"));
        assert!(!p.matches("/procedures/12/x"));
        let p = RoutePattern::parse("/procedures/*").unwrap();
        assert!(p.matches("/procedures/12/x"));
        assert!(p.matches("/procedures"));
        assert!(!p.matches("/other"));
        let p = RoutePattern::parse("/*").unwrap();
        assert!(p.matches("/anything/at/all"));
        assert!(RoutePattern::parse("procedures").is_err());
        assert!(RoutePattern::parse("/a*").is_err());
        assert!(RoutePattern::parse("/a/../b").is_err());
        assert!(RoutePattern::parse("/a;v=1/b").is_err());
        let p = RoutePattern::parse("/admin/*").unwrap();
        assert!(
            p.matches("/admin;x/users"),
            "parameters do not hide a segment"
        );
        let p = RoutePattern::parse("/procedures/{id}").unwrap();
        assert!(p.matches("/procedures/12;v=1"));
        assert!(!p.matches("/procedures/;v=1"));
    }

    #[test]
    fn path_check_refuses_traversal_and_encoded_separators() {
        assert!(check_path("/procedures/12").is_ok());
        assert!(check_path("/procedures/").is_ok());
        assert!(check_path("/a/../admin").is_err());
        assert!(check_path("/a/%2e%2e/admin").is_err());
        assert!(check_path("/a%2Fb").is_err());
        assert!(check_path("/a\\b").is_err());
        assert!(check_path("/a//b").is_err());
        assert!(check_path("/a//b/").is_err());
        assert!(check_path("//").is_err());
        assert!(check_path("/").is_ok());
        assert!(check_path("/a/..;/admin").is_err());
        assert!(check_path("/a/.;x/admin").is_err());
        assert!(check_path("/a;x/b").is_ok());
        assert!(check_path("/%C3%A1/%20").is_ok());
    }

    /// Double encodings, stray `%` and encoded `;` would be read otherwise upstream: refused.
    #[test]
    fn path_check_refuses_what_an_upstream_would_decode_again() {
        for raw in [
            "/%%36%31dmin",
            "/%%32%65%%32%65/admin",
            "/..%3b/admin",
            "/admin%3Bx/users",
            "/a%",
            "/a%4",
            "/a%+4b",
            "/a%ễ",
        ] {
            let path = decode_unreserved(raw);
            assert!(check_path(&path).is_err(), "{raw} -> {path}");
        }
        // An encoded `%` is a literal `%` upstream (`%61dmin`, not `admin`): kept as it is.
        assert_eq!(decode_unreserved("/%2561dmin"), "/%2561dmin");
        assert!(check_path("/%2561dmin").is_ok());
    }

    #[test]
    fn encoded_unreserved_characters_are_decoded_and_nothing_else() {
        assert_eq!(decode_unreserved("/%61dmin/%7Eu%2d%5F"), "/admin/~u-_");
        assert_eq!(
            decode_unreserved("/a%2Fb%2e%25%20%C3%A1"),
            "/a%2Fb%2e%25%20%C3%A1"
        );
        assert_eq!(decode_unreserved("/a%6"), "/a%6");
        assert_eq!(decode_unreserved("/a%+4b%"), "/a%+4b%");
        assert_eq!(decode_unreserved("/ễ%41"), "/ễA");
        assert!(matches!(
            decode_unreserved("/plain"),
            Cow::Borrowed("/plain")
        ));
    }
}
