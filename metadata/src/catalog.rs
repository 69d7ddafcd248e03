//! The bindings fnwire knows by name, with the keys each accepts.
//!
//! Attribute macros (Rust) and decorators (Python, Node) all read this one table, so a key is
//! spelled, typed and checked the same way in every language. Keys are written in snake_case by
//! users and rendered in Azure's camelCase spelling. Any other binding type can still be declared
//! through the generic binding, which passes keys through untouched.

use crate::Direction;
use serde_json::Value;

/// The type of value a key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A string.
    Str,
    /// A boolean.
    Bool,
    /// A list of strings; also accepted as one comma-separated string.
    StrList,
    /// A whole number, zero or more (a JSON number in `function.json`).
    Int,
}

impl ValueKind {
    /// How the kind is described in error messages.
    pub fn describe(self) -> &'static str {
        match self {
            ValueKind::Str => "a string",
            ValueKind::Bool => "a boolean (`true` or `false`)",
            ValueKind::StrList => "a string list such as \"get,post\" or [\"get\", \"post\"]",
            ValueKind::Int => "a whole number such as 50",
        }
    }
}

/// Checks a value beyond its kind and returns its `function.json` form, or says what is accepted.
pub type ValueCheck = fn(&Value) -> Result<Value, String>;

/// One key a binding accepts.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    /// Spelling in Rust attributes and Python options (snake_case); Node writes it in camelCase.
    pub name: &'static str,
    /// Spelling in `function.json`.
    pub json_name: &'static str,
    pub kind: ValueKind,
    pub required: bool,
    /// Checks a value beyond its kind; the error says what is accepted.
    pub check: Option<ValueCheck>,
}

/// A binding fnwire knows by name.
#[derive(Debug, Clone, Copy)]
pub struct BindingKind {
    /// Attribute / decorator name, e.g. `http_trigger`, `queue_output`.
    pub attribute: &'static str,
    /// Azure binding type, e.g. `httpTrigger`, `queue`.
    pub binding_type: &'static str,
    pub direction: Direction,
    /// Keys beyond [`COMMON_KEYS`].
    pub keys: &'static [KeySpec],
    /// One line for documentation and error messages.
    pub summary: &'static str,
}

/// Keys every binding accepts. `name` is the binding (parameter) name; `data_type` is
/// `function.json`'s `dataType`.
pub const COMMON_KEYS: &[KeySpec] = &[
    KeySpec { name: "name", json_name: "name", kind: ValueKind::Str, required: false, check: None },
    KeySpec {
        name: "data_type",
        json_name: "dataType",
        kind: ValueKind::Str,
        required: false,
        check: Some(check_data_type),
    },
];

const fn key(name: &'static str, json_name: &'static str, kind: ValueKind) -> KeySpec {
    KeySpec { name, json_name, kind, required: false, check: None }
}

const fn required(name: &'static str, json_name: &'static str, kind: ValueKind) -> KeySpec {
    KeySpec { name, json_name, kind, required: true, check: None }
}

