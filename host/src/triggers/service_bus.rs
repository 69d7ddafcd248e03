//! Service Bus triggers on the store's queues and topics (`serviceBusTrigger` with `queueName`,
//! or `topicName` + `subscriptionName`), with the Service Bus extension's behaviour: receive
//! with peek-lock, up to `maxConcurrentCalls` invocations at once; renew the lock while the
//! function runs (up to `maxAutoLockRenewalDuration`); complete the copy after a Success,
//! together with the function's outputs (one transaction); abandon it after a failure, so it
//! is delivered again and, after `MaxDeliveryCount` deliveries, dead-lettered.
//!
//! The entities come from `servicebus.json` beside host.json (see `fnwire_messaging::entities`)
//! and are applied at start; a queue a trigger or output names is created if missing (it needs
//! no rules), a topic subscription must be declared.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fnwire_messaging::{EntityDecl, EntityKind, QUEUE_SUBSCRIPTION, SubscriptionOptions, TopicOptions};
use fnwire_protocol::rpc::{InvocationRequest, ParameterBinding, TypedData, parameter_binding, typed_data};
use fnwire_storage::{LockedCopy, MessageLock, QueueStore, StorageError, TopicStore};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::queue::blocking;
use crate::bindings::HeldMessage;
use crate::config::{ConfigError, read_host_json};
use crate::invoke::{Invocation, Pipeline};
use crate::lifecycle::IndexedFunction;

/// The declaration file beside host.json.
pub const DECLARATIONS_FILE: &str = "servicebus.json";
/// How long a copy that found no worker waits before it is delivered again.
const NO_WORKER_RETRY_DELAY: Duration = Duration::from_millis(500);
const MIN_POLL_DELAY: Duration = Duration::from_millis(50);
const MAX_POLL_DELAY: Duration = Duration::from_secs(1);

/// A Service Bus trigger's settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceBusTriggerError {
    #[error("the serviceBusTrigger has neither `queueName` nor `topicName` with `subscriptionName`")]
    MissingEntity,
    #[error("the serviceBusTrigger has `topicName` `{0}` but no `subscriptionName`")]
    MissingSubscription(String),
    #[error("the serviceBusTrigger has both `queueName` and `topicName`; a trigger listens on one of them")]
    Both,
    #[error("{0}")]
    InvalidName(String),
    #[error(
        "the serviceBusTrigger has `isSessionsEnabled: true`, and fnwire does not support Service Bus sessions yet \
         (messages of one SessionId would not be kept to one receiver, in order); remove `isSessionsEnabled` or set \
         it to false"
    )]
    SessionsNotSupported,
}

/// A Service Bus-triggered function as the host runs it.
#[derive(Debug, Clone)]
pub struct ServiceBusFunction {
    pub name: String,
    pub function_id: String,
    pub trigger_name: String,
    pub kind: EntityKind,
    pub entity: String,
    /// A queue's is `$queue`.
    pub subscription: String,
    /// `dataType: binary`: the body arrives as bytes instead of a string.
    pub binary: bool,
}

fn non_empty<'a>(trigger: &'a fnwire_metadata::Binding, key: &str) -> Option<&'a str> {
    trigger.str_property(key).map(str::trim).filter(|s| !s.is_empty())
}

impl ServiceBusFunction {
    pub fn from_binding(
        name: &str,
        function_id: &str,
        trigger: &fnwire_metadata::Binding,
    ) -> Result<Self, ServiceBusTriggerError> {
        // Refused rather than ignored: an app that relies on per-session order must not run
        // without it.
        if trigger.bool_property("isSessionsEnabled") == Some(true) {
            return Err(ServiceBusTriggerError::SessionsNotSupported);
        }
        let queue = non_empty(trigger, "queueName");
        let topic = non_empty(trigger, "topicName");
        let (kind, entity, subscription) = match (queue, topic) {
            (Some(_), Some(_)) => return Err(ServiceBusTriggerError::Both),
            (Some(q), None) => (EntityKind::Queue, q, QUEUE_SUBSCRIPTION),
            (None, Some(t)) => {
                let s = non_empty(trigger, "subscriptionName")
                    .ok_or_else(|| ServiceBusTriggerError::MissingSubscription(t.into()))?;
                fnwire_messaging::validate_entity_name(s).map_err(ServiceBusTriggerError::InvalidName)?;
                (EntityKind::Topic, t, s)
            }
            (None, None) => return Err(ServiceBusTriggerError::MissingEntity),
        };
        fnwire_messaging::validate_entity_name(entity).map_err(ServiceBusTriggerError::InvalidName)?;
        Ok(ServiceBusFunction {
            name: name.into(),
            function_id: function_id.into(),
            trigger_name: trigger.name.clone(),
            kind,
            entity: entity.into(),
            subscription: subscription.into(),
            binary: matches!(trigger.data_type, Some(fnwire_metadata::DataType::Binary)),
        })
    }

