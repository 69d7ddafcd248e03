//! A database of its own for one test, for the test suites of every crate that runs against
//! PostgreSQL. The server is the one `FNWIRE_TEST_POSTGRES` names
//! (`postgres://postgres@127.0.0.1:5432/postgres` by default; `scripts/postgres.sh` starts one
//! when none answers).

/// The server tests make their databases on.
pub fn server_url() -> String {
    std::env::var("FNWIRE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database made for one test and dropped (with any connections still open) when it ends.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    pub name: String,
}

impl TestDatabase {
    /// Makes the database. Panics, saying how to get a server, when none answers.
    pub fn new() -> TestDatabase {
        // On a thread of its own: the blocking client cannot run inside an async test.
        std::thread::spawn(|| {
            let server = server_url();
            let mut admin = postgres::Client::connect(&server, postgres::NoTls).unwrap_or_else(|e| {
                panic!(
                    "no PostgreSQL server answers at {server} ({e}): start one with `scripts/postgres.sh`, or set \
                     FNWIRE_TEST_POSTGRES to a server whose user may create databases"
                )
            });
            let name = format!("fnwire_test_{}", uuid::Uuid::new_v4().simple());
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap_or_else(|e| panic!("cannot create a test database on {server}: {e}"));
            let base = server.rsplit_once('/').map(|(base, _)| base.to_string()).unwrap_or(server.clone());
            TestDatabase { url: format!("{base}/{name}"), name }
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }

    /// Closes every connection to the database from the server's side (what a restart or a
    /// failover does to clients), except the caller's; returns how many were closed.
    pub fn terminate_connections(&self) -> usize {
        let name = self.name.clone();
        std::thread::spawn(move || {
            let Ok(mut admin) = postgres::Client::connect(&server_url(), postgres::NoTls) else { return 0 };
            admin
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&name],
                )
                .map(|rows| rows.len())
                .unwrap_or(0)
        })
        .join()
        .unwrap_or(0)
    }
}

impl Default for TestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(mut admin) = postgres::Client::connect(&server_url(), postgres::NoTls) {
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        })
        .join();
    }
}
