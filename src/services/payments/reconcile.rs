//! Reconciliation of the ledger with every provider's daily statement (`lienthong reconcile`):
//! VNPay's, the national payment platform's, a partner bank's collection statement and a
//! receiving bank's statement of an agency's account (VietQR credits). Each run prints its
//! findings and stores those that need a person ([`Reconciliations`]), one row per finding
//! however often the day is reconciled again; operators list and resolve them
//! (`/v1/admin/reconciliation/discrepancies`).
//!
//! VNPay's and the platform's statements: every successful payment line is matched to the ledger
//! by reference: matched; paid at the provider but pending here (settled now, with an audit
//! note); paid there but unknown, failed or expired here; amount mismatch; duplicate (the same
//! transaction twice, or one order paid twice). A refund line the ledger cannot match (no
//! refunded order) is an unmatched refund. Payments the ledger has as paid that day but the
//! statement lacks are "missing at bank".
//!
//! A partner bank's statement (`--provider bank --bank CODE`) is matched to the transactions the
//! bank posted by its transaction id, the same kinds; the day is closed after: no reversal of it
//! is accepted.
//!
//! A receiving bank's statement (`--provider vietqr --bank CODE`) lists the credits to the
//! agency's account; each is matched to the credits the gateway received (those that paid an
//! order and those kept unmatched) by the bank's transaction id. A credit the gateway never
//! received (its notification was lost) is a missing credit; with `--apply` it is received now,
//! through the same path as a notification, exactly once. Credits the gateway has that the
//! statement lacks are "missing at bank".

use std::collections::{HashMap, HashSet};

use lienthong_adapters::canonical::payment::ProviderOutcome;
use serde::Serialize;

use crate::store::{
    BankTransaction, Discrepancy, Evidence, PaymentStatus, ReconciliationRun, RecordedRun, Store,
    StoreError, now_ms,
};

use super::{Applied, apply_outcome};

/// The kind of a reconciliation line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Both sides agree.
    Matched,
    /// Paid at the provider, pending here: settled now (resolved).
    SettledFromStatement,
    /// A credit the gateway never received, received now from the statement (`--apply`).
    RecordedFromStatement,
    /// Paid at the provider; the ledger does not know the order or has it failed/expired.
    PaidAtBankNotHere,
    /// Paid here that day; the statement has no such payment.
    MissingAtBank,
    /// The amounts differ.
    AmountMismatch,
    /// A transaction listed twice, or one order paid twice.
    Duplicate,
    /// A credit on the receiving bank's statement the gateway never received.
    MissingCredit,
    /// A refund on the statement that no refunded order here explains.
    UnmatchedRefund,
}

impl Kind {
    /// Whether this kind still needs a person.
    pub fn is_discrepancy(self) -> bool {
        !matches!(
            self,
            Kind::Matched | Kind::SettledFromStatement | Kind::RecordedFromStatement
        )
    }

    /// The snake_case name (as stored and printed).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Matched => "matched",
            Kind::SettledFromStatement => "settled_from_statement",
            Kind::RecordedFromStatement => "recorded_from_statement",
            Kind::PaidAtBankNotHere => "paid_at_bank_not_here",
            Kind::MissingAtBank => "missing_at_bank",
            Kind::AmountMismatch => "amount_mismatch",
            Kind::Duplicate => "duplicate",
            Kind::MissingCredit => "missing_credit",
            Kind::UnmatchedRefund => "unmatched_refund",
        }
    }
}

/// One line of the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// What it is.
    pub kind: Kind,
    /// Our reference (the order's `txn_ref`, or the payment code a bank line names).
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

impl Entry {
    fn new(kind: Kind, txn_ref: &str, transaction_no: &str, bank_amount_vnd: i64) -> Entry {
        Entry {
            kind,
            txn_ref: txn_ref.to_owned(),
            transaction_no: Some(transaction_no.to_owned()).filter(|t| !t.is_empty()),
            payment_id: None,
            bank_amount_vnd: u64::try_from(bank_amount_vnd).ok(),
            ledger_amount_vnd: None,
            ledger_status: None,
        }
    }