    /// `queue q` or `topic t, subscription s`, for logs and the console table.
    pub fn describe(&self) -> String {
        match self.kind {
            EntityKind::Queue => format!("service bus queue {}", self.entity),
            EntityKind::Topic => format!("service bus topic {}/{}", self.entity, self.subscription),
        }
    }

    /// The invocation for a copy: the body as `string` (or `bytes` with dataType binary) and
    /// the trigger metadata the Azure host sends to out-of-process workers.
    pub fn invocation(&self, invocation_id: &str, m: &LockedCopy) -> InvocationRequest {
        let body = if self.binary {
            typed_data::Data::Bytes(m.message.body.clone().into())
        } else {
            typed_data::Data::String(String::from_utf8_lossy(&m.message.body).into_owned())
        };
        InvocationRequest {
            invocation_id: invocation_id.into(),
            function_id: self.function_id.clone(),
            input_data: vec![ParameterBinding {
                name: self.trigger_name.clone(),
                rpc_data: Some(parameter_binding::RpcData::Data(TypedData { data: Some(body) })),
            }],
            trigger_metadata: trigger_metadata(m),
            trace_context: Some(message_trace_context(&m.message)),
            retry_context: None,
        }
    }
}

/// The application properties a Service Bus message carries its sender's W3C trace context in:
/// `Diagnostic-Id` (the Azure SDKs' name, a `traceparent` value) and `traceparent`/`tracestate`.
pub const DIAGNOSTIC_ID_PROPERTY: &str = "Diagnostic-Id";
pub const TRACEPARENT_PROPERTY: &str = "traceparent";
pub const TRACESTATE_PROPERTY: &str = "tracestate";

/// The trace context of an invocation for `message`: it continues the sender's trace, read as
/// Azure's Service Bus SDKs read it (`traceparent` first, then `Diagnostic-Id`), or starts one.
pub fn message_trace_context(message: &fnwire_messaging::Message) -> fnwire_protocol::rpc::RpcTraceContext {
    let text = |name: &str| match message.properties.get(name) {
        Some(fnwire_messaging::Value::Str(text)) => Some(text.as_str()),
        _ => None,
    };
    let traceparent = text(TRACEPARENT_PROPERTY).or_else(|| text(DIAGNOSTIC_ID_PROPERTY));
    crate::http::request::continue_trace(traceparent, text(TRACESTATE_PROPERTY))
}

fn json(text: String) -> TypedData {
    TypedData { data: Some(typed_data::Data::Json(text)) }
}

