//! RabbitMQ in the host: `rabbitMQTrigger` functions run through the one [`Pipeline`] from
//! `fnwire-rabbitmq`'s listener, and `rabbitMQ` outputs are published (with confirms) after a
//! Success, before the trigger's message is acknowledged. Settings are read and checked when
//! the host starts: a missing or malformed connection setting stops it with an error naming
//! the function, the binding and the setting.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use fnwire_metadata::{Binding, DataType, Direction};
use fnwire_protocol::rpc::{
    InvocationRequest, InvocationResponse, ParameterBinding, TypedData, parameter_binding, typed_data,
};
use fnwire_rabbitmq::{
    ConsumerConfig, Endpoint, ExtensionOptions, Message, MetadataValue, Outcome, Publisher, SettingsError,
};

use crate::bindings::{BindingError, outputs};
use crate::invoke::{Invocation, Pipeline};
use crate::lifecycle::IndexedFunction;

/// The trigger binding type, as Azure's extension names it.
pub const TRIGGER_TYPE: &str = "rabbitMQTrigger";
/// The output binding type.
pub const OUTPUT_TYPE: &str = "rabbitMQ";

/// A RabbitMQ binding that cannot work; the host does not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RabbitMqError {
    #[error("{0}. Fix extensions.rabbitMQ in host.json and start again")]
    HostJson(SettingsError),
    #[error("function `{function}`: RabbitMQ {role} `{binding}`: {error}")]
    Binding { function: String, role: &'static str, binding: String, error: String },
}

/// A `rabbitMQTrigger` function as the host runs it.
#[derive(Debug, Clone)]
pub struct RabbitFunction {
    pub name: String,
    pub function_id: String,
    pub trigger_name: String,
    pub queue: String,
    pub endpoint: Endpoint,
    /// `dataType: binary`: the body arrives as bytes instead of a string.
    pub binary: bool,
}

/// One `rabbitMQ` output of a function.
#[derive(Debug, Clone)]
struct OutputBinding {
    name: String,
    queue: String,
    publisher: Arc<Publisher>,
}

/// The `rabbitMQ` outputs of every function, with one publisher (connection) per broker.
#[derive(Debug, Default)]
pub struct RabbitOutputs {
    by_function: HashMap<String, (Vec<OutputBinding>, bool)>,
}

/// Every RabbitMQ trigger and output of the app, checked.
#[derive(Debug, Default)]
pub struct RabbitPlan {
    pub functions: Vec<RabbitFunction>,
    pub outputs: Arc<RabbitOutputs>,
    pub options: ExtensionOptions,
}

fn queue_name(
    function: &str,
    role: &'static str,
    b: &Binding,
    setting: impl Fn(&str) -> Option<String>,
) -> Result<String, RabbitMqError> {
    let error = |error: &str| RabbitMqError::Binding {
        function: function.to_string(),
        role,
        binding: b.name.clone(),
        error: error.to_string(),
    };
    let mut queue = b.str_property("queueName").map(str::trim).unwrap_or_default().to_string();
    // `%Name%` is an app setting, as in Azure's binding expressions.
    if let Some(name) = queue.strip_prefix('%').and_then(|q| q.strip_suffix('%')).filter(|n| !n.contains('%'))
    {
        queue = setting(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).ok_or_else(|| {
            error(&format!("`queueName` names the setting `{name}` (`%{name}%`), which is not set"))
        })?;
    }
    if queue.is_empty() {
        return Err(error("`queueName` is missing; name the RabbitMQ queue"));
    }
    // RabbitMQ queue names are short strings: at most 255 bytes.
    if queue.len() > 255 {
        return Err(error("`queueName` is longer than RabbitMQ's 255 bytes"));
    }
    if queue.contains('{') || queue.contains('%') {
        return Err(error(
            "`queueName` must be a queue name or `%Setting%` (other binding expressions are not supported here)",
        ));
    }
    Ok(queue)
}

