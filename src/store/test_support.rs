//! Test support: a throwaway PostgreSQL schema per test, on the server named by
//! `LIENTHONG_TEST_POSTGRES_URL`. Used by the store's own tests and the end-to-end suites.

use std::str::FromStr;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// The variable naming the test server, e.g. `postgres://postgres@127.0.0.1:5432/test`.
pub const POSTGRES_URL_VAR: &str = "LIENTHONG_TEST_POSTGRES_URL";

/// A schema of its own on the test server, dropped by [`PgTestSchema::drop`].
pub struct PgTestSchema {
    /// The store URL: the server's, with this schema as `search_path` and the test's
    /// `application_name` (so a test can find and kill its own connections).
    pub url: String,
    /// The `application_name` the store's connections carry.
    pub application_name: String,
    server_url: String,
    schema: String,
}

impl PgTestSchema {
    /// Creates a fresh schema. Without `LIENTHONG_TEST_POSTGRES_URL` prints a notice and returns
    /// `None` (the caller skips), except under `CI=true`, where a missing or unreachable server
    /// fails the test.
    pub async fn create(test: &str) -> Option<PgTestSchema> {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        let Ok(server_url) = std::env::var(POSTGRES_URL_VAR) else {
            assert!(!ci, "{POSTGRES_URL_VAR} must be set when CI=true");
            eprintln!("note: {POSTGRES_URL_VAR} is not set; skipping the PostgreSQL test {test}");
            return None;
        };
        let schema = format!("lt_{}", uuid::Uuid::new_v4().simple());
        match Self::exec(&server_url, &format!("CREATE SCHEMA {schema}")).await {
            Ok(()) => {}
            Err(e) if !ci => {
                eprintln!(
                    "note: PostgreSQL at {POSTGRES_URL_VAR} is unreachable ({e}); skipping {test}"
                );
                return None;
            }
            Err(e) => panic!("PostgreSQL at {POSTGRES_URL_VAR} is unreachable under CI=true: {e}"),
        }
        let application_name = format!("{schema}_{}", test.chars().take(20).collect::<String>());
        let separator = if server_url.contains('?') { '&' } else { '?' };
        let url = format!(
            "{server_url}{separator}application_name={application_name}&options=-c%20search_path%3D{schema}"
        );
        Some(PgTestSchema {
            url,
            application_name,
            server_url,
            schema,
        })
    }

    /// Ends every connection of this test's `application_name`, as a server restart would.
    pub async fn kill_connections(&self) -> Result<(), sqlx::Error> {
        let mut conn = Self::connect(&self.server_url).await?;
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1",
        )
        .bind(&self.application_name)
        .execute(&mut conn)
        .await?;
        conn.close().await
    }

    /// Drops the schema and everything in it.
    pub async fn drop(self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        if let Err(e) = Self::exec(&self.server_url, &sql).await {
            eprintln!("note: could not drop test schema {}: {e}", self.schema);
        }
    }

    async fn connect(url: &str) -> Result<PgConnection, sqlx::Error> {
        PgConnection::connect_with(&PgConnectOptions::from_str(url)?).await
    }

    async fn exec(url: &str, sql: &str) -> Result<(), sqlx::Error> {
        let mut conn = Self::connect(url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await?;
        conn.close().await
    }
}
