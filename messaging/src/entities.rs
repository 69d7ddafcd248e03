//! Queues, topics and subscriptions as an app declares them, and their options.
//!
//! The declaration file (`servicebus.json` beside `host.json`) has the shape of the Service Bus
//! emulator's `Config.json` (`UserConfig.Namespaces[].Queues/Topics`, each with `Properties`,
//! subscriptions with `Rules` of `FilterType` `Sql` or `Correlation` and an optional `Action`),
//! so one file serves both. `host.json` keeps only what Azure's host reads there.
//!
//! A Service Bus *queue* is kept as a topic with one subscription, [`QUEUE_SUBSCRIPTION`],
//! that takes every message: one store, one set of delivery rules for both.

use std::time::Duration;

use serde::Deserialize;

use crate::rule::{CorrelationFilter, FilterSpec, Rule, RuleError, RuleSpec};

/// The one subscription of a queue.
pub const QUEUE_SUBSCRIPTION: &str = "$queue";

/// Service Bus's defaults: 14 days to live, a 1-minute lock, 10 deliveries.
pub const DEFAULT_TTL: Duration = Duration::from_secs(14 * 24 * 60 * 60);
pub const DEFAULT_LOCK_DURATION: Duration = Duration::from_secs(60);
pub const DEFAULT_MAX_DELIVERY_COUNT: u32 = 10;
/// Service Bus's default duplicate detection window, when a topic asks for detection.
pub const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Queue,
    Topic,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Queue => "queue",
            EntityKind::Topic => "topic",
        }
    }
}

/// Options of a topic (or of a queue's sending side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicOptions {
    pub default_ttl: Duration,
    /// A message whose `MessageId` was sent within this window is dropped; `None`: no detection.
    pub duplicate_detection: Option<Duration>,
}

impl Default for TopicOptions {
    fn default() -> Self {
        TopicOptions { default_ttl: DEFAULT_TTL, duplicate_detection: None }
    }
}

/// Options of a subscription (or of a queue's receiving side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionOptions {
    pub lock_duration: Duration,
    /// After this many deliveries without completion a message goes to the dead-letter queue.
    pub max_delivery_count: u32,
    /// Overrides the topic's default time to live when shorter (as in Service Bus).
    pub default_ttl: Option<Duration>,
    /// Expired messages move to the dead-letter queue instead of being dropped.
    pub dead_lettering_on_expiration: bool,
}

impl Default for SubscriptionOptions {
    fn default() -> Self {
        SubscriptionOptions {
            lock_duration: DEFAULT_LOCK_DURATION,
            max_delivery_count: DEFAULT_MAX_DELIVERY_COUNT,
            default_ttl: None,
            dead_lettering_on_expiration: false,
        }
    }
}

/// A subscription to create, with its rules (checked).
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionDecl {
    pub name: String,
    pub options: SubscriptionOptions,
    pub rules: Vec<RuleSpec>,
}

/// A queue or topic to create.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityDecl {
    pub name: String,
    pub kind: EntityKind,
    pub options: TopicOptions,
    /// A queue's is its one [`QUEUE_SUBSCRIPTION`].
    pub subscriptions: Vec<SubscriptionDecl>,
}

impl EntityDecl {
    pub fn queue(name: &str, options: TopicOptions, receive: SubscriptionOptions) -> EntityDecl {
        EntityDecl {
            name: name.into(),
            kind: EntityKind::Queue,
            options,
            subscriptions: vec![SubscriptionDecl {
                name: QUEUE_SUBSCRIPTION.into(),
                options: receive,
                rules: vec![RuleSpec::accept_all()],
            }],
        }
    }
}

