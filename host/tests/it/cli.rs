//! Command-line errors are clear and exit non-zero.

use std::process::Command;

use crate::support::*;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(fnwire_exe()).args(args).output().unwrap();
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn unknown_subcommand_is_refused() {
    let (ok, out) = run(&["frobnicate"]);
    assert!(!ok);
    assert!(out.contains("frobnicate"), "{out}");
}

#[test]
fn missing_directory_is_named() {
    let (ok, out) = run(&["start", "/definitely/not/here", "--port", &free_port().to_string()]);
    assert!(!ok);
    assert!(out.contains("/definitely/not/here") && out.contains("not a directory"), "{out}");
}

#[test]
fn a_directory_without_an_app_says_what_fnwire_looks_for() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run(&["start", dir.path().to_str().unwrap(), "--port", &free_port().to_string()]);
    assert!(!ok);
    assert!(out.contains("worker.config.json") && out.contains("Cargo.toml"), "{out}");
}

#[test]
fn a_worker_that_exits_at_once_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("worker.config.json"),
        r#"{"description":{"language":"x","defaultExecutablePath":"sh","arguments":["-c","echo bad things >&2; exit 7"]}}"#,
    )
    .unwrap();
    let (ok, out) = run(&["start", dir.path().to_str().unwrap(), "--port", &free_port().to_string()]);
    assert!(!ok);
    assert!(
        out.contains("exited") && out.contains("before connecting") && out.contains("bad things"),
        "{out}"
    );
}

#[test]
fn a_bad_route_template_names_the_function() {
    let dir = test_worker_app();
    std::fs::write(dir.path().join("local.settings.json"), r#"{"Values":{"TEST_WORKER_HOST_INDEXING":"1"}}"#)
        .unwrap();
    std::fs::create_dir(dir.path().join("weird")).unwrap();
    std::fs::write(
        dir.path().join("weird/function.json"),
        r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"x/{id:number}"}]}"#,
    )
    .unwrap();
    let (ok, out) = run(&["start", dir.path().to_str().unwrap(), "--port", &free_port().to_string()]);
    assert!(!ok);
    assert!(out.contains("function `weird`") && out.contains("unknown constraint `number`"), "{out}");
}

#[test]
fn a_port_in_use_is_named_with_what_to_do() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let app = test_worker_app();
    let (ok, out) = run(&["start", app.path().to_str().unwrap(), "--port", &port]);
    assert!(!ok);
    assert!(out.contains(&format!("127.0.0.1:{port}")) && out.contains("--port"), "{out}");
}

/// An app indexed from function.json folders (the test worker answers with the host's
/// indexing), with one `httpTrigger` per `(folder, route)`.
fn app_with_http_routes(routes: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = test_worker_app();
    std::fs::write(dir.path().join("local.settings.json"), r#"{"Values":{"TEST_WORKER_HOST_INDEXING":"1"}}"#)
        .unwrap();
    for (name, route) in routes {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        let function = serde_json::json!({"bindings": [
            {"type": "httpTrigger", "direction": "in", "name": "req", "route": route, "authLevel": "anonymous"},
            {"type": "http", "direction": "out", "name": "$return"}
        ]});
        std::fs::write(dir.path().join(name).join("function.json"), function.to_string()).unwrap();
    }
    dir
}

#[test]
fn colliding_routes_stop_the_start_naming_both_functions() {
    let dir = app_with_http_routes(&[("by_id", "todos/{id}"), ("by_key", "TODOS/{key}")]);
    let (ok, out) = run(&["start", dir.path().to_str().unwrap(), "--port", &free_port().to_string()]);
    assert!(!ok);
    assert!(
        out.contains("is the same as the route")
            && out.contains("`by_id`")
            && out.contains("`by_key`")
            && out.contains("give one of them a different `route`"),
        "{out}"
    );
}

#[test]
fn route_constraints_are_checked_at_start_with_the_front_end_message() {
    let dir = app_with_http_routes(&[("orders", "orders/{day:date}")]);
    let (ok, out) = run(&["start", dir.path().to_str().unwrap(), "--port", &free_port().to_string()]);
    assert!(!ok);
    // The message the macros, Python and Node give at declaration (fnwire_metadata::route).
    let expected = fnwire_metadata::route::RouteTemplate::parse("orders/{day:date}").unwrap_err().message;
    assert!(out.contains("function `orders`") && out.contains(&expected), "{out}");
    assert!(expected.contains("unknown constraint `date`") && expected.contains("datetime"), "{expected}");
}

/// A Python app whose interpreter lacks the fnwire package: the start fails naming the
/// interpreter it ran and how to choose another.
#[test]
fn a_python_without_fnwire_is_named_with_how_to_choose_another() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("function_app.py"), "import fnwire\napp = fnwire.App()\n").unwrap();
    // A fresh virtualenv: an interpreter certain not to have fnwire.
    let venv = dir.path().join("venv");
    let made = Command::new("python3").args(["-m", "venv", "--without-pip"]).arg(&venv).status();
    assert!(made.is_ok_and(|s| s.success()), "python3 -m venv failed: the test needs Python 3");
    let python = venv.join("bin").join("python");
    let out = Command::new(fnwire_exe())
        .args(["start", dir.path().to_str().unwrap(), "--port", &free_port().to_string()])
        .env("FNWIRE_PYTHON", &python)
        .env_remove("VIRTUAL_ENV")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "the Python interpreter `{}` does not have the fnwire package",
            python.display()
        )) && text.contains("FNWIRE_PYTHON=/path/to/python")
            && text.contains("VIRTUAL_ENV"),
        "{text}"
    );
}
