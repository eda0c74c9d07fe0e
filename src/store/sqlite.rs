//! The embedded SQLite store: WAL journal, `synchronous = FULL` (a committed row survives power
//! loss), migrations applied at open.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use super::{AdminAction, AdminAuditRecord, Store, StoreError, now_ms};

/// Schema migrations, applied in order, each once. Never edit a published one: add a new one.
const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    "CREATE TABLE client_state (
        client_id TEXT PRIMARY KEY,
        suspended INTEGER NOT NULL DEFAULT 0,
        updated_at_ms BIGINT NOT NULL
    );
    CREATE TABLE admin_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        detail TEXT,
        request_id TEXT NOT NULL
    );",
)];

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates.
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let memory = url.contains(":memory:");
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(if memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // An in-memory database exists per connection: keep exactly one.
        let max = if memory { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(if memory { 1 } else { 0 })
            .idle_timeout(if memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if memory {
                None
            } else {
                Some(Duration::from_secs(3600))
            })
            .connect_with(options)
            .await?;
        let store = SqliteStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)")
            .execute(&self.pool)
            .await?;
        for (version, sql) in MIGRATIONS {
            let mut tx = self.pool.begin().await?;
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_none() {
                // Migrations are compile-time constants of this file.
                sqlx::raw_sql(*sql).execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)",
                )
                .bind(version)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    async fn insert_audit(
        tx: &mut Transaction<'_, Sqlite>,
        a: &AdminAction<'_>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO admin_audit (at_ms, actor, action, target, detail, request_id) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(now_ms())
            .bind(a.actor)
            .bind(a.action)
            .bind(a.target)
            .bind(a.detail)
            .bind(a.request_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn suspended_clients(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT client_id FROM client_state WHERE suspended = 1 ORDER BY client_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn set_suspended(
        &self,
        client_id: &str,
        suspended: bool,
        action: &AdminAction<'_>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let before: Option<i64> =
            sqlx::query_scalar("SELECT suspended FROM client_state WHERE client_id = $1")
                .bind(client_id)
                .fetch_optional(&mut *tx)
                .await?;
        let changed = before.unwrap_or(0) != i64::from(suspended);
        sqlx::query(
            "INSERT INTO client_state (client_id, suspended, updated_at_ms) VALUES ($1, $2, $3)
             ON CONFLICT (client_id) DO UPDATE SET suspended = excluded.suspended, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(client_id)
        .bind(i64::from(suspended))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        Self::insert_audit(&mut tx, action).await?;
        tx.commit().await?;
        Ok(changed)
    }

    async fn record_admin_action(&self, action: &AdminAction<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::insert_audit(&mut tx, action).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn admin_audit(&self, limit: u32) -> Result<Vec<AdminAuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at_ms, actor, action, target, detail, request_id FROM admin_audit ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(AdminAuditRecord {
                    id: r.try_get("id")?,
                    at_ms: r.try_get("at_ms")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: r.try_get("detail")?,
                    request_id: r.try_get("request_id")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action<'a>(kind: &'a str) -> AdminAction<'a> {
        AdminAction {
            actor: "ops",
            action: kind,
            target: Some("portal"),
            detail: Some("test"),
            request_id: "r1",
        }
    }

    #[tokio::test]
    async fn suspension_persists_across_reopen_and_is_audited() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        assert!(
            store
                .set_suspended("portal", true, &action("suspend"))
                .await
                .unwrap()
        );
        assert!(
            !store
                .set_suspended("portal", true, &action("suspend"))
                .await
                .unwrap(),
            "second suspend changes nothing"
        );
        drop(store);
        let store = SqliteStore::open(&url).await.unwrap();
        assert_eq!(
            store.suspended_clients().await.unwrap(),
            vec!["portal".to_owned()]
        );
        assert!(
            store
                .set_suspended("portal", false, &action("resume"))
                .await
                .unwrap()
        );
        assert!(store.suspended_clients().await.unwrap().is_empty());
        let audit = store.admin_audit(10).await.unwrap();
        assert_eq!(audit.len(), 3);
        assert_eq!(audit[0].action, "resume");
        assert_eq!(audit[0].target.as_deref(), Some("portal"));
    }
}
