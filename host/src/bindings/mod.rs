//! Non-trigger bindings the host serves itself from embedded storage: blob inputs before an
//! invocation; queue and blob outputs after a successful one. Output types this host cannot
//! serve are reported once per function at start-up, never dropped silently.

pub mod expressions;
pub mod outputs;
pub mod service_bus;
pub mod table;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use fnwire_metadata::{DataType, Direction, FunctionMetadata};
use fnwire_protocol::rpc::{
    InvocationRequest, InvocationResponse, ParameterBinding, TypedData, parameter_binding, typed_data,
};
use fnwire_storage::{BlobBackend, MessageBody, QueueStore};

use crate::lifecycle::IndexedFunction;
use expressions::{ExpressionError, ExpressionValues, check_template};
use outputs::OutputValueError;

/// Output and input binding types this host handles (besides the triggers).
// `rabbitMQ` outputs are published by `crate::triggers::rabbitmq`.
const HANDLED_OUTPUTS: &[&str] = &["http", "queue", "blob", "table", "rabbitMQ", "serviceBus"];
// `durableClient` values are added by the durable extension (`crate::durable`).
const HANDLED_INPUTS: &[&str] = &["blob", "durableClient", "table"];

/// A message the trigger holds: it is completed in the same transaction that adds the
/// invocation's queue and Service Bus outputs, so a message is never both processed and retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldMessage {
    /// A storage-queue message, deleted with its pop receipt.
    Queue { queue: String, id: String, pop_receipt: String },
    /// A Service Bus copy, completed with its lock token.
    ServiceBus(fnwire_storage::MessageLock),
}

/// Which binding of a function an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingRole {
    BlobInput,
    QueueOutput,
    BlobOutput,
    TableInput,
    TableOutput,
    ServiceBusOutput,
}

impl std::fmt::Display for BindingRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BindingRole::BlobInput => "blob input",
            BindingRole::QueueOutput => "queue output",
            BindingRole::BlobOutput => "blob output",
            BindingRole::TableInput => "table input",
            BindingRole::TableOutput => "table output",
            BindingRole::ServiceBusOutput => "service bus output",
        })
    }
}

/// A binding's value could not be read or delivered. Each message names the binding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    #[error("{role} `{binding}`: {error}")]
    Expression { role: BindingRole, binding: String, error: ExpressionError },
    #[error("{role} `{binding}`: {error}")]
    Value { role: BindingRole, binding: String, error: OutputValueError },
    /// Reading or writing the blob file failed (the I/O error's text: it is not `Clone`).
    #[error("{role} `{binding}` ({path}): {error}")]
    Blob { role: BindingRole, binding: String, path: String, error: String },
    /// A table input could not be read, or a table output value is not entities (the message
    /// names the table, the entity or the filter position).
    #[error("{role} `{binding}`: {error}")]
    Table { role: BindingRole, binding: String, error: String },
    /// The transaction adding queue outputs (and deleting the trigger's message) failed.
    #[error("{0}")]
    Commit(String),
    /// The blocking task doing the work did not finish (the host is stopping).
    #[error("{0}")]
    Interrupted(String),
    /// A `rabbitMQ` output was not confirmed by the broker.
    #[error("rabbitMQ output `{binding}`: {error}")]
    Publish { binding: String, error: String },
}

/// A binding expression that cannot work, found when the host starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("function `{function}`: {role} `{binding}` ({property}): {error}")]
pub struct InvalidExpression {
    pub function: String,
    pub role: BindingRole,
    pub binding: String,
    pub property: &'static str,
    pub error: ExpressionError,
}

/// Every invalid binding expression of the app: the host does not start with any.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} binding expression(s) cannot work; fix them in the functions' binding metadata:\n  {}",
    .0.len(),
    .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  ")
)]
pub struct InvalidExpressions(pub Vec<InvalidExpression>);

