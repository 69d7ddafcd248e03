//! The scenarios written in Rust (lifecycle, indexing, load, concurrency, cancellation, status,
//! robustness, environment reload, shutdown) and the runner of invocation cases.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fnwire_host::channel::{Expect, capability, status_name};
use fnwire_host::http::request::HttpCapabilities;
use fnwire_protocol::rpc::streaming_message::Content;
use fnwire_protocol::rpc::{
    FileChangeEventRequest, FunctionLoadRequestCollection, InvocationCancel, InvocationRequest,
    ParameterBinding, TypedData, WorkerActionResponse, WorkerHeartbeat, WorkerStatusRequest, WorkerTerminate,
    file_change_event_request, parameter_binding, status_result, typed_data, worker_action_response,
};

use crate::cases::{BodySpec, Case, Expectation, HttpExpectation, RequestSpec};
use crate::context::{self, Ctx, LAUNCH_ONLY_VARIABLE, RELOADED_VALUE, RELOADED_VARIABLE};
use crate::indexing;
use crate::report::Outcome;
use crate::scenarios::{self, Builtin};
use crate::session::Worker;

const SLEEP_COUNT: usize = 64;
const SLEEP_MS: u64 = 1000;
/// "About the time of one": generous, so a loaded machine does not fail a concurrent worker,
/// while a worker that runs the sleeps one after another (64 s) fails clearly.
const CONCURRENCY_LIMIT_FACTOR: u32 = 10;
const CANCEL_SLEEP_MS: u64 = 30_000;
const CANCEL_DELAY: Duration = Duration::from_millis(300);
const CANCEL_PROMPT: Duration = Duration::from_secs(5);
const TERMINATE_GRACE: Duration = Duration::from_secs(5);
/// Slack on top of the grace period for the OS to report the exit.
const EXIT_SLACK: Duration = Duration::from_secs(2);
const STREAM_CLOSE_EXIT: Duration = Duration::from_secs(10);

/// Hosts treat any non-empty value as declaring a capability.
fn declared(caps: &HashMap<String, String>, name: &str) -> bool {
    caps.get(name).is_some_and(|v| !v.is_empty())
}

fn fail(message: impl Into<String>) -> Outcome {
    Outcome::Fail(message.into())
}

macro_rules! ok_or_fail {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Outcome::Fail(e.to_string()),
        }
    };
}

pub async fn run(ctx: &mut Ctx, which: Builtin) -> Outcome {
    match which {
        Builtin::StartStream => start_stream(ctx).await,
        Builtin::Init => init(ctx).await,
        Builtin::FunctionList => function_list(ctx).await,
        Builtin::RawBindings => raw_bindings(ctx).await,
        Builtin::ReturnBinding => return_binding(ctx).await,
        Builtin::FunctionIds => function_ids(ctx).await,
        Builtin::DeterministicIds => deterministic_ids(ctx).await,
        Builtin::LoadSingle => load_single(ctx).await,
        Builtin::LoadCollection => load_collection(ctx).await,
        Builtin::Concurrency => concurrency(ctx).await,
        Builtin::Cancel => cancel(ctx).await,
        Builtin::Status => status(ctx).await,
        Builtin::UnknownFunction => unknown_function(ctx).await,
        Builtin::MalformedInput => malformed_input(ctx).await,
        Builtin::UnusedMessages => unused_messages(ctx).await,
        Builtin::EnvReloadApplies => env_reload(ctx, RELOADED_VARIABLE, Some(RELOADED_VALUE)).await,
        Builtin::EnvReloadReplaces => env_reload(ctx, LAUNCH_ONLY_VARIABLE, None).await,
        Builtin::Terminate => terminate(ctx).await,
        Builtin::StreamClose => stream_closed(ctx).await,
    }
}