fn json_time(t: DateTime<Utc>) -> TypedData {
    json(format!("\"{}\"", t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
}

/// The trigger metadata of one message, as the Azure host sends it for a `serviceBusTrigger`:
/// strings as `string`, numbers, times and property bags as JSON; system properties that are
/// not set are left out. `UserProperties` is the older name of `ApplicationProperties`, and
/// `Label` of `Subject`; both are sent, as Azure does. `TimeToLive` is left out: Service Bus's
/// default (14 days) is a .NET time span with days, which azure.functions' parser refuses.
pub fn trigger_metadata(m: &LockedCopy) -> HashMap<String, TypedData> {
    let string = |s: &str| TypedData { data: Some(typed_data::Data::String(s.to_string())) };
    let sys = &m.message.system;
    let properties = m.message.properties_json().to_string();
    let mut out = HashMap::from([
        ("MessageId".to_string(), string(sys.message_id.as_deref().unwrap_or_default())),
        ("DeliveryCount".to_string(), json(m.delivery_count.to_string())),
        ("SequenceNumber".to_string(), json(m.sequence_number.to_string())),
        ("EnqueuedTimeUtc".to_string(), json_time(m.enqueued_time)),
        ("ExpiresAtUtc".to_string(), json_time(m.expires_at)),
        ("LockedUntil".to_string(), json_time(m.locked_until)),
        ("LockToken".to_string(), string(&m.lock_token)),
        ("ApplicationProperties".to_string(), json(properties.clone())),
        ("UserProperties".to_string(), json(properties)),
    ]);
    let optional = [
        ("ContentType", &sys.content_type),
        ("CorrelationId", &sys.correlation_id),
        ("Subject", &sys.subject),
        ("Label", &sys.subject),
        ("To", &sys.to),
        ("ReplyTo", &sys.reply_to),
        ("ReplyToSessionId", &sys.reply_to_session_id),
        ("SessionId", &sys.session_id),
        ("PartitionKey", &sys.partition_key),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            out.insert(key.to_string(), string(v));
        }
    }
    if let Some(t) = sys.scheduled_enqueue_time_utc {
        out.insert("ScheduledEnqueueTimeUtc".into(), json_time(t));
    }
    out
}

/// host.json `extensions.serviceBus`, with the extension's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceBusOptions {
    /// Invocations at once per function (Azure: 16 × processors; here 16).
    pub max_concurrent_calls: usize,
    /// Messages received per fetch (Azure's `prefetchCount`; 0 means one fetch per free slot).
    pub prefetch_count: usize,
    /// How long a lock is renewed while a function runs (Azure: 5 minutes).
    pub max_auto_lock_renewal: Duration,
}

impl Default for ServiceBusOptions {
    fn default() -> Self {
        ServiceBusOptions {
            max_concurrent_calls: 16,
            prefetch_count: 0,
            max_auto_lock_renewal: Duration::from_secs(300),
        }
    }
}

impl ServiceBusOptions {
    pub fn read(app_dir: &Path) -> Result<ServiceBusOptions, ConfigError> {
        ServiceBusOptions::from_host_json(&read_host_json(app_dir)?)
    }

    pub fn from_host_json(doc: &Value) -> Result<ServiceBusOptions, ConfigError> {
        let mut o = ServiceBusOptions::default();
        let Some(section) = doc.pointer("/extensions/serviceBus") else { return Ok(o) };
        let bad = |message: String| ConfigError::Extension { message };
        let Some(section) = section.as_object() else {
            return Err(bad("extensions.serviceBus must be an object".into()));
        };
        let get = |key: &str| section.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v);
        let count = |key: &str, min: u64| -> Result<Option<usize>, ConfigError> {
            match get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .filter(|n| *n >= min && *n <= 10_000)
                    .map(|n| Some(n as usize))
                    .ok_or_else(|| {
                        bad(format!(
                            "extensions.serviceBus.{key} must be an integer from {min} to 10000, found `{v}`"
                        ))
                    }),
            }
        };
        if let Some(n) = count("maxConcurrentCalls", 1)? {
            o.max_concurrent_calls = n;
        }
        if let Some(n) = count("prefetchCount", 0)? {
            o.prefetch_count = n;
        }
        match get("maxAutoLockRenewalDuration") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                o.max_auto_lock_renewal = super::config::parse_timespan(s)
                    .map_err(|e| bad(format!("extensions.serviceBus.maxAutoLockRenewalDuration: {e}")))?
            }
            Some(other) => {
                return Err(bad(format!(
                    "extensions.serviceBus.maxAutoLockRenewalDuration must be a time span like \"00:05:00\", found `{other}`"
                )));
            }
        }
        Ok(o)
    }
}

/// The store's Service Bus side, or an error saying this store keeps none.
pub fn topics(store: &dyn QueueStore) -> Result<&dyn TopicStore, StorageError> {
    store.topics().ok_or_else(|| {
        StorageError::InvalidServiceBusEntity(format!(
            "the store at {} does not keep Service Bus queues and topics",
            store.describe()
        ))
    })
}

/// Why the Service Bus entities could not be set up at start.
#[derive(Debug, thiserror::Error)]
pub enum DeclarationsError {
    #[error("{path}: {error}. Fix the file and start again")]
    File { path: String, error: fnwire_messaging::DeclarationError },
    #[error("{path} could not be read: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("Service Bus entities: {0}")]
    Store(#[from] StorageError),
    #[error(
        "function `{function}` is triggered by topic `{topic}`, subscription `{subscription}`, which is not declared: add \
         it to {DECLARATIONS_FILE} beside host.json, or create it with `fnwire subscription create {subscription} --topic \
         {topic} --filter \"…\"`"
    )]
    Undeclared { function: String, topic: String, subscription: String },
}