    /// Paid or credited here that day, absent from the statement.
    fn missing_at_bank(
        txn_ref: &str,
        transaction_no: Option<String>,
        payment_id: Option<String>,
        ledger_amount_vnd: i64,
        ledger_status: &str,
    ) -> Entry {
        Entry {
            kind: Kind::MissingAtBank,
            txn_ref: txn_ref.to_owned(),
            transaction_no,
            payment_id,
            bank_amount_vnd: None,
            ledger_amount_vnd: Some(ledger_amount_vnd),
            ledger_status: Some(ledger_status.to_owned()),
        }
    }

    /// What the finding is stored under: the provider's transaction number, else ours.
    fn reference(&self) -> String {
        self.transaction_no
            .clone()
            .filter(|t| !t.is_empty())
            .or_else(|| Some(self.txn_ref.clone()).filter(|t| !t.is_empty()))
            .or_else(|| self.payment_id.clone())
            .unwrap_or_default()
    }
}

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `vnpay`, `payment_platform`, `bank` or `vietqr`.
    pub provider: String,
    /// The merchant or the bank.
    pub merchant: String,
    /// The day, `YYYY-MM-DD` (GMT+7).
    pub date: String,
    /// Every line.
    pub entries: Vec<Entry>,
    /// Count per kind.
    pub counts: HashMap<Kind, usize>,
    /// What the store kept of this run, once stored.
    pub stored: Option<RecordedRun>,
}

impl Report {
    fn new(provider: &str, merchant: &str, date: time::Date, entries: Vec<Entry>) -> Report {
        let mut counts = HashMap::new();
        for e in &entries {
            *counts.entry(e.kind).or_insert(0) += 1;
        }
        Report {
            provider: provider.into(),
            merchant: merchant.into(),
            date: date.to_string(),
            entries,
            counts,
            stored: None,
        }
    }

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

/// What a line of a checkout provider's statement (VNPay's or the platform's) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// A successful payment.
    Paid,
    /// A refund (full or partial).
    Refund,
    /// Anything else (a failed payment): not reconciled.
    Other,
}

/// A line of a checkout provider's statement, whichever provider's.
#[derive(Debug, Clone, Serialize)]
pub struct CheckoutLine {
    /// Our reference.
    pub txn_ref: String,
    /// The provider's transaction number (a refund's own).
    pub transaction_no: String,
    /// VND.
    pub amount_vnd: i64,
    /// The payer's bank, when the provider says.
    pub bank_code: Option<String>,
    /// When, as the provider writes it (`yyyyMMddHHmmss` GMT+7).
    pub paid_at: String,
    /// What it is.
    #[serde(skip)]
    pub kind: LineKind,
}

impl From<&lienthong_adapters::vnpay::wire::StatementLine> for CheckoutLine {
    fn from(l: &lienthong_adapters::vnpay::wire::StatementLine) -> CheckoutLine {
        let refund = matches!(l.transaction_type.as_str(), "02" | "03") && l.response_code == "00";
        CheckoutLine {
            txn_ref: l.txn_ref.clone(),
            transaction_no: l.transaction_no.clone(),
            amount_vnd: i64::try_from(l.amount_vnd).unwrap_or(i64::MAX),
            bank_code: Some(l.bank_code.clone()).filter(|b| !b.is_empty()),
            paid_at: l.pay_date.clone(),
            kind: if l.is_paid_payment() {
                LineKind::Paid
            } else if refund {
                LineKind::Refund
            } else {
                LineKind::Other
            },
        }
    }
}

impl From<&lienthong_adapters::payment_platform::statement::StatementLine> for CheckoutLine {
    fn from(l: &lienthong_adapters::payment_platform::statement::StatementLine) -> CheckoutLine {
        use lienthong_adapters::payment_platform::statement::{PAID, REFUNDED};
        CheckoutLine {
            txn_ref: l.ma_tham_chieu.clone(),
            transaction_no: l.ma_giao_dich.clone(),
            amount_vnd: l.so_tien,
            bank_code: None,
            paid_at: l.thoi_gian_gd.clone(),
            kind: match l.trang_thai.as_str() {
                PAID => LineKind::Paid,
                REFUNDED => LineKind::Refund,
                _ => LineKind::Other,
            },
        }
    }
}

