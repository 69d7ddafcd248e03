//! Auth levels and keys through the real `fnwire` binary and the test worker.

use std::process::Command;

use crate::support::*;

/// Runs `fnwire keys <dir>` and returns (master, function) keys as it prints them.
fn printed_keys(dir: &std::path::Path) -> (String, String) {
    let out = Command::new(fnwire_exe()).arg("keys").arg(dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let key = |label: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .map(|k| k.trim().to_string())
            .unwrap_or_else(|| panic!("no {label:?} in:\n{text}"))
    };
    (key("master key:"), key("default function key:"))
}

#[tokio::test(flavor = "multi_thread")]
async fn function_and_admin_routes_need_the_keys_fnwire_keys_prints() {
    let app = test_worker_app();
    let fnwire = Fnwire::start(app.path(), &[]);
    let (master, function) = printed_keys(app.path());
    assert_ne!(master, function);
    assert!(fnwire.output().contains("[function key required]"), "{}", fnwire.output());
    assert!(fnwire.output().contains("[admin key required]"), "{}", fnwire.output());

    let keyed = fnwire.url("/api/keyed");
    let refused = get(&keyed).await;
    assert_eq!(refused.status, 401);
    // The refusal does not hint at which keys exist.
    assert!(
        !refused.body.contains(&master)
            && !refused.body.contains(&function)
            && !refused.body.contains("master")
    );
    assert_eq!(request("GET", &keyed, &[("x-functions-key", "wrong")], "").await.status, 401);
    assert_eq!(get(&format!("{keyed}?code=wrong")).await.status, 401);
    assert_eq!(get(&format!("{keyed}?code=")).await.status, 401);
    let ok = request("GET", &keyed, &[("x-functions-key", &function)], "").await;
    assert_eq!((ok.status, ok.body.as_str()), (200, "ok"));
    assert_eq!(get(&format!("{keyed}?code={function}")).await.status, 200);
    assert_eq!(get(&format!("{keyed}?code={master}")).await.status, 200);

    let admin = fnwire.url("/api/admin");
    assert_eq!(get(&admin).await.status, 401);
    assert_eq!(request("GET", &admin, &[("x-functions-key", &function)], "").await.status, 401);
    assert_eq!(request("GET", &admin, &[("x-functions-key", &master)], "").await.status, 200);
    assert_eq!(get(&format!("{admin}?code={master}")).await.status, 200);

    // Anonymous routes need nothing.
    assert_eq!(get(&fnwire.url("/api/hello")).await.status, 200);
}

#[test]
fn the_keys_file_is_private_stable_and_overridable() {
    let app = test_worker_app();
    let first = printed_keys(app.path());
    assert_eq!(printed_keys(app.path()), first, "keys are generated once");
    let path = app.path().join(".fnwire/keys.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&app.path().join(".fnwire")), 0o700);
    }
    for key in [&first.0, &first.1] {
        assert!(
            key.len() >= 40 && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{key}"
        );
    }
    std::fs::write(
        app.path().join("local.settings.json"),
        r#"{"Values":{"FNWIRE_MASTER_KEY":"my-master","FNWIRE_FUNCTION_KEY":"my-function"}}"#,
    )
    .unwrap();
    assert_eq!(printed_keys(app.path()), ("my-master".to_string(), "my-function".to_string()));

    std::fs::write(&path, "not json").unwrap();
    let out = Command::new(fnwire_exe()).arg("keys").arg(app.path()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keys.json") && err.contains("delete it"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not json", "a broken keys file is not overwritten");
}

/// The issue's check: with `fnwire start examples/hello-rust`, the `function`-level route refuses
/// requests without a key and accepts the key `fnwire keys` prints.
#[tokio::test(flavor = "multi_thread")]
async fn hello_rust_secret_needs_the_printed_key() {
    let app = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/hello-rust"));
    let mut fnwire = Fnwire::start(&app, &["--debug"]);
    let (master, function) = printed_keys(&app);
    let url = fnwire.url("/api/secret");
    assert_eq!(get(&url).await.status, 401);
    assert_eq!(request("GET", &url, &[("x-functions-key", "nope")], "").await.status, 401);
    let r = request("GET", &url, &[("x-functions-key", &function)], "").await;
    assert_eq!((r.status, r.body.as_str()), (200, "You have the key."), "{}", fnwire.output());
    assert_eq!(get(&format!("{url}?code={master}")).await.status, 200);
    assert!(fnwire.output().contains("[function key required]"));
    assert!(fnwire.terminate().success());
}