/// The names a trigger provides when they form a closed set (lower case); `None` when a
/// payload, route or query can provide any name at run time (queue and HTTP triggers).
fn closed_trigger_names(metadata: &FunctionMetadata) -> Option<Vec<String>> {
    let trigger = metadata.bindings.iter().find(|b| b.is_trigger())?;
    // A blob trigger's names are its path's parameters and Azure's blob metadata.
    if trigger.binding_type.eq_ignore_ascii_case("blobTrigger") {
        let pattern =
            fnwire_metadata::blob_path::BlobPathPattern::parse(trigger.str_property("path")?).ok()?;
        let mut names: Vec<String> = pattern.parameters().map(str::to_lowercase).collect();
        names.extend(["blobtrigger", "uri", "properties", "metadata"].map(String::from));
        return Some(names);
    }
    // A timer's trigger metadata is its own binding name; its payload the timer info.
    trigger.binding_type.eq_ignore_ascii_case("timerTrigger").then(|| {
        [trigger.name.to_lowercase(), "schedule".into(), "schedulestatus".into(), "ispastdue".into()].into()
    })
}

/// Checks the expressions in every blob path and queue name the host resolves.
fn check_expressions(metadata: &FunctionMetadata) -> Vec<InvalidExpression> {
    let names = closed_trigger_names(metadata);
    let names: Option<Vec<&str>> = names.as_ref().map(|n| n.iter().map(String::as_str).collect());
    let mut problems = Vec::new();
    for b in metadata.bindings.iter().filter(|b| !b.is_trigger()) {
        if b.binding_type.eq_ignore_ascii_case("table") {
            let role =
                if b.direction == Direction::In { BindingRole::TableInput } else { BindingRole::TableOutput };
            for property in table::TEMPLATE_KEYS {
                let Some(template) = b.str_property(property) else { continue };
                let checked = check_template(template, names.as_deref()).and_then(|()| match *property {
                    "filter" if b.direction == Direction::In => {
                        fnwire_tables::check_filter_template(template)
                            .map_err(|error| ExpressionError::Filter { error })
                    }
                    _ => Ok(()),
                });
                if let Err(error) = checked {
                    problems.push(InvalidExpression {
                        function: metadata.name.clone(),
                        role,
                        binding: b.name.clone(),
                        property,
                        error,
                    });
                }
            }
            continue;
        }
        let (role, property) = match (b.direction, b.binding_type.to_lowercase().as_str()) {
            (Direction::In, "blob") => (BindingRole::BlobInput, "path"),
            (Direction::Out | Direction::InOut, "blob") => (BindingRole::BlobOutput, "path"),
            (Direction::Out | Direction::InOut, "queue") => (BindingRole::QueueOutput, "queueName"),
            _ => continue,
        };
        let template = b.str_property(property).unwrap_or_default();
        if let Err(error) = check_template(template, names.as_deref()) {
            problems.push(InvalidExpression {
                function: metadata.name.clone(),
                role,
                binding: b.name.clone(),
                property,
                error,
            });
        }
    }
    problems
}

/// The storage behind the bindings, and each function's binding metadata.
#[derive(Debug)]
pub struct AppBindings {
    store: Arc<dyn QueueStore>,
    blobs: Arc<dyn BlobBackend>,
    functions: HashMap<String, FunctionMetadata>,
    signals: Mutex<HashMap<String, Arc<Notify>>>,
}

impl AppBindings {
    /// Logs, once per function, every binding whose type this host does not serve. Fails with
    /// every binding expression that cannot work (see [`expressions`] for what is checked).
    pub fn new(
        store: Arc<dyn QueueStore>,
        blobs: Arc<dyn BlobBackend>,
        functions: &[IndexedFunction],
    ) -> Result<Self, InvalidExpressions> {
        let mut by_name = HashMap::new();
        let mut invalid = Vec::new();
        for f in functions.iter().filter(|f| f.error.is_none()) {
            for b in f.metadata.bindings.iter().filter(|b| !b.is_trigger()) {
                let handled = match b.direction {
                    Direction::In => HANDLED_INPUTS,
                    Direction::Out | Direction::InOut => HANDLED_OUTPUTS,
                };
                if !handled.iter().any(|t| b.binding_type.eq_ignore_ascii_case(t)) {
                    tracing::warn!(
                        "function `{}`: {} binding `{}` of type `{}` is not supported by this host (fnwire serves \
                         {} {}); its value is not {}",
                        f.metadata.name,
                        b.direction.as_str(),
                        b.name,
                        b.binding_type,
                        b.direction.as_str(),
                        handled.join(", "),
                        if b.direction == Direction::In { "provided" } else { "delivered anywhere" },
                    );
                }
            }
            invalid.extend(check_expressions(&f.metadata));
            by_name.insert(f.metadata.name.clone(), f.metadata.clone());
        }
        if !invalid.is_empty() {
            return Err(InvalidExpressions(invalid));
        }
        Ok(AppBindings { store, blobs, functions: by_name, signals: Mutex::default() })
    }

