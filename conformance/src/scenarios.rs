//! The list of scenarios: lifecycle scenarios written in Rust (`builtin`), and the invocation
//! cases of `scenarios/invocations/*.toml`, in the order they run.

use std::sync::Arc;

use crate::cases::{self, Case};

/// A scenario written in Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    StartStream,
    Init,
    FunctionList,
    RawBindings,
    ReturnBinding,
    FunctionIds,
    DeterministicIds,
    LoadSingle,
    LoadCollection,
    Concurrency,
    Cancel,
    Status,
    UnknownFunction,
    MalformedInput,
    UnusedMessages,
    EnvReloadApplies,
    EnvReloadReplaces,
    Terminate,
    StreamClose,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Builtin(Builtin),
    Case(Arc<Case>),
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub area: String,
    pub description: String,
    pub kind: Kind,
}

fn builtin(name: &str, area: &str, kind: Builtin, description: &str) -> Scenario {
    Scenario {
        name: name.to_string(),
        area: area.to_string(),
        description: description.split_whitespace().collect::<Vec<_>>().join(" "),
        kind: Kind::Builtin(kind),
    }
}

fn before_invocations() -> Vec<Scenario> {
    use Builtin::*;
    vec![
        builtin("lifecycle.start_stream", "lifecycle", StartStream, "
            The runner starts the worker with the standard command line (--host/--port/--workerId/--requestId and
            the --functions-* forms) and environment, exactly as `fnwire start` does. The worker must connect to
            the runner's FunctionRpc server, open one EventStream, and send StartStream carrying the worker id it
            was given as its first message."),
        builtin("lifecycle.init", "lifecycle", Init, "
            WorkerInitRequest is answered with WorkerInitResponse: result Success, at least one capability
            (none with the value \"false\": hosts treat any non-empty value as declared), and worker metadata with
            runtime_name, runtime_version and a worker version."),
        builtin("indexing.function_list", "indexing", FunctionList, "
            FunctionsMetadataRequest is answered with Success and exactly the 16 functions of CONTRACT.md §2 (none
            missing, no others, no duplicates, none with retry_options). A worker that answers
            use_default_metadata_indexing true (a function.json app) is indexed from its function.json files, as a
            host does."),
        builtin("indexing.raw_bindings", "indexing", RawBindings, "
            Every function's raw_bindings match the binding objects of scenarios/functions.toml under the
            comparison rules of CONTRACT.md §1.2: the same binding names; every listed key present with an equal
            value (direction, authLevel, dataType and methods ignore case; methods compare as a set); no other
            keys except `properties`."),
        builtin("indexing.return_binding", "indexing", ReturnBinding, "
            Every function whose contract lists a `$return` binding (all HTTP functions and queue_return) indexes
            it as an output binding named exactly `$return`; the others have none."),
        builtin("indexing.function_ids", "indexing", FunctionIds, "
            Every function_id is non-empty and unique within the app."),
        builtin("indexing.deterministic_ids", "indexing", DeterministicIds, "
            A second worker process indexing the same app returns the same function_id for every function (a
            host may run several worker processes and routes invocations by id)."),
        builtin("load.single", "load", LoadSingle, "
            One FunctionLoadRequest per indexed function (with the metadata a host sends) is answered by a
            FunctionLoadResponse with the same function_id and result Success."),
        builtin("load.collection", "load", LoadCollection, "
            If the worker declares SupportsLoadResponseCollection: one FunctionLoadRequestCollection with every
            function is answered by one FunctionLoadResponseCollection holding a Success response for each
            function_id. Skipped when the capability is absent (hosts then send single loads)."),
    ]
}

fn after_invocations() -> Vec<Scenario> {
    use Builtin::*;
    vec![
        builtin("concurrency.sleep_64", "concurrency", Concurrency, "
            64 invocations of http_sleep with ms=1000 sent at once all succeed, and together take about the time
            of one: the run fails if they take 10 s or more (10 × one sleep). The measured time is reported."),
        builtin("cancel.in_flight", "cancel", Cancel, "
            If the worker declares HandlesInvocationCancelMessage: an InvocationCancel for an in-flight
            http_sleep with ms=30000 makes the worker answer that invocation promptly (within 5 s of the cancel)
            with result.status Cancelled. Skipped when the capability is absent."),
        builtin("status.echo_request_id", "status", Status, "
            If the worker declares WorkerStatus: a WorkerStatusRequest with a fresh request_id is answered by a
            WorkerStatusResponse carrying the same request_id (hosts match status replies by it). Skipped when
            the capability is absent (hosts then never send it)."),
        builtin("robustness.unknown_function_id", "robustness", UnknownFunction, "
            An InvocationRequest for a function id the worker never indexed is answered with result.status
            Failure and the same invocation_id; afterwards the worker still serves http_text."),
        builtin("robustness.malformed_input", "robustness", MalformedInput, "
            Inputs whose TypedData does not fit the binding (an int where http_echo's HTTP request belongs, and
            text that is not JSON as timer_tick's timer) are each answered with result.status Failure; afterwards
            the worker still serves http_text."),
        builtin("robustness.unused_messages", "robustness", UnusedMessages, "
            Messages the protocol defines but hosts never send (WorkerHeartbeat, FileChangeEventRequest,
            WorkerActionResponse) are ignored: the worker neither crashes nor closes the stream, and
            still serves http_text."),
        builtin("env.reload_applies_variables", "environment", EnvReloadApplies, "
            Placeholder mode: a new worker is started and initialized for an empty placeholder app directory,
            then gets FunctionEnvironmentReloadRequest with the real app directory and an environment holding a
            new variable. It answers Success, indexes and loads the app, and http_env reports the new
            variable's value."),
        builtin("env.reload_replaces_environment", "environment", EnvReloadReplaces, "
            After the reload of env.reload_applies_variables, a variable that was set when the worker started
            but is not part of the reloaded environment is gone: http_env reports it as null (a reload replaces
            the environment)."),
        builtin("shutdown.worker_terminate", "shutdown", Terminate, "
            If the worker declares HandlesWorkerTerminateMessage: after WorkerTerminate with a 5 s grace period
            the process exits with code 0 within that grace period. Skipped when the capability is absent
            (hosts then kill the process)."),
        builtin("shutdown.stream_closed", "shutdown", StreamClose, "
            When the host ends the stream (without WorkerTerminate), the worker process exits by itself within
            10 s. The exit status is reported."),
    ]
}

/// Every scenario, in run order.
pub fn all() -> Result<Vec<Scenario>, String> {
    let files: Vec<(&str, &str)> = crate::embedded::SCENARIO_FILES
        .iter()
        .filter(|(path, _)| path.starts_with("invocations/"))
        .copied()
        .collect();
    let contract = crate::indexing::load_contract(contract_text())?;
    let mut cases = cases::load(&files)?;
    // Run the cases in the order of CONTRACT.md §2.
    cases.sort_by_key(|c| contract.iter().position(|f| f.name == c.function).unwrap_or(usize::MAX));
    let mut out = before_invocations();
    out.extend(cases.into_iter().map(|case| Scenario {
        name: case.scenario_name(),
        area: "invocation".to_string(),
        description: case.description.split_whitespace().collect::<Vec<_>>().join(" "),
        kind: Kind::Case(Arc::new(case)),
    }));
    out.extend(after_invocations());
    Ok(out)
}

/// `scenarios/functions.toml`.
pub fn contract_text() -> &'static str {
    crate::embedded::SCENARIO_FILES
        .iter()
        .find(|(p, _)| *p == "functions.toml")
        .map(|(_, t)| *t)
        .unwrap_or("")
}

/// Whether a scenario is selected by `--only` (comma-separated patterns; `*` is a wildcard,
/// a pattern without `*` matches as a substring).
pub fn selected(name: &str, only: Option<&str>) -> bool {
    let Some(only) = only else { return true };
    only.split(',').map(str::trim).filter(|p| !p.is_empty()).any(|pattern| {
        if pattern.contains('*') {
            crate::exclusions::glob_match(pattern, name)
        } else {
            name.contains(pattern)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_contract_function_has_cases() {
        let all = all().unwrap();
        let mut names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate scenario names");
        let contract = crate::indexing::load_contract(contract_text()).unwrap();
        for f in contract {
            assert!(
                all.iter().any(|s| matches!(&s.kind, Kind::Case(c) if c.function == f.name)),
                "no invocation case for {}",
                f.name
            );
        }
    }

    #[test]
    fn only_patterns() {
        assert!(selected("http_echo.x", None));
        assert!(selected("http_echo.x", Some("echo")));
        assert!(selected("http_echo.x", Some("lifecycle.*, http_*")));
        assert!(!selected("http_echo.x", Some("lifecycle.*")));
    }
}
