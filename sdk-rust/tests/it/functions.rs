//! Functions the tests serve, built with the dynamic API (metadata + handler closures).

use std::sync::Arc;
use std::time::Duration;

use fnwire::__private::{FromInput, finish, run_blocking};
use fnwire::metadata::{Binding, Direction, FunctionMetadata};
use fnwire::protocol::rpc::TypedData;
use fnwire::protocol::rpc::typed_data::Data;
use fnwire::runtime::FunctionDefinition;
use fnwire::{FunctionError, HttpRequest, HttpResponse, IntoTypedData, Invocation, InvocationOutcome, Out};
use tokio::sync::Barrier;

pub fn http_metadata(name: &str) -> FunctionMetadata {
    FunctionMetadata::new(name)
        .with_binding(
            Binding::new("req", "httpTrigger", Direction::In)
                .with("methods", serde_json::json!(["get", "post"]))
                .with("authLevel", "anonymous")
                .with("route", format!("{name}/{{name?}}")),
        )
        .with_binding(Binding::new("$return", "http", Direction::Out))
}

pub fn queue_metadata(name: &str) -> FunctionMetadata {
    FunctionMetadata::new(name)
        .with_binding(Binding::new("msg", "queueTrigger", Direction::In).with("queueName", "jobs"))
        .with_binding(Binding::new("done", "queue", Direction::Out).with("queueName", "done"))
}

pub fn text(s: &str) -> TypedData {
    TypedData { data: Some(Data::String(s.to_string())) }
}

pub fn returned(value: impl IntoTypedData) -> fnwire::InvocationResult {
    Ok(InvocationOutcome { outputs: vec![], return_value: Some(value.into_typed_data()?) })
}

/// `hello`: greets the route parameter, logs, answers 200 text.
pub fn hello() -> FunctionDefinition {
    FunctionDefinition::new(http_metadata("hello"), |mut invocation: Invocation| async move {
        let req = HttpRequest::from_input(&mut invocation, "req")?;
        let name = req.param("name").unwrap_or("world").to_string();
        tracing::info!(method = %req.method(), "hello invoked");
        returned(
            HttpResponse::ok()
                .with_header("x-test", "1")
                .with_text(format!("Hello, {name}! body={}", req.text())),
        )
    })
}

/// `relay`: a queue trigger writing its input, upper-cased, to the `done` output via `Out`.
pub fn relay() -> FunctionDefinition {
    FunctionDefinition::new(queue_metadata("relay"), |mut invocation: Invocation| async move {
        let msg = fnwire::QueueMessage::from_input(&mut invocation, "msg")?;
        let done: Out<String> = Out::bind(&invocation, "done");
        done.set(msg.text().to_uppercase());
        finish(invocation, None)
    })
}

/// `gathered`: every invocation waits until `n` invocations are running at once, then echoes
/// its input. It can only answer if the worker runs invocations concurrently.
pub fn gathered(n: usize) -> FunctionDefinition {
    let barrier = Arc::new(Barrier::new(n));
    FunctionDefinition::new(http_metadata("gathered"), move |mut invocation: Invocation| {
        let barrier = barrier.clone();
        async move {
            let input = String::from_input(&mut invocation, "req")?;
            barrier.wait().await;
            // Finish in a scrambled order, so responses leave out of order.
            tokio::time::sleep(Duration::from_millis((input.len() as u64 * 7) % 20)).await;
            returned(format!("echo:{input}"))
        }
    })
}

/// `hang`: never finishes on its own; reports `started:<id>` on `events` when it runs and `<id>`
/// when its future is dropped.
pub fn hang(events: tokio::sync::mpsc::UnboundedSender<String>) -> FunctionDefinition {
    struct OnDrop(tokio::sync::mpsc::UnboundedSender<String>, String);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            let _ = self.0.send(self.1.clone());
        }
    }
    FunctionDefinition::new(http_metadata("hang"), move |invocation: Invocation| {
        let events = events.clone();
        let id = invocation.invocation_id().to_string();
        async move {
            let _ = events.send(format!("started:{id}"));
            let _guard = OnDrop(events, id);
            std::future::pending::<()>().await;
            returned("unreachable")
        }
    })
}

