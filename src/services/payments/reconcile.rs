//! Reconciliation of the ledger with a provider's daily statement (`lienthong reconcile`).
//!
//! A partner bank's statement (`--provider bank --bank CODE`) is matched to the transactions the
//! bank posted by its transaction id: matched; paid at the bank, not here (unknown or reversed);
//! amount mismatch; duplicate; and posted here that day but missing at the bank. Its
//! discrepancies are stored for operators (`GET /v1/admin/reconciliation/discrepancies`), and the
//! day is closed: no reversal of it is accepted after.
//!
//! VNPay's statement:
//! Every successful payment line is matched to the ledger by reference: matched; paid at the bank
//! but pending here (settled now, with an audit note); paid at the bank but unknown, failed or
//! expired here; amount mismatch; duplicate (the same transaction twice, or one order paid twice).
//! Payments the ledger has as paid that day but the statement lacks are "missing at bank".

use std::collections::{HashMap, HashSet};

use lienthong_adapters::canonical::payment::ProviderOutcome;
use lienthong_adapters::vnpay::wire::StatementLine;
use serde::Serialize;

use crate::store::{
    Discrepancy, Evidence, PaymentStatus, ReconciledDay, Store, StoreError, now_ms,
};

use super::{Applied, apply_outcome};

/// The kind of a reconciliation line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Both sides agree.
    Matched,
    /// Paid at the bank, pending here: settled now (resolved).
    SettledFromStatement,
    /// Paid at the bank; the ledger does not know the order or has it failed/expired.
    PaidAtBankNotHere,
    /// Paid here that day; the statement has no such payment.
    MissingAtBank,
    /// The amounts differ.
    AmountMismatch,
    /// A transaction listed twice, or one order paid twice.
    Duplicate,
}

impl Kind {
    /// Whether this kind still needs a person.
    pub fn is_discrepancy(self) -> bool {
        !matches!(self, Kind::Matched | Kind::SettledFromStatement)
    }
}

/// One line of the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// What it is.
    pub kind: Kind,
    /// Our reference.
    pub txn_ref: String,
    /// The provider's transaction number, when known.
    pub transaction_no: Option<String>,
    /// Our payment id, when known.
    pub payment_id: Option<String>,
    /// The statement's amount, VND.
    pub bank_amount_vnd: Option<u64>,
    /// The ledger's amount, VND.
    pub ledger_amount_vnd: Option<i64>,
    /// The ledger's state before reconciliation.
    pub ledger_status: Option<String>,
}

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `vnpay`.
    pub provider: String,
    /// The merchant.
    pub merchant: String,
    /// The day, `YYYY-MM-DD` (GMT+7).
    pub date: String,
    /// Every line.
    pub entries: Vec<Entry>,
    /// Count per kind.
    pub counts: HashMap<Kind, usize>,
}

impl Report {
    /// Lines that still need a person.
    pub fn discrepancies(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.kind.is_discrepancy())
            .count()
    }
}

/// The bounds of a GMT+7 day in Unix ms (inclusive).
pub fn day_bounds_ms(date: time::Date) -> (i64, i64) {
    let offset = time::UtcOffset::from_hms(7, 0, 0).unwrap_or(time::UtcOffset::UTC);
    let start = date.midnight().assume_offset(offset).unix_timestamp() * 1000;
    (start, start + 86_400_000 - 1)
}

