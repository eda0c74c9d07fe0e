//! What testers add to the mocks at run time: fault rules and scenarios checked against each
//! system's names, stubs, and the admin page — over real sockets, on every system of a set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use lienthong_mocks::set::{MockSet, MocksConfig, Ports};
use serde_json::{Value, json};

async fn set() -> MockSet {
    MockSet::start(&MocksConfig {
        ports: Ports::any(),
        citizens: 10,
        enterprises: 5,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Sends JSON to an admin path, returning the status and the JSON answer.
async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: &Value,
) -> (u16, Value) {
    let resp = http.request(method, url).json(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_misspelled_operation_or_scenario_key_is_refused_naming_the_valid_ones() {
    let http = common::http();
    let set = set().await;
    for (system, real) in [
        ("catalogue", "get_dossier"),
        ("population", "XacThucThongTinCongDan"),
        ("enterprise", "chiTietDoanhNghiep"),
        ("notary", "TraCuuVanBan"),
        ("vnpay", "querydr"),
        ("payment_platform", "Confirm"),
        ("vnpost", "CreateOrder"),
    ] {
        let url = format!("{}/__admin/faults", set.get(system).unwrap().mock.url());
        let misspelled = format!("{real}x");
        let rule = json!({"operation": misspelled, "kind": "status", "status": 503});
        let (status, body) = send(&http, reqwest::Method::POST, url.clone(), &rule).await;
        assert_eq!(status, 400, "{system}: {body}");
        assert_eq!(body["code"], "unknown_operation", "{system}: {body}");
        assert!(body["detail"].as_str().unwrap().contains(&misspelled));
        assert!(body["valid"].as_array().unwrap().contains(&json!(real)));
        // Replacing every rule is checked the same way, and nothing changes when refused.
        let (status, _) = send(
            &http,
            reqwest::Method::PUT,
            url.clone(),
            &json!({"faults": [rule]}),
        )
        .await;
        assert_eq!(status, 400, "{system}");
        let (status, _) = send(
            &http,
            reqwest::Method::POST,
            url.clone(),
            &json!({"operation": real, "kind": "status", "status": 503}),
        )
        .await;
        assert_eq!(status, 201, "{system}");
        assert_eq!(
            set.get(system).unwrap().control.faults().len(),
            1,
            "{system}"
        );
    }

    let scenario = format!("{}/__admin/scenario", set.get("vnpay").unwrap().mock.url());
    let (status, body) = send(
        &http,
        reqwest::Method::PUT,
        scenario.clone(),
        &json!({"ipn_mod": "none"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "unknown_scenario_key");
    assert!(
        body["valid"]
            .as_array()
            .unwrap()
            .contains(&json!("ipn_mode"))
    );
    let (status, body) = send(
        &http,
        reqwest::Method::PUT,
        scenario.clone(),
        &json!({"ipn_mode": "sometimes"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_scenario");
    let (status, body) = send(
        &http,
        reqwest::Method::PUT,
        scenario.clone(),
        &json!({"ipn_mode": "none"}),
    )
    .await;
    assert_eq!((status, &body["ipn_mode"]), (200, &json!("none")), "{body}");
    assert_eq!(
        set.get("vnpay").unwrap().control.scenario(),
        json!({"ipn_mode": "none"})
    );

    let vnpost = format!("{}/__admin/scenario", set.get("vnpost").unwrap().mock.url());
    let (status, body) = send(
        &http,
        reqwest::Method::PUT,
        vnpost.clone(),
        &json!({"default_scenario": "lost"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("fail-delivery"),
        "{body}"
    );
    let population = format!(
        "{}/__admin/scenario",
        set.get("population").unwrap().mock.url()
    );
    let (status, body) = send(
        &http,
        reqwest::Method::PUT,
        population,
        &json!({"mode": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("no scenario state"),
        "{body}"
    );
}

const VERIFY: &str = r#"<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><ns:XacThucThongTinCongDan xmlns:ns="http://dancuquocgia.bca"><ns:MaYeuCau>LT-1</ns:MaYeuCau><ns:SoDinhDanh>ID</ns:SoDinhDanh><ns:HoVaTen>Nguyễn Văn A</ns:HoVaTen></ns:XacThucThongTinCongDan></S:Body></S:Envelope>"#;

async fn soap(http: &reqwest::Client, url: &str, id: &str) -> (u16, String) {
    let resp = http
        .post(url)
        .header("content-type", "text/xml; charset=utf-8")
        .body(VERIFY.replace(">ID<", &format!(">{id}<")))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn stubs_answer_matching_requests_in_the_wire_format_until_removed() {
    let http = common::http();
    let mut config: MocksConfig = toml::from_str(
        r#"
        [[stubs.catalogue]]
        operation = "echo"
        when = { ma_ho_so = "HS-1" }
        reply = { status = 409, fields = { loi = "trùng hồ sơ" } }
        "#,
    )
    .unwrap();
    config.ports = Ports::any();
    config.citizens = 10;
    config.enterprises = 5;
    let set = MockSet::start(&config).await.unwrap();

    // A config stub on a JSON system.
    let catalogue = set.get("catalogue").unwrap().mock.url();
    let echo = |ma: &str| {
        http.post(format!("{catalogue}/echo"))
            .json(&json!({"ho_so": {"ma_ho_so": ma}}))
            .send()
    };
    let resp = echo("HS-1").await.unwrap();
    assert_eq!(resp.status(), 409);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"loi": "trùng hồ sơ"})
    );
    assert_eq!(
        echo("HS-2").await.unwrap().status(),
        200,
        "other values reach the system"
    );

    // A run-time stub on a SOAP system, matched on the citizen ID of a verify.
    let population = set.get("population").unwrap();
    let base = population.mock.url();
    let stubs = format!("{base}/__admin/stubs");
    let (status, low) = send(
        &http,
        reqwest::Method::POST,
        stubs.clone(),
        &json!({"operation": "XacThucThongTinCongDan", "when": {"SoDinhDanh": "001099000001"},
                "reply": {"fields": {"MaYeuCau": "LT-1", "TonTai": false}}}),
    )
    .await;
    assert_eq!(status, 201, "{low}");
    let endpoint = population
        .credentials
        .iter()
        .find(|(k, _)| k == "SOAP endpoint")
        .unwrap()
        .1
        .clone();
    let (status, xml) = soap(&http, &endpoint, "001099000001").await;
    assert_eq!(status, 200, "{xml}");
    assert!(
        xml.contains("<ns:XacThucThongTinCongDanResponse xmlns:ns=\"http://dancuquocgia.bca\"><ns:MaYeuCau>LT-1</ns:MaYeuCau><ns:TonTai>false</ns:TonTai>"),
        "{xml}"
    );
    // A higher priority fault stub on the same ID wins.
    let (status, high) = send(
        &http,
        reqwest::Method::POST,
        stubs.clone(),
        &json!({"when": {"SoDinhDanh": "001099000001"}, "priority": 10,
                "fault": {"kind": "soap_fault", "code": "soap:Server", "message": "bảo trì"}}),
    )
    .await;
    assert_eq!(status, 201, "{high}");
    let (status, xml) = soap(&http, &endpoint, "001099000001").await;
    assert_eq!(status, 500);
    assert!(xml.contains("bảo trì"), "{xml}");
    let (_, listed) = send(&http, reqwest::Method::GET, stubs.clone(), &Value::Null).await;
    let ids: Vec<&Value> = listed["stubs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert_eq!(ids, [&high["id"], &low["id"]], "{listed}");
    let journal = population.control.journal(&Default::default());
    assert_eq!(journal.last().unwrap().stub, high["id"].as_u64());
    assert_eq!(journal.last().unwrap().fault.as_deref(), Some("soap_fault"));

    // Deleted, the lower one answers again; an unknown id is a 404.
    let one = format!("{stubs}/{}", high["id"]);
    assert_eq!(http.delete(&one).send().await.unwrap().status(), 204);
    assert_eq!(http.delete(&one).send().await.unwrap().status(), 404);
    assert_eq!(soap(&http, &endpoint, "001099000001").await.0, 200);
    // Another ID reaches the system, which checks the signature the test did not make.
    let (status, xml) = soap(&http, &endpoint, "001099000002").await;
    assert_eq!(status, 500, "{xml}");
    assert!(!xml.contains("XacThucThongTinCongDanResponse"), "{xml}");

    // Invalid stubs are refused, naming what is wrong.
    for (bad, code, says) in [
        (
            json!({"operation": "XacThuc", "reply": {"fields": {}}}),
            "unknown_operation",
            "XacThucThongTinCongDan",
        ),
        (
            json!({"reply": {"fields": {"TonTai": true}}}),
            "invalid_stub",
            "needs an `operation`",
        ),
        (
            json!({"when": {"SoDinhDanh": "1"}}),
            "invalid_stub",
            "either a `reply` or a `fault`",
        ),
    ] {
        let (status, body) = send(&http, reqwest::Method::POST, stubs.clone(), &bad).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some(code)),
            "{bad}: {body}"
        );
        assert!(
            body["detail"].as_str().unwrap().contains(says),
            "{bad}: {body}"
        );
    }

    // Reset: the run-time stubs go, the config ones stay.
    let c = set.get("catalogue").unwrap();
    c.control
        .add_stub(serde_json::from_value(json!({"reply": {"body": "{}"}})).unwrap())
        .unwrap();
    assert_eq!(c.control.stubs().len(), 2);
    assert_eq!(
        http.post(format!("{catalogue}/__admin/stubs/reset"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(c.control.stubs().len(), 1);
    assert_eq!(
        http.post(format!("{base}/__admin/stubs/reset"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(population.control.stubs().is_empty());

    let e = toml::from_str::<MocksConfig>("[[stubs.populaton]]\nreply = { body = \"x\" }\n")
        .map_err(|e| e.to_string())
        .and_then(|c| c.check_faults().map_err(|e| e.to_string()));
    assert!(e.unwrap_err().contains("no system `populaton`"));
}

#[tokio::test]
async fn recordings_of_a_staging_system_play_back_with_personal_data_masked() {
    let http = common::http();
    let dir = tempfile::tempdir().unwrap();
    let staging = set().await;
    // The "staging" systems answer personal data (a stub on the JSON system, one on the SOAP one).
    let catalogue = staging.get("catalogue").unwrap();
    catalogue
        .control
        .add_stub(
            serde_json::from_value(json!({"operation": "echo", "when": {"so_dinh_danh": "001099000001"},
                "reply": {"fields": {"ho_ten": "Nguyễn Văn A", "so_dinh_danh": "001099000001", "trang_thai": "hợp lệ"}}}))
            .unwrap(),
        )
        .unwrap();
    let population = staging.get("population").unwrap();
    population
        .control
        .add_stub(
            serde_json::from_value(json!({"operation": "XacThucThongTinCongDan",
                "reply": {"fields": {"MaYeuCau": "LT-1", "HoVaTen": "Nguyễn Văn A", "TonTai": true}}}))
            .unwrap(),
        )
        .unwrap();
    let masks = [
        "so_dinh_danh",
        "ho_ten",
        "SoDinhDanh",
        "HoVaTen",
        "MaYeuCau",
    ]
    .map(String::from);

    let rec_catalogue = lienthong_mocks::recording::record(
        &catalogue.mock.url(),
        dir.path(),
        &masks,
        common::any_port(),
    )
    .await
    .unwrap();
    let rec_population = lienthong_mocks::recording::record(
        &population.mock.url(),
        dir.path(),
        &masks,
        common::any_port(),
    )
    .await
    .unwrap();
    let echo = |base: String, id: &'static str| {
        let http = http.clone();
        async move {
            let resp = http
                .post(format!("{base}/echo/ho-so?ky=2026-12"))
                .json(&json!({"so_dinh_danh": id, "ma_ho_so": "HS-1"}))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let (status, live) = echo(rec_catalogue.mock.url(), "001099000001").await;
    assert_eq!(status, 200);
    assert!(
        live.contains("Nguyễn Văn A"),
        "the caller gets the real answer: {live}"
    );
    let (status, live_procedures) = {
        let r = http
            .get(format!("{}/procedures", rec_catalogue.mock.url()))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(status, 200);
    let path = population
        .credentials
        .iter()
        .find(|(k, _)| k == "SOAP endpoint")
        .unwrap()
        .1
        .trim_start_matches(&population.mock.url())
        .to_owned();
    let (status, live_xml) = soap(
        &http,
        &format!("{}{path}", rec_population.mock.url()),
        "001099000001",
    )
    .await;
    assert_eq!(status, 200, "{live_xml}");
    // Recording the same request again keeps one file under the same name.
    echo(rec_catalogue.mock.url(), "001099000001").await;

    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(
        files.iter().any(|f| f.starts_with("POST-echo-ho-so-")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.starts_with("GET-procedures-")),
        "{files:?}"
    );
    for f in &files {
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
        for personal in ["001099000001", "Nguyễn Văn A", "LT-1"] {
            assert!(!text.contains(personal), "{f} keeps {personal}: {text}");
        }
    }

    // Staging gone: playback answers the same requests (masked), refuses others naming the closest.
    drop(rec_catalogue);
    drop(rec_population);
    drop(staging);
    let player = lienthong_mocks::recording::playback(dir.path(), common::any_port())
        .await
        .unwrap();
    let base = player.mock.url();
    let (status, played) = echo(base.clone(), "079203000123").await;
    assert_eq!(
        status, 200,
        "another citizen's ID is masked alike, so it matches: {played}"
    );
    let played: Value = serde_json::from_str(&played).unwrap();
    assert_eq!(
        played,
        json!({"ho_ten": "***", "so_dinh_danh": "***", "trang_thai": "hợp lệ"})
    );
    let procedures = http.get(format!("{base}/procedures")).send().await.unwrap();
    assert_eq!(procedures.headers()["content-type"], "application/json");
    assert_eq!(procedures.text().await.unwrap(), live_procedures);
    let (status, xml) = soap(&http, &format!("{base}{path}"), "001099000001").await;
    assert_eq!(status, 200, "{xml}");
    assert!(
        xml.contains(
            "<ns:HoVaTen>***</ns:HoVaTen><ns:MaYeuCau>***</ns:MaYeuCau><ns:TonTai>true</ns:TonTai>"
        ),
        "{xml}"
    );

    let resp = http
        .post(format!("{base}/echo/ho-so?ky=2026-12"))
        .json(&json!({"so_dinh_danh": "1", "ma_ho_so": "HS-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let problem: Value = resp.json().await.unwrap();
    assert_eq!(problem["code"], "no_recording");
    let closest = problem["closest"].as_str().unwrap();
    assert!(closest.starts_with("POST-echo-ho-so-"), "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains(closest));
    assert!(
        lienthong_mocks::recording::playback(&dir.path().join("none"), common::any_port())
            .await
            .is_err()
    );
}
