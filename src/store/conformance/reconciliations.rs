//! [`Reconciliations`](crate::store::Reconciliations): a finding stored once however often its
//! day is reconciled, resolved by an operator once, resolved by a re-run that no longer finds it;
//! the runs kept; listed by provider, days and state.

use super::Backend;
use crate::store::{
    Discrepancy, DiscrepancyFilter, ReconciliationRun, RecordedRun, ResolveOutcome, UnmatchedCredit,
};

conformance!(
    a_finding_is_stored_once_per_day_and_resolved_once,
    discrepancies_are_listed_by_provider_days_and_state,
    the_credits_of_a_period_are_listed_whatever_their_status,
);

fn run(id: &str, provider: &str, day: &str, at_ms: i64) -> ReconciliationRun {
    ReconciliationRun {
        id: id.into(),
        provider: provider.into(),
        account: "acct".into(),
        day: day.into(),
        statement_sha256: format!("sha-{id}"),
        statement_lines: 3,
        matched: 1,
        discrepancies: 2,
        new_discrepancies: 0,
        run_at_ms: at_ms,
    }
}

fn finding(provider: &str, day: &str, kind: &str, reference: &str) -> Discrepancy {
    Discrepancy {
        id: 0,
        provider: provider.into(),
        account: "acct".into(),
        day: day.into(),
        kind: kind.into(),
        reference: reference.into(),
        our_ref: Some(format!("our-{reference}")),
        payment_id: None,
        statement_amount_vnd: Some(70_000),
        ledger_amount_vnd: Some(50_000),
        found_at_ms: 10,
        resolved_at_ms: None,
        resolved_by: None,
        note: None,
    }
}

async fn a_finding_is_stored_once_per_day_and_resolved_once(backend: &Backend) {
    let s = backend.open().await;
    let day = "2026-01-01";
    let a = finding("vnpay", day, "amount_mismatch", "T1");
    let b = finding("vnpay", day, "missing_at_bank", "T2");
    // A line listed twice in one statement is one finding.
    let first = s
        .record_reconciliation(
            &run("r1", "vnpay", day, 10),
            &[a.clone(), b.clone(), a.clone()],
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        first,
        RecordedRun {
            new: 2,
            again: 0,
            no_longer_found: 0
        }
    );
    let all = DiscrepancyFilter {
        limit: 100,
        ..DiscrepancyFilter::default()
    };
    let stored = s.discrepancies(&all).await.unwrap();
    assert_eq!(stored.len(), 2);
    let t1 = stored.iter().find(|d| d.reference == "T1").unwrap().clone();
    assert_eq!(
        (
            t1.kind.as_str(),
            t1.our_ref.as_deref(),
            t1.statement_amount_vnd
        ),
        ("amount_mismatch", Some("our-T1"), Some(70_000))
    );
    assert!(t1.id > 0 && t1.resolved_at_ms.is_none());
    assert!(
        !s.reconciliation_closed("vnpay", "acct", day).await.unwrap(),
        "only a bank's reconciliation closes its day"
    );

    // An operator resolves T1; re-running the day finds both again: nothing duplicated, T1
    // stays resolved.
    match s
        .resolve_discrepancy(t1.id, "ops", "refunded by hand", 20)
        .await
        .unwrap()
    {
        ResolveOutcome::Resolved(d) => {
            assert_eq!(
                (
                    d.resolved_at_ms,
                    d.resolved_by.as_deref(),
                    d.note.as_deref()
                ),
                (Some(20), Some("ops"), Some("refunded by hand"))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.resolve_discrepancy(t1.id, "other", "again", 21).await.unwrap(),
        ResolveOutcome::AlreadyResolved(d) if d.resolved_by.as_deref() == Some("ops")
    ));
    assert_eq!(
        s.resolve_discrepancy(t1.id + 1000, "ops", "x", 22)
            .await
            .unwrap(),
        ResolveOutcome::NotFound
    );
    let again = s
        .record_reconciliation(&run("r2", "vnpay", day, 30), &[a.clone(), b.clone()], false)
        .await
        .unwrap();
    assert_eq!(
        again,
        RecordedRun {
            new: 0,
            again: 2,
            no_longer_found: 0
        }
    );
    let stored = s.discrepancies(&all).await.unwrap();
    assert_eq!(stored.len(), 2);
    let t1 = stored.iter().find(|d| d.reference == "T1").unwrap();
    assert_eq!(t1.resolved_by.as_deref(), Some("ops"));

    // A corrected statement no longer shows T2: its finding is resolved by the re-run.
    let third = s
        .record_reconciliation(
            &run("r3", "vnpay", day, 40),
            std::slice::from_ref(&a),
            false,
        )
        .await
        .unwrap();
    assert_eq!(third.no_longer_found, 1);
    let open = s
        .discrepancies(&DiscrepancyFilter {
            open: Some(true),
            limit: 100,
            ..DiscrepancyFilter::default()
        })
        .await
        .unwrap();
    assert!(open.is_empty(), "{open:?}");
    let t2 = s
        .discrepancies(&all)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.reference == "T2")
        .unwrap();
    assert_eq!(
        (t2.resolved_at_ms, t2.resolved_by.as_deref()),
        (Some(40), Some("reconciliation"))
    );

    let runs = s.reconciliation_runs("vnpay", "acct", day).await.unwrap();
    assert_eq!(
        runs.iter()
            .map(|r| (r.id.as_str(), r.new_discrepancies))
            .collect::<Vec<_>>(),
        [("r1", 2), ("r2", 0), ("r3", 0)]
    );
    assert_eq!(runs[0].statement_sha256, "sha-r1");

    // A bank's run closes its day.
    s.record_reconciliation(&run("r4", "bank", day, 50), &[], true)
        .await
        .unwrap();
    assert!(s.reconciliation_closed("bank", "acct", day).await.unwrap());
}