/// Reconciles a VNPay statement of `merchant` for `date`. `progress(done, total)` is called as
/// lines are processed.
pub async fn reconcile_vnpay(
    store: &dyn Store,
    merchant: &str,
    date: time::Date,
    lines: &[StatementLine],
    mut progress: impl FnMut(usize, usize),
) -> Result<Report, StoreError> {
    let provider = "vnpay";
    let mut entries = Vec::new();
    let mut seen_txn_no = HashSet::new();
    let mut paid_refs: HashSet<String> = HashSet::new();
    let payments: Vec<&StatementLine> = lines.iter().filter(|l| l.is_paid_payment()).collect();
    let total = payments.len();
    for (i, line) in payments.into_iter().enumerate() {
        if i % 1000 == 0 {
            progress(i, total);
        }
        let mut entry = Entry {
            kind: Kind::Matched,
            txn_ref: line.txn_ref.clone(),
            transaction_no: Some(line.transaction_no.clone()),
            payment_id: None,
            bank_amount_vnd: Some(line.amount_vnd),
            ledger_amount_vnd: None,
            ledger_status: None,
        };
        let duplicate = !seen_txn_no.insert(line.transaction_no.clone())
            || !paid_refs.insert(line.txn_ref.clone());
        let payment = store
            .payment_by_ref(provider, merchant, &line.txn_ref)
            .await?;
        if let Some(p) = &payment {
            entry.payment_id = Some(p.id.clone());
            entry.ledger_amount_vnd = Some(p.amount_vnd);
            entry.ledger_status = Some(p.status.as_str().to_owned());
        }
        entry.kind = match &payment {
            _ if duplicate => Kind::Duplicate,
            None => Kind::PaidAtBankNotHere,
            Some(p) if i64::try_from(line.amount_vnd).ok() != Some(p.amount_vnd) => {
                Kind::AmountMismatch
            }
            Some(p) if p.status.was_paid() => {
                if p.provider_txn_no.as_deref() == Some(line.transaction_no.as_str()) {
                    Kind::Matched
                } else {
                    Kind::Duplicate
                }
            }
            Some(p) if p.status == PaymentStatus::Pending => {
                let outcome = ProviderOutcome::Paid {
                    transaction_no: line.transaction_no.clone(),
                    bank_code: Some(line.bank_code.clone()).filter(|b| !b.is_empty()),
                    paid_at: Some(line.pay_date.clone()),
                };
                let evidence = Evidence {
                    provider: provider.into(),
                    kind: "statement".into(),
                    payment_id: Some(p.id.clone()),
                    raw: serde_json::to_string(line).unwrap_or_default(),
                    verdict: "settled".into(),
                    at_ms: now_ms(),
                };
                let note = format!(
                    "reconciliation: paid at the bank per the statement of {date}, no callback recorded"
                );
                match apply_outcome(store, p, &outcome, "reconcile", Some(note), Some(evidence))
                    .await?
                {
                    Applied::Changed(_) => Kind::SettledFromStatement,
                    Applied::DuplicateTransaction => Kind::Duplicate,
                    _ => Kind::PaidAtBankNotHere,
                }
            }
            Some(_) => Kind::PaidAtBankNotHere,
        };
        entries.push(entry);
    }
    progress(total, total);
    let (from, to) = day_bounds_ms(date);
    for p in store.paid_payments_between(provider, from, to).await? {
        // An order a partner bank collected is on that bank's statement, not VNPay's.
        let collected_by_bank = p
            .provider_txn_no
            .as_deref()
            .is_some_and(|n| n.starts_with(super::collection::TXN_NO_PREFIX));
        if p.merchant != merchant || paid_refs.contains(&p.txn_ref) || collected_by_bank {
            continue;
        }
        entries.push(Entry {
            kind: Kind::MissingAtBank,
            txn_ref: p.txn_ref.clone(),
            transaction_no: p.provider_txn_no.clone(),
            payment_id: Some(p.id.clone()),
            bank_amount_vnd: None,
            ledger_amount_vnd: Some(p.amount_vnd),
            ledger_status: Some(p.status.as_str().to_owned()),
        });
    }
    let mut counts = HashMap::new();
    for e in &entries {
        *counts.entry(e.kind).or_insert(0) += 1;
    }
    Ok(Report {
        provider: provider.into(),
        merchant: merchant.into(),
        date: date.to_string(),
        entries,
        counts,
    })
}