async fn start_stream(ctx: &mut Ctx) -> Outcome {
    let startup = ctx.timeouts().startup;
    match ctx.main_start().await {
        Ok(worker) => Outcome::Pass(format!(
            "StartStream with worker id {} was the first message (pid {})",
            worker.channel.worker_id(),
            worker.process.pid().map(|p| p.to_string()).unwrap_or_default()
        )),
        Err(failure) if failure.connected => Outcome::Pass(format!(
            "StartStream with the worker id arrived first; the start failed later (see lifecycle.init): {failure}"
        )),
        Err(failure) => fail(format!(
            "expected the worker to connect and send StartStream with its --functions-worker-id as the first \
             message within {startup:?}; {failure}"
        )),
    }
}

async fn init(ctx: &mut Ctx) -> Outcome {
    let worker = match ctx.main_start().await {
        Ok(w) => w,
        Err(failure) if failure.connected => {
            return fail(format!("expected WorkerInitResponse with result Success; {failure}"));
        }
        Err(failure) => return fail(format!("not run: the worker never connected ({failure})")),
    };
    let init = &worker.init;
    let mut problems = Vec::new();
    if init.capabilities.is_empty() {
        problems.push("expected at least one capability, received none".to_string());
    }
    for (name, value) in &init.capabilities {
        if value.eq_ignore_ascii_case("false") {
            problems.push(format!(
                "capability {name} has the value {value:?}: hosts treat any non-empty value as declared; leave \
                 the capability out instead"
            ));
        }
    }
    let metadata = init.worker_metadata.clone().unwrap_or_default();
    if init.worker_metadata.is_none() {
        problems.push("expected worker_metadata, received none".into());
    } else {
        if metadata.runtime_name.is_empty() {
            problems.push("expected worker_metadata.runtime_name, received an empty string".into());
        }
        if metadata.runtime_version.is_empty() {
            problems.push("expected worker_metadata.runtime_version, received an empty string".into());
        }
    }
    let version =
        if metadata.worker_version.is_empty() { &init.worker_version } else { &metadata.worker_version };
    if version.is_empty() {
        problems.push("expected a worker version (worker_metadata.worker_version), received none".into());
    }
    if !problems.is_empty() {
        return fail(problems.join("; "));
    }
    let mut caps: Vec<&String> = init.capabilities.keys().collect();
    caps.sort();
    let caps: Vec<&str> = caps.into_iter().map(String::as_str).collect();
    Outcome::Pass(format!(
        "{} {} (worker {version}); capabilities: {}",
        metadata.runtime_name,
        metadata.runtime_version,
        caps.join(", ")
    ))
}

fn contract() -> Vec<indexing::ContractFunction> {
    indexing::load_contract(scenarios::contract_text()).unwrap_or_default()
}

async fn function_list(ctx: &mut Ctx) -> Outcome {
    let index = ok_or_fail!(ctx.main_index().await);
    let contract = contract();
    let want: BTreeSet<&str> = contract.iter().map(|f| f.name.as_str()).collect();
    let results = &index.response.function_metadata_results;
    let got: Vec<&str> = results.iter().map(|f| f.name.as_str()).collect();
    let got_set: BTreeSet<&str> = got.iter().copied().collect();
    let mut problems = Vec::new();
    let missing: Vec<&&str> = want.difference(&got_set).collect();
    let extra: Vec<&&str> = got_set.difference(&want).collect();
    if !missing.is_empty() {
        problems.push(format!("expected the contract functions, missing: {missing:?}"));
    }
    if !extra.is_empty() {
        problems.push(format!("expected only the contract functions, received others too: {extra:?}"));
    }
    if got.len() != got_set.len() {
        problems.push(format!("expected each function once, received duplicates in {got:?}"));
    }
    for f in results.iter().filter(|f| f.retry_options.is_some()) {
        problems.push(format!("expected no retry_options, received some on `{}`", f.name));
    }
    if problems.is_empty() {
        Outcome::Pass(format!("{} functions, as the contract lists", got.len()))
    } else {
        fail(problems.join("; "))
    }
}

