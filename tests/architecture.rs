//! The layering of `src/`, checked on every test run: `app/` is the only code that names every
//! service kind and nothing below imports it; a kind (`services/<kind>/`) never imports another;
//! the edge and the shared machinery never import `app` or `services`; and the top-level modules
//! import each other without a cycle. See `docs/architecture.md`.
//!
//! The check reads the source as text: every `crate::…` path (in `use` trees, braces expanded,
//! and inline), outside comments.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The service kinds, one folder each under `src/services/`.
const KINDS: &[&str] = &[
    "enterprise",
    "notary",
    "passthrough",
    "payments",
    "population",
    "shipments",
];

/// One `crate::` path a file names: its first two segments.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Reference {
    module: String,
    item: Option<String>,
    line: usize,
}

/// Every `.rs` file below `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The text with comments blanked out (line comments, doc comments, block comments), string
/// contents kept as they are: paths in strings are rare and harmless to over-report.
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_block = 0usize;
    while let Some(c) = chars.next() {
        if in_block > 0 {
            if c == '*' && chars.peek() == Some(&'/') {
                chars.next();
                in_block -= 1;
            } else if c == '/' && chars.peek() == Some(&'*') {
                chars.next();
                in_block += 1;
            }
            out.push(if c == '\n' { '\n' } else { ' ' });
            continue;
        }
        if c == '/' && chars.peek() == Some(&'/') {
            for c in chars.by_ref() {
                if c == '\n' {
                    out.push('\n');
                    break;
                }
            }
            continue;
        }
        if c == '/' && chars.peek() == Some(&'*') {
            chars.next();
            in_block += 1;
            continue;
        }
        out.push(c);
    }
    out
}

/// Parses a use tree at the start of `s` (after `crate::`): the first two segments of every path
/// it names.
fn use_tree(s: &str) -> Vec<(String, Option<String>)> {
    fn segment(s: &str) -> (&str, &str) {
        let end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        (&s[..end], &s[end..])
    }
    /// The paths of the tree at `s`, each as its segments; and the rest of the text.
    fn tree(s: &str) -> (Vec<Vec<String>>, &str) {
        let s = s.trim_start();
        if let Some(inner) = s.strip_prefix('{') {
            let mut paths = Vec::new();
            let mut rest = inner;
            loop {
                rest = rest.trim_start();
                if let Some(r) = rest.strip_prefix('}') {
                    return (paths, r);
                }
                let (sub, r) = tree(rest);
                paths.extend(sub);
                rest = r.trim_start();
                rest = rest.strip_prefix(',').unwrap_or(rest);
                if rest.is_empty() {
                    return (paths, rest);
                }
            }
        }
        let (name, rest) = segment(s);
        if name.is_empty() {
            return (vec![], rest);
        }
        if let Some(after) = rest.strip_prefix("::") {
            let (subs, rest) = tree(after);
            let paths = if subs.is_empty() {
                vec![vec![name.to_owned()]]
            } else {
                subs.into_iter()
                    .map(|mut p| {
                        p.insert(0, name.to_owned());
                        p
                    })
                    .collect()
            };
            return (paths, rest);
        }
        (vec![vec![name.to_owned()]], rest)
    }
    tree(s)
        .0
        .into_iter()
        .filter(|p| !p.is_empty() && p[0] != "self")
        .map(|p| (p[0].clone(), p.get(1).cloned()))
        .collect()
}

/// Every `crate::` path of a source text.
fn references(text: &str) -> Vec<Reference> {
    let code = without_comments(text);
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        // `$crate::` in macros and `lienthong_crate::` do not count.
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let line = code[..at].matches('\n').count() + 1;
        for (module, item) in use_tree(&code[at + "crate::".len()..]) {
            out.push(Reference { module, item, line });
        }
    }
    out
}

/// The top-level module a file belongs to (`src/store/mod.rs` → `store`), and the kind when it
/// is in a kind's folder.
fn place(src: &Path, file: &Path) -> (String, Option<String>) {
    let rel: Vec<String> = file
        .strip_prefix(src)
        .unwrap()
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    let kind = (rel[0] == "services" && rel.len() > 2).then(|| rel[1].clone());
    let kind = kind.or_else(|| {
        (rel[0] == "services" && rel.len() == 2 && KINDS.contains(&rel[1].as_str()))
            .then(|| rel[1].clone())
    });
    (rel[0].clone(), kind)
}