/// Says how far a long statement is, every 1000 lines and at the end.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

fn tick(progress: &mut Progress<'_>, i: usize, total: usize) {
    if i % 1000 == 0 || i == total {
        progress(i, total);
    }
}

/// Reconciles a checkout provider's statement (`provider`: `vnpay` or `payment_platform`) of
/// `merchant` for `date`; settles the orders the statement shows paid and the ledger pending.
pub async fn reconcile_checkout(
    store: &dyn Store,
    provider: &str,
    merchant: &str,
    date: time::Date,
    lines: &[CheckoutLine],
    mut progress: Progress<'_>,
) -> Result<Report, StoreError> {
    let mut entries = Vec::new();
    let mut seen_txn_no = HashSet::new();
    let mut paid_refs: HashSet<String> = HashSet::new();
    let total = lines.len();
    for (i, line) in lines.iter().enumerate() {
        tick(&mut progress, i, total);
        match line.kind {
            LineKind::Other => continue,
            LineKind::Refund => {
                entries.push(refund_entry(store, provider, merchant, line).await?);
                continue;
            }
            LineKind::Paid => {}
        }
        let mut entry = Entry::new(
            Kind::Matched,
            &line.txn_ref,
            &line.transaction_no,
            line.amount_vnd,
        );
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
            Some(p) if line.amount_vnd != p.amount_vnd => Kind::AmountMismatch,
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
                    bank_code: line.bank_code.clone(),
                    paid_at: Some(line.paid_at.clone()),
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
                    "reconciliation: paid at the provider per the statement of {date}, no callback recorded"
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
    tick(&mut progress, total, total);
    let (from, to) = day_bounds_ms(date);
    for p in store.paid_payments_between(provider, from, to).await? {
        // An order a partner bank collected is on that bank's statement, not the provider's.
        let collected_by_bank = p
            .provider_txn_no
            .as_deref()
            .is_some_and(|n| n.starts_with(super::collection::TXN_NO_PREFIX));
        if p.merchant != merchant || paid_refs.contains(&p.txn_ref) || collected_by_bank {
            continue;
        }
        entries.push(Entry::missing_at_bank(
            &p.txn_ref,
            p.provider_txn_no.clone(),
            Some(p.id.clone()),
            p.amount_vnd,
            p.status.as_str(),
        ));
    }
    Ok(Report::new(provider, merchant, date, entries))
}

/// A refund line: matched when the ledger has its order refunded, else an unmatched refund.
async fn refund_entry(
    store: &dyn Store,
    provider: &str,
    merchant: &str,
    line: &CheckoutLine,
) -> Result<Entry, StoreError> {
    let mut entry = Entry::new(
        Kind::UnmatchedRefund,
        &line.txn_ref,
        &line.transaction_no,
        line.amount_vnd,
    );
    if let Some(p) = store
        .payment_by_ref(provider, merchant, &line.txn_ref)
        .await?
    {
        if p.status == PaymentStatus::Refunded {
            entry.kind = Kind::Matched;
        }
        entry.payment_id = Some(p.id);
        entry.ledger_amount_vnd = Some(p.amount_vnd);
        entry.ledger_status = Some(p.status.as_str().to_owned());
    }
    Ok(entry)
}

/// Whether a bank transaction is a receiving bank's credit that paid an order (its stored answer
/// says `matched`), not a payment a partner bank collected at its counter.
fn is_credit(t: &BankTransaction) -> bool {
    serde_json::from_str::<serde_json::Value>(&t.response).is_ok_and(|v| v["status"] == "matched")
}

/// Reconciles partner bank `bank`'s collection statement of `date` with the transactions it
/// posted.
pub async fn reconcile_bank(
    store: &dyn Store,
    bank: &str,
    date: time::Date,
    lines: &[lienthong_adapters::bank::StatementLine],
    mut progress: Progress<'_>,
) -> Result<Report, StoreError> {
    let day = date.to_string();
    let mut seen = HashSet::new();
    let mut entries = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        tick(&mut progress, i, lines.len());
        let mut entry = Entry::new(
            Kind::Matched,
            &line.payment_code,
            &line.bank_txn_id,
            line.amount_vnd,
        );
        if !seen.insert(line.bank_txn_id.clone()) {
            entry.kind = Kind::Duplicate;
            entries.push(entry);
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
    tick(&mut progress, lines.len(), lines.len());
    for t in store.bank_transactions_of_day(bank, &day).await? {
        // A bank that also receives VietQR transfers lists those on its account statement.
        if t.state != "paid" || seen.contains(&t.bank_txn_id) || is_credit(&t) {
            continue;
        }
        entries.push(Entry::missing_at_bank(
            "",
            Some(t.bank_txn_id),
            Some(t.payment_id),
            t.amount_vnd,
            &t.state,
        ));
    }
    Ok(Report::new(
        super::collection::PROVIDER,
        bank,
        date,
        entries,
    ))
}

/// A credit's time as a statement writes it (RFC 3339, or `YYYY-MM-DD HH:MM:SS` in Vietnam's
/// time), in RFC 3339.
fn statement_time(raw: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    if time::OffsetDateTime::parse(raw, &Rfc3339).is_ok() {
        return Some(raw.to_owned());
    }
    let local = time::PrimitiveDateTime::parse(
        raw,
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )
    .ok()?;
    let offset = time::UtcOffset::from_hms(7, 0, 0).ok()?;
    local.assume_offset(offset).format(&Rfc3339).ok()
}

/// How `--apply` receives a missing credit: the receiving bank's account (for a statement without
/// an `account_no` column) and the credits path.
pub struct ApplyCredits<'a> {
    /// The VietQR settings (accounts, banks).
    pub vietqr: &'a super::vietqr::VietQrProvider,
}

/// Reconciles receiving bank `bank`'s statement of the agency account(s) for `date` with the
/// credits the gateway received. With `apply`, a credit the gateway never received is received
/// now, as its notification would have been.
pub async fn reconcile_vietqr(
    store: &dyn Store,
    bank: &str,
    date: time::Date,
    lines: &[lienthong_adapters::bank::AccountStatementLine],
    apply: Option<&ApplyCredits<'_>>,
    mut progress: Progress<'_>,
) -> Result<Report, StoreError> {
    let day = date.to_string();
    let mut seen = HashSet::new();
    let mut entries = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        tick(&mut progress, i, lines.len());
        let code = super::credits::find_code(&line.description).unwrap_or_default();
        let mut entry = Entry::new(Kind::Matched, &code, &line.bank_txn_id, line.amount_vnd);
        if !seen.insert(line.bank_txn_id.clone()) {
            entry.kind = Kind::Duplicate;
            entries.push(entry);
            continue;
        }
        let ours = match store.bank_transaction(bank, &line.bank_txn_id).await? {
            Some(t) => Some((t.amount_vnd, Some(t.payment_id), "matched".to_owned())),
            None => store
                .unmatched_credit(bank, &line.bank_txn_id)
                .await?
                .map(|c| (c.amount_vnd, c.payment_id, c.status)),
        };
        entry.kind = match ours {
            Some((amount, payment_id, status)) => {
                entry.payment_id = payment_id;
                entry.ledger_amount_vnd = Some(amount);
                entry.ledger_status = Some(status);
                if amount == line.amount_vnd {
                    Kind::Matched
                } else {
                    Kind::AmountMismatch
                }
            }
            None => match apply {
                Some(apply) => receive_missing(store, bank, line, apply, &mut entry).await,
                None => Kind::MissingCredit,
            },
        };
        entries.push(entry);
    }
    tick(&mut progress, lines.len(), lines.len());
    let (from, to) = day_bounds_ms(date);
    for t in store.bank_transactions_of_day(bank, &day).await? {
        if is_credit(&t) && seen.insert(t.bank_txn_id.clone()) {
            entries.push(Entry::missing_at_bank(
                "",
                Some(t.bank_txn_id),
                Some(t.payment_id),
                t.amount_vnd,
                "matched",
            ));
        }
    }
    for c in store.credits_between(bank, from, to).await? {
        // An assigned credit is a bank transaction too (listed above).
        if seen.insert(c.bank_txn_id.clone()) {
            entries.push(Entry::missing_at_bank(
                "",
                Some(c.bank_txn_id),
                c.payment_id,
                c.amount_vnd,
                &c.status,
            ));
        }
    }
    Ok(Report::new(super::vietqr::PROVIDER, bank, date, entries))
}