    pub fn store(&self) -> &Arc<dyn QueueStore> {
        &self.store
    }

    pub fn blobs(&self) -> &Arc<dyn BlobBackend> {
        &self.blobs
    }

    /// The values binding expressions of this invocation can use.
    pub fn expression_values(request: &InvocationRequest) -> ExpressionValues {
        let mut values = ExpressionValues::from_trigger_metadata(&request.trigger_metadata);
        if let Some(trigger) = request.input_data.first().and_then(|p| match &p.rpc_data {
            Some(parameter_binding::RpcData::Data(d)) => d.data.as_ref(),
            _ => None,
        }) {
            match trigger {
                typed_data::Data::String(s) | typed_data::Data::Json(s) => {
                    values.add_json_properties(s.as_bytes())
                }
                typed_data::Data::Bytes(b) => values.add_json_properties(b),
                _ => {}
            }
        }
        values
    }

    /// Whether `function` has blob or queue bindings besides its trigger (only those need the
    /// store or the blob files).
    pub fn uses_storage(&self, function: &str) -> bool {
        self.functions.get(function).is_some_and(|metadata| {
            metadata.bindings.iter().any(|b| {
                !b.is_trigger()
                    && (b.binding_type.eq_ignore_ascii_case("blob")
                        || b.binding_type.eq_ignore_ascii_case("queue")
                        || b.binding_type.eq_ignore_ascii_case("table")
                        || b.binding_type.eq_ignore_ascii_case("serviceBus"))
            })
        })
    }

    /// Prepares an invocation: adds the function's blob inputs to `request.input_data` (a
    /// missing blob is null, as in Azure) and returns the values its output paths can use.
    /// An expression without a value is an error naming the binding.
    pub fn prepare(
        &self,
        function: &str,
        request: &mut InvocationRequest,
    ) -> Result<ExpressionValues, BindingError> {
        let Some(metadata) = self.functions.get(function).filter(|_| self.uses_storage(function)) else {
            return Ok(ExpressionValues::default());
        };
        let mut values = AppBindings::expression_values(request);
        values.set_method_name(function);
        values.set_traceparent(request.trace_context.as_ref().map(|t| t.trace_parent.clone()));
        values.set_tracestate(request.trace_context.as_ref().map_or("", |t| t.trace_state.as_str()));
        for b in metadata.bindings.iter().filter(|b| !b.is_trigger() && b.direction == Direction::In) {
            if b.binding_type.eq_ignore_ascii_case("table") {
                let value = table::read_input(self.tables(BindingRole::TableInput, &b.name)?, b, &values)?;
                request.input_data.push(ParameterBinding {
                    name: b.name.clone(),
                    rpc_data: Some(parameter_binding::RpcData::Data(value)),
                });
                continue;
            }
            if !b.binding_type.eq_ignore_ascii_case("blob") {
                continue;
            }
            let template = b.str_property("path").unwrap_or_default();
            let path = values.resolve(template).map_err(|error| BindingError::Expression {
                role: BindingRole::BlobInput,
                binding: b.name.clone(),
                error,
            })?;
            let content = self.blobs.read(&path).map_err(|e| BindingError::Blob {
                role: BindingRole::BlobInput,
                binding: b.name.clone(),
                path: path.clone(),
                error: e.to_string(),
            })?;
            let data = content.map(|bytes| match b.data_type {
                Some(DataType::Binary) | Some(DataType::Stream) => typed_data::Data::Bytes(bytes.into()),
                _ => typed_data::Data::String(String::from_utf8_lossy(&bytes).into_owned()),
            });
            request.input_data.push(ParameterBinding {
                name: b.name.clone(),
                rpc_data: Some(parameter_binding::RpcData::Data(TypedData { data })),
            });
        }
        Ok(values)
    }

