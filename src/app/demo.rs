//! `serve --demo`: a complete gateway on 127.0.0.1 with fixed, documented credentials and the mock
//! upstreams started in-process. The credentials are valid only in demo mode: they live in this
//! file, never in a config a deployment reads.

use std::net::SocketAddr;

use super::config::{Config, KindConfig, ServiceConfig};
use crate::config::{
    AllowRule, AuditConfig, AuthConfig, ClientConfig, LimitsConfig, ListenerConfig, ListenerRole,
    LogFormat, RateLimitConfig, Role, SecretRef, StoreConfig, TelemetryConfig, UpstreamConfig,
};
use crate::evidence::EvidenceConfig;
use crate::keys::sha256_hex;
use crate::outbox::WebhookConfig;
use crate::services::enterprise::{EnterpriseAccount, EnterpriseConfig};
use crate::services::notary::{NotaryAccount, NotaryConfig};
use crate::services::passthrough::{PassthroughConfig, RouteConfig};
use crate::services::payments::vietqr::{VietQrAccount, VietQrBank, VietQrConfig};
use crate::services::payments::{
    PaymentPlatformConfig, PaymentPlatformMerchant, PaymentsConfig, PaymentsServiceConfig,
    VnpayConfig, VnpayMerchant,
};
use crate::services::population::{PopulationAccount, PopulationConfig};
use crate::services::shipments::{
    SenderConfig, ShipmentsConfig, ShipmentsServiceConfig, VnpostAccount,
};

/// The demo portal client's id.
pub const PORTAL_CLIENT: &str = "demo-portal";
/// The demo portal client's API key.
pub const PORTAL_API_KEY: &str = "demo-portal-key";
/// The demo portal client's OAuth2 secret.
pub const PORTAL_SECRET: &str = "demo-portal-secret";
/// The demo admin client's id.
pub const ADMIN_CLIENT: &str = "demo-admin";
/// The demo admin client's API key.
pub const ADMIN_API_KEY: &str = "demo-admin-key";
/// The demo partner bank: its client id and its bank code.
pub const BANK_CLIENT: &str = "demo-bank";
/// The demo bank's API key.
pub const BANK_API_KEY: &str = "demo-bank-key";
/// The key the demo bank signs its collection requests with (`Lienthong-Signature`).
pub const BANK_SIGNATURE_SECRET: &str = "demo-bank-secret";

fn route(operation: &str, method: &str, path: &str) -> RouteConfig {
    RouteConfig {
        operation: operation.into(),
        methods: vec![method.into()],
        path: path.into(),
    }
}

/// Where the demo's upstream mocks listen.
#[derive(Debug, Clone, Copy)]
pub struct DemoUpstreams {
    /// The catalogue mock (pass-through services).
    pub catalogue: SocketAddr,
    /// The population database mock.
    pub population: SocketAddr,
    /// The enterprise registry mock.
    pub enterprise: SocketAddr,
    /// The notary records mock.
    pub notary: SocketAddr,
    /// The VNPay mock (the mock bank).
    pub vnpay: SocketAddr,
    /// The national payment platform mock.
    pub payment_platform: SocketAddr,
    /// The VNPost mock (the postal carrier).
    pub vnpost: SocketAddr,
}

/// The demo VNPost account (the VNPost mock's default).
pub const VNPOST_USERNAME: &str = "0900000001";
/// The demo VNPost password (the VNPost mock's default).
pub const VNPOST_PASSWORD: &str = "demo-vnpost-password";
/// The key the VNPost mock signs its status pushes with in demo mode.
pub const VNPOST_PUSH_SECRET: &str = "demo-vnpost-push-secret";

/// The demo shipments section: the province's one-stop centre in Huế as sender, pushes on.
fn shipments_config(port: u16) -> ShipmentsConfig {
    ShipmentsConfig {
        idempotency_ttl_s: 86_400,
        poll_interval_s: 30,
        poll_batch: 100,
        max_poll_backoff_s: 600,
        senders: vec![SenderConfig {
            agency: "TTPVHCC-HUE".into(),
            name: "Trung tâm Phục vụ hành chính công tỉnh".into(),
            phone: "0234382212".into(),
            address: "01 Lê Lai".into(),
            province_code: "46".into(),
            district_code: None,
            commune_code: "19774".into(),
        }],
        webhook: Some(demo_webhook(port)),
        push_secret: Some(SecretRef::inline(VNPOST_PUSH_SECRET.as_bytes().to_vec())),
    }
}