/// Every binding fnwire knows by name.
pub const CATALOG: &[BindingKind] = &[
    BindingKind {
        attribute: "http_trigger",
        binding_type: "httpTrigger",
        direction: Direction::In,
        keys: &[
            KeySpec {
                name: "route",
                json_name: "route",
                kind: ValueKind::Str,
                required: false,
                check: Some(check_route),
            },
            KeySpec {
                name: "methods",
                json_name: "methods",
                kind: ValueKind::StrList,
                required: false,
                check: Some(check_methods),
            },
            KeySpec {
                name: "auth_level",
                json_name: "authLevel",
                kind: ValueKind::Str,
                required: false,
                check: Some(check_auth_level),
            },
        ],
        summary: "runs the function for HTTP requests to /api/<route>",
    },
    BindingKind {
        attribute: "timer_trigger",
        binding_type: "timerTrigger",
        direction: Direction::In,
        keys: &[
            required("schedule", "schedule", ValueKind::Str),
            key("run_on_startup", "runOnStartup", ValueKind::Bool),
            key("use_monitor", "useMonitor", ValueKind::Bool),
        ],
        summary: "runs the function on an NCRONTAB schedule (six fields, seconds first) or an hh:mm:ss interval",
    },
    BindingKind {
        attribute: "queue_trigger",
        binding_type: "queueTrigger",
        direction: Direction::In,
        keys: &[
            required("queue", "queueName", ValueKind::Str),
            key("connection", "connection", ValueKind::Str),
        ],
        summary: "runs the function for each message on a queue",
    },
    BindingKind {
        attribute: "blob_trigger",
        binding_type: "blobTrigger",
        direction: Direction::In,
        keys: &[
            KeySpec {
                name: "path",
                json_name: "path",
                kind: ValueKind::Str,
                required: true,
                check: Some(check_blob_trigger_path),
            },
            key("connection", "connection", ValueKind::Str),
            KeySpec {
                name: "source",
                json_name: "source",
                kind: ValueKind::Str,
                required: false,
                check: Some(check_blob_source),
            },
        ],
        summary: "runs the function once for each new or changed blob whose path fits `path` (`uploads/{name}`)",
    },
    BindingKind {
        attribute: "http_output",
        binding_type: "http",
        direction: Direction::Out,
        keys: &[],
        summary: "the HTTP response of an HTTP-triggered function",
    },
    BindingKind {
        attribute: "queue_output",
        binding_type: "queue",
        direction: Direction::Out,
        keys: &[
            required("queue", "queueName", ValueKind::Str),
            key("connection", "connection", ValueKind::Str),
        ],
        summary: "puts a message on a queue when the function succeeds",
    },
    // Service Bus: `queue` (queueName), or `topic` (topicName) with `subscription`
    // (subscriptionName) on a trigger; one of them exactly (see `frontend::entity_choice`).
    BindingKind {
        attribute: "service_bus_trigger",
        binding_type: "serviceBusTrigger",
        direction: Direction::In,
        keys: &[
            key("queue", "queueName", ValueKind::Str),
            key("topic", "topicName", ValueKind::Str),
            key("subscription", "subscriptionName", ValueKind::Str),
            key("connection", "connection", ValueKind::Str),
            key("is_sessions_enabled", "isSessionsEnabled", ValueKind::Bool),
        ],
        summary: "runs the function for each message on a Service Bus queue or topic subscription",
    },
    BindingKind {
        attribute: "service_bus_output",
        binding_type: "serviceBus",
        direction: Direction::Out,
        keys: &[
            key("queue", "queueName", ValueKind::Str),
            key("topic", "topicName", ValueKind::Str),
            key("connection", "connection", ValueKind::Str),
        ],
        summary: "sends a message to a Service Bus queue or topic when the function succeeds",
    },
    BindingKind {
        attribute: "blob_input",
        binding_type: "blob",
        direction: Direction::In,
        keys: &[required("path", "path", ValueKind::Str), key("connection", "connection", ValueKind::Str)],
        summary: "reads a blob before the function runs",
    },
    BindingKind {
        attribute: "blob_output",
        binding_type: "blob",
        direction: Direction::Out,
        keys: &[required("path", "path", ValueKind::Str), key("connection", "connection", ValueKind::Str)],
        summary: "writes a blob when the function succeeds",
    },
    // RabbitMQ, with the binding types and keys of Azure's RabbitMQ extension: the queue, and
    // the name of the setting holding the `amqp://` URI. Azure's output has no exchange or
    // routing key: it publishes to the queue through the default exchange.
    BindingKind {
        attribute: "rabbitmq_trigger",
        binding_type: "rabbitMQTrigger",
        direction: Direction::In,
        keys: &[
            required("queue", "queueName", ValueKind::Str),
            key("connection_string_setting", "connectionStringSetting", ValueKind::Str),
            key("disable_certificate_validation", "disableCertificateValidation", ValueKind::Bool),
        ],
        summary: "runs the function for each message on a RabbitMQ queue",
    },
    BindingKind {
        attribute: "rabbitmq_output",
        binding_type: "rabbitMQ",
        direction: Direction::Out,
        keys: &[
            required("queue", "queueName", ValueKind::Str),
            key("connection_string_setting", "connectionStringSetting", ValueKind::Str),
            key("disable_certificate_validation", "disableCertificateValidation", ValueKind::Bool),
        ],
        summary: "publishes a message to a RabbitMQ queue when the function succeeds",
    },
    // Durable Functions: the keys and their `function.json` spellings are those the official
    // Python library's `DFApp` decorators render (`orchestration`, `activity`, `entityName`,
    // `taskHub`, `connectionName`); every key is optional, the function name is the default.
    BindingKind {
        attribute: "orchestration_trigger",
        binding_type: "orchestrationTrigger",
        direction: Direction::In,
        keys: &[key("orchestration", "orchestration", ValueKind::Str)],
        summary: "runs a durable orchestrator: replays its history and answers the next actions",
    },
    BindingKind {
        attribute: "activity_trigger",
        binding_type: "activityTrigger",
        direction: Direction::In,
        keys: &[key("activity", "activity", ValueKind::Str)],
        summary: "runs a durable activity that an orchestrator calls",
    },
    BindingKind {
        attribute: "entity_trigger",
        binding_type: "entityTrigger",
        direction: Direction::In,
        keys: &[key("entity_name", "entityName", ValueKind::Str)],
        summary: "runs a durable entity's operations, one batch at a time",
    },
    BindingKind {
        attribute: "durable_client_input",
        binding_type: "durableClient",
        direction: Direction::In,
        keys: &[
            key("task_hub", "taskHub", ValueKind::Str),
            key("connection_name", "connectionName", ValueKind::Str),
        ],
        summary: "a client that starts, queries and signals durable orchestrations",
    },
    // Azure Tables: the keys of Azure's `table` binding (`tableName`, `partitionKey`, `rowKey`,
    // `filter`, `take`); binding expressions may appear in all but `take`.
    BindingKind {
        attribute: "table_input",
        binding_type: "table",
        direction: Direction::In,
        keys: &[
            required("table_name", "tableName", ValueKind::Str),
            key("partition_key", "partitionKey", ValueKind::Str),
            key("row_key", "rowKey", ValueKind::Str),
            KeySpec {
                name: "filter",
                json_name: "filter",
                kind: ValueKind::Str,
                required: false,
                check: Some(check_table_filter),
            },
            KeySpec {
                name: "take",
                json_name: "take",
                kind: ValueKind::Int,
                required: false,
                check: Some(check_take),
            },
            key("connection", "connection", ValueKind::Str),
        ],
        summary: "reads one table entity (partition and row key) or a query's entities before the function runs",
    },
    BindingKind {
        attribute: "table_output",
        binding_type: "table",
        direction: Direction::Out,
        keys: &[
            required("table_name", "tableName", ValueKind::Str),
            key("partition_key", "partitionKey", ValueKind::Str),
            key("row_key", "rowKey", ValueKind::Str),
            key("connection", "connection", ValueKind::Str),
        ],
        summary: "writes table entities when the function succeeds: inserted, or by their ETag (`*` inserts or \
                  replaces, another replaces only that version)",
    },
];

