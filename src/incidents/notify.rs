//! Telling operators: `[notify]`. An incident that opens or closes is announced by the replica
//! that opened or closed it, once: through the outbox to a signed webhook (`[notify.webhook]`,
//! signed as the portal's webhooks are, retried until delivered) and by e-mail
//! (`[notify.smtp]`, sent at once; a failed mail is logged, the webhook is the record).

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

use crate::config::{ConfigError, SecretRef};
use crate::outbox::{Webhook, WebhookConfig, WebhookOwner};
use crate::render::{rfc3339, vietnam_time};
use crate::store::{Incident, NewOutboxEvent};

use super::Cause;

/// The type prefix of incident events in the outbox.
pub const EVENT_PREFIX: &str = "incident.";
/// An incident opened.
pub const OPENED: &str = "incident.opened";
/// An incident closed.
pub const CLOSED: &str = "incident.closed";

/// `[notify]`: how operators hear of incidents.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Where incident events are POSTed, signed with `Lienthong-Signature`.
    pub webhook: Option<WebhookConfig>,
    /// The mail server that sends incident mails to the operators.
    pub smtp: Option<SmtpConfig>,
}

/// How the connection to the mail server is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// STARTTLS, required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// None: only for a relay on the same host or a test sink.
    None,
}

/// `[notify.smtp]`.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The mail server's host name.
    pub host: String,
    /// Its port (default 587).
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `starttls` (default), `tls` or `none`.
    #[serde(default)]
    pub tls: SmtpTls,
    /// The account to log in as, if the server wants one.
    pub username: Option<String>,
    /// Its password (`env:NAME` or `file:PATH`).
    pub password: Option<SecretRef>,
    /// The sender (`Lien thong <noreply@example.gov.vn>`).
    pub from: String,
    /// The operators' addresses.
    pub to: Vec<String>,
    /// Upper bound of one sending, in milliseconds (default 10 000).
    #[serde(default = "default_smtp_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_smtp_port() -> u16 {
    587
}
fn default_smtp_timeout_ms() -> u64 {
    10_000
}

impl NotifyConfig {
    /// Checks `[notify]`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(w) = &self.webhook {
            w.validate("notify.webhook")?;
        }
        if let Some(smtp) = &self.smtp {
            smtp.mail_parts()?;
            if smtp.host.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "notify.smtp.host",
                    "must not be empty",
                ));
            }
            if smtp.timeout_ms == 0 {
                return Err(ConfigError::invalid(
                    "notify.smtp.timeout_ms",
                    "must be greater than 0",
                ));
            }
            if smtp.username.is_some() != smtp.password.is_some() {
                return Err(ConfigError::invalid(
                    "notify.smtp.password",
                    "`username` and `password` go together",
                ));
            }
        }
        Ok(())
    }
}

impl SmtpConfig {
    /// The sender and the recipients, parsed.
    fn mail_parts(&self) -> Result<(Mailbox, Vec<Mailbox>), ConfigError> {
        let from = self
            .from
            .parse()
            .map_err(|e| ConfigError::invalid("notify.smtp.from", format!("{e}")))?;
        if self.to.is_empty() {
            return Err(ConfigError::invalid(
                "notify.smtp.to",
                "needs at least one address",
            ));
        }
        let to = self
            .to
            .iter()
            .map(|t| t.parse())
            .collect::<Result<Vec<Mailbox>, _>>()
            .map_err(|e| ConfigError::invalid("notify.smtp.to", format!("{e}")))?;
        Ok((from, to))
    }
}

/// The operators' channels, ready to use.
pub struct Notifier {
    webhook: Option<Webhook>,
    mailer: Option<Mailer>,
}

struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl WebhookOwner for Notifier {
    fn webhook(&self) -> Option<&Webhook> {
        self.webhook.as_ref()
    }
}

impl Notifier {
    /// Builds the channels of a validated `[notify]` (reading its secrets).
    pub fn build(config: &NotifyConfig) -> Result<Notifier, ConfigError> {
        let webhook = config
            .webhook
            .as_ref()
            .map(|w| Webhook::build("notify.webhook", w))
            .transpose()?;
        let mailer = config.smtp.as_ref().map(Mailer::build).transpose()?;
        Ok(Notifier { webhook, mailer })
    }

    /// Mails the operators about an incident that opened or closed (`event_type`). A failure is
    /// logged: the webhook, retried from the outbox, is the record.
    pub async fn mail(&self, event_type: &str, incident: &Incident) {
        let Some(mailer) = &self.mailer else {
            return;
        };
        let (subject, body) = mail_text(event_type, incident);
        let mut builder = Message::builder()
            .from(mailer.from.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for to in &mailer.to {
            builder = builder.to(to.clone());
        }
        let sent = match builder.body(body) {
            Ok(message) => mailer
                .transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = sent {
            tracing::warn!(incident = %incident.id, service = %incident.service, error, "incident mail not sent");
        }
    }
}

impl Mailer {
    fn build(smtp: &SmtpConfig) -> Result<Mailer, ConfigError> {
        let (from, to) = smtp.mail_parts()?;
        let invalid = |e: lettre::transport::smtp::Error| {
            ConfigError::invalid("notify.smtp.host", e.to_string())
        };
        let builder = match smtp.tls {
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host).map_err(invalid)?
            }
            SmtpTls::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(invalid)?
            }
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        };
        let mut builder = builder
            .port(smtp.port)
            .timeout(Some(Duration::from_millis(smtp.timeout_ms)));
        if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
            let password = password
                .resolve()
                .map_err(|reason| ConfigError::invalid("notify.smtp.password", reason))?;
            let password = String::from_utf8(password).map_err(|_| {
                ConfigError::invalid("notify.smtp.password", "the secret is not UTF-8")
            })?;
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
            to,
        })
    }
}