    /// Writes the blob outputs of a successful invocation and returns its queue messages
    /// (to be added in one transaction with the trigger's completion).
    pub fn collect_outputs(
        &self,
        function: &str,
        values: &ExpressionValues,
        response: &InvocationResponse,
    ) -> Result<Vec<MessageBody>, BindingError> {
        let Some(metadata) = self.functions.get(function) else { return Ok(Vec::new()) };
        let has_return = metadata.bindings.iter().any(|b| b.name == outputs::RETURN);
        let mut messages = Vec::new();
        for b in metadata.bindings.iter().filter(|b| b.direction != Direction::In && !b.is_trigger()) {
            let Some(value) = outputs::output_value(response, &b.name, has_return) else { continue };
            if b.binding_type.eq_ignore_ascii_case("queue") {
                let queue = b.str_property("queueName").unwrap_or_default();
                let role = BindingRole::QueueOutput;
                let binding = || b.name.clone();
                let queue = values.resolve(queue).map_err(|error| BindingError::Expression {
                    role,
                    binding: binding(),
                    error,
                })?;
                let bodies = outputs::queue_messages(&value).map_err(|error| BindingError::Value {
                    role,
                    binding: binding(),
                    error,
                })?;
                // The trace goes beside the body, which stays exactly what the function wrote.
                let trace = values.message_trace();
                for body in bodies {
                    messages.push(MessageBody::new(queue.clone(), body.to_vec()).with_trace(trace.clone()));
                }
            } else if b.binding_type.eq_ignore_ascii_case("blob") {
                let template = b.str_property("path").unwrap_or_default();
                let role = BindingRole::BlobOutput;
                let binding = || b.name.clone();
                let path = values.resolve(template).map_err(|error| BindingError::Expression {
                    role,
                    binding: binding(),
                    error,
                })?;
                let bytes = outputs::value_bytes(&value).map_err(|error| BindingError::Value {
                    role,
                    binding: binding(),
                    error,
                })?;
                self.blobs.write(&path, &bytes).map_err(|e| BindingError::Blob {
                    role,
                    binding: binding(),
                    path: path.clone(),
                    error: e.to_string(),
                })?;
                // A blob trigger on that container finds the blob at once.
                if let Some((container, _)) = path.trim_start_matches('/').split_once('/') {
                    self.signal(&crate::triggers::blob::container_signal(container)).notify_one();
                }
            }
        }
        Ok(messages)
    }

    /// Delivers a successful invocation's outputs; with `held`, the trigger message is
    /// deleted in the same transaction as the queue outputs are added.
    pub fn complete(
        &self,
        function: &str,
        values: &ExpressionValues,
        response: &InvocationResponse,
        held: Option<&HeldMessage>,
    ) -> Result<usize, BindingError> {
        let messages = self.collect_outputs(function, values, response)?;
        let table_writes = self.collect_table_writes(function, values, response)?;
        let sends = self
            .functions
            .get(function)
            .map_or(Ok(Vec::new()), |metadata| service_bus::collect_sends(metadata, values, response))?;
        if !sends.is_empty() || matches!(held, Some(HeldMessage::ServiceBus(_))) {
            // The Service Bus completion is a transaction of its own, so entities are written
            // just before it: a failure between the two runs the function again (at least once).
            if !table_writes.is_empty() {
                self.tables(BindingRole::TableOutput, "")?
                    .complete_with_entities(None, &[], &table_writes)
                    .map_err(|e| BindingError::Commit(e.to_string()))?;
            }
            return service_bus::complete(self, held, &messages, &sends);
        }
        if held.is_none() && messages.is_empty() && table_writes.is_empty() {
            return Ok(0);
        }
        let held = held.and_then(|h| match h {
            HeldMessage::Queue { queue, id, pop_receipt } => {
                Some((queue.as_str(), id.as_str(), pop_receipt.as_str()))
            }
            HeldMessage::ServiceBus(_) => None,
        });
        if table_writes.is_empty() {
            self.store.complete_and_put(held, &messages).map_err(|e| BindingError::Commit(e.to_string()))?;
        } else {
            // Entities, queue outputs and the trigger's completion commit together.
            self.tables(BindingRole::TableOutput, "")?
                .complete_with_entities(held, &messages, &table_writes)
                .map_err(|e| BindingError::Commit(e.to_string()))?;
        }
        for m in &messages {
            self.signal(&m.queue).notify_one();
        }
        Ok(messages.len())
    }