async fn discrepancies_are_listed_by_provider_days_and_state(backend: &Backend) {
    let s = backend.open().await;
    for (i, (provider, day)) in [
        ("vnpay", "2026-01-01"),
        ("vietqr", "2026-01-02"),
        ("payment_platform", "2026-01-03"),
    ]
    .into_iter()
    .enumerate()
    {
        s.record_reconciliation(
            &run(&format!("r{i}"), provider, day, 10),
            &[finding(provider, day, "duplicate", &format!("T{i}"))],
            false,
        )
        .await
        .unwrap();
    }
    let list = |f: DiscrepancyFilter<'static>| {
        let s = s.clone();
        async move {
            s.discrepancies(&DiscrepancyFilter { limit: 100, ..f })
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.reference)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(DiscrepancyFilter::default()).await,
        ["T2", "T1", "T0"],
        "newest day first"
    );
    assert_eq!(
        list(DiscrepancyFilter {
            provider: Some("vietqr"),
            ..DiscrepancyFilter::default()
        })
        .await,
        ["T1"]
    );
    assert_eq!(
        list(DiscrepancyFilter {
            from: Some("2026-01-02"),
            to: Some("2026-01-02"),
            ..DiscrepancyFilter::default()
        })
        .await,
        ["T1"]
    );
    assert_eq!(
        list(DiscrepancyFilter {
            from: Some("2026-01-02"),
            ..DiscrepancyFilter::default()
        })
        .await,
        ["T2", "T1"]
    );
    let t0 = s
        .discrepancies(&DiscrepancyFilter {
            provider: Some("vnpay"),
            limit: 1,
            ..DiscrepancyFilter::default()
        })
        .await
        .unwrap()
        .remove(0);
    s.resolve_discrepancy(t0.id, "ops", "ok", 20).await.unwrap();
    assert_eq!(
        list(DiscrepancyFilter {
            open: Some(true),
            ..DiscrepancyFilter::default()
        })
        .await,
        ["T2", "T1"]
    );
    assert_eq!(
        list(DiscrepancyFilter {
            open: Some(false),
            ..DiscrepancyFilter::default()
        })
        .await,
        ["T0"]
    );
    let one = s
        .discrepancies(&DiscrepancyFilter {
            limit: 1,
            ..DiscrepancyFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
}

async fn the_credits_of_a_period_are_listed_whatever_their_status(backend: &Backend) {
    let s = backend.open().await;
    for (txn, at) in [("C1", 100), ("C2", 200), ("C3", 300)] {
        let credit = UnmatchedCredit {
            bank_code: "bank-a".into(),
            bank_txn_id: txn.into(),
            account_no: "1234567890".into(),
            amount_vnd: 50_000,
            description: "CT tu 0123".into(),
            credited_at_ms: at,
            reason: "no_code".into(),
            payment_id: None,
            status: "unmatched".into(),
            fingerprint: format!("fp-{txn}"),
            response: "{}".into(),
            created_at_ms: at,
        };
        let evidence = crate::store::Evidence {
            provider: "vietqr".into(),
            kind: "credit".into(),
            payment_id: None,
            raw: "{}".into(),
            verdict: "no_code".into(),
            at_ms: at,
        };
        s.record_unmatched_credit(&credit, &evidence).await.unwrap();
    }
    let ids = |v: Vec<UnmatchedCredit>| v.into_iter().map(|c| c.bank_txn_id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.credits_between("bank-a", 100, 200).await.unwrap()),
        ["C1", "C2"]
    );
    assert!(
        s.credits_between("bank-b", 0, 1000)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A database of the release before migration 15 (migrations up to 13) whose bank reconciliation
/// stored one finding twice (a line listed three times), as one script.
pub(in crate::store) fn before_migration_15(migrations: &[(i64, &str)]) -> String {
    let mut sql = String::from(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL);\n",
    );
    for (version, migration) in migrations.iter().filter(|(v, _)| *v < 15) {
        sql.push_str(migration);
        sql.push_str(&format!(
            ";\nINSERT INTO schema_migrations VALUES ({version}, 0);\n"
        ));
    }
    for (kind, reference) in [
        ("duplicate", "FT1"),
        ("duplicate", "FT1"),
        ("missing_at_bank", "FT2"),
    ] {
        sql.push_str(&format!(
            "INSERT INTO reconciliation_discrepancies (provider, account, day, kind, reference, found_at_ms)
             VALUES ('bank', 'bank-a', '2026-01-01', '{kind}', '{reference}', 5);\n"
        ));
    }
    sql
}

/// The store at `url`, made by [`before_migration_15`]: its findings kept once each, open, and a
/// new run of the day finds them again instead of adding them.
pub(in crate::store) async fn assert_findings_kept_once(url: &str) {
    let s = crate::store::open(url).await.unwrap();
    let all = DiscrepancyFilter {
        open: Some(true),
        limit: 10,
        ..DiscrepancyFilter::default()
    };
    let kept: Vec<(String, String)> = s
        .discrepancies(&all)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.kind, d.reference))
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    let mut again = run("r1", "bank", "2026-01-01", 10);
    again.account = "bank-a".into();
    let mut dup = finding("bank", "2026-01-01", "duplicate", "FT1");
    dup.account = "bank-a".into();
    let recorded = s
        .record_reconciliation(&again, std::slice::from_ref(&dup), true)
        .await
        .unwrap();
    assert_eq!(
        (recorded.new, recorded.again, recorded.no_longer_found),
        (0, 1, 1)
    );
}
