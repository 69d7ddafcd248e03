//! Service Bus shapes for fnwire, with no I/O: the message model (body, system properties,
//! application properties), queues, topics and subscriptions as declared, and subscription
//! rules — SQL filters in the subset Service Bus documents, correlation filters, true/false
//! filters, and actions that change the copy a subscription receives.
//!
//! The stores (`fnwire-storage`, `fnwire-storage-postgres`) keep messages and route a send
//! through [`route`]; the host reads declarations with [`read_declarations`].

pub mod entities;
pub mod filter;
mod message;
mod rule;

pub use entities::{
    DeclarationError, EntityDecl, EntityKind, QUEUE_SUBSCRIPTION, SubscriptionDecl, SubscriptionOptions,
    TopicOptions, parse_duration, read_declarations, validate_entity_name,
};
pub use message::{
    ENVELOPE_KEY, EnvelopeError, Message, SETTABLE_SYSTEM_PROPERTIES, SystemProperties, Value,
};
pub use rule::{CorrelationFilter, DEFAULT_RULE_NAME, FilterSpec, Rule, RuleError, RuleSpec, route};
