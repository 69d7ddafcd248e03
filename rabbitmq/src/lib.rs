//! RabbitMQ (AMQP 0-9-1) for fnwire's host, on the `lapin` client: the `rabbitMQTrigger`
//! listener ([`consume`]) and the `rabbitMQ` output ([`Publisher`]), with the names and
//! behaviour of Azure's RabbitMQ extension (`extensions.rabbitMQ` in `host.json`,
//! `connectionStringSetting`, the `x-ms-rabbitmq-requeuecount` retry header, the trigger
//! metadata).
//!
//! The crate knows nothing of workers or invocations: the host passes a handler that runs the
//! function and says how it went.

mod consumer;
mod message;
mod publisher;
mod settings;

pub use consumer::{ConsumerConfig, Outcome, Settlement, consume};
pub use message::{Message, MetadataValue, properties_json};
pub use publisher::{PublishError, Publisher};
pub use settings::{
    DEFAULT_MAX_DELIVERY_COUNT, DEFAULT_PREFETCH_COUNT, Endpoint, ExtensionOptions, POISON_SUFFIX,
    PoisonHandling, REQUEUE_COUNT_HEADER, SettingsError,
};