impl RabbitPlan {
    /// Reads `extensions.rabbitMQ` and every RabbitMQ binding; `settings` are the app's settings
    /// (`local.settings.json` Values), the process environment second.
    pub fn new(
        host_json: &serde_json::Value,
        settings: &BTreeMap<String, String>,
        functions: &[IndexedFunction],
    ) -> Result<RabbitPlan, RabbitMqError> {
        let section = host_json.get("extensions").and_then(|e| {
            e.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case("rabbitMQ")).map(|(_, v)| v)
        });
        let options = ExtensionOptions::from_section(section).map_err(RabbitMqError::HostJson)?;
        let lookup = |name: &str| settings.get(name).cloned().or_else(|| std::env::var(name).ok());
        let mut publishers: HashMap<Endpoint, Arc<Publisher>> = HashMap::new();
        let mut plan = RabbitPlan { options: options.clone(), ..RabbitPlan::default() };
        let mut outputs = RabbitOutputs::default();
        for f in functions.iter().filter(|f| f.error.is_none()) {
            let name = &f.metadata.name;
            let has_return = f.metadata.bindings.iter().any(|b| b.name == outputs::RETURN);
            for b in &f.metadata.bindings {
                let trigger = b.binding_type.eq_ignore_ascii_case(TRIGGER_TYPE);
                let output = b.binding_type.eq_ignore_ascii_case(OUTPUT_TYPE) && b.direction != Direction::In;
                if !trigger && !output {
                    continue;
                }
                let role = if trigger { "trigger" } else { "output" };
                let queue = queue_name(name, role, b, lookup)?;
                let endpoint = Endpoint::resolve(b.str_property("connectionStringSetting"), &options, lookup)
                    .map_err(|e| RabbitMqError::Binding {
                        function: name.clone(),
                        role,
                        binding: b.name.clone(),
                        error: e.to_string(),
                    })?;
                if trigger {
                    plan.functions.push(RabbitFunction {
                        name: name.clone(),
                        function_id: f.function_id.clone(),
                        trigger_name: b.name.clone(),
                        queue,
                        endpoint,
                        binary: matches!(b.data_type, Some(DataType::Binary)),
                    });
                } else {
                    let publisher = publishers
                        .entry(endpoint.clone())
                        .or_insert_with(|| Arc::new(Publisher::new(endpoint)))
                        .clone();
                    let entry =
                        outputs.by_function.entry(name.clone()).or_insert_with(|| (Vec::new(), has_return));
                    entry.0.push(OutputBinding { name: b.name.clone(), queue, publisher });
                }
            }
        }
        plan.outputs = Arc::new(outputs);
        Ok(plan)
    }

    /// What triggers each function, for the console table.
    pub fn descriptions(&self) -> HashMap<String, String> {
        self.functions
            .iter()
            .map(|f| (f.name.clone(), format!("RabbitMQ queue {} at {}", f.queue, f.endpoint)))
            .collect()
    }

    /// Starts a listener per function. When `stop` is raised they take no new message and
    /// end once their running messages are settled.
    pub fn start(
        &self,
        pipeline: Pipeline,
        stop: &crate::drain::StopSignal,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.functions
            .iter()
            .map(|f| {
                let function = Arc::new(f.clone());
                let config = ConsumerConfig {
                    function: f.name.clone(),
                    endpoint: f.endpoint.clone(),
                    queue: f.queue.clone(),
                    options: self.options.clone(),
                };
                let pipeline = pipeline.clone();
                let handler = move |message: Message| {
                    let (function, pipeline) = (function.clone(), pipeline.clone());
                    async move { run_one(&function, &pipeline, message).await }
                };
                let stop = stop.clone();
                tokio::spawn(fnwire_rabbitmq::consume(config, handler, async move { stop.stopped().await }))
            })
            .collect()
    }
}

async fn run_one(function: &RabbitFunction, pipeline: &Pipeline, message: Message) -> Outcome {
    let invocation_id = uuid::Uuid::new_v4().to_string();
    let invocation = Invocation {
        function: function.name.clone(),
        reason: format!("New RabbitMQ message detected on '{}'", function.queue),
        request: function.invocation(&invocation_id, &message),
        held: None,
    };
    match pipeline.run(invocation).await {
        Ok(_) => Outcome::Succeeded,
        Err(e) if e.never_ran() => Outcome::NotRun,
        Err(_) => Outcome::Failed,
    }
}

fn typed(data: typed_data::Data) -> TypedData {
    TypedData { data: Some(data) }
}

impl RabbitFunction {
    /// The invocation for a message: the body as `string` (or `bytes` with dataType binary) and
    /// the trigger metadata Azure's extension gives.
    pub fn invocation(&self, invocation_id: &str, m: &Message) -> InvocationRequest {
        let body = if self.binary {
            typed_data::Data::Bytes(m.body.clone().into())
        } else {
            typed_data::Data::String(String::from_utf8_lossy(&m.body).into_owned())
        };
        let trigger_metadata = m
            .trigger_metadata()
            .into_iter()
            .map(|(name, value)| {
                let data = match value {
                    MetadataValue::Text(s) => typed_data::Data::String(s),
                    MetadataValue::Json(v) => typed_data::Data::Json(v.to_string()),
                    MetadataValue::Bytes(b) => typed_data::Data::Bytes(b.into()),
                };
                (name.to_string(), typed(data))
            })
            .collect();
        InvocationRequest {
            invocation_id: invocation_id.to_string(),
            function_id: self.function_id.clone(),
            input_data: vec![ParameterBinding {
                name: self.trigger_name.clone(),
                rpc_data: Some(parameter_binding::RpcData::Data(typed(body))),
            }],
            trigger_metadata,
            trace_context: None,
            retry_context: None,
        }
    }
}

impl RabbitOutputs {
    pub fn is_empty(&self) -> bool {
        self.by_function.is_empty()
    }

    /// Whether `function` has `rabbitMQ` outputs.
    pub fn has_outputs(&self, function: &str) -> bool {
        self.by_function.contains_key(function)
    }