/// Every file with the references it makes.
fn crate_graph() -> Vec<(PathBuf, String, Option<String>, Vec<Reference>)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    sources(&src)
        .into_iter()
        .map(|file| {
            let (module, kind) = place(&src, &file);
            let refs = references(&std::fs::read_to_string(&file).unwrap());
            (file, module, kind, refs)
        })
        .collect()
}

/// The rules a file's references break, one line each.
fn violations(
    file: &Path,
    module: &str,
    kind: Option<&str>,
    refs: &[Reference],
    text: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    let file = file
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(file);
    let shared_machinery = !matches!(module, "app" | "services" | "main" | "lib");
    for r in refs {
        let at = format!("{}:{}", file.display(), r.line);
        if r.module == "app" && module != "app" && module != "lib" {
            out.push(format!(
                "{at}: `crate::app` imported below the composition root"
            ));
        }
        if r.module == "services" && shared_machinery {
            out.push(format!(
                "{at}: `crate::services` imported by the shared module `{module}`"
            ));
        }
        if let (Some(own), "services", Some(item)) = (kind, r.module.as_str(), r.item.as_deref())
            && KINDS.contains(&item)
            && item != own
        {
            out.push(format!("{at}: the kind `{own}` imports the kind `{item}`"));
        }
    }
    if kind.is_some() && without_comments(text).contains("super::super::") {
        out.push(format!(
            "{}: `super::super::` leaves the kind's folder",
            file.display()
        ));
    }
    out
}

#[test]
fn the_layers_import_only_downward() {
    let mut broken = Vec::new();
    for (file, module, kind, refs) in crate_graph() {
        let text = std::fs::read_to_string(&file).unwrap();
        broken.extend(violations(&file, &module, kind.as_deref(), &refs, &text));
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}

#[test]
fn the_top_level_modules_have_no_import_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, module, _, refs) in crate_graph() {
        if matches!(module.as_str(), "lib" | "main") {
            continue;
        }
        let targets = edges.entry(module.clone()).or_default();
        for r in refs {
            if r.module != module {
                targets.insert(r.module.clone());
            }
        }
    }
    // Depth-first search for a back edge; the cycle is reported as a path.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if !state.contains_key(node.as_str())
            && let Some(cycle) = visit(node, &edges, &mut state, &mut Vec::new())
        {
            panic!(
                "import cycle among top-level modules: {}",
                cycle.join(" → ")
            );
        }
    }
}

#[test]
fn every_kind_has_its_folder() {
    let services = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/services");
    for kind in KINDS {
        assert!(services.join(kind).join("mod.rs").is_file(), "{kind}");
    }
}

/// The checker itself: a forbidden import in a kind, in the edge and in the store is reported;
/// braces, comments and `$crate` are read right.
#[test]
fn the_checker_sees_forbidden_imports() {
    let refs = references(
        "use crate::services::{shipments::api, Live};\n// use crate::app::Gateway;\nfn f() { crate::app::router(x); $crate::app::x; }\n",
    );
    let modules: Vec<(&str, Option<&str>)> = refs
        .iter()
        .map(|r| (r.module.as_str(), r.item.as_deref()))
        .collect();
    assert_eq!(
        modules,
        [
            ("services", Some("shipments")),
            ("services", Some("Live")),
            ("app", Some("router")),
        ]
    );
    let file = Path::new("src/services/payments/api.rs");
    let found = violations(file, "services", Some("payments"), &refs, "");
    assert!(
        found
            .iter()
            .any(|v| v.contains("kind `payments` imports the kind `shipments`")),
        "{found:?}"
    );
    assert!(found.iter().any(|v| v.contains("crate::app")), "{found:?}");
    let edge = violations(Path::new("src/edge/guard.rs"), "edge", None, &refs, "");
    assert!(
        edge.iter()
            .any(|v| v.contains("`crate::services` imported by the shared module `edge`")),
        "{edge:?}"
    );
    let nested = use_tree("{config::{ConfigError, SecretRef}, store::Store};");
    assert_eq!(
        nested,
        [
            ("config".to_owned(), Some("ConfigError".to_owned())),
            ("config".to_owned(), Some("SecretRef".to_owned())),
            ("store".to_owned(), Some("Store".to_owned())),
        ]
    );
    assert!(
        !violations(
            file,
            "services",
            Some("payments"),
            &[],
            "use super::super::shipments;"
        )
        .is_empty()
    );
}