/// The snake_case name of a kind (as stored and printed).
fn kind_name(kind: Kind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Reconciles partner bank `bank`'s statement of `date` with the transactions it posted, stores
/// the discrepancies and closes the day (`statement_sha256` names the file it was closed on).
pub async fn reconcile_bank(
    store: &dyn Store,
    bank: &str,
    date: time::Date,
    lines: &[lienthong_adapters::bank::StatementLine],
    statement_sha256: &str,
) -> Result<Report, StoreError> {
    let day = date.to_string();
    let mut seen = HashSet::new();
    let mut entries = Vec::new();
    for line in lines {
        let mut entry = Entry {
            kind: Kind::Matched,
            txn_ref: line.payment_code.clone(),
            transaction_no: Some(line.bank_txn_id.clone()),
            payment_id: None,
            bank_amount_vnd: u64::try_from(line.amount_vnd).ok(),
            ledger_amount_vnd: None,
            ledger_status: None,
        };
        if !seen.insert(line.bank_txn_id.clone()) {
            entries.push(Entry {
                kind: Kind::Duplicate,
                ..entry
            });
            continue;
        }
        entry.kind = match store.bank_transaction(bank, &line.bank_txn_id).await? {
            None => Kind::PaidAtBankNotHere,
            Some(t) => {
                let kind = if t.state != "paid" {
                    Kind::PaidAtBankNotHere
                } else if t.amount_vnd != line.amount_vnd {
                    Kind::AmountMismatch
                } else {
                    Kind::Matched
                };
                entry.payment_id = Some(t.payment_id);
                entry.ledger_amount_vnd = Some(t.amount_vnd);
                entry.ledger_status = Some(t.state);
                kind
            }
        };
        entries.push(entry);
    }
    for t in store.bank_transactions_of_day(bank, &day).await? {
        if t.state != "paid" || seen.contains(&t.bank_txn_id) {
            continue;
        }
        entries.push(Entry {
            kind: Kind::MissingAtBank,
            txn_ref: String::new(),
            transaction_no: Some(t.bank_txn_id),
            payment_id: Some(t.payment_id),
            bank_amount_vnd: None,
            ledger_amount_vnd: Some(t.amount_vnd),
            ledger_status: Some(t.state),
        });
    }
    let found_at_ms = now_ms();
    let discrepancies: Vec<Discrepancy> = entries
        .iter()
        .filter(|e| e.kind.is_discrepancy())
        .map(|e| Discrepancy {
            provider: super::collection::PROVIDER.into(),
            account: bank.into(),
            day: day.clone(),
            kind: kind_name(e.kind),
            reference: e.transaction_no.clone().unwrap_or_default(),
            payment_id: e.payment_id.clone(),
            statement_amount_vnd: e.bank_amount_vnd.and_then(|a| i64::try_from(a).ok()),
            ledger_amount_vnd: e.ledger_amount_vnd,
            found_at_ms,
        })
        .collect();
    store
        .close_reconciliation(
            &ReconciledDay {
                provider: super::collection::PROVIDER.into(),
                account: bank.into(),
                day: day.clone(),
                statement_sha256: statement_sha256.into(),
                closed_at_ms: found_at_ms,
            },
            &discrepancies,
        )
        .await?;
    let mut counts = HashMap::new();
    for e in &entries {
        *counts.entry(e.kind).or_insert(0) += 1;
    }
    Ok(Report {
        provider: super::collection::PROVIDER.into(),
        merchant: bank.into(),
        date: day,
        entries,
        counts,
    })
}

/// The human table.
pub fn table(r: &Report) -> String {
    let mut out = format!(
        "reconciliation {} {} {}: {} line(s), {} discrepancy(ies)\n{:<26} {:<34} {:<12} {:>12} {:>12} {:<10} payment_id\n",
        r.provider,
        r.merchant,
        r.date,
        r.entries.len(),
        r.discrepancies(),
        "kind",
        "txn_ref",
        "txn_no",
        "bank_vnd",
        "ledger_vnd",
        "ledger"
    );
    for e in &r.entries {
        let kind = kind_name(e.kind);
        out.push_str(&format!(
            "{:<26} {:<34} {:<12} {:>12} {:>12} {:<10} {}\n",
            kind,
            e.txn_ref,
            e.transaction_no.as_deref().unwrap_or("-"),
            e.bank_amount_vnd
                .map(|a| a.to_string())
                .unwrap_or_else(|| "-".into()),
            e.ledger_amount_vnd
                .map(|a| a.to_string())
                .unwrap_or_else(|| "-".into()),
            e.ledger_status.as_deref().unwrap_or("-"),
            e.payment_id.as_deref().unwrap_or("-"),
        ));
    }
    out
}

/// What `lienthong reconcile` is asked to do.
pub struct Request<'a> {
    /// `vnpay` or `bank`.
    pub provider: &'a str,
    /// The statement's day, `YYYY-MM-DD`.
    pub date: &'a str,
    /// The statement file.
    pub statement: &'a std::path::Path,
    /// The VNPay merchant (default: the first configured).
    pub merchant: Option<&'a str>,
    /// The partner bank's code (`--provider bank`).
    pub bank: Option<&'a str>,
    /// JSON instead of a table.
    pub json: bool,
}