async fn raw_bindings(ctx: &mut Ctx) -> Outcome {
    let index = ok_or_fail!(ctx.main_index().await);
    let mut problems = Vec::new();
    let mut checked = 0;
    for function in contract() {
        let Some(rpc) = index.response.function_metadata_results.iter().find(|f| f.name == function.name)
        else {
            problems.push(format!("`{}`: not indexed (see indexing.function_list)", function.name));
            continue;
        };
        checked += 1;
        for p in indexing::compare_function(&function, rpc) {
            problems.push(format!("`{}`: {p}", function.name));
        }
    }
    if problems.is_empty() {
        Outcome::Pass(format!("the raw_bindings of all {checked} functions match"))
    } else {
        fail(problems.join("; "))
    }
}

async fn return_binding(ctx: &mut Ctx) -> Outcome {
    let index = ok_or_fail!(ctx.main_index().await);
    let mut problems = Vec::new();
    let mut with_return = 0;
    for function in contract() {
        let Some(rpc) = index.response.function_metadata_results.iter().find(|f| f.name == function.name)
        else {
            continue;
        };
        let parsed = match indexing::parse_raw_bindings(rpc) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("`{}`: {}", function.name, e.join("; ")));
                continue;
            }
        };
        let expected = function.bindings.contains_key("$return");
        match (expected, parsed.get("$return")) {
            (true, None) => problems.push(format!(
                "`{}`: expected an output binding named `$return`, received bindings {:?}",
                function.name,
                parsed.keys().collect::<Vec<_>>()
            )),
            (true, Some(b)) => {
                with_return += 1;
                let direction = b.get("direction").and_then(|d| d.as_str()).unwrap_or_default();
                if !direction.eq_ignore_ascii_case("out") {
                    problems.push(format!(
                        "`{}`: expected `$return` with direction out, received {direction:?}",
                        function.name
                    ));
                }
            }
            (false, Some(_)) => {
                problems.push(format!("`{}`: expected no `$return` binding, received one", function.name))
            }
            (false, None) => {}
        }
    }
    if problems.is_empty() {
        Outcome::Pass(format!("{with_return} functions index `$return` as an output"))
    } else {
        fail(problems.join("; "))
    }
}

async fn function_ids(ctx: &mut Ctx) -> Outcome {
    let index = ok_or_fail!(ctx.main_index().await);
    let mut problems = Vec::new();
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for f in &index.response.function_metadata_results {
        if f.function_id.is_empty() {
            problems.push(format!("`{}`: expected a non-empty function_id, received \"\"", f.name));
        } else if let Some(other) = seen.insert(&f.function_id, &f.name) {
            problems.push(format!("`{}` and `{other}` share the function_id {}", f.name, f.function_id));
        }
    }
    if problems.is_empty() {
        Outcome::Pass(format!("{} distinct, non-empty ids", seen.len()))
    } else {
        fail(problems.join("; "))
    }
}

async fn deterministic_ids(ctx: &mut Ctx) -> Outcome {
    let first = ok_or_fail!(ctx.main_index().await);
    let (_, second) = ok_or_fail!(ctx.second().await);
    let mut problems = Vec::new();
    for (name, id) in &first.ids {
        match second.ids.get(name) {
            Some(other) if other == id => {}
            Some(other) => {
                problems.push(format!("`{name}`: the first process indexed id {id}, the second {other}"))
            }
            None => problems.push(format!("`{name}`: indexed by the first process, missing in the second")),
        }
    }
    for name in second.ids.keys().filter(|n| !first.ids.contains_key(*n)) {
        problems.push(format!("`{name}`: indexed by the second process only"));
    }
    if problems.is_empty() {
        Outcome::Pass(format!("two processes indexed the same {} ids", first.ids.len()))
    } else {
        fail(format!("expected the same function ids from every worker process; {}", problems.join("; ")))
    }
}