/// The outbox event announcing that `incident` opened (`OPENED`) or closed (`CLOSED`): no
/// personal data, only the service, the cause, the message and the times.
pub fn event(event_type: &str, incident: &Incident, at_ms: i64) -> NewOutboxEvent {
    let id = uuid::Uuid::now_v7().to_string();
    let payload = serde_json::json!({
        "id": id,
        "type": event_type,
        "created_at": rfc3339(at_ms),
        "data": {
            "incident_id": incident.id,
            "service": incident.service,
            "cause": incident.cause,
            "state": if event_type == CLOSED { "operational" } else {
                match Cause::from_name(&incident.cause).state() {
                    super::ServiceState::Degraded => "degraded",
                    _ => "down",
                }
            },
            "message_vi": incident.message_vi,
            "message_en": incident.message_en,
            "started_at": rfc3339(incident.started_at_ms),
            "ended_at": incident.ended_at_ms.map(rfc3339),
        },
    });
    NewOutboxEvent {
        id,
        event_type: event_type.to_owned(),
        payload: payload.to_string(),
    }
}

/// The subject and the body of the mail about `incident`, times in Vietnam's time zone.
fn mail_text(event_type: &str, incident: &Incident) -> (String, String) {
    let closed = event_type == CLOSED;
    let subject = if closed {
        format!(
            "[lienthong] Đã khắc phục / Resolved: {} ({})",
            incident.service, incident.cause
        )
    } else {
        format!(
            "[lienthong] Sự cố / Incident: {} ({})",
            incident.service, incident.cause
        )
    };
    let mut body = format!(
        "Dịch vụ / Service: {}\nNguyên nhân / Cause: {}\nBắt đầu / Started: {}\n",
        incident.service,
        incident.cause,
        vietnam_time(incident.started_at_ms)
    );
    if let Some(end) = incident.ended_at_ms {
        body.push_str(&format!("Kết thúc / Ended: {}\n", vietnam_time(end)));
    }
    body.push_str(&format!(
        "\n{}\n{}\n\nMã sự cố / Incident id: {}\n",
        incident.message_vi, incident.message_en, incident.id
    ));
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp() -> SmtpConfig {
        SmtpConfig {
            host: "smtp.example.gov.vn".into(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            from: "Lien thong <noreply@example.gov.vn>".into(),
            to: vec!["ops@example.gov.vn".into()],
            timeout_ms: 10_000,
        }
    }

    fn refusal(smtp: SmtpConfig) -> String {
        NotifyConfig {
            webhook: None,
            smtp: Some(smtp),
        }
        .validate()
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn smtp_settings_are_checked_naming_the_key() {
        assert!(
            NotifyConfig {
                webhook: None,
                smtp: Some(smtp()),
            }
            .validate()
            .is_ok()
        );
        let e = refusal(SmtpConfig {
            from: "not an address".into(),
            ..smtp()
        });
        assert!(e.contains("notify.smtp.from"), "{e}");
        let e = refusal(SmtpConfig {
            to: vec![],
            ..smtp()
        });
        assert!(e.contains("notify.smtp.to"), "{e}");
        let e = refusal(SmtpConfig {
            username: Some("lienthong".into()),
            ..smtp()
        });
        assert!(e.contains("notify.smtp.password"), "{e}");
        let e = refusal(SmtpConfig {
            timeout_ms: 0,
            ..smtp()
        });
        assert!(e.contains("notify.smtp.timeout_ms"), "{e}");
    }

    #[test]
    fn events_carry_no_more_than_the_incident() {
        let incident = Incident {
            id: "0193a1f2-7c4e-7d10-9a55-3f1b2c8d9e01".into(),
            service: "population".into(),
            cause: "error_rate".into(),
            message_vi: "vi".into(),
            message_en: "en".into(),
            started_at_ms: 1_800_000_000_000,
            ended_at_ms: None,
        };
        let opened = event(OPENED, &incident, 1_800_000_000_000);
        let body: serde_json::Value = serde_json::from_str(&opened.payload).unwrap();
        assert_eq!(body["id"], opened.id.as_str());
        assert_eq!(body["type"], "incident.opened");
        assert_eq!(body["data"]["state"], "degraded");
        assert_eq!(body["data"]["ended_at"], serde_json::Value::Null);
        let (subject, text) = mail_text(
            CLOSED,
            &Incident {
                ended_at_ms: Some(1_800_000_600_000),
                ..incident
            },
        );
        assert!(subject.contains("Resolved: population"), "{subject}");
        assert!(text.contains("+07:00"), "{text}");
    }
}
