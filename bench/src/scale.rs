//! The PostgreSQL rows: hello-rust's queue work with `AzureWebJobsStorage` naming a database
//! (a database of its own per run on the server `FNWIRE_TEST_POSTGRES` names, dropped after).
//!
//! * `queue-postgres`: messages/s through one host, against the same store calls made by this
//!   process on another database of the same server (take 16, delete + put the output);
//! * `queue-postgres-scale`: messages/s through three hosts sharing one database against one
//!   host on another, and the CPU the hosts and their workers used per message on each side.

use std::sync::Mutex;
use std::time::Instant;

use fnwire_storage_postgres::PgStore;
use fnwire_storage_postgres::testing::{TestDatabase, server_url};

use crate::procs::Served;
use crate::scenarios::{
    HELLO, Pairs, START_BOUND, alternate, fnwire_start, host_queue_round, host_vs_direct_queue_rounds,
    queue_batch,
};
use crate::setup::Env;
use crate::stats::{Better, Row};

fn messages(env: &Env) -> usize {
    if env.quick { 2_000 } else { 10_000 }
}

/// A database for one row; an error naming the server when none answers.
fn database() -> anyhow::Result<TestDatabase> {
    std::panic::catch_unwind(TestDatabase::new).map_err(|_| {
        anyhow::anyhow!(
            "no PostgreSQL server answers at {} (start one with `eval \"$(scripts/postgres.sh)\"`)",
            fnwire_storage_postgres::redact(&server_url())
        )
    })
}

async fn start_hosts(env: &Env, name: &str, count: usize, db: &TestDatabase) -> anyhow::Result<Vec<Served>> {
    let mut hosts = Vec::new();
    for i in 0..count {
        let mut host =
            fnwire_start(env, &format!("{name}-{i}"), &env.rust_app(), &[("AzureWebJobsStorage", &db.url)])?;
        host.wait_ready(HELLO, Instant::now(), START_BOUND).await?;
        hosts.push(host);
    }
    Ok(hosts)
}

pub async fn queue_postgres(env: &Env) -> anyhow::Result<Vec<Row>> {
    let n = messages(env);
    let (host_db, direct_db) = (database()?, database()?);
    let hosts = start_hosts(env, "queue-postgres", 1, &host_db).await?;
    let store = PgStore::open(&host_db.url)?;
    let direct = PgStore::open(&direct_db.url)?;
    let pairs = host_vs_direct_queue_rounds(env, n, &hosts[0], &store, &direct).await?;
    Ok(vec![pairs.row("queue-postgres", "mps", "messages/s", Better::Higher).with_note(format!(
        "queue-postgres: {n} messages per round through hello-rust `work` on one host with AzureWebJobsStorage=postgres:// (blob output in the database too), timed from the first one done, vs the same store calls in one process on another database of the same server (take 16, delete + put output; no blob)"
    ))])
}

pub async fn queue_postgres_scale(env: &Env) -> anyhow::Result<Vec<Row>> {
    let n = messages(env);
    let (three_db, one_db) = (database()?, database()?);
    let three = start_hosts(env, "queue-postgres-three", 3, &three_db).await?;
    let one = start_hosts(env, "queue-postgres-one", 1, &one_db).await?;
    let three_store = PgStore::open(&three_db.url)?;
    let one_store = PgStore::open(&one_db.url)?;
    // (three hosts?, messages/s, CPU ms per message)
    let results: Mutex<Vec<(bool, f64, f64)>> = Mutex::default();
    let (mut three_round, mut one_round) = (0, 0);
    alternate(
        env.rounds(),
        || {
            three_round += 1;
            let batch = queue_batch(three_round, n);
            let (store, results, hosts) = (&three_store, &results, &three);
            async move {
                let hosts: Vec<&Served> = hosts.iter().collect();
                let round = host_queue_round(store, &batch, &hosts).await?;
                let cpu_ms = round.cpu_seconds * 1000.0 / n as f64;
                results.lock().unwrap_or_else(|e| e.into_inner()).push((true, round.per_second, cpu_ms));
                Ok(())
            }
        },
        || {
            one_round += 1;
            let batch = queue_batch(one_round, n);
            let (store, results, hosts) = (&one_store, &results, &one);
            async move {
                let round = host_queue_round(store, &batch, &[&hosts[0]]).await?;
                let cpu_ms = round.cpu_seconds * 1000.0 / n as f64;
                results.lock().unwrap_or_else(|e| e.into_inner()).push((false, round.per_second, cpu_ms));
                Ok(())
            }
        },
    )
    .await?;
    let mut pairs = Pairs::default();
    for (is_three, rate, cpu_ms) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        pairs.push(is_three, "mps", rate);
        pairs.push(is_three, "cpu", cpu_ms);
    }
    let cores = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(0);
    Ok(vec![
        pairs.row("queue-postgres-scale", "mps", "messages/s", Better::Higher).with_note(format!(
            "queue-postgres-scale: {n} messages per round through hello-rust `work`, three hosts sharing one database vs one host on another (same server, both sides running throughout); the machine has {cores} cores, shared by the hosts, their workers and PostgreSQL"
        )),
        pairs.row("queue-postgres-scale-cpu", "cpu", "CPU ms/message", Better::Lower).with_note(
            "queue-postgres-scale-cpu: CPU (user + system) of the hosts and their workers per message from the put to the last one done, three hosts vs one; PostgreSQL's own CPU is not counted",
        ),
    ])
}