/// Reads `servicebus.json` (if any) beside host.json.
pub fn read_declarations(app_dir: &Path) -> Result<Vec<EntityDecl>, DeclarationsError> {
    let path = app_dir.join(DECLARATIONS_FILE);
    let shown = path.display().to_string();
    match std::fs::read_to_string(&path) {
        Ok(text) => fnwire_messaging::read_declarations(&text)
            .map_err(|error| DeclarationsError::File { path: shown, error }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(DeclarationsError::Read { path: shown, error }),
    }
}

/// Applies the app's declarations, creates the queues its bindings name that do not exist yet,
/// and checks every topic trigger's subscription exists. Runs once at start, before any
/// listener.
pub fn apply_declarations(
    app_dir: &Path,
    store: &dyn QueueStore,
    triggers: &[ServiceBusFunction],
    functions: &[IndexedFunction],
) -> Result<usize, DeclarationsError> {
    let declared = read_declarations(app_dir)?;
    let mut queues_named: Vec<String> =
        triggers.iter().filter(|t| t.kind == EntityKind::Queue).map(|t| t.entity.clone()).collect();
    for f in functions.iter().filter(|f| f.error.is_none()) {
        for b in &f.metadata.bindings {
            if b.binding_type.eq_ignore_ascii_case("serviceBus") {
                if let Some(q) = non_empty(b, "queueName").filter(|q| !q.contains(['{', '%'])) {
                    queues_named.push(q.to_string());
                }
            }
        }
    }
    if declared.is_empty() && queues_named.is_empty() && triggers.is_empty() {
        return Ok(0);
    }
    let store = topics(store)?;
    for d in &declared {
        store.declare_entity(d)?;
    }
    let existing = store.list_entities()?;
    for q in queues_named {
        if !existing.iter().any(|e| e.name == q) && !declared.iter().any(|d| d.name == q) {
            store.declare_entity(&EntityDecl::queue(
                &q,
                TopicOptions::default(),
                SubscriptionOptions::default(),
            ))?;
        }
    }
    let existing = store.list_entities()?;
    for t in triggers.iter().filter(|t| t.kind == EntityKind::Topic) {
        let found = existing
            .iter()
            .any(|e| e.name == t.entity && e.subscriptions.iter().any(|s| s.name == t.subscription));
        if !found {
            return Err(DeclarationsError::Undeclared {
                function: t.name.clone(),
                topic: t.entity.clone(),
                subscription: t.subscription.clone(),
            });
        }
    }
    Ok(declared.len())
}

/// The key under which a listener is woken when this host sends to `entity`.
pub fn signal_key(entity: &str) -> String {
    format!("servicebus:{entity}")
}

/// Listens on the function's queue or subscription for as long as the task lives.
pub(super) async fn run(
    function: ServiceBusFunction,
    store: Arc<dyn QueueStore>,
    pipeline: Pipeline,
    signal: Arc<Notify>,
    options: ServiceBusOptions,
    stop: crate::drain::StopSignal,
) {
    let function = Arc::new(function);
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let mut delay = MIN_POLL_DELAY;
    // Each receive is a store write transaction: topping up one slot at a time cost a receive
    // per delivery under load, so the listener receives again once half the slots are free (as
    // the queue trigger's `newBatchThreshold` does).
    let refill_at = (options.max_concurrent_calls / 2).max(1);
    loop {
        while options.max_concurrent_calls.saturating_sub(in_flight.len()) < refill_at {
            in_flight.join_next().await;
        }
        if stop.is_stopping() {
            while in_flight.join_next().await.is_some() {}
            return;
        }
        let room = options.max_concurrent_calls - in_flight.len();
        let want = if options.prefetch_count > 0 { room.min(options.prefetch_count) } else { room };
        let (s, f) = (store.clone(), function.clone());
        let received = blocking(move || topics(s.as_ref())?.receive(&f.entity, &f.subscription, want)).await;
        let messages = match received {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                tracing::warn!(
                    "{} (function `{}`): could not receive messages: {e}",
                    function.describe(),
                    function.name
                );
                Vec::new()
            }
            None => Vec::new(),
        };
        if messages.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = signal.notified() => {}
                () = stop.stopped() => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
            delay = (delay * 2).min(MAX_POLL_DELAY);
            continue;
        }
        delay = MIN_POLL_DELAY;
        for message in messages {
            let (function, store, pipeline, options) =
                (function.clone(), store.clone(), pipeline.clone(), options.clone());
            in_flight.spawn(async move { process(&function, &store, &pipeline, &options, message).await });
        }
    }
}