/// The declaration file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeclarationError {
    #[error("it is not valid JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "{entity}: `{field}` is `{value}`, which is not a duration (use ISO 8601 such as PT1M or P14D, or hh:mm:ss)"
    )]
    Duration { entity: String, field: &'static str, value: String },
    #[error("{entity}: {error}")]
    Rule { entity: String, error: Box<RuleError> },
    #[error("{entity}: {why}")]
    Invalid { entity: String, why: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct File {
    user_config: UserConfig,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UserConfig {
    #[serde(default)]
    namespaces: Vec<Namespace>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Namespace {
    #[serde(default)]
    queues: Vec<RawEntity>,
    #[serde(default)]
    topics: Vec<RawEntity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawEntity {
    name: String,
    #[serde(default)]
    properties: RawProperties,
    #[serde(default)]
    subscriptions: Vec<RawSubscription>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawSubscription {
    name: String,
    #[serde(default)]
    properties: RawProperties,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawProperties {
    default_message_time_to_live: Option<String>,
    duplicate_detection_history_time_window: Option<String>,
    requires_duplicate_detection: Option<bool>,
    lock_duration: Option<String>,
    max_delivery_count: Option<u32>,
    dead_lettering_on_message_expiration: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawRule {
    name: String,
    #[serde(default)]
    properties: RawRuleProperties,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawRuleProperties {
    filter_type: Option<String>,
    sql_filter: Option<SqlText>,
    correlation_filter: Option<CorrelationFilter>,
    action: Option<SqlText>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SqlText {
    sql_expression: String,
}

/// Reads an ISO 8601 duration (`PT1M`, `P14D`, `PT0.5S`) or a .NET time span (`00:01:00`,
/// `1.00:00:00`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix('P').or_else(|| t.strip_prefix('p')) {
        let mut total = 0f64;
        let mut in_time = false;
        let mut number = String::new();
        for c in rest.chars() {
            match c.to_ascii_uppercase() {
                'T' if number.is_empty() && !in_time => in_time = true,
                d if d.is_ascii_digit() || d == '.' => number.push(d),
                unit => {
                    let n: f64 = number.parse().ok()?;
                    number.clear();
                    total += n * match (unit, in_time) {
                        ('W', false) => 7.0 * 86400.0,
                        ('D', false) => 86400.0,
                        ('H', true) => 3600.0,
                        ('M', true) => 60.0,
                        ('S', true) => 1.0,
                        _ => return None,
                    };
                }
            }
        }
        return (number.is_empty() && total.is_finite() && rest.len() > usize::from(in_time))
            .then(|| Duration::from_secs_f64(total));
    }
    let (days, clock) = match t.split_once('.') {
        Some((d, c)) if c.contains(':') && !d.contains(':') => (d.parse::<u64>().ok()?, c),
        _ => (0, t),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let [h, m, s] = parts.as_slice() else { return None };
    let (h, m, s): (u64, u64, f64) = (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?);
    (m < 60 && (0.0..60.0).contains(&s))
        .then(|| Duration::from_secs_f64((days * 86400 + h * 3600 + m * 60) as f64 + s))
}

fn duration(
    entity: &str,
    field: &'static str,
    value: &Option<String>,
) -> Result<Option<Duration>, DeclarationError> {
    match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse_duration(v)
            .filter(|d| !d.is_zero())
            .map(Some)
            .ok_or_else(|| DeclarationError::Duration { entity: entity.into(), field, value: v.into() }),
    }
}

fn topic_options(entity: &str, p: &RawProperties) -> Result<TopicOptions, DeclarationError> {
    let window =
        duration(entity, "DuplicateDetectionHistoryTimeWindow", &p.duplicate_detection_history_time_window)?;
    Ok(TopicOptions {
        default_ttl: duration(entity, "DefaultMessageTimeToLive", &p.default_message_time_to_live)?
            .unwrap_or(DEFAULT_TTL),
        duplicate_detection: p
            .requires_duplicate_detection
            .unwrap_or(false)
            .then(|| window.unwrap_or(DEFAULT_DUPLICATE_WINDOW)),
    })
}

fn subscription_options(entity: &str, p: &RawProperties) -> Result<SubscriptionOptions, DeclarationError> {
    let max = p.max_delivery_count.unwrap_or(DEFAULT_MAX_DELIVERY_COUNT);
    if max == 0 {
        return Err(DeclarationError::Invalid {
            entity: entity.into(),
            why: "`MaxDeliveryCount` must be at least 1".into(),
        });
    }
    Ok(SubscriptionOptions {
        lock_duration: duration(entity, "LockDuration", &p.lock_duration)?.unwrap_or(DEFAULT_LOCK_DURATION),
        max_delivery_count: max,
        default_ttl: duration(entity, "DefaultMessageTimeToLive", &p.default_message_time_to_live)?,
        dead_lettering_on_expiration: p.dead_lettering_on_message_expiration.unwrap_or(false),
    })
}

fn rule(entity: &str, raw: &RawRule) -> Result<RuleSpec, DeclarationError> {
    let p = &raw.properties;
    let invalid =
        |why: String| DeclarationError::Invalid { entity: format!("{entity}, rule `{}`", raw.name), why };
    let filter = match p.filter_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("sql") | Some("sqlfilter") => FilterSpec::Sql(
            p.sql_filter
                .as_ref()
                .ok_or_else(|| {
                    invalid("`FilterType` is Sql but `SqlFilter.SqlExpression` is missing".into())
                })?
                .sql_expression
                .clone(),
        ),
        Some("correlation") | Some("correlationfilter") => {
            FilterSpec::Correlation(p.correlation_filter.clone().ok_or_else(|| {
                invalid("`FilterType` is Correlation but `CorrelationFilter` is missing".into())
            })?)
        }
        Some("true") | Some("truefilter") => FilterSpec::True,
        Some("false") | Some("falsefilter") => FilterSpec::False,
        None => FilterSpec::True,
        Some(other) => return Err(invalid(format!("`FilterType` is `{other}`; use Sql or Correlation"))),
    };
    let spec = RuleSpec {
        name: raw.name.clone(),
        filter,
        action: p.action.as_ref().map(|a| a.sql_expression.clone()),
    };
    Rule::compile(&spec)
        .map_err(|error| DeclarationError::Rule { entity: entity.into(), error: Box::new(error) })?;
    Ok(spec)
}

/// Reads a declaration file: every queue and topic with its subscriptions, rules checked.
pub fn read_declarations(text: &str) -> Result<Vec<EntityDecl>, DeclarationError> {
    let file: File = serde_json::from_str(text)?;
    let mut out = Vec::new();
    for ns in &file.user_config.namespaces {
        for q in &ns.queues {
            let entity = format!("queue `{}`", q.name);
            validate_entity_name(&q.name)
                .map_err(|why| DeclarationError::Invalid { entity: entity.clone(), why })?;
            out.push(EntityDecl::queue(
                &q.name,
                topic_options(&entity, &q.properties)?,
                subscription_options(&entity, &q.properties)?,
            ));
        }
        for t in &ns.topics {
            let entity = format!("topic `{}`", t.name);
            validate_entity_name(&t.name)
                .map_err(|why| DeclarationError::Invalid { entity: entity.clone(), why })?;
            let mut subscriptions = Vec::new();
            for s in &t.subscriptions {
                let entity = format!("subscription `{}/{}`", t.name, s.name);
                validate_entity_name(&s.name)
                    .map_err(|why| DeclarationError::Invalid { entity: entity.clone(), why })?;
                let mut rules = s.rules.iter().map(|r| rule(&entity, r)).collect::<Result<Vec<_>, _>>()?;
                if rules.is_empty() {
                    rules.push(RuleSpec::accept_all());
                }
                subscriptions.push(SubscriptionDecl {
                    name: s.name.clone(),
                    options: subscription_options(&entity, &s.properties)?,
                    rules,
                });
            }
            out.push(EntityDecl {
                name: t.name.clone(),
                kind: EntityKind::Topic,
                options: topic_options(&entity, &t.properties)?,
                subscriptions,
            });
        }
    }
    Ok(out)
}

/// Service Bus entity names: 1–260 characters of letters, digits, `.`, `-`, `_` and `/`,
/// starting and ending with a letter or digit (subscriptions: at most 50).
pub fn validate_entity_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/');
    if name.is_empty() || name.len() > 260 {
        return Err(format!("`{name}` must be 1 to 260 characters long"));
    }
    if !name.chars().all(ok_char) {
        return Err(format!("`{name}` may hold only letters, digits, `.`, `-`, `_` and `/`"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(format!("`{name}` must start and end with a letter or digit"));
    }
    Ok(())
}