async fn load_single(ctx: &mut Ctx) -> Outcome {
    let index = ok_or_fail!(ctx.main_index().await);
    let worker = ok_or_fail!(ctx.main_worker().await);
    let requests = context::load_requests(&index);
    let count = requests.len();
    let replies = requests.into_iter().map(|request| {
        let name = request.metadata.as_ref().map(|m| m.name.clone()).unwrap_or_default();
        let function_id = request.function_id.clone();
        let worker = worker.clone();
        async move {
            let expect = Expect::FunctionLoadResponse { function_id: function_id.clone() };
            let reply = worker.request(Content::FunctionLoadRequest(request), expect).await;
            (name, function_id, reply)
        }
    });
    let mut problems = Vec::new();
    let mut loaded = HashMap::new();
    for (name, id, reply) in futures::future::join_all(replies).await {
        let state = match reply {
            Err(e) => Err(format!("`{name}`: {e}")),
            Ok(msg) => match msg.content {
                Some(Content::FunctionLoadResponse(r)) => match &r.result {
                    Some(s) if s.status == status_result::Status::Success as i32 => Ok(id.clone()),
                    other => Err(format!(
                        "`{name}`: expected FunctionLoadResponse with Success, received {}",
                        other
                            .as_ref()
                            .map(|s| format!(
                                "{}{}",
                                status_name(s.status),
                                s.exception.as_ref().map(|e| format!(": {}", e.message)).unwrap_or_default()
                            ))
                            .unwrap_or_else(|| "no result".into())
                    )),
                },
                _ => Err(format!("`{name}`: expected FunctionLoadResponse")),
            },
        };
        if let Err(e) = &state {
            problems.push(e.clone());
        }
        loaded.insert(name, state);
    }
    ctx.set_main_loaded(loaded);
    if problems.is_empty() {
        Outcome::Pass(format!("{count} functions loaded one by one"))
    } else {
        fail(problems.join("; "))
    }
}

async fn load_collection(ctx: &mut Ctx) -> Outcome {
    let (_, caps) = ok_or_fail!(ctx.main_caps().await);
    if !declared(&caps, capability::SUPPORTS_LOAD_RESPONSE_COLLECTION) {
        return Outcome::Skip("the worker does not declare SupportsLoadResponseCollection".into());
    }
    let (worker, index) = ok_or_fail!(ctx.second().await);
    let requests = context::load_requests(&index);
    let count = requests.len();
    let reply = ok_or_fail!(
        worker
            .request(
                Content::FunctionLoadRequestCollection(FunctionLoadRequestCollection {
                    function_load_requests: requests
                }),
                Expect::FunctionLoadResponseCollection,
            )
            .await
    );
    let Some(Content::FunctionLoadResponseCollection(collection)) = reply.content else {
        return fail("expected FunctionLoadResponseCollection");
    };
    let mut problems = Vec::new();
    for (name, id) in &index.ids {
        match collection.function_load_responses.iter().find(|r| &r.function_id == id) {
            None => {
                problems.push(format!("`{name}`: expected a response for function_id {id}, received none"))
            }
            Some(r)
                if r.result.as_ref().is_some_and(|s| s.status == status_result::Status::Success as i32) => {}
            Some(r) => problems.push(format!(
                "`{name}`: expected Success, received {}",
                r.result.as_ref().map(|s| status_name(s.status)).unwrap_or("no result")
            )),
        }
    }
    if problems.is_empty() {
        Outcome::Pass(format!("one collection loaded {count} functions"))
    } else {
        fail(problems.join("; "))
    }
}

/// Main worker, its HTTP capabilities and the id of a loaded function.
async fn loaded_function(
    ctx: &mut Ctx,
    name: &str,
) -> Result<(Arc<Worker>, HttpCapabilities, String), String> {
    let loaded = ctx.main_loaded().await?;
    let id = match loaded.get(name) {
        Some(Ok(id)) => id.clone(),
        Some(Err(e)) => return Err(format!("not run: `{name}` could not be loaded: {e}")),
        None => return Err(format!("not run: `{name}` was not indexed (see indexing.function_list)")),
    };
    let worker = ctx.main_worker().await?;
    let (caps, _) = ctx.main_caps().await?;
    Ok((worker, caps, id))
}

fn new_invocation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A GET request case for an HTTP function (used by the Rust scenarios).
fn get_case(function: &str, path: &str, query: Option<&str>) -> Case {
    Case {
        name: "internal".into(),
        description: String::new(),
        function: function.into(),
        request: RequestSpec {
            method: Some("GET".into()),
            path: Some(path.into()),
            query: query.map(str::to_string),
            params: BTreeMap::new(),
            headers: BTreeMap::new(),
            body: BodySpec::default(),
            inputs: Vec::new(),
            trigger_metadata: BTreeMap::new(),
        },
        expect: Expectation::default(),
    }
}