/// `slow`: answers after a short sleep (used to have work in flight at shutdown).
pub fn slow() -> FunctionDefinition {
    FunctionDefinition::new(http_metadata("slow"), |_invocation: Invocation| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        returned("slept")
    })
}

/// `fail`: returns an error.
pub fn fail() -> FunctionError {
    FunctionError::new("order 7 was not found").with_stack_trace("at fail (tests/it/functions.rs)")
}

pub fn failing() -> FunctionDefinition {
    FunctionDefinition::new(http_metadata("failing"), |_invocation: Invocation| async move { Err(fail()) })
}

/// `boom`: panics.
pub fn boom() -> FunctionDefinition {
    FunctionDefinition::new(http_metadata("boom"), |_invocation: Invocation| async move {
        if std::hint::black_box(true) {
            panic!("kaboom");
        }
        returned("unreachable")
    })
}

/// `chatty`: logs at several levels, from async code and from a blocking section.
pub fn chatty() -> FunctionDefinition {
    FunctionDefinition::new(http_metadata("chatty"), |_invocation: Invocation| async move {
        tracing::info!(order = 7, "processing");
        tracing::warn!("running low");
        let n = run_blocking(|| {
            tracing::error!(source = "blocking", "from the blocking pool");
            41 + 1
        })
        .await?;
        returned(format!("{n}"))
    })
}

/// `blocking_boom`: panics inside `run_blocking`.
pub fn blocking_boom() -> FunctionDefinition {
    FunctionDefinition::new(http_metadata("blockingboom"), |_invocation: Invocation| async move {
        run_blocking(|| {
            if std::hint::black_box(true) {
                panic!("blocking kaboom");
            }
        })
        .await?;
        returned("unreachable")
    })
}

/// `blockingchatty`: a blocking handler (run whole on a pool thread) that logs, reads its input
/// and sets an output.
pub fn blocking_chatty() -> FunctionDefinition {
    FunctionDefinition::blocking(queue_metadata("blockingchatty"), |mut invocation: Invocation| {
        let msg = fnwire::QueueMessage::from_input(&mut invocation, "msg")?;
        tracing::info!(on = "pool", "blocking {}", msg.text());
        let done: Out<String> = Out::bind(&invocation, "done");
        done.set(msg.text().to_uppercase());
        finish(invocation, None)
    })
}

/// `blockingpanic`: a blocking handler that panics.
pub fn blocking_panic() -> FunctionDefinition {
    FunctionDefinition::blocking(http_metadata("blockingpanic"), |_invocation: Invocation| {
        if std::hint::black_box(true) {
            panic!("pool kaboom");
        }
        returned("unreachable")
    })
}

/// `gate`: a blocking handler that reports `started:<id>` on `events`, then blocks its thread
/// until the test sends on `release`, then answers `released`.
pub fn gate(
    events: tokio::sync::mpsc::UnboundedSender<String>,
    release: std::sync::mpsc::Receiver<()>,
) -> FunctionDefinition {
    let release = std::sync::Mutex::new(release);
    FunctionDefinition::blocking(http_metadata("gate"), move |invocation: Invocation| {
        let _ = events.send(format!("started:{}", invocation.invocation_id()));
        let _ = release.lock().unwrap().recv();
        let _ = events.send(format!("released:{}", invocation.invocation_id()));
        returned("released")
    })
}

/// `blockingslow`: a blocking handler that answers after a short sleep.
pub fn blocking_slow() -> FunctionDefinition {
    FunctionDefinition::blocking(http_metadata("blockingslow"), |_invocation: Invocation| {
        std::thread::sleep(Duration::from_millis(300));
        returned("slept")
    })
}

/// `crunch`: an async function that computes (here: blocks its thread) for 100 ms before it
/// answers, without ever waiting.
pub fn crunch() -> FunctionDefinition {
    FunctionDefinition::new(http_metadata("crunch"), |_invocation: Invocation| async move {
        std::thread::sleep(Duration::from_millis(100));
        returned("crunched")
    })
}
