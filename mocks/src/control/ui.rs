//! `GET /__admin/ui`: one page per system for a tester at a browser — the journal, the fault
//! rules with a switch to add and remove them, the stubs, the scenario editor and, for systems with
//! a simulated clock, a clock jump. Server-rendered, with a little inline script that calls the
//! same `/__admin` API; nothing is loaded from elsewhere. Everything a request sent (and so
//! everything in the journal) is escaped on the server and written with `textContent` by the
//! script, never parsed as HTML.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header;

use super::MockControl;
use super::journal::JournalFilter;

/// Entries the page shows (the newest).
const SHOWN: usize = 50;

/// Characters of each request body the page shows.
const BODY_SHOWN: usize = 120;

/// The fault kinds the page offers.
const KINDS: [&str; 7] = [
    "status",
    "too_many_requests",
    "soap_fault",
    "connection_reset",
    "truncated",
    "malformed",
    "wrong_content_type",
];

/// HTML-escapes text for element content and quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page.
pub(super) async fn page(State(c): State<Arc<MockControl>>) -> Response {
    let system = escape(c.system);
    let operations: Vec<&str> = c
        .vocabulary()
        .map(|v| v.operations.to_vec())
        .unwrap_or_default();
    let has_clock = c
        .vocabulary()
        .is_some_and(|v| v.scenario_keys.contains(&"clock_offset_s"));
    let mut op_options = String::from("<option value=\"\">every operation</option>");
    for op in &operations {
        let op = escape(op);
        let _ = write!(op_options, "<option value=\"{op}\">{op}</option>");
    }
    let mut kind_options = String::new();
    for k in KINDS {
        let _ = write!(kind_options, "<option value=\"{k}\">{k}</option>");
    }
    let filter = JournalFilter {
        limit: Some(SHOWN),
        ..Default::default()
    };
    let mut rows = String::new();
    for e in c.journal(&filter).iter().rev() {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"status\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.seq,
            escape(e.operation.as_deref().unwrap_or("")),
            escape(&e.method),
            escape(&e.path),
            e.status,
            escape(e.fault.as_deref().unwrap_or("")),
            e.stub.map(|s| s.to_string()).unwrap_or_default(),
            escape(&e.body.chars().take(BODY_SHOWN).collect::<String>()),
        );
    }
    let faults = escape(&serde_json::to_string_pretty(&c.faults()).unwrap_or_default());
    let stubs = escape(&serde_json::to_string_pretty(&c.stubs()).unwrap_or_default());
    let scenario = escape(&serde_json::to_string_pretty(&c.scenario()).unwrap_or_default());
    let clock = if has_clock {
        "<section><h2>Clock</h2><p>Simulated time moves on by <input id=\"jump-s\" type=\"number\" value=\"3600\" min=\"0\"> seconds <button id=\"jump\">Jump</button> (offset now <span id=\"offset\"></span> s)</p></section>"
    } else {
        ""
    };
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>{system} mock</title>
<style>
body{{font:14px system-ui,sans-serif;margin:1.5em;max-width:72em;color:#222}}
h1{{font-size:1.4em}} h2{{font-size:1.1em;margin-top:1.6em}}
table{{border-collapse:collapse;width:100%}} td,th{{border-bottom:1px solid #ddd;padding:.25em .5em;text-align:left;font-family:ui-monospace,monospace;font-size:13px}}
tr.failed td{{background:#fde8e8}} pre,textarea{{font:12px ui-monospace,monospace;background:#f6f6f6;padding:.5em;width:100%;box-sizing:border-box}}
#message{{min-height:1.2em;color:#a00}} button{{margin-left:.3em}}
</style></head>
<body>
<h1>{system} mock</h1>
<p id="message" role="status"></p>
<section><h2>Faults</h2>
<p><select id="fault-operation">{op_options}</select>
<select id="fault-kind">{kind_options}</select>
status <input id="fault-status" type="number" value="503" min="200" max="599">
<button id="add-fault">Add fault</button> <button id="clear-faults">Clear faults</button></p>
<pre id="faults">{faults}</pre></section>
<section><h2>Journal (newest first)</h2><p><button id="refresh">Refresh</button> <button id="clear-journal">Clear journal</button></p>
<table id="journal"><thead><tr><th>#</th><th>operation</th><th>method</th><th>path</th><th>status</th><th>fault</th><th>stub</th><th>body</th></tr></thead><tbody>{rows}</tbody></table></section>
<section><h2>Scenario</h2><textarea id="scenario" rows="6">{scenario}</textarea><p><button id="save-scenario">Save scenario</button></p></section>
{clock}
<section><h2>Stubs</h2><pre id="stubs">{stubs}</pre>
<textarea id="stub" rows="4" placeholder='{{"operation": "…", "when": {{"field": "value"}}, "reply": {{"fields": {{}}}}}}'></textarea>
<p><button id="add-stub">Add stub</button> <button id="reset-stubs">Reset stubs</button></p></section>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const say = (text) => {{ $("message").textContent = text; }};
async function call(method, path, body) {{
  const init = {{ method, headers: {{}} }};
  if (body !== undefined) {{ init.body = body; init.headers["content-type"] = "application/json"; }}
  const r = await fetch("/__admin/" + path, init);
  const text = await r.text();
  if (!r.ok) {{ let d = text; try {{ d = JSON.parse(text).detail || text; }} catch (e) {{}} say(d); throw new Error(d); }}
  say("");
  return text ? JSON.parse(text) : null;
}}
function cell(tr, text, cls) {{ const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); }}
async function refresh() {{
  const j = await call("GET", "journal?limit={SHOWN}");
  const body = $("journal").tBodies[0];
  body.replaceChildren();
  for (const e of j.entries.reverse()) {{
    const tr = document.createElement("tr");
    if (e.status === 0 || e.status >= 400) tr.className = "failed";
    cell(tr, String(e.seq)); cell(tr, e.operation || ""); cell(tr, e.method); cell(tr, e.path);
    cell(tr, String(e.status), "status"); cell(tr, e.fault || ""); cell(tr, e.stub == null ? "" : String(e.stub));
    cell(tr, e.body.slice(0, {BODY_SHOWN}));
    body.appendChild(tr);
  }}
  $("faults").textContent = JSON.stringify((await call("GET", "faults")).faults, null, 2);
  $("stubs").textContent = JSON.stringify((await call("GET", "stubs")).stubs, null, 2);
  const scenario = await call("GET", "scenario");
  if ($("offset")) $("offset").textContent = String(scenario.clock_offset_s || 0);
}}
$("refresh").onclick = refresh;
$("clear-journal").onclick = async () => {{ await call("DELETE", "journal"); await refresh(); }};
$("add-fault").onclick = async () => {{
  const rule = {{ kind: $("fault-kind").value }};
  if ($("fault-operation").value) rule.operation = $("fault-operation").value;
  if (rule.kind === "status") rule.status = Number($("fault-status").value);
  await call("POST", "faults", JSON.stringify(rule)); await refresh();
}};
$("clear-faults").onclick = async () => {{ await call("DELETE", "faults"); await refresh(); }};
$("save-scenario").onclick = async () => {{
  let v; try {{ v = JSON.parse($("scenario").value); }} catch (e) {{ say("the scenario is not JSON: " + e.message); return; }}
  $("scenario").value = JSON.stringify(await call("PUT", "scenario", JSON.stringify(v)), null, 2); await refresh();
}};
$("add-stub").onclick = async () => {{ await call("POST", "stubs", $("stub").value); $("stub").value = ""; await refresh(); }};
$("reset-stubs").onclick = async () => {{ await call("POST", "stubs/reset"); await refresh(); }};
if ($("jump")) $("jump").onclick = async () => {{
  const now = (await call("GET", "scenario")).clock_offset_s || 0;
  await call("PUT", "scenario", JSON.stringify({{ clock_offset_s: now + Number($("jump-s").value) }})); await refresh();
}};
refresh().catch(() => {{}});
</script>
</body></html>"#
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Nothing from elsewhere, and no script but the page's own.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src data:; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
            ),
        ],
        html,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert('x')</script>&"#),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"
        );
    }
}