impl BindingKind {
    /// Looks a binding up by its attribute / decorator name.
    pub fn lookup(attribute: &str) -> Option<&'static BindingKind> {
        CATALOG.iter().find(|k| k.attribute == attribute)
    }

    /// Looks a key up among this binding's keys and the common ones.
    pub fn key(&self, name: &str) -> Option<&'static KeySpec> {
        self.keys.iter().chain(COMMON_KEYS).find(|k| k.name == name)
    }

    /// All key names this binding accepts, for "expected one of" messages.
    pub fn key_names(&self) -> Vec<&'static str> {
        self.keys.iter().chain(COMMON_KEYS).map(|k| k.name).collect()
    }

    pub fn is_trigger(&self) -> bool {
        self.binding_type.ends_with("Trigger")
    }
}

impl KeySpec {
    /// Checks a value against the key's kind and rule and returns it in `function.json` form
    /// (a comma-separated string list becomes a JSON array, method names are lower-cased, …).
    pub fn normalize(&self, value: Value) -> Result<Value, String> {
        let value = match (self.kind, value) {
            (ValueKind::Str, v @ Value::String(_)) => v,
            (ValueKind::Bool, v @ Value::Bool(_)) => v,
            (ValueKind::StrList, Value::String(s)) => Value::Array(
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.into()))
                    .collect(),
            ),
            (ValueKind::StrList, Value::Array(items)) if items.iter().all(Value::is_string) => {
                Value::Array(items)
            }
            // JavaScript numbers arrive as doubles: a whole one is as good as an integer.
            (ValueKind::Int, Value::Number(n)) if whole_number(&n).is_some() => {
                Value::from(whole_number(&n).unwrap_or(0))
            }
            (kind, other) => {
                return Err(format!("`{}` takes {}, found `{other}`", self.name, kind.describe()));
            }
        };
        match self.check {
            Some(check) => check(&value).map_err(|why| format!("`{}`: {why}", self.name)),
            None => Ok(value),
        }
    }
}