    /// The entities the `table` outputs of a successful invocation write.
    pub fn collect_table_writes(
        &self,
        function: &str,
        values: &ExpressionValues,
        response: &InvocationResponse,
    ) -> Result<Vec<fnwire_storage::TableWrite>, BindingError> {
        let Some(metadata) = self.functions.get(function) else { return Ok(Vec::new()) };
        let has_return = metadata.bindings.iter().any(|b| b.name == outputs::RETURN);
        let mut writes = Vec::new();
        for b in metadata.bindings.iter().filter(|b| {
            b.direction != Direction::In && !b.is_trigger() && b.binding_type.eq_ignore_ascii_case("table")
        }) {
            let Some(value) = outputs::output_value(response, &b.name, has_return) else { continue };
            writes.push(table::output_write(b, &value, values)?);
        }
        Ok(writes)
    }

    /// The store's tables; every store fnwire has keeps them.
    fn tables(
        &self,
        role: BindingRole,
        binding: &str,
    ) -> Result<&dyn fnwire_storage::TableStore, BindingError> {
        self.store.as_table_store().ok_or_else(|| BindingError::Table {
            role,
            binding: binding.to_string(),
            error: format!("the store at {} keeps no tables", self.store.describe()),
        })
    }

    /// Woken whenever this host adds a message to `queue`, so its listener need not wait for
    /// the next poll (messages added by other processes are found by polling).
    pub fn signal(&self, queue: &str) -> Arc<Notify> {
        let mut signals = self.signals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        signals.entry(queue.to_string()).or_default().clone()
    }

    /// Wakes every queue's listener: messages may have come while the store's notifications
    /// were lost (the database was unreachable), and the listeners' polls had backed off.
    pub fn signal_all(&self) {
        let signals = self.signals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for signal in signals.values() {
            signal.notify_one();
        }
    }
}

#[cfg(test)]
/// The helpers are shared with the tests of `table.rs`.
mod tests {
    use super::*;
    use fnwire_metadata::Binding;
    use fnwire_protocol::rpc::{StatusResult, status_result};

    pub(super) fn function(name: &str, bindings: Vec<Binding>) -> IndexedFunction {
        let mut metadata = FunctionMetadata::new(name);
        metadata.bindings = bindings;
        IndexedFunction {
            function_id: metadata.function_id(),
            metadata,
            rpc: Default::default(),
            error: None,
        }
    }

    pub(super) fn data(d: typed_data::Data) -> Option<parameter_binding::RpcData> {
        Some(parameter_binding::RpcData::Data(TypedData { data: Some(d) }))
    }

    pub(super) fn queue_request(body: &str, id: &str) -> InvocationRequest {
        InvocationRequest {
            input_data: vec![ParameterBinding {
                name: "msg".into(),
                rpc_data: data(typed_data::Data::String(body.into())),
            }],
            trigger_metadata: [(
                "Id".to_string(),
                TypedData { data: Some(typed_data::Data::String(id.into())) },
            )]
            .into(),
            ..Default::default()
        }
    }