/// The portal webhook of demo mode: its own inbox (`GET /v1/demo/events` shows what arrived).
fn demo_webhook(port: u16) -> WebhookConfig {
    WebhookConfig {
        url: format!("http://127.0.0.1:{port}{}", super::inbox::INBOX_PATH),
        secret: SecretRef::inline(super::inbox::DEMO_WEBHOOK_SECRET.as_bytes().to_vec()),
        timeout_ms: 5_000,
        give_up_after_s: 3_600,
        poll_interval_ms: 1_000,
    }
}

/// The name the demo agency's receipts show.
pub const DEMO_AGENCY_NAME: &str = "Sở Tư pháp tỉnh (demo)";

/// The demo VNPay merchant (the VNPay mock's default merchant).
pub const VNPAY_TMN_CODE: &str = "DEMO0001";
/// The demo VNPay hash secret (the VNPay mock's default): testers sign their own IPNs with it.
pub const VNPAY_HASH_SECRET: &str = "demo-vnpay-secret";
/// The demo payment platform partner (the platform mock's default).
pub const PLATFORM_PARTNER: &str = "DEMO-HUE";
/// The demo payment platform hash key (the platform mock's default).
pub const PLATFORM_HASH_KEY: &str = "demo-ptt-hashkey";

/// The demo agency's receiving account for VietQR transfers, at the demo bank: its BIN.
pub const VIETQR_BIN: &str = "970415";
/// The demo receiving account's number.
pub const VIETQR_ACCOUNT_NO: &str = "1234567890";
/// The demo receiving account's holder.
pub const VIETQR_ACCOUNT_NAME: &str = "TT PHUC VU HANH CHINH CONG";

/// The demo payments section: both providers on the mocks, one merchant each for a demo agency.
fn payments_config(upstreams: &DemoUpstreams, port: u16) -> PaymentsConfig {
    PaymentsConfig {
        order_ttl_s: 900,
        query_after_s: 60,
        sweep_interval_s: 15,
        idempotency_ttl_s: 86_400,
        vnpay: Some(VnpayConfig {
            pay_url: format!("http://{}/paymentv2/vpcpay.html", upstreams.vnpay),
            api_url: format!("http://{}/merchant_webapi/api/transaction", upstreams.vnpay),
            ipn_allowed_ips: vec![],
            merchants: vec![VnpayMerchant {
                agency: "demo-agency".into(),
                tmn_code: VNPAY_TMN_CODE.into(),
                agency_name: Some(DEMO_AGENCY_NAME.into()),
                hash_secret: SecretRef::inline(VNPAY_HASH_SECRET.as_bytes().to_vec()),
            }],
        }),
        payment_platform: Some(PaymentPlatformConfig {
            api_url: format!("http://{}/api/v1/payment", upstreams.payment_platform),
            callback_allowed_ips: vec![],
            merchants: vec![PaymentPlatformMerchant {
                agency: "demo-agency".into(),
                ma_doi_tac: PLATFORM_PARTNER.into(),
                agency_name: Some(DEMO_AGENCY_NAME.into()),
                hash_key: SecretRef::inline(PLATFORM_HASH_KEY.as_bytes().to_vec()),
            }],
        }),
        vietqr: Some(VietQrConfig {
            accounts: vec![VietQrAccount {
                agency: "demo-agency".into(),
                bank: BANK_CLIENT.into(),
                bin: VIETQR_BIN.into(),
                account_no: VIETQR_ACCOUNT_NO.into(),
                account_name: VIETQR_ACCOUNT_NAME.into(),
            }],
            banks: vec![VietQrBank {
                code: BANK_CLIENT.into(),
                credit_secret: SecretRef::inline(BANK_SIGNATURE_SECRET.as_bytes().to_vec()),
            }],
        }),
        webhook: Some(demo_webhook(port)),
    }
}