/// Receives a credit the statement shows and the gateway never received, through the path of a
/// notification: the kind of its line.
async fn receive_missing(
    store: &dyn Store,
    bank: &str,
    line: &lienthong_adapters::bank::AccountStatementLine,
    apply: &ApplyCredits<'_>,
    entry: &mut Entry,
) -> Kind {
    let account_no = if line.account_no.is_empty() {
        // A statement of one account: the bank's account here.
        match apply.vietqr.accounts_at(bank).as_slice() {
            [only] => only.account_no.clone(),
            _ => {
                eprintln!(
                    "line {}: the statement names no account and bank {bank} holds several: not received",
                    line.line
                );
                return Kind::MissingCredit;
            }
        }
    } else {
        line.account_no.clone()
    };
    let Some(credited_at) = statement_time(&line.credited_at) else {
        eprintln!(
            "line {}: credited_at is neither RFC 3339 nor YYYY-MM-DD HH:MM:SS: not received",
            line.line
        );
        return Kind::MissingCredit;
    };
    let body = serde_json::json!({
        "bank_txn_id": line.bank_txn_id,
        "account_no": account_no,
        "amount_vnd": line.amount_vnd,
        "description": line.description,
        "credited_at": credited_at,
    })
    .to_string();
    match super::credits::receive(store, apply.vietqr, bank, body.as_bytes()).await {
        Ok(answer) => {
            entry.ledger_amount_vnd = Some(line.amount_vnd);
            entry.ledger_status = Some(
                if answer.status() == http::StatusCode::OK {
                    "matched"
                } else {
                    "unmatched"
                }
                .into(),
            );
            Kind::RecordedFromStatement
        }
        Err(problem) => {
            eprintln!(
                "line {}: not received: {}",
                line.line,
                problem.code.as_str()
            );
            Kind::MissingCredit
        }
    }
}