    pub(super) fn success(
        outputs: Vec<(&str, typed_data::Data)>,
        ret: Option<typed_data::Data>,
    ) -> InvocationResponse {
        InvocationResponse {
            output_data: outputs
                .into_iter()
                .map(|(n, d)| ParameterBinding { name: n.into(), rpc_data: data(d) })
                .collect(),
            return_value: ret.map(|d| TypedData { data: Some(d) }),
            result: Some(StatusResult {
                status: status_result::Status::Success as i32,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub(super) fn app(dir: &std::path::Path, functions: &[IndexedFunction]) -> AppBindings {
        let store = Arc::new(fnwire_storage::Store::open(&dir.join("store")).unwrap());
        AppBindings::new(store, Arc::new(fnwire_storage::BlobStore::new(dir.join("blobs"))), functions)
            .unwrap()
    }

    #[test]
    fn several_outputs_return_value_and_blob_paths_from_the_trigger() {
        let dir = tempfile::tempdir().unwrap();
        let f = function(
            "work",
            vec![
                Binding::new("msg", "queueTrigger", Direction::In).with("queueName", "jobs"),
                Binding::new("done", "queue", Direction::Out).with("queueName", "done"),
                Binding::new("copy", "blob", Direction::Out).with("path", "out/{Id}-{customer}.txt"),
                Binding::new("$return", "queue", Direction::Out).with("queueName", "audit"),
            ],
        );
        let bindings = app(dir.path(), &[f]);
        let mut request = queue_request(r#"{"customer":"ada"}"#, "m1");
        let values = bindings.prepare("work", &mut request).unwrap();
        let response = success(
            vec![
                ("done", typed_data::Data::Json(r#"["a","b"]"#.into())),
                ("copy", typed_data::Data::Bytes(bytes::Bytes::from_static(b"\x00bin"))),
            ],
            Some(typed_data::Data::String("seen m1".into())),
        );
        assert_eq!(bindings.complete("work", &values, &response, None).unwrap(), 3);
        let store = bindings.store();
        let done: Vec<_> = store.peek("done", 10).unwrap().into_iter().map(|m| m.body).collect();
        assert_eq!(done, [b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(
            store.peek("audit", 10).unwrap()[0].body,
            b"seen m1",
            "a non-HTTP return value reaches $return"
        );
        assert_eq!(bindings.blobs().read("out/m1-ada.txt").unwrap().unwrap(), b"\x00bin");
    }

    #[test]
    fn blob_inputs_by_data_type_missing_is_null_and_unknown_expressions_fail() {
        let dir = tempfile::tempdir().unwrap();
        let f = function(
            "read",
            vec![
                Binding::new("msg", "queueTrigger", Direction::In).with("queueName", "jobs"),
                Binding::new("text", "blob", Direction::In).with("path", "in/{queueTrigger}"),
                Binding::new("raw", "blob", Direction::In)
                    .with("path", "in/{queueTrigger}")
                    .with("dataType", "binary"),
                Binding::new("none", "blob", Direction::In).with("path", "in/missing"),
            ],
        );
        let mut f = f;
        f.metadata.bindings[2].data_type = Some(DataType::Binary);
        let bindings = app(dir.path(), &[f]);
        bindings.blobs().write("in/a.txt", b"hello").unwrap();
        let mut request = queue_request("a.txt", "m1");
        request.trigger_metadata.insert(
            "QueueTrigger".into(),
            TypedData { data: Some(typed_data::Data::String("a.txt".into())) },
        );
        bindings.prepare("read", &mut request).unwrap();
        let by_name: HashMap<_, _> =
            request.input_data.iter().map(|p| (p.name.as_str(), p.rpc_data.clone())).collect();
        assert_eq!(by_name["text"], data(typed_data::Data::String("hello".into())));
        assert_eq!(by_name["raw"], data(typed_data::Data::Bytes(bytes::Bytes::from_static(b"hello"))));
        assert_eq!(by_name["none"], Some(parameter_binding::RpcData::Data(TypedData::default())));

        let mut request = queue_request("a.txt", "m1");
        let e = bindings.prepare("read", &mut request).unwrap_err().to_string();
        assert!(e.contains("blob input `text`") && e.contains("{queueTrigger}"), "{e}");
    }

    #[test]
    fn start_refuses_expressions_that_cannot_work_naming_function_binding_and_expression() {
        let dir = tempfile::tempdir().unwrap();
        let timer = |out: Binding| {
            function(
                "nightly",
                vec![
                    Binding::new("tick", "timerTrigger", Direction::In).with("schedule", "0 0 * * * *"),
                    out,
                ],
            )
        };
        let queue = |out: Binding| {
            function(
                "archive",
                vec![Binding::new("msg", "queueTrigger", Direction::In).with("queueName", "jobs"), out],
            )
        };
        let blob_out = |path: &str| Binding::new("report", "blob", Direction::Out).with("path", path);
        let on_blob = |out: Binding| {
            function(
                "thumb",
                vec![
                    Binding::new("img", "blobTrigger", Direction::In).with("path", "uploads/{name}.{ext}"),
                    out,
                ],
            )
        };
        let queue_out = |name: &str| Binding::new("next", "queue", Direction::Out).with("queueName", name);
        let blob_in = |path: &str| Binding::new("prior", "blob", Direction::In).with("path", path);
        let table_in = |filter: &str| {
            Binding::new("orders", "table", Direction::In).with("tableName", "Orders").with("filter", filter)
        };
        // (function, whether the host starts, what the error names)
        let cases = [
            (timer(blob_out("r/{DateTime:yyyy-MM-dd}/{sys.MethodName}")), true, ""),
            (timer(blob_out("r/{tick}-{IsPastDue}-{rand-guid:N}")), true, ""),
            (
                timer(blob_out("r/{customer}")),
                false,
                "function `nightly`: blob output `report` (path): `{customer}`",
            ),
            (
                timer(queue_out("q-{sys.nope}")),
                false,
                "function `nightly`: queue output `next` (queueName): `{sys.nope}`",
            ),
            (
                queue(blob_in("in/{DateTime:d}")),
                false,
                "function `archive`: blob input `prior` (path): `{DateTime:d}`",
            ),
            (queue(blob_in("in/{customer}/{sys.utcnow:yyyy}")), true, ""),
            (on_blob(blob_out("thumbs/{name}-{EXT}/{BlobTrigger}/{sys.RandGuid}")), true, ""),
            (
                on_blob(blob_out("thumbs/{nmae}.{ext}")),
                false,
                "function `thumb`: blob output `report` (path): `{nmae}`",
            ),
            (
                queue(queue_out("q-{name")),
                false,
                "function `archive`: queue output `next` (queueName): `q-{name`",
            ),
            (queue(table_in("RowKey eq '{id}' and Total gt 10")), true, ""),
            // Outside quotes an expression may be any part of the filter: parsed at invocation.
            (queue(table_in("Total gt {min} and and")), true, ""),
            (
                queue(table_in("Owner eq '{id}' and and Total gt 10")),
                false,
                "function `archive`: table input `orders` (filter): filter `Owner eq '{id}' and and Total gt 10` \
                 does not parse at character 21",
            ),
        ];
        for (f, starts, named) in cases {
            let template = format!("{:?}", f.metadata.bindings[1].properties);
            let store = Arc::new(fnwire_storage::Store::open(&dir.path().join("store")).unwrap());
            match AppBindings::new(
                store,
                Arc::new(fnwire_storage::BlobStore::new(dir.path().join("blobs"))),
                &[f],
            ) {
                Ok(_) => assert!(starts, "{template} should not start"),
                Err(e) => {
                    let e = e.to_string();
                    assert!(!starts && e.contains(named), "{template}: {e}");
                }
            }
        }
    }

    #[test]
    fn system_expressions_name_the_function_and_hold_for_the_invocation() {
        let dir = tempfile::tempdir().unwrap();
        let f = function(
            "archive",
            vec![
                Binding::new("msg", "queueTrigger", Direction::In).with("queueName", "jobs"),
                Binding::new("$return", "blob", Direction::Out)
                    .with("path", "{sys.MethodName}/{sys.RandGuid}"),
                Binding::new("copy", "queue", Direction::Out)
                    .with("queueName", "{sys.methodname}-{sys.randguid}"),
            ],
        );
        let bindings = app(dir.path(), &[f]);
        let mut request = queue_request("{}", "m1");
        let values = bindings.prepare("archive", &mut request).unwrap();
        let response = success(
            vec![("copy", typed_data::Data::String("c".into()))],
            Some(typed_data::Data::String("r".into())),
        );
        let messages = bindings.collect_outputs("archive", &values, &response).unwrap();
        let queue = &messages[0].queue;
        let guid = queue.strip_prefix("archive-").unwrap();
        assert!(uuid::Uuid::parse_str(guid).is_ok(), "{queue}");
        assert_eq!(bindings.blobs().read(&format!("archive/{guid}")).unwrap().as_deref(), Some(&b"r"[..]));
    }

    #[test]
    fn nothing_is_delivered_when_an_output_cannot_be() {
        let dir = tempfile::tempdir().unwrap();
        let f = function(
            "f",
            vec![
                Binding::new("req", "httpTrigger", Direction::In),
                Binding::new("out", "queue", Direction::Out).with("queueName", "done"),
                Binding::new("bad", "queue", Direction::Out).with("queueName", "Not_Valid"),
            ],
        );
        let bindings = app(dir.path(), &[f]);
        let response = success(
            vec![
                ("out", typed_data::Data::String("x".into())),
                ("bad", typed_data::Data::String("y".into())),
            ],
            None,
        );
        let e =
            bindings.complete("f", &ExpressionValues::default(), &response, None).unwrap_err().to_string();
        assert!(e.contains("Not_Valid"), "{e}");
        assert_eq!(bindings.store().message_count("done").unwrap(), 0, "all or nothing");
    }
}