/// The demo configuration, listening on `127.0.0.1:port`, with every service routed to the mocks.
pub fn config(port: u16, upstreams: DemoUpstreams) -> Config {
    let catalogue = upstreams.catalogue;
    let mut services = std::collections::BTreeMap::new();
    services.insert(
        "notary".to_owned(),
        demo_service(
            "Hồ sơ công chứng, chứng thực (mock): /v1/notary/documents/lookup, /verify",
            format!("http://{}/notary", upstreams.notary),
            true,
            KindConfig::Notary(NotaryConfig {
                notary: NotaryAccount {
                    username: "lienthong".into(),
                    password: SecretRef::inline(b"demo-notary-secret".to_vec()),
                },
                breaker: Default::default(),
                retry: None,
                outbound: None,
            }),
        ),
    );
    services.insert(
        "enterprise".to_owned(),
        demo_service(
            "Cơ sở dữ liệu quốc gia về đăng ký doanh nghiệp (mock): /v1/enterprises/{code}",
            format!("http://{}", upstreams.enterprise),
            false,
            KindConfig::Enterprise(EnterpriseConfig {
                enterprise: EnterpriseAccount {
                    token_url: None,
                    client_id: "demo-ngsp-key".into(),
                    client_secret: SecretRef::inline(b"demo-ngsp-secret".to_vec()),
                },
                breaker: Default::default(),
                retry: None,
                outbound: None,
                cache: None,
            }),
        ),
    );
    services.insert(
        "population".to_owned(),
        demo_service(
            "Cơ sở dữ liệu quốc gia về dân cư (mock): /v1/citizens/verify, /v1/citizens/lookup",
            format!("http://{}/dancuquocgia", upstreams.population),
            true,
            KindConfig::Population(PopulationConfig {
                population: PopulationAccount {
                    username: "lienthong".into(),
                    secret: SecretRef::inline(b"demo-c06-secret".to_vec()),
                    api_key: SecretRef::inline(b"demo-c06-apikey".to_vec()),
                    service_unit_code: "46001".into(),
                    unit_code: "46001".into(),
                    account: "lienthong.demo".into(),
                },
                breaker: Default::default(),
                retry: None,
                outbound: None,
                cache: None,
                lookup_cache: None,
            }),
        ),
    );
    services.insert(
        "catalogue".to_owned(),
        demo_service(
            "Danh mục thủ tục hành chính (mock of the provincial integration platform's catalogue)",
            format!("http://{catalogue}"),
            false,
            KindConfig::Passthrough(PassthroughConfig {
                routes: vec![
                    route("list_procedures", "GET", "/procedures"),
                    route("get_procedure", "GET", "/procedures/{code}"),
                ],
            }),
        ),
    );
    services.insert(
        "dossiers".to_owned(),
        demo_service(
            "Hồ sơ một cửa (mock; carries personal data: X-User-Id and X-Dossier-Id required)",
            format!("http://{catalogue}"),
            true,
            KindConfig::Passthrough(PassthroughConfig {
                routes: vec![route("get_dossier", "GET", "/dossiers/{id}")],
            }),
        ),
    );
    services.insert(
        "payments".to_owned(),
        demo_service(
            "Thanh toán phí, lệ phí (VNPay và nền tảng thanh toán quốc gia, mock): /v1/payments",
            format!("http://127.0.0.1:{port}"),
            false,
            KindConfig::Payments(PaymentsServiceConfig::default()),
        ),
    );
    services.insert(
        "postal".to_owned(),
        demo_service(
            "Gửi kết quả, nhận hồ sơ qua bưu chính công ích (VNPost, mock): /v1/shipments",
            format!("http://{}", upstreams.vnpost),
            false,
            KindConfig::Shipments(ShipmentsServiceConfig {
                vnpost: VnpostAccount {
                    username: VNPOST_USERNAME.into(),
                    password: SecretRef::inline(VNPOST_PASSWORD.as_bytes().to_vec()),
                    customer_code: None,
                },
                breaker: Default::default(),
                retry: None,
                outbound: None,
            }),
        ),
    );
    let allow_all = |svc: &str| AllowRule {
        service: svc.into(),
        operations: vec!["*".into()],
    };
    Config {
        listeners: vec![
            ListenerConfig {
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                plain_http: true,
                tls: None,
                role: Some(ListenerRole::Public),
            },
            ListenerConfig {
                addr: admin_addr(port),
                plain_http: true,
                tls: None,
                role: Some(ListenerRole::Admin),
            },
        ],
        limits: LimitsConfig::default(),
        proxies: Default::default(),
        auth: AuthConfig {
            token_signing_key: Some(SecretRef::inline(
                b"demo-only-token-signing-key-not-for-production".to_vec(),
            )),
            ..AuthConfig::default()
        },
        clients: vec![
            ClientConfig {
                id: PORTAL_CLIENT.into(),
                name: "Cổng dịch vụ công (demo)".into(),
                role: Role::Client,
                api_keys_sha256: vec![sha256_hex(PORTAL_API_KEY)],
                client_secret_sha256: Some(sha256_hex(PORTAL_SECRET)),
                certificates: vec![],
                rate_limit: Some(RateLimitConfig {
                    per_minute: 6000,
                    burst: Some(200),
                }),
                allow: vec![
                    allow_all("catalogue"),
                    allow_all("dossiers"),
                    allow_all("population"),
                    allow_all("enterprise"),
                    allow_all("notary"),
                    allow_all("payments"),
                    allow_all("postal"),
                ],
                bank_code: None,
                signature_secret: None,
            },
            ClientConfig {
                id: ADMIN_CLIENT.into(),
                name: "Trung tâm CNTT tỉnh (demo operator)".into(),
                role: Role::Admin,
                api_keys_sha256: vec![sha256_hex(ADMIN_API_KEY)],
                client_secret_sha256: None,
                certificates: vec![],
                rate_limit: None,
                allow: vec![allow_all("catalogue")],
                bank_code: None,
                signature_secret: None,
            },
            ClientConfig {
                id: BANK_CLIENT.into(),
                name: "Ngân hàng đối tác thu hộ (demo)".into(),
                role: Role::Bank,
                api_keys_sha256: vec![sha256_hex(BANK_API_KEY)],
                client_secret_sha256: None,
                certificates: vec![],
                rate_limit: None,
                allow: vec![],
                bank_code: Some(BANK_CLIENT.into()),
                signature_secret: Some(SecretRef::inline(
                    BANK_SIGNATURE_SECRET.as_bytes().to_vec(),
                )),
            },
        ],
        services,
        store: StoreConfig {
            url: "sqlite::memory:".into(),
            ..StoreConfig::default()
        },
        telemetry: TelemetryConfig {
            log_format: LogFormat::Text,
            ..TelemetryConfig::default()
        },
        audit: AuditConfig {
            subject_key: Some(SecretRef::inline(
                b"demo-only-audit-subject-key-not-for-production".to_vec(),
            )),
            // Fixed and public: demo records are keyed like production ones, protecting nothing.
            chain_key: Some(SecretRef::inline(
                b"demo-only-audit-chain-key-not-for-production".to_vec(),
            )),
            ..AuditConfig::default()
        },
        // No signing key: demo mode signs evidence with a key made at start.
        evidence: EvidenceConfig::default(),
        payments: Some(payments_config(&upstreams, port)),
        shipments: Some(shipments_config(port)),
        redis: None,
        officials: None,
        notify: Default::default(),
        console: Default::default(),
    }
}