fn http_expect(status: u16, body: &str) -> Expectation {
    Expectation {
        http: Some(HttpExpectation {
            status: Some(status),
            body: BodySpec { body: Some(body.into()), ..Default::default() },
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub async fn run_case(ctx: &mut Ctx, case: &Case) -> Outcome {
    let (worker, caps, function_id) = ok_or_fail!(loaded_function(ctx, &case.function).await);
    let invocation_id = new_invocation_id();
    let request = ok_or_fail!(
        case.build_request(&invocation_id, &function_id, caps)
            .map_err(|e| format!("the scenario file is not valid: {e}"))
    );
    let invoked = ok_or_fail!(worker.invoke(&case.function, request).await);
    match case.check(&invocation_id, &invoked) {
        Ok(detail) => Outcome::Pass(detail),
        Err(problems) => fail(problems),
    }
}

/// Checks that the worker still answers http_text after something unusual.
async fn still_serving(ctx: &mut Ctx) -> Result<(), String> {
    let (worker, caps, id) = loaded_function(ctx, "http_text").await?;
    let case = get_case("http_text", "text", None);
    let invocation_id = new_invocation_id();
    let request = case.build_request(&invocation_id, &id, caps)?;
    let invoked =
        worker.invoke("http_text", request).await.map_err(|e| format!("afterwards, http_text: {e}"))?;
    let expect = Case { expect: http_expect(200, "Grüße, Welt! ☃ 日本語 🚀"), ..case };
    expect
        .check(&invocation_id, &invoked)
        .map(|_| ())
        .map_err(|e| format!("afterwards, http_text failed: {e}"))
}

async fn concurrency(ctx: &mut Ctx) -> Outcome {
    let (worker, caps, id) = ok_or_fail!(loaded_function(ctx, "http_sleep").await);
    let query = format!("ms={SLEEP_MS}");
    let case = Case {
        expect: http_expect(200, &format!("slept {SLEEP_MS}")),
        ..get_case("http_sleep", "sleep", Some(&query))
    };
    let mut requests = Vec::new();
    for _ in 0..SLEEP_COUNT {
        let invocation_id = new_invocation_id();
        let request = ok_or_fail!(case.build_request(&invocation_id, &id, caps));
        requests.push((invocation_id, request));
    }
    // Long enough for a worker that runs the sleeps one after another to finish them all, so
    // the failure says "too slow" rather than "no response".
    let each = ctx.timeouts().request + Duration::from_millis(SLEEP_MS) * SLEEP_COUNT as u32;
    let started = Instant::now();
    let replies = futures::future::join_all(requests.into_iter().map(|(invocation_id, request)| {
        let worker = worker.clone();
        async move { (invocation_id, worker.invoke_within("http_sleep", request, each).await) }
    }))
    .await;
    let total = started.elapsed();
    let mut problems = Vec::new();
    for (invocation_id, reply) in &replies {
        let checked =
            reply.as_ref().map_err(Clone::clone).and_then(|invoked| case.check(invocation_id, invoked));
        if let Err(e) = checked {
            problems.push(e);
        }
    }
    let one = Duration::from_millis(SLEEP_MS);
    let limit = one * CONCURRENCY_LIMIT_FACTOR;
    let measured =
        format!("{SLEEP_COUNT} concurrent sleeps of {SLEEP_MS} ms took {:.2} s", total.as_secs_f64());
    if !problems.is_empty() {
        problems.dedup();
        return fail(format!(
            "{} of {SLEEP_COUNT} invocations failed ({measured}): {}",
            problems.len(),
            problems[0]
        ));
    }
    if total >= limit {
        return fail(format!(
            "expected {SLEEP_COUNT} concurrent sleeps of {SLEEP_MS} ms to take about the time of one (less than \
             {:.0} s); {measured}: the worker runs invocations one after another or blocks while sleeping",
            limit.as_secs_f64()
        ));
    }
    Outcome::Pass(format!("{measured} (limit {:.0} s)", limit.as_secs_f64()))
}

async fn cancel(ctx: &mut Ctx) -> Outcome {
    let (_, all_caps) = ok_or_fail!(ctx.main_caps().await);
    if !declared(&all_caps, capability::HANDLES_INVOCATION_CANCEL_MESSAGE) {
        return Outcome::Skip("the worker does not declare HandlesInvocationCancelMessage".into());
    }
    let (worker, caps, id) = ok_or_fail!(loaded_function(ctx, "http_sleep").await);
    let query = format!("ms={CANCEL_SLEEP_MS}");
    let case = get_case("http_sleep", "sleep", Some(&query));
    let invocation_id = new_invocation_id();
    let request = ok_or_fail!(case.build_request(&invocation_id, &id, caps));
    let invoking = {
        let worker = worker.clone();
        tokio::spawn(async move { worker.invoke("http_sleep", request).await })
    };
    tokio::time::sleep(CANCEL_DELAY).await;
    if invoking.is_finished() {
        let early = invoking.await.map_err(|e| e.to_string()).and_then(|r| r);
        return fail(format!(
            "expected http_sleep with ms={CANCEL_SLEEP_MS} to be in flight when the cancel is sent; it had already \
             finished: {}",
            match early {
                Ok(i) => describe_status(&i.response),
                Err(e) => e,
            }
        ));
    }
    let cancelled_at = Instant::now();
    let sent = worker.channel.send(Content::InvocationCancel(InvocationCancel {
        invocation_id: invocation_id.clone(),
        grace_period: Some(prost_types::Duration { seconds: 5, nanos: 0 }),
    }));
    ok_or_fail!(sent.map_err(|e| format!("could not send InvocationCancel: {e}")));
    let invoked = match tokio::time::timeout(CANCEL_PROMPT, invoking).await {
        Err(_) => {
            return fail(format!(
                "expected the InvocationResponse with result.status Cancelled within {CANCEL_PROMPT:?} of the \
                 InvocationCancel; none arrived (the sleep was {CANCEL_SLEEP_MS} ms)"
            ));
        }
        Ok(joined) => ok_or_fail!(joined.map_err(|e| e.to_string()).and_then(|r| r)),
    };
    let after = cancelled_at.elapsed();
    let status = invoked.response.result.as_ref().map(|r| r.status);
    if status != Some(status_result::Status::Cancelled as i32) {
        return fail(format!(
            "expected result.status Cancelled after the InvocationCancel, received {} ({} ms after the cancel)",
            describe_status(&invoked.response),
            after.as_millis()
        ));
    }
    Outcome::Pass(format!("answered Cancelled {} ms after the InvocationCancel", after.as_millis()))
}

fn describe_status(response: &fnwire_protocol::rpc::InvocationResponse) -> String {
    match &response.result {
        None => "no result".into(),
        Some(r) => format!(
            "{}{}",
            status_name(r.status),
            r.exception.as_ref().map(|e| format!(" ({})", e.message)).unwrap_or_default()
        ),
    }
}

async fn status(ctx: &mut Ctx) -> Outcome {
    let (_, caps) = ok_or_fail!(ctx.main_caps().await);
    if !declared(&caps, capability::WORKER_STATUS) {
        return Outcome::Skip("the worker does not declare WorkerStatus (hosts then never ask)".into());
    }
    let worker = ok_or_fail!(ctx.main_worker().await);
    let request_id = uuid::Uuid::new_v4().to_string();
    let started = Instant::now();
    let expect = Expect::WorkerStatusResponse { request_id: request_id.clone() };
    let reply = worker
        .request_with_id(request_id.clone(), Content::WorkerStatusRequest(WorkerStatusRequest {}), expect)
        .await;
    match reply {
        Ok(_) => Outcome::Pass(format!("request_id echoed after {} ms", started.elapsed().as_millis())),
        Err(e) => fail(format!("(WorkerStatusResponse must echo request_id `{request_id}`) {e}")),
    }
}

async fn unknown_function(ctx: &mut Ctx) -> Outcome {
    let (worker, caps, _) = ok_or_fail!(loaded_function(ctx, "http_text").await);
    let unknown_id = uuid::Uuid::new_v4().to_string();
    let invocation_id = new_invocation_id();
    let request =
        ok_or_fail!(get_case("http_text", "text", None).build_request(&invocation_id, &unknown_id, caps));
    let invoked = ok_or_fail!(worker.invoke("unknown", request).await);
    let status = invoked.response.result.as_ref().map(|r| r.status);
    if status == Some(status_result::Status::Success as i32) {
        return fail(format!(
            "expected result.status Failure for function_id {unknown_id}, which the worker never indexed; \
             received Success"
        ));
    }
    ok_or_fail!(still_serving(ctx).await);
    Outcome::Pass(format!("answered {}; the worker still serves", describe_status(&invoked.response)))
}

async fn malformed_input(ctx: &mut Ctx) -> Outcome {
    let mut answers = Vec::new();
    let inputs = [
        ("http_echo", "req", typed_data::Data::Int(42), "an int as http_echo's HTTP request"),
        (
            "timer_tick",
            "timer",
            typed_data::Data::Json("{not json".into()),
            "`{not json` as timer_tick's timer",
        ),
    ];
    for (function, binding, data, what) in inputs {
        let (worker, _, id) = ok_or_fail!(loaded_function(ctx, function).await);
        let invocation_id = new_invocation_id();
        let request = InvocationRequest {
            invocation_id: invocation_id.clone(),
            function_id: id,
            input_data: vec![ParameterBinding {
                name: binding.into(),
                rpc_data: Some(parameter_binding::RpcData::Data(TypedData { data: Some(data) })),
            }],
            ..Default::default()
        };
        let invoked = ok_or_fail!(worker.invoke(function, request).await.map_err(|e| format!("{what}: {e}")));
        let status = invoked.response.result.as_ref().map(|r| r.status);
        if status == Some(status_result::Status::Success as i32) {
            return fail(format!("{what}: expected result.status Failure, received Success"));
        }
        answers.push(format!("{what}: {}", describe_status(&invoked.response)));
    }
    ok_or_fail!(still_serving(ctx).await);
    Outcome::Pass(format!("{}; the worker still serves", answers.join("; ")))
}

async fn unused_messages(ctx: &mut Ctx) -> Outcome {
    let worker = ok_or_fail!(ctx.main_worker().await);
    let messages = [
        Content::WorkerHeartbeat(WorkerHeartbeat {}),
        Content::FileChangeEventRequest(FileChangeEventRequest {
            r#type: file_change_event_request::Type::Changed as i32,
            full_path: ctx.launch().app_dir.join("host.json").display().to_string(),
            name: "host.json".into(),
        }),
        Content::WorkerActionResponse(WorkerActionResponse {
            action: worker_action_response::Action::Restart as i32,
            reason: "sent by fnwire-conformance; workers ignore it".into(),
        }),
    ];
    for content in messages {
        let sent = worker.channel.send(content);
        ok_or_fail!(sent.map_err(|e| format!("could not send: {e}")));
    }
    ok_or_fail!(still_serving(ctx).await);
    Outcome::Pass("ignored WorkerHeartbeat, FileChangeEventRequest and WorkerActionResponse".into())
}

async fn env_reload(ctx: &mut Ctx, variable: &str, expected: Option<&str>) -> Outcome {
    let (worker, caps, loaded) = ok_or_fail!(ctx.reloaded().await);
    let id = match loaded.get("http_env") {
        Some(Ok(id)) => id.clone(),
        Some(Err(e)) => return fail(format!("after the reload, http_env could not be loaded: {e}")),
        None => return fail("after the reload, http_env was not indexed"),
    };
    let query = format!("name={variable}");
    let value = match expected {
        Some(v) => serde_json::Value::String(v.into()),
        None => serde_json::Value::Null,
    };
    let body = serde_json::json!({ "name": variable, "value": value }).to_string();
    let case = Case {
        expect: Expectation {
            http: Some(HttpExpectation { status: Some(200), body_json: Some(body), ..Default::default() }),
            ..Default::default()
        },
        ..get_case("http_env", "env", Some(&query))
    };
    let invocation_id = new_invocation_id();
    let request = ok_or_fail!(case.build_request(&invocation_id, &id, caps));
    let invoked = ok_or_fail!(worker.invoke("http_env", request).await);
    match case.check(&invocation_id, &invoked) {
        Ok(_) => Outcome::Pass(match expected {
            Some(v) => format!("{variable} = {v:?} after the reload"),
            None => format!("{variable} (set only at launch) is gone after the reload"),
        }),
        Err(e) => fail(format!("after FunctionEnvironmentReloadRequest, http_env?name={variable}: {e}")),
    }
}

async fn terminate(ctx: &mut Ctx) -> Outcome {
    let (_, caps) = ok_or_fail!(ctx.main_caps().await);
    if !declared(&caps, capability::HANDLES_WORKER_TERMINATE_MESSAGE) {
        return Outcome::Skip(
            "the worker does not declare HandlesWorkerTerminateMessage (hosts kill it instead)".into(),
        );
    }
    // The second worker process is otherwise idle; start it if no earlier scenario did.
    let _ = ok_or_fail!(ctx.second().await);
    if !ctx.second_has(capability::HANDLES_WORKER_TERMINATE_MESSAGE) {
        return fail(
            "the second worker process did not declare HandlesWorkerTerminateMessage, the first did",
        );
    }
    let worker = ctx.forget_second().expect("started above");
    let grace = prost_types::Duration { seconds: TERMINATE_GRACE.as_secs() as i64, nanos: 0 };
    ok_or_fail!(
        worker
            .channel
            .send(Content::WorkerTerminate(WorkerTerminate { grace_period: Some(grace) }))
            .map_err(|e| format!("could not send WorkerTerminate: {e}"))
    );
    let sent = Instant::now();
    let status = worker.process.wait_timeout(TERMINATE_GRACE + EXIT_SLACK).await;
    let after = sent.elapsed();
    let outcome = match status {
        None => fail(format!(
            "expected the process to exit within the {TERMINATE_GRACE:?} grace period after WorkerTerminate; it \
             was still running after {:?}",
            TERMINATE_GRACE + EXIT_SLACK
        )),
        Some(s) if s.code() == Some(0) && after <= TERMINATE_GRACE + EXIT_SLACK => {
            Outcome::Pass(format!("exited with code 0, {} ms after WorkerTerminate", after.as_millis()))
        }
        Some(s) => fail(format!("expected exit code 0 after WorkerTerminate, received {s}")),
    };
    context::stop(worker).await;
    outcome
}

async fn stream_closed(ctx: &mut Ctx) -> Outcome {
    // Reuse the placeholder-mode worker if it exists, else start one for this.
    let worker = match ctx.take_reload_worker() {
        Some(w) if w.is_alive() => w,
        other => {
            if let Some(w) = other {
                context::stop(w).await;
            }
            Arc::new(ok_or_fail!(ctx.throwaway_worker("stream-close").await))
        }
    };
    worker.channel.close_stream();
    let closed_at = Instant::now();
    let outcome = match worker.process.wait_timeout(STREAM_CLOSE_EXIT).await {
        Some(status) => Outcome::Pass(format!(
            "exited ({status}) {} ms after the host ended the stream",
            closed_at.elapsed().as_millis()
        )),
        None => fail(format!(
            "expected the worker process to exit after the host ended the stream; it was still running after \
             {STREAM_CLOSE_EXIT:?}"
        )),
    };
    context::stop(worker).await;
    outcome
}

/// For `list`: the request a case sends, in one line.
pub fn describe_case_request(case: &Case) -> String {
    let r = &case.request;
    match &r.method {
        Some(m) => format!(
            "{m} /api/{}{}",
            r.path.as_deref().unwrap_or_default(),
            r.query.as_deref().map(|q| format!("?{q}")).unwrap_or_default()
        ),
        None => format!("inputs {:?}", r.inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>()),
    }
}
