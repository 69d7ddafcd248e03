//! `fnwire topic create|list|delete|send|peek` and `fnwire subscription create|list|delete`:
//! manage an app's Service Bus queues, topics and subscriptions in its store from the command
//! line (they work while a host runs; a changed rule applies from the next send).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;
use fnwire_messaging::{
    CorrelationFilter, EntityDecl, EntityKind, FilterSpec, Message, QUEUE_SUBSCRIPTION, RuleSpec,
    SubscriptionDecl, SubscriptionOptions, TopicOptions, Value,
};
use fnwire_storage::{Outgoing, QueueStore, StorageError};

use super::service_bus::topics;
use crate::app_store::AppStoreError;

#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic (or, with --queue, a Service Bus queue), or update its options.
    Create {
        name: String,
        /// A queue (one receiver) instead of a topic (one copy per matching subscription).
        #[arg(long)]
        queue: bool,
        /// Default time to live of its messages (PT1H, 01:00:00) [default: 14 days].
        #[arg(long, value_name = "SPAN")]
        ttl: Option<String>,
        /// Drop a message whose MessageId was sent within this window (PT10M, 00:10:00).
        #[arg(long, value_name = "SPAN")]
        duplicate_detection: Option<String>,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
    /// List the queues and topics with their subscriptions, rules and message counts.
    List {
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
    /// Delete a queue or topic with its subscriptions and messages.
    Delete {
        name: String,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
    /// Send a message to a queue or topic.
    Send {
        name: String,
        body: String,
        /// An application property, `name=value` (a number, true/false, or text); repeatable.
        #[arg(long = "property", short = 'p', value_name = "NAME=VALUE")]
        properties: Vec<String>,
        #[arg(long)]
        message_id: Option<String>,
        #[arg(long)]
        correlation_id: Option<String>,
        /// The subject (Label).
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        content_type: Option<String>,
        /// Deliver no earlier than this time (RFC 3339).
        #[arg(long, value_name = "TIME")]
        schedule: Option<String>,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
    /// Show the messages of a queue, or of a topic's subscription, without locking them.
    Peek {
        name: String,
        /// The subscription (topics only).
        #[arg(long)]
        subscription: Option<String>,
        /// Show the dead-letter queue instead.
        #[arg(long)]
        dead_letter: bool,
        #[arg(long, default_value_t = 32)]
        max: usize,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum SubscriptionCommand {
    /// Create (or replace) a subscription of a topic with its rule.
    Create {
        name: String,
        #[arg(long)]
        topic: String,
        /// A SQL filter, e.g. "type = 'order' AND total > 100" [default: every message].
        #[arg(long, conflicts_with = "correlation")]
        filter: Option<String>,
        /// A correlation filter: sys.CorrelationId=…, sys.Label=…, or application properties, comma-separated.
        #[arg(long, value_name = "K=V,…")]
        correlation: Option<String>,
        /// A SQL action applied to the subscription's copy, e.g. "SET priority = 'high'".
        #[arg(long)]
        action: Option<String>,
        /// Deliveries before a message goes to the dead-letter queue [default: 10].
        #[arg(long)]
        max_delivery_count: Option<u32>,
        /// How long a delivered message stays locked (PT1M, 00:01:00) [default: 1 minute].
        #[arg(long, value_name = "SPAN")]
        lock_duration: Option<String>,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
    /// List a topic's subscriptions with their rules and message counts.
    List {
        #[arg(long)]
        topic: String,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
    /// Delete a subscription and its messages.
    Delete {
        name: String,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
}

/// Why a `fnwire topic` or `fnwire subscription` command failed.
#[derive(Debug, thiserror::Error)]
pub enum TopicCliError {
    #[error(transparent)]
    App(#[from] AppStoreError),
    #[error("`{value}` is not valid for {option}: {why}")]
    Argument { option: &'static str, value: String, why: String },
    // Boxed: a storage error is large.
    #[error(transparent)]
    Storage(Box<StorageError>),
}

impl From<StorageError> for TopicCliError {
    fn from(e: StorageError) -> Self {
        TopicCliError::Storage(Box::new(e))
    }
}

fn open(app: &Path) -> Result<Arc<dyn QueueStore>, TopicCliError> {
    Ok(crate::app_store::open(app)?)
}

fn span(option: &'static str, value: Option<String>) -> Result<Option<std::time::Duration>, TopicCliError> {
    match value {
        None => Ok(None),
        Some(v) => fnwire_messaging::parse_duration(&v).filter(|d| !d.is_zero()).map(Some).ok_or(
            TopicCliError::Argument {
                option,
                value: v,
                why: "use an ISO 8601 duration (PT1M) or hh:mm:ss".into(),
            },
        ),
    }
}

fn describe_rule(r: &RuleSpec) -> String {
    let filter = match &r.filter {
        FilterSpec::Sql(s) => format!("SQL: {s}"),
        FilterSpec::Correlation(c) => {
            format!("correlation: {}", serde_json::to_string(c).unwrap_or_default())
        }
        FilterSpec::True => "every message".into(),
        FilterSpec::False => "no message".into(),
    };
    match &r.action {
        Some(a) => format!("{filter}; action: {a}"),
        None => filter,
    }
}

/// Runs a `fnwire topic` command and returns what it prints.
pub fn run_topic(command: TopicCommand) -> Result<String, TopicCliError> {
    let mut out = String::new();
    match command {
        TopicCommand::Create { name, queue, ttl, duplicate_detection, app } => {
            let store = open(&app)?;
            let options = TopicOptions {
                default_ttl: span("--ttl", ttl)?.unwrap_or(fnwire_messaging::entities::DEFAULT_TTL),
                duplicate_detection: span("--duplicate-detection", duplicate_detection)?,
            };
            let decl = if queue {
                EntityDecl::queue(&name, options, SubscriptionOptions::default())
            } else {
                EntityDecl { name: name.clone(), kind: EntityKind::Topic, options, subscriptions: Vec::new() }
            };
            topics(store.as_ref())?.declare_entity(&decl)?;
            let _ = writeln!(out, "{} `{name}` is ready", decl.kind.as_str());
        }
        TopicCommand::List { app } => {
            let store = open(&app)?;
            let entities = topics(store.as_ref())?.list_entities()?;
            if entities.is_empty() {
                out.push_str("(no Service Bus queues or topics yet)\n");
            }
            for e in entities {
                let dedup = e
                    .options
                    .duplicate_detection
                    .map(|w| format!(", duplicate detection {w:?}"))
                    .unwrap_or_default();
                let _ =
                    writeln!(out, "{} {}  (ttl {:?}{dedup})", e.kind.as_str(), e.name, e.options.default_ttl);
                for s in e.subscriptions {
                    let label = if s.name == QUEUE_SUBSCRIPTION {
                        "  messages".to_string()
                    } else {
                        format!("  {}", s.name)
                    };
                    let _ = writeln!(
                        out,
                        "{label}: {} active, {} dead-lettered; lock {:?}, max deliveries {}",
                        s.active, s.dead_letters, s.options.lock_duration, s.options.max_delivery_count
                    );
                    if e.kind == EntityKind::Topic {
                        for r in &s.rules {
                            let _ = writeln!(out, "    rule {}: {}", r.name, describe_rule(r));
                        }
                    }
                }
            }
        }
        TopicCommand::Delete { name, app } => {
            let store = open(&app)?;
            if topics(store.as_ref())?.delete_entity(&name)? {
                let _ = writeln!(out, "deleted `{name}` with its subscriptions and messages");
            } else {
                let _ = writeln!(out, "there is no queue or topic `{name}`");
            }
        }
        TopicCommand::Send {
            name,
            body,
            properties,
            message_id,
            correlation_id,
            subject,
            content_type,
            schedule,
            app,
        } => {
            let store = open(&app)?;
            let mut m = Message::new(body.into_bytes());
            for p in properties {
                let Some((k, v)) = p.split_once('=') else {
                    return Err(TopicCliError::Argument {
                        option: "--property",
                        value: p,
                        why: "write name=value".into(),
                    });
                };
                let value = fnwire_messaging::filter::parse_constant(v.trim())
                    .unwrap_or_else(|_| Value::Str(v.trim().into()));
                m.properties.insert(k.trim().to_string(), value);
            }
            m.system.message_id = message_id;
            m.system.correlation_id = correlation_id;
            m.system.subject = subject;
            m.system.content_type = content_type;
            if let Some(t) = schedule {
                let when = chrono::DateTime::parse_from_rfc3339(&t).map_err(|e| TopicCliError::Argument {
                    option: "--schedule",
                    value: t.clone(),
                    why: format!("not an RFC 3339 time ({e})"),
                })?;
                m.system.scheduled_enqueue_time_utc = Some(when.with_timezone(&chrono::Utc));
            }
            let sent = topics(store.as_ref())?.send(&[Outgoing::new(name.clone(), m)])?;
            let _ = match sent.first() {
                Some(s) if s.duplicate => writeln!(
                    out,
                    "dropped: a message with this MessageId was sent to `{name}` within its duplicate detection window"
                ),
                Some(s) => writeln!(
                    out,
                    "sent to `{name}`: {} cop{}",
                    s.copies,
                    if s.copies == 1 { "y" } else { "ies" }
                ),
                None => Ok(()),
            };
        }
        TopicCommand::Peek { name, subscription, dead_letter, max, app } => {
            let store = open(&app)?;
            let subscription = subscription.unwrap_or_else(|| QUEUE_SUBSCRIPTION.to_string());
            let copies = topics(store.as_ref())?.peek_subscription(&name, &subscription, max, dead_letter)?;
            for c in &copies {
                let props = c.message.properties_json();
                let reason = match (&c.dead_letter_reason, &c.dead_letter_description) {
                    (Some(r), Some(d)) => format!("  [{r}: {d}]"),
                    (Some(r), None) => format!("  [{r}]"),
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "#{} {} delivered {}x  {}  {props}  {}{reason}",
                    c.sequence_number,
                    c.state,
                    c.delivery_count,
                    c.message.system.message_id.as_deref().unwrap_or("-"),
                    String::from_utf8_lossy(&c.message.body)
                );
            }
            let _ = writeln!(out, "({} shown)", copies.len());
        }
    }
    Ok(out)
}

/// Runs a `fnwire subscription` command and returns what it prints.
pub fn run_subscription(command: SubscriptionCommand) -> Result<String, TopicCliError> {
    let mut out = String::new();
    match command {
        SubscriptionCommand::Create {
            name,
            topic,
            filter,
            correlation,
            action,
            max_delivery_count,
            lock_duration,
            app,
        } => {
            let store = open(&app)?;
            let filter = match (filter, correlation) {
                (Some(sql), _) => FilterSpec::Sql(sql),
                (None, Some(pairs)) => {
                    FilterSpec::Correlation(CorrelationFilter::parse_pairs(&pairs).map_err(|why| {
                        TopicCliError::Argument { option: "--correlation", value: pairs.clone(), why }
                    })?)
                }
                (None, None) => FilterSpec::True,
            };
            let rule = RuleSpec { name: fnwire_messaging::DEFAULT_RULE_NAME.into(), filter, action };
            let mut options = SubscriptionOptions::default();
            if let Some(n) = max_delivery_count {
                if n == 0 {
                    return Err(TopicCliError::Argument {
                        option: "--max-delivery-count",
                        value: "0".into(),
                        why: "it must be at least 1".into(),
                    });
                }
                options.max_delivery_count = n;
            }
            if let Some(d) = span("--lock-duration", lock_duration)? {
                options.lock_duration = d;
            }
            let decl = SubscriptionDecl { name: name.clone(), options, rules: vec![rule.clone()] };
            topics(store.as_ref())?.create_subscription(&topic, &decl)?;
            let _ = writeln!(out, "subscription `{topic}/{name}` is ready ({})", describe_rule(&rule));
        }
        SubscriptionCommand::List { topic, app } => {
            let store = open(&app)?;
            let entities = topics(store.as_ref())?.list_entities()?;
            let Some(e) = entities.into_iter().find(|e| e.name == topic) else {
                return Err(StorageError::EntityNotFound { name: topic }.into());
            };
            if e.subscriptions.is_empty() {
                let _ = writeln!(out, "(topic `{topic}` has no subscriptions)");
            }
            for s in e.subscriptions {
                let _ = writeln!(out, "{}: {} active, {} dead-lettered", s.name, s.active, s.dead_letters);
                for r in &s.rules {
                    let _ = writeln!(out, "  rule {}: {}", r.name, describe_rule(r));
                }
            }
        }
        SubscriptionCommand::Delete { name, topic, app } => {
            let store = open(&app)?;
            if topics(store.as_ref())?.delete_subscription(&topic, &name)? {
                let _ = writeln!(out, "deleted subscription `{topic}/{name}` and its messages");
            } else {
                let _ = writeln!(out, "topic `{topic}` has no subscription `{name}`");
            }
        }
    }
    Ok(out)
}
