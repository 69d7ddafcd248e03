//! `fnwire new`: each Rust template is generated, then run through `fnwire start` and driven the
//! way its README says; `fnwire completions`; `fnwire start --watch` on a generated app (its
//! worker rebuilt on save, its HTTP routes following the reloaded functions).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::*;

fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn fnwire(args: &[&str]) -> Output {
    Command::new(fnwire_exe()).args(args).env("NO_COLOR", "1").output().expect("run fnwire")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `fnwire new <tmp>/<name> --lang rust --template <template>` against this checkout. The app
/// gets the workspace's Cargo.lock (the same dependency versions, so nothing to download) and
/// builds into the workspace's target dir, reusing what the workspace compiled.
fn new_rust_app(template: &str) -> (tempfile::TempDir, PathBuf) {
    // One binary name per template: the apps share a target dir and may build at once.
    new_rust_app_named(template, &format!("new-{template}"))
}

/// [`new_rust_app`] under another name: a test that edits its app builds a binary of its own.
fn new_rust_app_named(template: &str, name: &str) -> (tempfile::TempDir, PathBuf) {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join(name);
    let root = repo_root();
    let out = fnwire(&[
        "new",
        dir.to_str().unwrap(),
        "--lang",
        "rust",
        "--template",
        template,
        "--fnwire-path",
        root.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    for file in ["Cargo.toml", "src/main.rs", "host.json", "local.settings.json", ".gitignore", "README.md"] {
        assert!(dir.join(file).is_file(), "{file} written: {}", text(&out));
    }
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    (parent, dir)
}

fn workspace_target_dir() -> PathBuf {
    // target/debug/fnwire → target
    fnwire_exe().parent().and_then(Path::parent).expect("the target dir").to_path_buf()
}

fn start_app(dir: &Path, extra: &[&str]) -> Fnwire {
    let target = workspace_target_dir();
    let mut args = vec!["--debug"];
    args.extend_from_slice(extra);
    let f = Fnwire::spawn_with_env(
        dir,
        &args,
        &[("CARGO_TARGET_DIR", target.to_str().unwrap()), ("CARGO_NET_OFFLINE", "true")],
    );
    f.wait_for_output("Host started", STARTUP_BOUND);
    f
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_http_template_answers() {
    let (_parent, dir) = new_rust_app("http");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.contains("fnwire start --watch") && readme.contains("curl"), "{readme}");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"new-http\"") && manifest.contains("sdk-rust"), "{manifest}");
    let mut host = start_app(&dir, &[]);
    let r = get(&host.url("/api/hello?name=Ada")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, Ada!"), "{}", host.output());
    let r = get(&host.url("/api/hello/Bob")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, Bob!"));
    assert!(host.terminate().success(), "{}", host.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_timer_template_fires() {
    let (_parent, dir) = new_rust_app("timer");
    let mut host = start_app(&dir, &[]);
    // Every five seconds: two runs within a bound that is generous, never a timing assertion.
    host.wait_for_output("Executed 'tick'", Duration::from_secs(60));
    assert!(host.terminate().success(), "{}", host.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_queue_template_works_on_enqueued_messages() {
    let (_parent, dir) = new_rust_app("queue");
    let mut host = start_app(&dir, &[]);
    let app = dir.to_str().unwrap();
    let put = fnwire(&["queue", "put", "jobs", "from the cli", "--app", app]);
    assert!(put.status.success(), "{}", text(&put));
    let r = request("POST", &host.url("/api/enqueue"), &[], "over http").await;
    assert_eq!(r.status, 202, "{}", r.body);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let peek = text(&fnwire(&["queue", "peek", "done", "--app", app]));
        if peek.contains("FROM THE CLI") && peek.contains("OVER HTTP") {
            break;
        }
        assert!(Instant::now() < deadline, "`work` never wrote both results: {peek}\n{}", host.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(host.terminate().success(), "{}", host.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_durable_template_completes_its_orchestration() {
    let (_parent, dir) = new_rust_app("durable");
    let mut host = start_app(&dir, &[]);
    let r = request("POST", &host.url("/api/orchestrators/hello_cities"), &[], "\"Tokyo\"").await;
    assert_eq!(r.status, 202, "{}\n{}", r.body, host.output());
    let started: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let status_url = started["statusQueryGetUri"].as_str().expect("statusQueryGetUri").to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let r = get(&status_url).await;
        let status: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        if status["runtimeStatus"] == "Completed" {
            break status;
        }
        assert!(Instant::now() < deadline, "not completed: {}\n{}", r.body, host.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["output"], serde_json::json!(["Hello Tokyo!", "Hello London!", "Hello Lima!"]));
    assert!(host.terminate().success(), "{}", host.output());
}

#[test]
fn new_refuses_a_folder_that_is_not_empty_and_the_azure_template_for_rust() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("taken");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let out = fnwire(&["new", dir.to_str().unwrap(), "--lang", "python"]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(message.contains("not empty") && message.contains("taken"), "{message}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "nothing written");
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");

    let out =
        fnwire(&["new", parent.path().join("az").to_str().unwrap(), "--lang", "rust", "--template", "azure"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--template http"), "{}", text(&out));
    assert!(!parent.path().join("az").exists());

    let out = fnwire(&["new", parent.path().join("1bad name").to_str().unwrap(), "--lang", "node"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("cannot name an app"), "{}", text(&out));

    // Python and Node apps: the files `fnwire start` recognises them by.
    let python = parent.path().join("py");
    assert!(fnwire(&["new", python.to_str().unwrap(), "--lang", "python"]).status.success());
    assert!(python.join("function_app.py").is_file() && python.join("requirements.txt").is_file());
    let node = parent.path().join("js");
    assert!(
        fnwire(&["new", node.to_str().unwrap(), "--lang", "node", "--template", "queue"]).status.success()
    );
    let package: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(node.join("package.json")).unwrap()).unwrap();
    assert_eq!(package["name"], "js");
    assert!(package["dependencies"]["fnwire"].is_string(), "{package}");
}

#[test]
fn completions_name_the_subcommands_in_every_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = fnwire(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out));
        let script = String::from_utf8(out.stdout).unwrap();
        for subcommand in ["start", "new", "queue", "completions", "kube"] {
            assert!(script.contains(subcommand), "{shell} names {subcommand}");
        }
        if shell == "bash" {
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), &script).unwrap();
            let check = Command::new("bash").arg("-n").arg(file.path()).output().unwrap();
            assert!(check.status.success(), "bash -n: {}", text(&check));
        }
    }
    let out = fnwire(&["completions", "tcsh-ish"]);
    assert!(!out.status.success() && text(&out).contains("bash"), "{}", text(&out));
}

/// Requests `url` until `stop` is set (at most `bound`), keeping every status.
async fn request_in_a_loop(
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    bound: Duration,
) -> Vec<(u16, String)> {
    let deadline = Instant::now() + bound;
    let mut replies = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < deadline {
        let r = get(&url).await;
        replies.push((r.status, r.body));
        // A steady stream, not a flood: the reload's build shares the machine.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    replies
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_rebuilds_on_save_and_keeps_serving_through_reloads_and_broken_builds() {
    let (_parent, dir) = new_rust_app("http");
    let mut host = start_app(&dir, &["--watch"]);
    host.wait_for_output("Watching", Duration::from_secs(10));
    let url = host.url("/api/hello?name=Ada");
    assert_eq!(get(&url).await.body, "Hello, Ada!");

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let looping = tokio::spawn(request_in_a_loop(url.clone(), stop.clone(), Duration::from_secs(600)));
    let main_rs = dir.join("src/main.rs");
    let source = std::fs::read_to_string(&main_rs).unwrap();
    std::fs::write(&main_rs, source.replace("Hello, {name}!", "Hi, {name}!")).unwrap();
    let deadline = Instant::now() + STARTUP_BOUND;
    while get(&url).await.body != "Hi, Ada!" {
        assert!(Instant::now() < deadline, "never reloaded:\n{}", host.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let replies = looping.await.unwrap();
    assert!(
        replies.iter().all(|(status, _)| *status == 200),
        "a request failed during the reload: {replies:?}"
    );
    assert!(replies.iter().any(|(_, body)| body == "Hello, Ada!"), "the loop ran before the reload");
    let worker_reloaded = host.output();
    assert!(worker_reloaded.contains("src/main.rs changed"), "{worker_reloaded}");

    std::fs::write(&main_rs, "this is not Rust\n").unwrap();
    host.wait_for_output("the build failed", STARTUP_BOUND);
    assert!(host.output().contains("error"), "the compiler's error is shown: {}", host.output());
    let r = get(&url).await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hi, Ada!"), "the old worker keeps serving");
    assert!(host.terminate().success(), "{}", host.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_serves_the_routes_of_the_reloaded_app_added_moved_and_removed() {
    let (_parent, dir) = new_rust_app_named("http", "routes-http");
    let mut host = start_app(&dir, &["--watch"]);
    host.wait_for_output("Watching", Duration::from_secs(10));
    assert_eq!(get(&host.url("/api/hello/Ada")).await.body, "Hello, Ada!");
    assert_eq!(get(&host.url("/api/bye/Ada")).await.status, 404);

    // `hello` moves to `greet/…` and `bye` is added.
    let main_rs = dir.join("src/main.rs");
    let source = std::fs::read_to_string(&main_rs).unwrap();
    let moved = source.replace("route = \"hello/{name?}\"", "route = \"greet/{name?}\"");
    assert_ne!(moved, source, "the template's route is where this test expects it");
    let added = moved.replace(
        "fn main()",
        "#[http_trigger(route = \"bye/{name}\", methods = \"get\", auth_level = \"anonymous\")]\n\
         pub async fn bye(req: HttpRequest) -> HttpResponse {\n    \
             HttpResponse::ok().with_text(format!(\"Bye, {}!\", req.param(\"name\").unwrap_or_default()))\n}\n\n\
         fn main()",
    );
    std::fs::write(&main_rs, added).unwrap();
    let deadline = Instant::now() + STARTUP_BOUND;
    while get(&host.url("/api/bye/Ada")).await.body != "Bye, Ada!" {
        assert!(Instant::now() < deadline, "the added route never answered:\n{}", host.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = get(&host.url("/api/greet/Ada")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, Ada!"), "{}", host.output());
    assert_eq!(get(&host.url("/api/hello/Ada")).await.status, 404, "the old route is gone");
    host.wait_for_output("HTTP routes changed with the reload", Duration::from_secs(10));
    let said = host.output();
    assert!(said.contains("+ bye: GET /api/bye/{name}"), "{said}");
    assert!(
        said.contains("~ hello: GET,POST /api/greet/{name?} (was GET,POST /api/hello/{name?})"),
        "{said}"
    );

    // `bye` is removed again: its route answers 404 once the reload is served.
    std::fs::write(&main_rs, &moved).unwrap();
    let deadline = Instant::now() + STARTUP_BOUND;
    while get(&host.url("/api/bye/Ada")).await.status != 404 {
        assert!(Instant::now() < deadline, "the removed route still answers:\n{}", host.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    host.wait_for_output("- bye: GET /api/bye/{name} (now 404)", Duration::from_secs(10));
    assert_eq!(get(&host.url("/api/greet/Bob")).await.body, "Hello, Bob!");
    assert!(host.terminate().success(), "{}", host.output());
}