const HTTP_METHODS: &[&str] =
    &["get", "post", "put", "delete", "patch", "head", "options", "trace", "connect"];

/// The host's own parser, so a template it would refuse at start-up is refused at declaration.
fn check_route(value: &Value) -> Result<Value, String> {
    let template = value.as_str().unwrap_or_default();
    crate::route::RouteTemplate::parse(template).map_err(|e| e.message)?;
    Ok(value.clone())
}

fn check_blob_trigger_path(value: &Value) -> Result<Value, String> {
    crate::blob_path::BlobPathPattern::parse(value.as_str().unwrap_or_default())
        .map_err(|e| e.to_string())?;
    Ok(value.clone())
}

fn check_blob_source(value: &Value) -> Result<Value, String> {
    match value.as_str().unwrap_or_default() {
        s if s.eq_ignore_ascii_case("LogsAndContainerScan") => {
            Ok(Value::String("LogsAndContainerScan".into()))
        }
        s if s.eq_ignore_ascii_case("EventGrid") => Ok(Value::String("EventGrid".into())),
        other => {
            Err(format!("`{other}` is not a blob trigger source; expected LogsAndContainerScan or EventGrid"))
        }
    }
}

fn check_methods(value: &Value) -> Result<Value, String> {
    let mut out = Vec::new();
    for item in value.as_array().into_iter().flatten() {
        let method = item.as_str().unwrap_or_default().to_ascii_lowercase();
        if !HTTP_METHODS.contains(&method.as_str()) {
            return Err(format!(
                "`{method}` is not an HTTP method; expected some of {}",
                HTTP_METHODS.join(", ")
            ));
        }
        if !out.contains(&Value::String(method.clone())) {
            out.push(Value::String(method));
        }
    }
    if out.is_empty() {
        return Err("list at least one HTTP method, or leave `methods` out to accept every method".into());
    }
    Ok(Value::Array(out))
}

fn check_auth_level(value: &Value) -> Result<Value, String> {
    let level = value.as_str().unwrap_or_default().to_ascii_lowercase();
    match level.as_str() {
        "anonymous" | "function" | "admin" => Ok(Value::String(level)),
        _ => Err(format!("`{level}` is not an auth level; expected anonymous, function or admin")),
    }
}

fn whole_number(n: &serde_json::Number) -> Option<u64> {
    n.as_u64()
        .or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 9.0e15).map(|f| f as u64))
}

/// The host's filter parser, with binding expressions inside quoted strings replaced by
/// placeholders (see [`fnwire_tables::check_filter_template`]).
fn check_table_filter(value: &Value) -> Result<Value, String> {
    fnwire_tables::check_filter_template(value.as_str().unwrap_or_default())
        .map_err(|e| format!("{e}; {}", fnwire_tables::FILTER_HELP))?;
    Ok(value.clone())
}

fn check_take(value: &Value) -> Result<Value, String> {
    match value.as_u64() {
        Some(1..) => Ok(value.clone()),
        _ => Err("take at least 1 entity, or leave `take` out to read every match".into()),
    }
}

fn check_data_type(value: &Value) -> Result<Value, String> {
    let text = value.as_str().unwrap_or_default().to_ascii_lowercase();
    match text.as_str() {
        "string" | "binary" | "stream" => Ok(Value::String(text)),
        _ => Err(format!("`{text}` is not a data type; expected string, binary or stream")),
    }
}

/// The accepted key a misspelled one most likely meant: at most two edits away (or a
/// camelCase spelling of it, e.g. `authLevel`).
pub fn closest_key<'a>(key: &str, accepted: &[&'a str]) -> Option<&'a str> {
    let folded = key.to_ascii_lowercase().replace('_', "");
    accepted
        .iter()
        .map(|candidate| (edit_distance(&folded, &candidate.replace('_', "")), *candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over bytes; keys are short ASCII identifiers.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// The `function.json` spelling of a key written in snake_case, for bindings the catalog does
/// not know (the generic binding): `command_text` -> `commandText`; camelCase stays as it is.
pub fn snake_to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper_next = false;
    for (i, c) in key.chars().enumerate() {
        if c == '_' && i > 0 {
            upper_next = true;
        } else if upper_next {
            out.extend(c.to_uppercase());
            upper_next = false;
        } else {
            out.push(c);
        }
    }
    out
}
