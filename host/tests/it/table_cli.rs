//! `fnwire table list|query|get|put|delete` on the store the app's `AzureWebJobsStorage`
//! selects: the embedded one, then a PostgreSQL database of the test's own.

use std::path::Path;
use std::process::Command;

use crate::support::*;

fn run(app: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(fnwire_exe()).arg("table").args(args).arg("--app").arg(app).output().unwrap();
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

fn ok(app: &Path, args: &[&str]) -> String {
    let (success, out) = run(app, args);
    assert!(success, "fnwire table {args:?}: {out}");
    out
}

fn exercise(backend: &str, app: &Path) {
    for (pk, rk, total) in [("web", "o1", 5), ("web", "o2", 50), ("shop", "o3", 70)] {
        ok(app, &["put", "Orders", &format!(r#"{{"PartitionKey":"{pk}","RowKey":"{rk}","Total":{total}}}"#)]);
    }
    ok(
        app,
        &[
            "put",
            "Audit",
            r#"{"PartitionKey":"a","RowKey":"1","At":"2024-05-01T00:00:00Z","At@odata.type":"Edm.DateTime"}"#,
        ],
    );
    let listed = ok(app, &["list"]);
    assert!(listed.contains("Audit") && listed.contains("Orders"), "{backend}: {listed}");
    assert!(
        listed.lines().any(|l| l.starts_with("Orders") && l.trim_end().ends_with('3')),
        "{backend}: {listed}"
    );

    let got = ok(app, &["get", "orders", "web", "o2"]);
    let entity: serde_json::Value = serde_json::from_str(got.trim()).unwrap();
    assert_eq!(entity["Total"], 50, "{backend}: {got}");
    assert!(entity["odata.etag"].as_str().is_some_and(|e| e.starts_with("W/")), "{backend}: {got}");
    assert!(entity["Timestamp"].is_string(), "{backend}: {got}");

    let rows = ok(app, &["query", "Orders", "--filter", "Total gt 10 and PartitionKey ne 'nobody'"]);
    let keys: Vec<String> = rows
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["RowKey"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(keys, ["o3", "o2"], "{backend}: key order (shop before web): {rows}");
    let one = ok(app, &["query", "Orders", "--take", "1"]);
    assert_eq!(one.lines().count(), 1, "{backend}: {one}");
    let audit = ok(app, &["query", "Audit"]);
    assert!(audit.contains(r#""At@odata.type":"Edm.DateTime""#), "{backend}: {audit}");

    let (success, out) = run(app, &["query", "Orders", "--filter", "Total gt"]);
    assert!(!success && out.contains("character 9") && out.contains("expected"), "{backend}: {out}");
    let (success, out) = run(app, &["put", "Orders", r#"{"PartitionKey":"p"}"#]);
    assert!(!success && out.contains("RowKey"), "{backend}: {out}");
    let (success, out) = run(app, &["get", "my-table", "a", "b"]);
    assert!(!success && out.contains("my-table") && out.contains("letters and digits"), "{backend}: {out}");

    assert!(ok(app, &["delete", "Orders", "web", "o1"]).contains("deleted entity"), "{backend}");
    assert!(ok(app, &["get", "Orders", "web", "o1"]).contains("no entity"), "{backend}");
    assert!(ok(app, &["delete", "Audit"]).contains("deleted table `Audit`"), "{backend}");
    let listed = ok(app, &["list"]);
    assert!(!listed.contains("Audit") && listed.contains("Orders"), "{backend}: {listed}");
}

#[test]
fn table_commands_work_on_both_stores() {
    let sqlite = tempfile::tempdir().unwrap();
    exercise("sqlite", sqlite.path());

    let db = fnwire_storage_postgres::testing::TestDatabase::new();
    let pg = tempfile::tempdir().unwrap();
    std::fs::write(
        pg.path().join("local.settings.json"),
        serde_json::json!({"IsEncrypted": false, "Values": {"AzureWebJobsStorage": db.url}}).to_string(),
    )
    .unwrap();
    exercise("postgres", pg.path());
}