/// Where demo mode serves the operators' surface: the port after the demo's (a free one when there
/// is none after it, or for `port` 0).
pub fn admin_addr(port: u16) -> SocketAddr {
    let admin = match port {
        0 | u16::MAX => 0,
        p => p + 1,
    };
    SocketAddr::from(([127, 0, 0, 1], admin))
}

/// What demo mode prints at start: credentials and a few calls to try.
pub fn banner(addr: SocketAddr, admin: SocketAddr) -> String {
    format!(
        r#"lienthong demo gateway on http://{addr}  (demo credentials; never use them elsewhere)
  operators' surface (/v1/admin, /metrics) on http://{admin}
  developer portal http://{addr}/docs  (Authorize with an API key below, then "Try it out")
  portal client  {PORTAL_CLIENT}: API key {PORTAL_API_KEY}, OAuth2 secret {PORTAL_SECRET}
  admin client   {ADMIN_CLIENT}: API key {ADMIN_API_KEY}
  partner bank   {BANK_CLIENT}: API key {BANK_API_KEY}, signature secret {BANK_SIGNATURE_SECRET}
                 (the bank mock calls /v1/collection as it: POST /__admin/inquiry, /__admin/pay, /__admin/reverse;
                 it is also the receiving bank of VietQR orders: POST /__admin/vietqr-transfer {{"payload": …}})

Try:
  curl -s http://{addr}/v1/services -H 'Authorization: Bearer {PORTAL_API_KEY}'
  curl -s http://{addr}/v1/proxy/catalogue/procedures -H 'Authorization: Bearer {PORTAL_API_KEY}'
  curl -s http://{addr}/oauth/token -u {PORTAL_CLIENT}:{PORTAL_SECRET} -d grant_type=client_credentials
  curl -s http://{addr}/v1/proxy/dossiers/dossiers/HS-2026-0001 -H 'Authorization: Bearer {PORTAL_API_KEY}' \
       -H 'X-User-Id: 046185000123' -H 'X-Dossier-Id: HS-2026-0001'
  curl -s http://{addr}/v1/citizens/verify -H 'Authorization: Bearer {PORTAL_API_KEY}' \
       -H 'X-User-Id: 046185000123' -H 'X-Dossier-Id: HS-2026-0001' -H 'Content-Type: application/json' \
       -d '{{"citizen_id":"046090001234","full_name":"Nguyễn Văn An","date_of_birth":"1990-03-15"}}'
  curl -s http://{addr}/v1/notary/documents/lookup -H 'Authorization: Bearer {PORTAL_API_KEY}' \
       -H 'X-User-Id: 046185000123' -H 'X-Dossier-Id: HS-2026-0001' -H 'Content-Type: application/json' \
       -d '{{"document_number":"123/2026/HĐMB","office_code":"46001"}}'   # docs/mock-data.md lists more
  curl -si http://{addr}/v1/enterprises/0314409058 -H 'Authorization: Bearer {PORTAL_API_KEY}'
  curl -s http://{addr}/.well-known/jwks.json   # the keys of the Lienthong-Evidence headers
  curl -s http://{addr}/v1/payments -H 'Authorization: Bearer {PORTAL_API_KEY}' -H 'Idempotency-Key: "demo-1"' \
       -H 'Content-Type: application/json' -d '{{"dossier_id":"HS-2026-0001","provider":"vnpay","amount_vnd":50000,
       "description":"Le phi chung thuc","return_url":"https://portal.example/ket-qua",
       "items":[{{"code":"LP-CT","name":"Le phi chung thuc","amount_vnd":50000}}]}}'
  curl -s 'http://{addr}/v1/payments?dossier_id=HS-2026-0001' -H 'Authorization: Bearer {PORTAL_API_KEY}'
  (open the pay_url, append &mock_choice=pay to pay at once; VNPay merchant {VNPAY_TMN_CODE},
   hash secret {VNPAY_HASH_SECRET}: sign your own IPNs to GET http://{addr}/v1/providers/vnpay/ipn)
  curl -s http://{addr}/v1/shipments -H 'Authorization: Bearer {PORTAL_API_KEY}' -H 'Idempotency-Key: "ship-1"' \
       -H 'Content-Type: application/json' -d '{{"dossier_id":"HS-2026-0001","purpose":"return_result",
       "receiver":{{"name":"Nguyễn Văn An","phone":"0987654321","address":"12 Nguyễn Huệ",
       "province_code":"46","commune_code":"19774"}},"service":"EMS","weight_g":300}}'
  (then GET /v1/shipments/{{shipment_id}}: the VNPost mock moves it one status a minute)
  curl -s 'http://{addr}/v1/shipments?dossier_id=HS-2026-0001' -H 'Authorization: Bearer {PORTAL_API_KEY}'
  curl -s http://{addr}/v1/demo/events -H 'Authorization: Bearer {PORTAL_API_KEY}'   # the portal events sent, signed
  (or see them arrive: lienthong listen, with payments.webhook.url = "http://127.0.0.1:8765/" in a config)
  curl -s http://{admin}/metrics
  curl -s http://{admin}/v1/admin/clients -H 'Authorization: Bearer {ADMIN_API_KEY}'
  (last: suspending the portal stops its calls at once; resume it after)
  curl -s -X POST http://{admin}/v1/admin/clients/{PORTAL_CLIENT}/suspend -H 'Authorization: Bearer {ADMIN_API_KEY}'
  curl -s -X POST http://{admin}/v1/admin/clients/{PORTAL_CLIENT}/resume -H 'Authorization: Bearer {ADMIN_API_KEY}'
"#
    )
}

/// A demo service: the common keys at their defaults but for these.
fn demo_service(
    description: &str,
    base_url: String,
    personal_data: bool,
    kind: KindConfig,
) -> ServiceConfig {
    ServiceConfig {
        upstream: UpstreamConfig {
            description: description.into(),
            personal_data,
            ..UpstreamConfig::new(base_url)
        },
        kind,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_config_is_valid() {
        let c = super::config(
            8080,
            super::DemoUpstreams {
                catalogue: "127.0.0.1:9".parse().unwrap(),
                population: "127.0.0.1:9".parse().unwrap(),
                enterprise: "127.0.0.1:9".parse().unwrap(),
                notary: "127.0.0.1:9".parse().unwrap(),
                vnpay: "127.0.0.1:9".parse().unwrap(),
                payment_platform: "127.0.0.1:9".parse().unwrap(),
                vnpost: "127.0.0.1:9".parse().unwrap(),
            },
        );
        c.validate().unwrap();
    }
}
