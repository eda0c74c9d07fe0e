//! The `lienthong` command: serve the gateway, check a config, make credentials, check evidence.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lienthong::app::{Config, ConfigSource, Gateway};
use lienthong::keys::CredentialKind;
use lienthong::server::{ConnSettings, RunningServer};

/// The gateway allocates many small, short-lived buffers per request; under glibc's allocator
/// they cost about a fifth of the CPU of a pass-through request (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// lienthong: the integration gateway of the province's online public services.
#[derive(Parser)]
#[command(name = "lienthong", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// The TOML config file.
        #[arg(long, required_unless_present = "demo", conflicts_with = "demo")]
        config: Option<PathBuf>,
        /// Run with the embedded demo config, demo credentials and in-process mock upstreams.
        #[arg(long)]
        demo: bool,
        /// Port of the demo listener on 127.0.0.1 (default 8080; 0 picks a free one). Demo mode
        /// only: a config's listeners say where it listens.
        #[arg(long)]
        port: Option<u16>,
        /// First of the eight ports of the demo's mocks (default 18100, as `lienthong mocks`; 0
        /// picks free ones).
        #[arg(long, requires = "demo")]
        mocks_port_base: Option<u16>,
        /// Tokio worker threads (default: one per CPU core).
        #[arg(long, env = "LIENTHONG_WORKER_THREADS")]
        worker_threads: Option<usize>,
    },
    /// Run a mock of every external system on loopback ports, for testers and the portal's developers.
    Mocks {
        /// The mocks config file (TOML; see docs/mocks.md). Without it, documented defaults.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seed of the generated data and of random faults (overrides the config).
        #[arg(long)]
        seed: Option<u64>,
        /// Your own records, JSON or CSV (docs/mock-data.md), added to the generated ones.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Move every mock: catalogue on N, population N+1, … VNPost N+6, the bank N+7 (overrides the config's
        /// `[ports]`; 0 picks free ports).
        #[arg(long)]
        port_base: Option<u16>,
        /// Instead of the mocks: forward to this (staging) system and save each exchange.
        #[arg(long, value_name = "UPSTREAM_URL", requires = "to", conflicts_with_all = ["playback", "config", "seed", "data", "port_base"])]
        record: Option<String>,
        /// The directory recordings are saved into (with --record).
        #[arg(long, value_name = "DIR", requires = "record")]
        to: Option<PathBuf>,
        /// A personal-data field whose values are masked in recordings (repeatable; JSON member,
        /// XML element or form parameter name).
        #[arg(long, value_name = "FIELD", requires = "record")]
        mask: Vec<String>,
        /// Instead of the mocks: answer from the recordings in this directory.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "seed", "data", "port_base"])]
        playback: Option<PathBuf>,
        /// Port of the recording proxy or the playback server on 127.0.0.1.
        #[arg(long, default_value_t = 18190)]
        port: u16,
    },
    /// Receive the portal webhooks on 127.0.0.1, check their `Lienthong-Signature` and print each
    /// event (point `payments.webhook.url` or `shipments.webhook.url` here while developing).
    Listen {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 8765)]
        port: u16,
        /// The webhook's secret, as in the gateway's `webhook.secret` (default: demo mode's).
        #[arg(long, env = "LIENTHONG_WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
    /// Validate a config file: exit 0 when valid, 2 with the key and the reason when not.
    CheckConfig {
        /// The TOML config file.
        file: PathBuf,
        /// Report every finding at once without reading secrets or files: exit 0 when there is
        /// none, 1 with warnings only, 2 with errors.
        #[arg(long)]
        lint: bool,
    },
    /// Read the personal-data audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Make credentials.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Check the signed evidence of a registry answer (`Lienthong-Evidence`).
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// The usage report of a period (regulation art. 25): per agency and service, per upstream,
    /// per day, payments and shipments. Exit 2 on bad dates or an unreachable store.
    Report {
        /// The gateway's config file (for the store).
        #[arg(long, env = "LIENTHONG_CONFIG")]
        config: PathBuf,
        /// First day, YYYY-MM-DD (Vietnam, UTC+7), inclusive.
        #[arg(long)]
        from: String,
        /// Last day, YYYY-MM-DD (Vietnam, UTC+7), inclusive.
        #[arg(long)]
        to: String,
        /// How to write it.
        #[arg(long, value_enum, default_value = "table")]
        format: lienthong::reports::Format,
        /// Write it to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compare a provider's daily statement with the payment ledger and store the discrepancies; exit 1 when some remain.
    Reconcile {
        /// The gateway's config file (for the store and the merchants).
        #[arg(long, env = "LIENTHONG_CONFIG")]
        config: PathBuf,
        /// The provider: `vnpay`, `platform` (the national payment platform), `bank` (a partner
        /// bank's collection statement) or `vietqr` (a receiving bank's statement of the agency's
        /// account).
        #[arg(long)]
        provider: String,
        /// The statement's day, YYYY-MM-DD (GMT+7).
        #[arg(long)]
        date: String,
        /// The statement file (CSV; the formats are in docs/operations.md).
        #[arg(long)]
        statement: PathBuf,
        /// The merchant code (default: the provider's first configured merchant).
        #[arg(long)]
        merchant: Option<String>,
        /// The bank's code: `bank_code` of its client with `--provider bank`, a bank of
        /// `[payments.vietqr] banks` with `--provider vietqr`.
        #[arg(long)]
        bank: Option<String>,
        /// With `--provider vietqr`: receive the credits the statement shows and the gateway
        /// never received (lost notifications), as their notifications would have been, once.
        #[arg(long)]
        apply: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the whole chain with its keys, then against the signed checkpoints: exit 0 intact,
    /// 1 broken (the first problem named first), 2 bad input.
    Verify {
        /// The gateway's config file (for the store, `audit.chain_key` and `audit.checkpoint_file`).
        #[arg(long)]
        config: PathBuf,
        /// A checkpoint file to check against (repeat for the files of several replicas; default:
        /// `audit.checkpoint_file`).
        #[arg(long)]
        checkpoints: Vec<PathBuf>,
    },
    /// Who accessed a citizen's data, or a notarised document, and when.
    Search {
        /// The gateway's config file (for the store and `audit.subject_key`).
        #[arg(long)]
        config: PathBuf,
        /// The citizen's 12-digit personal ID (hashed with the subject key; never stored).
        #[arg(long, required_unless_present = "document_number")]
        citizen_id: Option<String>,
        /// A notarised document's number: finds the notary lookups and verifications of it.
        #[arg(long, requires = "office_code", conflicts_with = "citizen_id")]
        document_number: Option<String>,
        /// The notary office's code, with `--document-number`.
        #[arg(long, requires = "document_number")]
        office_code: Option<String>,
        /// From this day (YYYY-MM-DD, UTC), inclusive.
        #[arg(long)]
        from: Option<String>,
        /// To this day (YYYY-MM-DD, UTC), inclusive.
        #[arg(long)]
        to: Option<String>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum EvidenceCommand {
    /// Check a `Lienthong-Evidence` header against the published keys and the body it came with:
    /// exit 0 when it holds, 1 naming what does not, 2 when it cannot be checked.
    Verify {
        /// The JWK Set: a file, or a URL such as `https://GATEWAY/.well-known/jwks.json`.
        #[arg(long)]
        jwks: String,
        /// The response body, byte for byte as received.
        #[arg(long)]
        body: PathBuf,
        /// The header's value (the compact JWS), as kept with the dossier.
        #[arg(long)]
        evidence: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a new credential once, and the hash line to paste into the client's config.
    New {
        /// The client it is for.
        #[arg(long)]
        client: String,
        /// `api-key` (default) or `client-secret` (OAuth2).
        #[arg(long, value_enum, default_value = "api-key")]
        kind: CredentialKind,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file, lint: false } => check_config(&file),
        Command::CheckConfig { file, lint: true } => lint_config(&file),
        Command::Listen { port, secret } => listen(port, secret),
        Command::Mocks {
            record: Some(upstream),
            to: Some(dir),
            mask,
            port,
            ..
        } => run_recording(Recording::Record(upstream, dir, mask), port),
        Command::Mocks {
            playback: Some(dir),
            port,
            ..
        } => run_recording(Recording::Playback(dir), port),
        Command::Mocks {
            config,
            seed,
            data,
            port_base,
            ..
        } => run_mocks(config, seed, data, port_base),
        Command::Audit { command } => run_audit(command),
        Command::Evidence {
            command:
                EvidenceCommand::Verify {
                    jwks,
                    body,
                    evidence,
                },
        } => verify_evidence(&jwks, &body, &evidence),
        Command::Report {
            config,
            from,
            to,
            format,
            out,
        } => {
            let (config, rt) = match load_for_command(&config) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            rt.block_on(report(&config, &from, &to, format, out.as_deref()))
        }
        Command::Reconcile {
            config,
            provider,
            date,
            statement,
            merchant,
            bank,
            apply,
            json,
        } => {
            let (config, rt) = match load_for_command(&config) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            let banks: Vec<String> = config
                .clients
                .iter()
                .filter_map(|c| c.bank_code.clone())
                .collect();
            ExitCode::from(
                rt.block_on(lienthong::services::payments::reconcile::command(
                    config.payments.as_ref(),
                    &banks,
                    &config.store,
                    &lienthong::services::payments::reconcile::Request {
                        provider: &provider,
                        date: &date,
                        statement: &statement,
                        merchant: merchant.as_deref(),
                        bank: bank.as_deref(),
                        apply,
                        json,
                    },
                )),
            )
        }
        Command::Keys {
            command: KeysCommand::New { client, kind },
        } => {
            let credential = lienthong::keys::generate(kind);
            println!("{credential}");
            eprintln!(
                "Keep the line above secret: it is shown only now. Paste this into the config:"
            );
            eprintln!(
                "[[clients]]\nid = \"{client}\"\n{}",
                lienthong::keys::config_line(kind, &credential)
            );
            ExitCode::SUCCESS
        }
        Command::Serve {
            config,
            demo,
            port,
            mocks_port_base,
            worker_threads,
        } => {
            if let (Some(_), false) = (port, demo) {
                eprintln!(
                    "error: `--port` applies to `--demo` only; with `--config` the gateway listens where `[[listeners]] addr` says"
                );
                return ExitCode::from(2);
            }
            let Some(rt) = runtime(worker_threads) else {
                return ExitCode::FAILURE;
            };
            let result = match (config, demo) {
                (Some(path), _) => match Config::load(&path) {
                    Ok(c) => rt.block_on(serve(c, ConfigSource::File(path), None)),
                    Err(e) => {
                        eprintln!("error: invalid config {}: {e}", path.display());
                        return ExitCode::from(2);
                    }
                },
                (None, _) => {
                    let port = port.unwrap_or(DEMO_PORT);
                    let base = mocks_port_base.unwrap_or(DEMO_MOCKS_PORT_BASE);
                    match rt.block_on(serve_demo(port, base)) {
                        Ok(result) => result,
                        Err(code) => return code,
                    }
                }
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The config and a one-thread runtime for an offline command; the failure is reported already.
fn load_for_command(path: &std::path::Path) -> Result<(Config, tokio::runtime::Runtime), ExitCode> {
    let config = Config::load(path).map_err(|e| {
        eprintln!("error: invalid config {}: {e}", path.display());
        ExitCode::from(2)
    })?;
    let rt = runtime(Some(1)).ok_or(ExitCode::FAILURE)?;
    Ok((config, rt))
}

fn run_audit(command: AuditCommand) -> ExitCode {
    let path = match &command {
        AuditCommand::Verify { config, .. } | AuditCommand::Search { config, .. } => config.clone(),
    };
    let (config, rt) = match load_for_command(&path) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    rt.block_on(async move {
        match command {
            AuditCommand::Verify { checkpoints, .. } => audit_verify(&config, checkpoints).await,
            AuditCommand::Search {
                citizen_id,
                document_number,
                office_code,
                from,
                to,
                json,
                ..
            } => {
                let about = match (citizen_id, document_number, office_code) {
                    (Some(id), _, _) => SearchFor::Citizen(id),
                    (None, Some(number), Some(office)) => SearchFor::Document { number, office },
                    // clap requires one or the other.
                    _ => return ExitCode::from(2),
                };
                audit_search(&config, about, from, to, json).await
            }
        }
    })
}

/// Opens the store of an offline audit command; reports a failure itself.
async fn open_store_for_command(
    config: &Config,
) -> Result<Arc<dyn lienthong::store::Store>, ExitCode> {
    lienthong::store::open_config(&config.store)
        .await
        .map_err(|e| {
            eprintln!("error: opening the store: {e}");
            ExitCode::FAILURE
        })
}

/// `lienthong report`: reads the period's figures and writes them; every failure is one line on
/// standard error and exit code 2.
async fn report(
    config: &Config,
    from: &str,
    to: &str,
    format: lienthong::reports::Format,
    out: Option<&std::path::Path>,
) -> ExitCode {
    use lienthong::reports::{Period, Report};

    let fail = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    };
    let period = match Period::parse(from, to) {
        Ok(period) => period,
        Err(e) => return fail(e.to_string()),
    };
    // Opening a SQLite file that is not there would make an empty one and report nothing.
    if let Some(path) = sqlite_file(&config.store.url)
        && !path.exists()
    {
        return fail(format!("the store file {} does not exist", path.display()));
    }
    eprintln!("report: opening the store");
    let store = match lienthong::store::open_config(&config.store).await {
        Ok(store) => store,
        Err(e) => return fail(format!("the store is unreachable: {e}")),
    };
    let progress = |step: &str| eprintln!("report: {step}");
    let report = match Report::build(
        store.as_ref(),
        period,
        lienthong::store::now_ms(),
        &progress,
    )
    .await
    {
        Ok(report) => report,
        Err(e) => return fail(e.to_string()),
    };
    progress("writing");
    let text = report.write(format);
    let written = match out {
        Some(path) => std::fs::write(path, text.as_bytes())
            .map_err(|e| format!("writing {}: {e}", path.display())),
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(text.as_bytes())
                .map_err(|e| format!("writing the report: {e}"))
        }
    };
    match written {
        Ok(()) => {
            if let Some(path) = out {
                eprintln!("report: written to {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// The file of a SQLite store URL (`sqlite://PATH`, `sqlite:PATH`, options after `?`), or `None`
/// for another backend or an in-memory database.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

/// `lienthong audit verify`: the chain with its keys, then against the checkpoint files.
async fn audit_verify(config: &Config, checkpoint_files: Vec<PathBuf>) -> ExitCode {
    use lienthong::audit::checkpoint::CheckpointLog;
    use lienthong::store::ChainProblem;

    let keys = match lienthong::app::runtime::chain_keys(&config.audit) {
        Ok(keys) => keys,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let files = if checkpoint_files.is_empty() {
        config.audit.checkpoint_file.iter().cloned().collect()
    } else {
        checkpoint_files
    };
    if !files.is_empty() && keys.is_empty() {
        eprintln!(
            "error: checkpoints are signed with `audit.chain_key`, which the config does not set"
        );
        return ExitCode::from(2);
    }
    let mut checkpoints = Vec::new();
    let mut faults = Vec::new();
    for file in &files {
        let log = match CheckpointLog::read(file, &keys) {
            Ok(log) => log,
            Err(e) => {
                eprintln!("error: reading the checkpoints {}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        if log.incomplete_last_line {
            eprintln!(
                "note: the last line of {} is incomplete (a write cut short) and was skipped",
                file.display()
            );
        }
        checkpoints.extend(log.checkpoints);
        faults.extend(
            log.faults
                .into_iter()
                .map(|(line, fault)| (file, line, fault)),
        );
    }
    let store = match open_store_for_command(config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let result =
        lienthong::store::verify_audit_chain_against(store.as_ref(), &keys, &checkpoints, |n| {
            if n % 50_000 == 0 {
                eprintln!("… {n} records checked");
            }
        })
        .await;
    let mut broken = !faults.is_empty();
    match result {
        Ok(Ok((n, head))) => {
            let against = match checkpoints.iter().max_by_key(|c| c.count) {
                Some(latest) => format!(
                    ", matching {} checkpoint(s), the latest at {} ({} records)",
                    checkpoints.len(),
                    latest.at,
                    latest.count
                ),
                None => String::new(),
            };
            if !broken {
                println!("audit chain intact: {n} records, head {head}{against}");
            }
        }
        Ok(Err(ChainProblem::Broken(link))) => {
            println!("audit chain BROKEN at record {}: {}", link.id, link.reason);
            broken = true;
        }
        Ok(Err(problem)) => {
            println!("audit chain BROKEN: {problem}");
            broken = true;
        }
        Err(e) => {
            eprintln!("error: reading the audit trail: {e}");
            return ExitCode::FAILURE;
        }
    }
    for (file, line, fault) in &faults {
        println!(
            "checkpoint file BROKEN: {} line {line}: {fault}",
            file.display()
        );
    }
    if files.is_empty() {
        eprintln!("note: no checkpoint file: a deleted tail of the chain cannot be detected");
    }
    if broken {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// What `lienthong audit search` looks for.
enum SearchFor {
    /// A citizen, by personal ID.
    Citizen(String),
    /// A notarised document.
    Document {
        /// Its number.
        number: String,
        /// The notary office's code.
        office: String,
    },
}

/// `lienthong audit search`: the records about one citizen or one document, oldest first.
async fn audit_search(
    config: &Config,
    about: SearchFor,
    from: Option<String>,
    to: Option<String>,
    json: bool,
) -> ExitCode {
    // The values searched for are personal data: no message repeats them.
    let subject = match &about {
        SearchFor::Citizen(id) => {
            if let Err(why) = lienthong::validate::parse_personal_id(id.trim()) {
                let why = why.en;
                eprintln!("error: `--citizen-id` is not a valid 12-digit personal ID: {why}");
                return ExitCode::from(2);
            }
            id.trim().to_owned()
        }
        SearchFor::Document { number, office } => {
            let number_len = number.trim().chars().count();
            let office = office.trim();
            if !(1..=64).contains(&number_len) {
                eprintln!("error: `--document-number` must be 1 to 64 characters");
                return ExitCode::from(2);
            }
            if !(1..=16).contains(&office.len())
                || !office.chars().all(|c| c.is_ascii_alphanumeric())
            {
                eprintln!("error: `--office-code` must be 1 to 16 letters or digits");
                return ExitCode::from(2);
            }
            lienthong::services::notary::audit_subject(office, number)
        }
    };
    let Some(key) = config.audit.subject_key.as_ref() else {
        eprintln!(
            "error: `audit.subject_key` is not set in the config: records cannot be searched by subject"
        );
        return ExitCode::from(2);
    };
    let key = match key.resolve() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: `audit.subject_key`: {e}");
            return ExitCode::from(2);
        }
    };
    let day_ms = |d: &Option<String>, end: bool| -> Result<i64, String> {
        let Some(d) = d else {
            return Ok(if end { i64::MAX } else { 0 });
        };
        let date = lienthong::validate::Date::parse_iso(d)
            .ok_or(format!("`{d}` is not a date YYYY-MM-DD"))?;
        let month = time::Month::try_from(date.month).map_err(|e| e.to_string())?;
        let day = time::Date::from_calendar_date(date.year, month, date.day)
            .map_err(|e| e.to_string())?;
        let start = day.midnight().assume_utc().unix_timestamp() * 1000;
        Ok(if end { start + 86_400_000 - 1 } else { start })
    };
    let (from_ms, to_ms) = match (day_ms(&from, false), day_ms(&to, true)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let store = match open_store_for_command(config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let subject = lienthong::audit::SubjectKey::new(key).subject(&subject);
    let records = match store
        .audit_by_subject(&subject, from_ms, to_ms, 100_000)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: reading the audit trail: {e}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        for r in &records {
            println!("{}", serde_json::to_string(r).unwrap_or_default());
        }
    } else {
        println!(
            "{:<26} {:<16} {:<16} {:<16} {:<22} {:<10} request_id",
            "time", "client", "user", "dossier", "service/operation", "outcome"
        );
        for r in &records {
            let e = &r.event;
            // For people: Vietnam's time with its offset (the JSON lines keep RFC 3339).
            let at = lienthong::render::vietnam_time(e.at_ms);
            println!(
                "{at:<26} {:<16} {:<16} {:<16} {:<22} {:<10} {}",
                e.client_id,
                e.user_id,
                e.dossier_id,
                format!("{}/{}", e.service, e.operation),
                e.outcome,
                e.request_id
            );
        }
        eprintln!("{} record(s)", records.len());
    }
    ExitCode::SUCCESS
}

/// `lienthong evidence verify`: 0 holds, 1 does not (and why), 2 cannot be checked.
fn verify_evidence(jwks: &str, body: &std::path::Path, evidence: &std::path::Path) -> ExitCode {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| eprintln!("error: cannot read {}: {e}", path.display()))
    };
    let (Ok(body), Ok(evidence)) = (read(body), read(evidence)) else {
        return ExitCode::from(2);
    };
    let set = if jwks.starts_with("http://") || jwks.starts_with("https://") {
        let Some(rt) = runtime(Some(1)) else {
            return ExitCode::from(2);
        };
        rt.block_on(fetch_jwks(jwks))
    } else {
        std::fs::read(jwks).map_err(|e| anyhow::anyhow!("cannot read {jwks}: {e}"))
    };
    let set = match set {
        Ok(set) => set,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let evidence = String::from_utf8_lossy(&evidence);
    match lienthong::evidence::verify::verify(&set, &evidence, &body) {
        Ok(Ok(verified)) => {
            let c = &verified.claims;
            println!(
                "evidence holds: signed by {} ({}) of the JWK Set; issued by {} for request {}; res matches the body",
                verified.kid, verified.alg, c.iss, c.jti
            );
            println!("{}", serde_json::to_string_pretty(c).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(Err(failure)) => {
            println!("evidence does NOT hold: {failure}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// GETs a JWK Set (the gateway's `/.well-known/jwks.json`), checking the server against the
/// public web PKI over HTTPS.
async fn fetch_jwks(url: &str) -> anyhow::Result<Vec<u8>> {
    let tls = lienthong::tls::public_client_config().map_err(anyhow::Error::msg)?;
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let resp = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("fetching {url}"))?;
    let status = resp.status();
    anyhow::ensure!(status.is_success(), "fetching {url}: HTTP {status}");
    Ok(resp.bytes().await?.to_vec())
}

/// The exit code when a port to listen on is taken (or cannot be bound): one line says which.
const EXIT_PORT_IN_USE: u8 = 3;
/// The demo gateway's default port.
const DEMO_PORT: u16 = 8080;
/// The first port of the demo's mocks by default: the ports `lienthong mocks` uses.
const DEMO_MOCKS_PORT_BASE: u16 = 18100;

/// The mocks' ports from `--port-base`; reports a base too high itself.
fn mock_ports(flag: &str, base: u16) -> Result<lienthong_mocks::set::Ports, ExitCode> {
    lienthong_mocks::set::Ports::from_base(base).ok_or_else(|| {
        eprintln!("error: `{flag}` {base}: the seven mock ports must stay below 65536");
        ExitCode::from(2)
    })
}

/// Starts the mocks; a port in use (or any other failure) is reported in one line naming the flag
/// that moves them.
async fn start_mocks(
    config: &lienthong_mocks::set::MocksConfig,
    flag: &str,
) -> Result<lienthong_mocks::set::MockSet, ExitCode> {
    lienthong_mocks::set::MockSet::start(config)
        .await
        .map_err(|e| match e {
            lienthong_mocks::set::MocksError::Bind { .. } => {
                eprintln!("error: the mocks cannot start: {e}; move them with `{flag} N`");
                ExitCode::from(EXIT_PORT_IN_USE)
            }
            e => {
                eprintln!("error: the mocks cannot start: {e}");
                ExitCode::FAILURE
            }
        })
}

fn run_mocks(
    config: Option<PathBuf>,
    seed: Option<u64>,
    data: Option<PathBuf>,
    port_base: Option<u16>,
) -> ExitCode {
    let mut cfg = match &config {
        Some(path) => match lienthong_mocks::set::MocksConfig::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: invalid mocks config {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => lienthong_mocks::set::MocksConfig::default(),
    };
    if let Some(seed) = seed {
        cfg.seed = seed;
    }
    if data.is_some() {
        cfg.data_file = data;
    }
    if let Some(base) = port_base {
        cfg.ports = match mock_ports("--port-base", base) {
            Ok(ports) => ports,
            Err(code) => return code,
        };
    }
    let Some(rt) = runtime(None) else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async move {
        eprintln!(
            "generating data (seed {}) and starting the mocks…",
            cfg.seed
        );
        let set = match start_mocks(&cfg, "--port-base").await {
            Ok(set) => set,
            Err(code) => return code,
        };
        println!(
            "lienthong mocks, seed {}: {} citizens, {} enterprises\n",
            cfg.seed,
            set.data.citizens.len(),
            set.data.enterprises.len()
        );
        print!("{}", set.table());
        println!("Well-known records: docs/mock-data.md. Stop with Ctrl-C.");
        wait_for_stop().await;
        ExitCode::SUCCESS
    })
}

/// `lienthong listen`: a portal's webhook endpoint on 127.0.0.1 that prints what it receives.
fn listen(port: u16, secret: Option<String>) -> ExitCode {
    let secret = Arc::new(
        secret
            .unwrap_or_else(|| lienthong::app::inbox::DEMO_WEBHOOK_SECRET.to_owned())
            .into_bytes(),
    );
    let Some(rt) = runtime(Some(1)) else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "error: cannot listen on 127.0.0.1:{port}: {e}; choose another port with `--port`"
                );
                return ExitCode::from(EXIT_PORT_IN_USE);
            }
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "listening for portal webhooks on http://{addr} (any path), checking Lienthong-Signature; stop with Ctrl-C"
        );
        let app = axum::Router::new().fallback(
            move |headers: http::HeaderMap, body: axum::body::Bytes| {
                let secret = secret.clone();
                async move { webhook_received(&secret, &headers, &body) }
            },
        );
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(wait_for_stop())
            .await
        {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        ExitCode::SUCCESS
    })
}

/// What `lienthong mocks --record` / `--playback` runs.
enum Recording {
    /// Upstream URL, directory, masked fields.
    Record(String, PathBuf, Vec<String>),
    /// Directory.
    Playback(PathBuf),
}

fn run_recording(what: Recording, port: u16) -> ExitCode {
    let Some(rt) = runtime(None) else {
        return ExitCode::FAILURE;
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    rt.block_on(async move {
        let started = match &what {
            Recording::Record(upstream, dir, mask) => {
                lienthong_mocks::recording::record(upstream, dir, mask, addr).await
            }
            Recording::Playback(dir) => lienthong_mocks::recording::playback(dir, addr).await,
        };
        let system = match started {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        println!("{:<18} {}", system.name, system.mock.url());
        for (k, v) in &system.credentials {
            println!("{:<18}   {k}: {v}", "");
        }
        println!("\nAlso serves /__admin (journal, faults, stubs, ui). Stop with Ctrl-C.");
        wait_for_stop().await;
        ExitCode::SUCCESS
    })
}

/// Prints one delivery of `lienthong listen`: the event, or why its signature was refused
/// (answered 400, so the gateway retries it as it would a portal's refusal).
fn webhook_received(secret: &[u8], headers: &http::HeaderMap, body: &[u8]) -> http::StatusCode {
    let now_ms = lienthong::store::now_ms();
    let at = lienthong::render::vietnam_time(now_ms);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let event_id = header("lienthong-event-id").unwrap_or("-");
    match lienthong::signature::verify(
        header("lienthong-signature"),
        body,
        &[secret],
        now_ms / 1000,
    ) {
        Ok(_) => {
            let event: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            println!(
                "{at}  {}  {event_id}  signature verified",
                event["type"].as_str().unwrap_or("(no type)")
            );
            println!(
                "{}",
                serde_json::to_string_pretty(&event).unwrap_or_default()
            );
            http::StatusCode::NO_CONTENT
        }
        Err(e) => {
            println!("{at}  REFUSED  {event_id}  {e}");
            http::StatusCode::BAD_REQUEST
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A Tokio runtime with `workers` threads (default: one per core); reports a failure itself.
fn runtime(workers: Option<usize>) -> Option<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = workers.filter(|n| *n > 0) {
        builder.worker_threads(n);
    }
    match builder.build() {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            None
        }
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    let config = match Config::load(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    // Build everything a start would build (secrets, CA bundles, TLS keys) without serving.
    let built = match lienthong::app::Runtime::build(config.clone(), None, &[0u8; 32]) {
        Ok(built) => built,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    // Keys fetched from a URL are fetched now, as a start would.
    if let Some(verifier) = &built.officials {
        let Some(rt) = runtime(Some(1)) else {
            return ExitCode::FAILURE;
        };
        if let Err(e) = rt.block_on(verifier.refresh()) {
            eprintln!("{}: `officials.jwks`: {e}", file.display());
            return ExitCode::from(2);
        }
    }
    for (i, l) in config.listeners.iter().enumerate() {
        if let Some(tls) = &l.tls
            && let Err(e) = lienthong::tls::server_config(tls)
        {
            eprintln!("{}: `listeners[{i}].tls`: {e}", file.display());
            return ExitCode::from(2);
        }
    }
    for warning in config.warnings() {
        eprintln!("{}: warning: {warning}", file.display());
    }
    println!(
        "{}: valid ({} listeners, {} clients, {} services)",
        file.display(),
        config.listeners.len(),
        config.clients.len(),
        config.services.len()
    );
    ExitCode::SUCCESS
}

/// `check-config --lint`: one line per finding, errors first.
fn lint_config(file: &std::path::Path) -> ExitCode {
    use lienthong::app::lint::{Severity, lint};
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{}: cannot read: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let findings = lint(&text);
    for finding in &findings {
        eprintln!("{}: {finding}", file.display());
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    match (errors, warnings) {
        (0, 0) => {
            println!("{}: no findings", file.display());
            ExitCode::SUCCESS
        }
        (0, _) => {
            println!("{}: {warnings} warning(s)", file.display());
            ExitCode::from(1)
        }
        _ => {
            println!(
                "{}: {errors} error(s), {warnings} warning(s)",
                file.display()
            );
            ExitCode::from(2)
        }
    }
}

/// `serve --demo`: binds the gateway's two listeners first (a port in use ends it there, in one
/// line), starts the mocks on their ports, and prints the banner once everything answers.
async fn serve_demo(port: u16, mocks_port_base: u16) -> Result<anyhow::Result<()>, ExitCode> {
    use lienthong::app::demo;
    let bind = |addr: std::net::SocketAddr, flag: &'static str| async move {
        lienthong::server::bind_plain(addr).await.map_err(|e| {
            eprintln!("error: cannot listen on {addr}: {e}; choose another port with `{flag}`");
            ExitCode::from(EXIT_PORT_IN_USE)
        })
    };
    let public = bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)), "--port").await?;
    // `--port 0` asks for any free port: the operators' surface then takes any free one too, not
    // the one after the demo's, which another process may hold.
    let admin_after = if port == 0 {
        0
    } else {
        public.local_addr.port()
    };
    let port = public.local_addr.port();
    let admin = bind(demo::admin_addr(admin_after), "--port").await?;
    // Every mock in-process, with the bank callbacks pointed at this gateway.
    let mut mocks = lienthong_mocks::set::MocksConfig {
        ports: mock_ports("--mocks-port-base", mocks_port_base)?,
        ..Default::default()
    };
    for m in &mut mocks.vnpay.merchants {
        m.ipn_url = format!("http://127.0.0.1:{port}/v1/providers/vnpay/ipn");
    }
    for p in &mut mocks.payment_platform.partners {
        p.callback_url = format!("http://127.0.0.1:{port}/v1/providers/payment-platform/callback");
        p.return_url = format!("http://127.0.0.1:{port}/v1/providers/payment-platform/return");
    }
    mocks.vnpost.push_url = Some(format!("http://127.0.0.1:{port}/v1/carriers/vnpost/push"));
    mocks.vnpost.push_secret = Some(demo::VNPOST_PUSH_SECRET.to_owned());
    mocks.bank.gateway_url = format!("http://127.0.0.1:{port}");
    let set = start_mocks(&mocks, "--mocks-port-base").await?;
    let addr = |name: &str| {
        set.get(name)
            .map(|s| s.mock.addr)
            .with_context(|| format!("the {name} mock is missing"))
    };
    let upstreams = || -> anyhow::Result<demo::DemoUpstreams> {
        Ok(demo::DemoUpstreams {
            catalogue: addr("catalogue")?,
            population: addr("population")?,
            enterprise: addr("enterprise")?,
            notary: addr("notary")?,
            vnpay: addr("vnpay")?,
            payment_platform: addr("payment_platform")?,
            vnpost: addr("vnpost")?,
        })
    };
    let upstreams = match upstreams() {
        Ok(u) => u,
        Err(e) => return Ok(Err(e)),
    };
    let mut config = demo::config(port, upstreams);
    config.listeners[0].addr = public.local_addr;
    config.listeners[1].addr = admin.local_addr;
    let banner = format!(
        "{}\nMock upstreams (seed {}):\n{}",
        demo::banner(public.local_addr, admin.local_addr),
        mocks.seed,
        set.table()
    );
    let source = ConfigSource::Fixed(Box::new(config.clone()));
    let bound = Bound {
        listeners: vec![public, admin],
        banner,
        mocks: set,
    };
    Ok(serve(config, source, Some(bound)).await)
}

/// What demo mode brings to [`serve`]: its listeners, bound already, the banner to print once
/// they answer, and the mocks, which live as long as the gateway.
struct Bound {
    listeners: Vec<lienthong::server::BoundListener>,
    banner: String,
    mocks: lienthong_mocks::set::MockSet,
}

async fn serve(config: Config, source: ConfigSource, bound: Option<Bound>) -> anyhow::Result<()> {
    let _log_guard = lienthong::telemetry::init_logging(&config.telemetry);
    let trace_export = match &config.telemetry.otlp {
        Some(otlp) => lienthong::telemetry::traces::install(otlp)?,
        None => None,
    };
    let store = lienthong::app::open_store(&config).await?;
    let gw: Arc<Gateway> = Gateway::new(config.clone(), source, store)
        .await
        .context("starting the gateway")?;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    if bound.is_some() {
        // Demo mode's events come back to its own inbox.
        gw.open_demo_inbox();
    }
    let (listeners, banner) = match bound {
        Some(Bound {
            listeners,
            banner,
            mocks,
        }) => (listeners, Some((banner, mocks))),
        None => (
            lienthong::server::bind_all(&config.listeners)
                .await
                .map_err(anyhow::Error::msg)?,
            None,
        ),
    };
    let roles = lienthong::config::listener_roles(&config.listeners);
    let mut served = Vec::new();
    for (l, role) in listeners.into_iter().zip(roles) {
        tracing::info!(addr = %l.local_addr, role = ?role, "listening");
        served.push((l, lienthong::app::router_for(gw.clone(), role)));
    }
    let workers = gw.spawn_workers();
    let server = RunningServer::start_each(served, ConnSettings::from_limits(&config.limits));
    // The mocks stay up as long as the gateway serves.
    let _mocks = banner.map(|(text, mocks)| {
        print!("{text}");
        mocks
    });

    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = hup.recv() => {
                let request_id = uuid::Uuid::now_v7().to_string();
                let _ = gw.reload_and_record("signal:SIGHUP", &request_id).await;
            }
        }
    }
    tracing::info!("shutting down: no new connections, draining in-flight requests");
    server.shutdown().await;
    for w in workers {
        w.abort();
    }
    // Every audit record of the drained requests is written: the last checkpoint covers them.
    gw.write_audit_checkpoint().await;
    // The usage of the drained requests too: the reports count every request answered.
    let _ = gw.flush_usage().await;
    // And their spans.
    if let Some(export) = trace_export {
        export.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(())
}