/// `lienthong reconcile`: reads the statement, reconciles, prints the table (or JSON) on stdout and
/// progress on stderr. Returns the exit status: 0 reconciled, 1 discrepancies remain, 2 bad input.
/// `banks`: the bank codes of the configured bank clients.
pub async fn command(
    payments: Option<&super::PaymentsConfig>,
    banks: &[String],
    store: &crate::config::StoreConfig,
    req: &Request<'_>,
) -> u8 {
    let Request {
        provider,
        date,
        statement,
        merchant,
        bank,
        json,
    } = *req;
    if provider != "vnpay" && provider != "bank" {
        eprintln!("error: --provider: `vnpay` or `bank` statements can be reconciled");
        return 2;
    }
    let Some(day) = crate::validate::Date::parse_iso(date).and_then(|d| {
        let month = time::Month::try_from(d.month).ok()?;
        time::Date::from_calendar_date(d.year, month, d.day).ok()
    }) else {
        eprintln!("error: --date: `{date}` is not a date YYYY-MM-DD");
        return 2;
    };
    if provider == "bank" {
        return bank_command(banks, store, day, statement, bank, json).await;
    }
    let configured = payments
        .and_then(|p| p.vnpay.as_ref())
        .map(|v| {
            v.merchants
                .iter()
                .map(|m| m.tmn_code.clone())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let merchant = match merchant {
        Some(m) => m.to_owned(),
        None => match configured.first() {
            Some(m) => m.clone(),
            None => {
                eprintln!("error: no VNPay merchant in the config: pass --merchant");
                return 2;
            }
        },
    };
    let Ok((lines, _)) =
        read_statement(statement, lienthong_adapters::vnpay::wire::parse_statement)
    else {
        return 2;
    };
    let Ok(store) = open_store(store).await else {
        return 2;
    };
    let report = match reconcile_vnpay(store.as_ref(), &merchant, day, &lines, |done, total| {
        if total > 0 {
            eprintln!("… {done}/{total} payment line(s) reconciled");
        }
    })
    .await
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: reading the ledger: {e}");
            return 2;
        }
    };
    print_report(&report, json)
}

/// Reads and parses a statement file (saying on stderr what is wrong); its lines and its bytes.
fn read_statement<T>(
    path: &std::path::Path,
    parse: impl Fn(&str) -> Result<Vec<T>, String>,
) -> Result<(Vec<T>, Vec<u8>), ()> {
    let bytes = std::fs::read(path).map_err(|e| {
        eprintln!("error: reading {}: {e}", path.display());
    })?;
    let lines = parse(&String::from_utf8_lossy(&bytes)).map_err(|e| {
        eprintln!("error: {}: {e}", path.display());
    })?;
    eprintln!("{} statement line(s) read", lines.len());
    Ok((lines, bytes))
}

/// Opens the store (saying on stderr why not).
async fn open_store(config: &crate::config::StoreConfig) -> Result<std::sync::Arc<dyn Store>, ()> {
    crate::store::open_config(config).await.map_err(|e| {
        eprintln!("error: opening the store: {e}");
    })
}

/// Prints a report; its exit status.
fn print_report(report: &Report, json: bool) -> u8 {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else {
        print!("{}", table(report));
    }
    if report.discrepancies() > 0 { 1 } else { 0 }
}

/// `lienthong reconcile --provider bank --bank CODE`.
async fn bank_command(
    banks: &[String],
    store: &crate::config::StoreConfig,
    day: time::Date,
    statement: &std::path::Path,
    bank: Option<&str>,
    json: bool,
) -> u8 {
    let Some(bank) = bank else {
        eprintln!("error: --bank: name the bank whose statement this is");
        return 2;
    };
    if !banks.iter().any(|b| b == bank) {
        eprintln!("error: --bank: no client has bank_code `{bank}`");
        return 2;
    }
    let Ok((lines, bytes)) = read_statement(statement, lienthong_adapters::bank::parse_statement)
    else {
        return 2;
    };
    let Ok(store) = open_store(store).await else {
        return 2;
    };
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    match reconcile_bank(store.as_ref(), bank, day, &lines, &sha).await {
        Ok(report) => print_report(&report, json),
        Err(e) => {
            eprintln!("error: reconciling with the ledger: {e}");
            2
        }
    }
}