/// Stores a reconciliation's run and the findings that need a person (a re-run of the same day
/// updates them, never duplicates them); a partner bank's day is closed as well.
pub async fn store_report(
    store: &dyn Store,
    report: &mut Report,
    statement_sha256: &str,
    statement_lines: usize,
) -> Result<(), StoreError> {
    let run_at_ms = now_ms();
    let found: Vec<Discrepancy> = report
        .entries
        .iter()
        .filter(|e| e.kind.is_discrepancy())
        .map(|e| Discrepancy {
            id: 0,
            provider: report.provider.clone(),
            account: report.merchant.clone(),
            day: report.date.clone(),
            kind: e.kind.name().to_owned(),
            reference: e.reference(),
            our_ref: Some(e.txn_ref.clone()).filter(|r| !r.is_empty()),
            payment_id: e.payment_id.clone(),
            statement_amount_vnd: e.bank_amount_vnd.and_then(|a| i64::try_from(a).ok()),
            ledger_amount_vnd: e.ledger_amount_vnd,
            found_at_ms: run_at_ms,
            resolved_at_ms: None,
            resolved_by: None,
            note: None,
        })
        .collect();
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let run = ReconciliationRun {
        id: uuid::Uuid::now_v7().to_string(),
        provider: report.provider.clone(),
        account: report.merchant.clone(),
        day: report.date.clone(),
        statement_sha256: statement_sha256.to_owned(),
        statement_lines: count(statement_lines),
        matched: count(report.entries.len() - found.len()),
        discrepancies: count(found.len()),
        new_discrepancies: 0,
        run_at_ms,
    };
    let close_day = report.provider == super::collection::PROVIDER;
    report.stored = Some(store.record_reconciliation(&run, &found, close_day).await?);
    Ok(())
}