async fn process(
    function: &ServiceBusFunction,
    store: &Arc<dyn QueueStore>,
    pipeline: &Pipeline,
    options: &ServiceBusOptions,
    m: LockedCopy,
) {
    let lock = m.lock();
    let invocation_id = uuid::Uuid::new_v4().to_string();
    let invocation = Invocation {
        function: function.name.clone(),
        reason: format!("New message detected on {}", function.describe()),
        request: function.invocation(&invocation_id, &m),
        held: Some(HeldMessage::ServiceBus(lock.clone())),
    };
    let run = pipeline.run(invocation);
    tokio::pin!(run);
    // Renew at half the lock duration while the function runs, up to maxAutoLockRenewalDuration.
    let lock_duration = (m.locked_until - Utc::now())
        .to_std()
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_millis(200));
    let renew_every = lock_duration / 2;
    let renew_until = tokio::time::Instant::now() + options.max_auto_lock_renewal;
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + renew_every, renew_every);
    let outcome = loop {
        tokio::select! {
            outcome = &mut run => break outcome,
            _ = renew.tick(), if tokio::time::Instant::now() < renew_until => {
                let (s, l) = (store.clone(), lock.clone());
                if let Some(Err(e)) = blocking(move || topics(s.as_ref())?.renew_lock(&l)).await {
                    tracing::warn!("message {} of {}: could not renew its lock: {e}", m.sequence_number, function.describe());
                }
            }
        }
    };
    let (counted, delay) = match outcome {
        Ok(_) => return,
        Err(e) if e.never_ran() => (false, NO_WORKER_RETRY_DELAY),
        Err(_) => (true, Duration::ZERO),
    };
    let (s, l) = (store.clone(), lock.clone());
    match blocking(move || topics(s.as_ref())?.abandon(&l, delay, counted)).await {
        Some(Ok(())) if counted => tracing::info!(
            "message {} of {} was abandoned after delivery {}; it will be delivered again, or dead-lettered once it \
             reaches the subscription's MaxDeliveryCount",
            m.sequence_number,
            function.describe(),
            m.delivery_count
        ),
        Some(Ok(())) => {}
        Some(Err(e)) => tracing::warn!(
            "message {} of {}: could not abandon it ({e}); it is delivered again when its lock expires",
            m.sequence_number,
            function.describe()
        ),
        None => {}
    }
}