    /// Publishes a successful invocation's `rabbitMQ` outputs and waits for the broker's
    /// confirms. A JSON array (or a collection) is one message per item, as Azure's collector.
    pub async fn deliver(
        &self,
        function: &str,
        response: &InvocationResponse,
    ) -> Result<usize, BindingError> {
        let Some((bindings, has_return)) = self.by_function.get(function) else { return Ok(0) };
        let mut sent = 0;
        for b in bindings {
            let Some(value) = outputs::output_value(response, &b.name, *has_return) else { continue };
            let bodies = outputs::queue_messages(&value)
                .map_err(|e| BindingError::Publish { binding: b.name.clone(), error: e.to_string() })?;
            let slices: Vec<&[u8]> = bodies.iter().map(|b| b.as_ref()).collect();
            b.publisher
                .publish(&b.queue, &slices)
                .await
                .map_err(|e| BindingError::Publish { binding: b.name.clone(), error: e.to_string() })?;
            sent += bodies.len();
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fnwire_metadata::FunctionMetadata;
    use serde_json::json;

    fn indexed(bindings: Vec<Binding>) -> Vec<IndexedFunction> {
        let mut metadata = FunctionMetadata::new("relay");
        metadata.bindings = bindings;
        vec![IndexedFunction { function_id: "fid".into(), metadata, rpc: Default::default(), error: None }]
    }

    fn trigger() -> Binding {
        Binding::new("msg", TRIGGER_TYPE, Direction::In)
            .with("queueName", "orders")
            .with("connectionStringSetting", "RabbitConn")
    }

    #[test]
    fn connection_settings_are_checked_at_start_and_errors_name_the_setting() {
        let settings =
            BTreeMap::from([("RabbitConn".to_string(), "amqp://u:pw@127.0.0.1:5672/%2f".to_string())]);
        let plan = RabbitPlan::new(&json!({}), &settings, &indexed(vec![trigger()])).unwrap();
        assert_eq!(plan.functions[0].queue, "orders");
        assert_eq!(plan.functions[0].endpoint.to_string(), "amqp://u:***@127.0.0.1:5672/%2f");
        let e =
            RabbitPlan::new(&json!({}), &BTreeMap::new(), &indexed(vec![trigger()])).unwrap_err().to_string();
        assert!(e.contains("`relay`") && e.contains("`RabbitConn`") && e.contains("not set"), "{e}");
        let bad = BTreeMap::from([("RabbitConn".to_string(), "http://x".to_string())]);
        let e = RabbitPlan::new(&json!({}), &bad, &indexed(vec![trigger()])).unwrap_err().to_string();
        assert!(e.contains("`RabbitConn`") && e.contains("amqp://"), "{e}");
        let host_json = json!({"extensions": {"rabbitMQ": {"prefetchCount": -1}}});
        let e = RabbitPlan::new(&host_json, &settings, &indexed(vec![trigger()])).unwrap_err().to_string();
        assert!(e.contains("prefetchCount"), "{e}");
        let from_setting = Binding::new("msg", TRIGGER_TYPE, Direction::In)
            .with("queueName", "%OrdersQueue%")
            .with("connectionStringSetting", "RabbitConn");
        let mut with_queue = settings.clone();
        with_queue.insert("OrdersQueue".into(), "orders-from-setting".into());
        let plan = RabbitPlan::new(&json!({}), &with_queue, &indexed(vec![from_setting.clone()])).unwrap();
        assert_eq!(plan.functions[0].queue, "orders-from-setting");
        let e = RabbitPlan::new(&json!({}), &settings, &indexed(vec![from_setting])).unwrap_err().to_string();
        assert!(e.contains("`OrdersQueue`") && e.contains("not set"), "{e}");
        let no_queue =
            Binding::new("msg", TRIGGER_TYPE, Direction::In).with("connectionStringSetting", "RabbitConn");
        let e = RabbitPlan::new(&json!({}), &settings, &indexed(vec![no_queue])).unwrap_err().to_string();
        assert!(e.contains("queueName"), "{e}");
    }

    #[test]
    fn invocation_carries_the_body_by_data_type_and_azures_metadata() {
        let settings = BTreeMap::from([("RabbitConn".to_string(), "amqp://127.0.0.1".to_string())]);
        let plan = RabbitPlan::new(&json!({}), &settings, &indexed(vec![trigger()])).unwrap();
        let m = Message {
            queue: "orders".into(),
            body: b"hi".to_vec(),
            delivery_tag: 3,
            consumer_tag: "c".into(),
            exchange: "".into(),
            routing_key: "orders".into(),
            redelivered: false,
            properties: Default::default(),
        };
        let req = plan.functions[0].invocation("inv", &m);
        let data = |k: &str| req.trigger_metadata[k].data.clone().unwrap();
        assert_eq!(data("DeliveryTag"), typed_data::Data::Json("3".into()));
        assert_eq!(data("Redelivered"), typed_data::Data::Json("false".into()));
        assert_eq!(data("RoutingKey"), typed_data::Data::String("orders".into()));
        assert_eq!(data("Body"), typed_data::Data::Bytes(b"hi".to_vec().into()));
        assert!(matches!(data("BasicProperties"), typed_data::Data::Json(_)));
        let Some(parameter_binding::RpcData::Data(body)) = &req.input_data[0].rpc_data else { panic!() };
        assert_eq!(body.data, Some(typed_data::Data::String("hi".into())));
    }
}