/// The human table.
pub fn table(r: &Report) -> String {
    let mut out = format!(
        "reconciliation {} {} {}: {} line(s), {} discrepancy(ies)\n",
        r.provider,
        r.merchant,
        r.date,
        r.entries.len(),
        r.discrepancies(),
    );
    out.push_str(&format!(
        "{:<26} {:<34} {:<12} {:>12} {:>12} {:<10} payment_id\n",
        "kind", "txn_ref", "txn_no", "bank_vnd", "ledger_vnd", "ledger"
    ));
    let amount = |a: Option<String>| a.unwrap_or_else(|| "-".into());
    for e in &r.entries {
        out.push_str(&format!(
            "{:<26} {:<34} {:<12} {:>12} {:>12} {:<10} {}\n",
            e.kind.name(),
            e.txn_ref,
            e.transaction_no.as_deref().unwrap_or("-"),
            amount(e.bank_amount_vnd.map(|a| a.to_string())),
            amount(e.ledger_amount_vnd.map(|a| a.to_string())),
            e.ledger_status.as_deref().unwrap_or("-"),
            e.payment_id.as_deref().unwrap_or("-"),
        ));
    }
    out
}

/// The providers `lienthong reconcile --provider` takes.
pub const PROVIDERS: [&str; 4] = ["vnpay", "platform", "bank", "vietqr"];

/// What `lienthong reconcile` is asked to do.
pub struct Request<'a> {
    /// One of [`PROVIDERS`].
    pub provider: &'a str,
    /// The statement's day, `YYYY-MM-DD`.
    pub date: &'a str,
    /// The statement file.
    pub statement: &'a std::path::Path,
    /// The VNPay merchant or the platform's partner (default: the first configured).
    pub merchant: Option<&'a str>,
    /// The bank's code (`--provider bank` and `vietqr`).
    pub bank: Option<&'a str>,
    /// Receive the credits the gateway never received (`--provider vietqr`).
    pub apply: bool,
    /// JSON instead of a table.
    pub json: bool,
}