/// The lock a held copy is completed with (for the bindings' one transaction).
pub fn held_lock(held: &HeldMessage) -> Option<&MessageLock> {
    match held {
        HeldMessage::ServiceBus(lock) => Some(lock),
        HeldMessage::Queue { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use fnwire_messaging::Message;

    #[test]
    fn trigger_shapes_and_metadata() {
        let topic = fnwire_metadata::Binding::new("msg", "serviceBusTrigger", fnwire_metadata::Direction::In)
            .with("topicName", "sales")
            .with("subscriptionName", "orders");
        let f = ServiceBusFunction::from_binding("f", "id", &topic).unwrap();
        assert_eq!(
            (f.kind, f.entity.as_str(), f.subscription.as_str()),
            (EntityKind::Topic, "sales", "orders")
        );
        let queue = fnwire_metadata::Binding::new("msg", "serviceBusTrigger", fnwire_metadata::Direction::In)
            .with("queueName", "jobs");
        assert_eq!(
            ServiceBusFunction::from_binding("f", "id", &queue).unwrap().subscription,
            QUEUE_SUBSCRIPTION
        );
        let no_sub =
            fnwire_metadata::Binding::new("msg", "serviceBusTrigger", fnwire_metadata::Direction::In)
                .with("topicName", "sales");
        assert!(
            ServiceBusFunction::from_binding("f", "id", &no_sub)
                .unwrap_err()
                .to_string()
                .contains("subscriptionName")
        );
        let sessions = queue.clone().with("isSessionsEnabled", true);
        let refused = ServiceBusFunction::from_binding("f", "id", &sessions).unwrap_err().to_string();
        assert!(refused.contains("isSessionsEnabled") && refused.contains("not support"), "{refused}");
        let no_sessions = queue.clone().with("isSessionsEnabled", false);
        assert!(ServiceBusFunction::from_binding("f", "id", &no_sessions).is_ok());

        let t = Utc.with_ymd_and_hms(2027, 1, 2, 3, 4, 5).unwrap();
        let copy = LockedCopy {
            entity: "sales".into(),
            subscription: "orders".into(),
            sequence_number: 7,
            message: Message::new(&b"{\"total\":1}"[..])
                .with_property("type", "order")
                .with_system("CorrelationId", "c-1")
                .with_system("Label", "l"),
            delivery_count: 2,
            enqueued_time: t,
            expires_at: t + chrono::Duration::days(14),
            locked_until: t,
            lock_token: "tok".into(),
        };
        let req = f.invocation("inv", &copy);
        let md = |k: &str| req.trigger_metadata.get(k).and_then(|d| d.data.clone());
        assert_eq!(md("DeliveryCount"), Some(typed_data::Data::Json("2".into())));
        assert_eq!(md("SequenceNumber"), Some(typed_data::Data::Json("7".into())));
        assert_eq!(
            md("EnqueuedTimeUtc"),
            Some(typed_data::Data::Json("\"2027-01-02T03:04:05.000Z\"".into()))
        );
        assert_eq!(md("CorrelationId"), Some(typed_data::Data::String("c-1".into())));
        assert_eq!(md("Label"), md("Subject"));
        assert_eq!(md("UserProperties"), Some(typed_data::Data::Json("{\"type\":\"order\"}".into())));
        assert_eq!(md("ApplicationProperties"), md("UserProperties"));
        assert!(md("TimeToLive").is_none());
        assert_eq!(md("LockToken"), Some(typed_data::Data::String("tok".into())));
        assert!(md("ReplyTo").is_none(), "unset system properties are left out");
        assert!(md("MessageId").is_some());
    }

    #[test]
    fn a_message_continues_its_senders_trace_or_starts_one() {
        let sender = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let trace_of = |m: &Message| message_trace_context(m).trace_parent;
        let by_diagnostic_id = trace_of(&Message::new(&b"x"[..]).with_property("Diagnostic-Id", sender));
        assert!(by_diagnostic_id.starts_with("00-0af7651916cd43dd8448eb211c80319c-"), "{by_diagnostic_id}");
        assert!(!by_diagnostic_id.contains("b7ad6b7169203331"), "the invocation has a span of its own");
        let other = "00-11111111111111111111111111111111-2222222222222222-01";
        let both = Message::new(&b"x"[..])
            .with_property("Diagnostic-Id", other)
            .with_property("traceparent", sender)
            .with_property("tracestate", "k=v");
        let context = message_trace_context(&both);
        assert!(context.trace_parent.contains("0af7651916cd43dd8448eb211c80319c"), "traceparent wins");
        assert_eq!(context.trace_state, "k=v");
        let fresh = trace_of(&Message::new(&b"x"[..]));
        let again = trace_of(&Message::new(&b"x"[..]).with_property("Diagnostic-Id", "not a traceparent"));
        assert_ne!(fresh[3..35], again[3..35], "each message without a trace starts its own");
    }

    #[test]
    fn options_from_host_json() {
        let doc = serde_json::json!({"extensions": {"serviceBus": {"maxConcurrentCalls": 4, "prefetchCount": 8,
            "maxAutoLockRenewalDuration": "00:01:00"}}});
        let o = ServiceBusOptions::from_host_json(&doc).unwrap();
        assert_eq!(
            (o.max_concurrent_calls, o.prefetch_count, o.max_auto_lock_renewal),
            (4, 8, Duration::from_secs(60))
        );
        let bad = serde_json::json!({"extensions": {"serviceBus": {"maxConcurrentCalls": 0}}});
        assert!(
            ServiceBusOptions::from_host_json(&bad).unwrap_err().to_string().contains("maxConcurrentCalls")
        );
    }
}
