//! The evidence log on every SQL backend: an append (through the backend's durable write, so
//! SQLite commits it with the other writes of its group), a read by request id, a purge by age.
//! See `portable.rs` for the hooks a backend provides.

/// The columns of `evidence`, in the order its rows are read and inserted.
pub(super) const EVIDENCE_COLUMNS: &str =
    "request_id, at_ms, client_id, service, operation, status, kid, req_sha256, res_sha256, jws";

/// Expands the [`EvidenceLog`](super::EvidenceLog) role for a backend:
/// `portable_evidence!(StoreName)`, in the module that defines `StoreName`.
macro_rules! portable_evidence {
    ($store:ident) => {
        mod evidence_store {
            use $crate::evidence::EvidenceRecord;
            use $crate::store::{EvidenceLog, StoreError};

            use super::super::portable_evidence::EVIDENCE_COLUMNS;

            #[::async_trait::async_trait]
            impl EvidenceLog for super::$store {
                async fn append_evidence(&self, r: &EvidenceRecord) -> Result<(), StoreError> {
                    let r = r.clone();
                    self.durable_write(move |conn| {
                        Box::pin(async move {
                            let sql = format!(
                                "INSERT INTO evidence ({EVIDENCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                            );
                            ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                                .bind(&r.request_id)
                                .bind(r.at_ms)
                                .bind(&r.client_id)
                                .bind(&r.service)
                                .bind(&r.operation)
                                .bind(i64::from(r.status))
                                .bind(&r.kid)
                                .bind(&r.req_sha256)
                                .bind(&r.res_sha256)
                                .bind(&r.evidence)
                                .execute(&mut *conn)
                                .await?;
                            Ok(())
                        })
                    })
                    .await
                }

                async fn evidence_of_request(
                    &self,
                    request_id: &str,
                ) -> Result<Vec<EvidenceRecord>, StoreError> {
                    let sql = format!(
                        "SELECT {EVIDENCE_COLUMNS} FROM evidence WHERE request_id = $1 ORDER BY id"
                    );
                    let rows: Vec<$crate::store::evidence_log::EvidenceRow> =
                        ::sqlx::query_as(::sqlx::AssertSqlSafe(sql))
                            .bind(request_id)
                            .fetch_all(&self.pool)
                            .await?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }

                async fn purge_evidence(&self, before_ms: i64) -> Result<u64, StoreError> {
                    let done = ::sqlx::query("DELETE FROM evidence WHERE at_ms < $1")
                        .bind(before_ms)
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected())
                }
            }
        }
    };
}

pub(super) use portable_evidence;