/// `lienthong reconcile`: reads the statement, reconciles, stores the findings, prints the table
/// (or JSON) on stdout and progress on stderr. Returns the exit status: 0 reconciled, 1
/// discrepancies remain, 2 bad input. `banks`: the bank codes of the configured bank clients.
pub async fn command(
    payments: Option<&super::PaymentsConfig>,
    banks: &[String],
    store: &crate::config::StoreConfig,
    req: &Request<'_>,
) -> u8 {
    let provider = req.provider;
    if !PROVIDERS.contains(&provider) {
        eprintln!("error: --provider: one of vnpay, platform, bank, vietqr");
        return 2;
    }
    if req.apply && provider != "vietqr" {
        eprintln!("error: --apply: only with --provider vietqr (it receives missing credits)");
        return 2;
    }
    let date = req.date;
    let Some(day) = crate::validate::Date::parse_iso(date).and_then(|d| {
        let month = time::Month::try_from(d.month).ok()?;
        time::Date::from_calendar_date(d.year, month, d.day).ok()
    }) else {
        eprintln!("error: --date: `{date}` is not a date YYYY-MM-DD");
        return 2;
    };
    let mut progress = |done: usize, total: usize| {
        if total > 0 {
            eprintln!("… {done}/{total} line(s) reconciled");
        }
    };
    let result = match provider {
        "bank" | "vietqr" => {
            let known = if provider == "bank" {
                banks.to_vec()
            } else {
                payments
                    .and_then(|p| p.vietqr.as_ref())
                    .map(|v| v.banks.iter().map(|b| b.code.clone()).collect())
                    .unwrap_or_default()
            };
            let Some(bank) = req.bank else {
                eprintln!("error: --bank: name the bank whose statement this is");
                return 2;
            };
            if !known.iter().any(|b| b == bank) {
                eprintln!(
                    "error: --bank: no bank `{bank}` is configured for --provider {provider}"
                );
                return 2;
            }
            if provider == "bank" {
                let Ok((lines, bytes)) =
                    read_statement(req.statement, lienthong_adapters::bank::parse_statement)
                else {
                    return 2;
                };
                let Ok(store) = open_store(store).await else {
                    return 2;
                };
                let r = reconcile_bank(store.as_ref(), bank, day, &lines, &mut progress).await;
                finish(store.as_ref(), r, &bytes, lines.len()).await
            } else {
                let vietqr = match payments
                    .and_then(|p| p.vietqr.as_ref())
                    .map(super::vietqr::VietQrProvider::build)
                {
                    Some(Ok(v)) => v,
                    Some(Err(e)) => {
                        eprintln!("error: {e}");
                        return 2;
                    }
                    None => {
                        eprintln!("error: no [payments.vietqr] in the config");
                        return 2;
                    }
                };
                let Ok((lines, bytes)) = read_statement(
                    req.statement,
                    lienthong_adapters::bank::parse_account_statement,
                ) else {
                    return 2;
                };
                let Ok(store) = open_store(store).await else {
                    return 2;
                };
                let apply = ApplyCredits { vietqr: &vietqr };
                let r = reconcile_vietqr(
                    store.as_ref(),
                    bank,
                    day,
                    &lines,
                    req.apply.then_some(&apply),
                    &mut progress,
                )
                .await;
                finish(store.as_ref(), r, &bytes, lines.len()).await
            }
        }
        _ => {
            let (name, configured) = if provider == "vnpay" {
                let merchants = payments
                    .and_then(|p| p.vnpay.as_ref())
                    .map(|v| v.merchants.iter().map(|m| m.tmn_code.clone()).collect())
                    .unwrap_or_default();
                ("vnpay", merchants)
            } else {
                let merchants: Vec<String> = payments
                    .and_then(|p| p.payment_platform.as_ref())
                    .map(|v| v.merchants.iter().map(|m| m.ma_doi_tac.clone()).collect())
                    .unwrap_or_default();
                ("payment_platform", merchants)
            };
            let merchant = match req
                .merchant
                .map(str::to_owned)
                .or_else(|| configured.first().cloned())
            {
                Some(m) => m,
                None => {
                    eprintln!("error: no {name} merchant in the config: pass --merchant");
                    return 2;
                }
            };
            let parsed = if name == "vnpay" {
                read_statement(req.statement, |text| {
                    lienthong_adapters::vnpay::wire::parse_statement(text)
                        .map(|lines| lines.iter().map(CheckoutLine::from).collect())
                })
            } else {
                read_statement(req.statement, |text| {
                    lienthong_adapters::payment_platform::statement::parse_statement(text)
                        .map(|lines| lines.iter().map(CheckoutLine::from).collect())
                })
            };
            let Ok((lines, bytes)) = parsed else {
                return 2;
            };
            let Ok(store) = open_store(store).await else {
                return 2;
            };
            let r = reconcile_checkout(store.as_ref(), name, &merchant, day, &lines, &mut progress)
                .await;
            finish(store.as_ref(), r, &bytes, lines.len()).await
        }
    };
    match result {
        Ok(report) => print_report(&report, req.json),
        Err(e) => {
            eprintln!("error: reconciling with the ledger: {e}");
            2
        }
    }
}

/// Stores a reconciliation's findings; the report.
async fn finish(
    store: &dyn Store,
    report: Result<Report, StoreError>,
    statement: &[u8],
    statement_lines: usize,
) -> Result<Report, StoreError> {
    let mut report = report?;
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(statement));
    store_report(store, &mut report, &sha, statement_lines).await?;
    if let Some(s) = &report.stored {
        eprintln!(
            "discrepancies stored: {} new, {} found again, {} no longer found (resolved)",
            s.new, s.again, s.no_longer_found
        );
    }
    Ok(report)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_times_are_read_in_vietnam_time() {
        assert_eq!(
            statement_time("2026-01-15 09:30:00").as_deref(),
            Some("2026-01-15T09:30:00+07:00")
        );
        assert_eq!(
            statement_time("2026-01-15T02:30:00Z").as_deref(),
            Some("2026-01-15T02:30:00Z")
        );
        assert_eq!(statement_time("15/01/2026"), None);
    }

    #[test]
    fn a_finding_is_stored_under_the_providers_number_else_ours() {
        let mut e = Entry::new(Kind::MissingAtBank, "HS1", "", 0);
        assert_eq!(e.reference(), "HS1");
        e.transaction_no = Some("T1".into());
        assert_eq!(e.reference(), "T1");
        e.transaction_no = None;
        e.txn_ref.clear();
        e.payment_id = Some("p1".into());
        assert_eq!(e.reference(), "p1");
    }
}
