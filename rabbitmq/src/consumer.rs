//! The `rabbitMQTrigger` listener: consume a queue with manual acknowledgement and
//! `prefetchCount` unacknowledged messages at most, run the function for each message, and
//! settle it by the outcome:
//!
//! * success (the function and its outputs): `basic.ack`;
//! * failure: as Azure's extension does, a copy with `x-ms-rabbitmq-requeuecount` + 1 is
//!   published to the queue (confirmed) and the original acknowledged; at `maxDeliveryCount`
//!   attempts the message goes to `<queue>-poison` instead, or is rejected to the queue's
//!   dead-letter exchange;
//! * not run (no worker right now): `basic.nack` with requeue, not counted as an attempt.
//!
//! A lost connection is logged and opened again with back-off; the broker gives unacknowledged
//! messages back to the queue, so nothing that was not acknowledged is lost. Stopping cancels
//! the consumer, lets the running messages finish and settle, and closes the connection.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::task::JoinSet;

use crate::message::{Message, with_requeue_count};
use crate::publisher::{PublishError, publish_confirmed};
use crate::settings::{Endpoint, ExtensionOptions, POISON_SUFFIX, PoisonHandling};

/// First wait before connecting again; doubles up to [`MAX_RECONNECT_DELAY`].
const MIN_RECONNECT_DELAY: Duration = Duration::from_millis(100);
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(15);
/// How long a message that found no worker waits before it goes back to the queue.
const NOT_RUN_REQUEUE_DELAY: Duration = Duration::from_millis(500);

/// What became of one message's invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The function succeeded and its outputs were delivered.
    Succeeded,
    /// The function failed (or its outputs could not be delivered): an attempt.
    Failed,
    /// No worker took it: not an attempt.
    NotRun,
}

/// One `rabbitMQTrigger` function's listener settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Shown in logs (the function's name).
    pub function: String,
    pub endpoint: Endpoint,
    pub queue: String,
    pub options: ExtensionOptions,
}

/// What the listener did with a message, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    Acknowledged,
    Retried { attempt: u32 },
    Poisoned { to: String },
    DeadLettered,
    Requeued,
}

struct Session {
    connection: Connection,
    channel: Channel,
    /// Confirm-mode channel for retry copies and poison messages.
    publish: Channel,
    consumer: lapin::Consumer,
}

async fn open_session(config: &ConsumerConfig) -> Result<Session, lapin::Error> {
    let connection = Connection::connect(
        config.endpoint.uri(),
        ConnectionProperties::default().with_connection_name(format!("fnwire {}", config.function).into()),
    )
    .await?;
    let channel = connection.create_channel().await?;
    channel.basic_qos(config.options.prefetch_count, BasicQosOptions::default()).await?;
    let publish = connection.create_channel().await?;
    publish.confirm_select(ConfirmSelectOptions::default()).await?;
    let consumer = channel
        .basic_consume(
            config.queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(Session { connection, channel, publish, consumer })
}

/// Consumes `config.queue` until `stop` completes, calling `handler` for each message.
/// Returns once stopped and every running message has been settled.
pub async fn consume<H, F>(config: ConsumerConfig, handler: H, stop: impl Future<Output = ()>)
where
    H: Fn(Message) -> F + Send + Sync + 'static,
    F: Future<Output = Outcome> + Send + 'static,
{
    let config = Arc::new(config);
    let handler = Arc::new(handler);
    let stop = stop;
    tokio::pin!(stop);
    let mut delay = MIN_RECONNECT_DELAY;
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let mut connected_before = false;
    loop {
        let session = tokio::select! {
            s = open_session(&config) => s,
            () = &mut stop => break,
        };
        let Session { connection, channel, publish, mut consumer } = match session {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(
                    "function `{}`: cannot consume RabbitMQ queue `{}` at {}: {e}; trying again in {:?}",
                    config.function,
                    config.queue,
                    config.endpoint,
                    delay
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = &mut stop => break,
                }
                delay = (delay * 2).min(MAX_RECONNECT_DELAY);
                continue;
            }
        };
        delay = MIN_RECONNECT_DELAY;
        if connected_before {
            tracing::info!(
                "function `{}`: consuming RabbitMQ queue `{}` at {} again",
                config.function,
                config.queue,
                config.endpoint
            );
        } else {
            tracing::debug!("function `{}`: consuming RabbitMQ queue `{}`", config.function, config.queue);
        }
        connected_before = true;
        let consumer_tag = consumer.tag();
        let stopped = loop {
            tokio::select! {
                () = &mut stop => break true,
                next = consumer.next() => match next {
                    Some(Ok(delivery)) => {
                        let message = Message {
                            queue: config.queue.clone(),
                            body: delivery.data,
                            delivery_tag: delivery.delivery_tag,
                            consumer_tag: consumer_tag.to_string(),
                            exchange: delivery.exchange.to_string(),
                            routing_key: delivery.routing_key.to_string(),
                            redelivered: delivery.redelivered,
                            properties: delivery.properties,
                        };
                        let (config, handler, channel, publish) =
                            (config.clone(), handler.clone(), channel.clone(), publish.clone());
                        in_flight.spawn(async move {
                            let tag = message.delivery_tag;
                            let copy = (message.properties.clone(), message.body.clone(), message.requeue_count());
                            let outcome = handler(message).await;
                            if let Err(e) = settle(&config, &channel, &publish, tag, copy, outcome).await {
                                tracing::warn!(
                                    "function `{}`: message {tag} on RabbitMQ queue `{}` could not be settled ({e}); \
                                     the broker will deliver it again",
                                    config.function,
                                    config.queue
                                );
                            }
                        });
                    }
                    Some(Err(e)) => {
                        tracing::warn!(
                            "function `{}`: lost the RabbitMQ connection for queue `{}` ({e}); reconnecting. \
                             Messages not yet acknowledged go back to the queue",
                            config.function,
                            config.queue
                        );
                        break false;
                    }
                    None => {
                        tracing::warn!(
                            "function `{}`: the broker ended the consumer of RabbitMQ queue `{}` (queue deleted or \
                             connection closed); reconnecting",
                            config.function,
                            config.queue
                        );
                        break false;
                    }
                },
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
        };
        if stopped {
            // Draining: no new deliveries; the running ones finish and are settled on this
            // channel; whatever the broker had sent but nobody started goes back to the queue
            // when the channel closes.
            let _ = channel.basic_cancel(consumer_tag, BasicCancelOptions::default()).await;
            while in_flight.join_next().await.is_some() {}
            let _ = connection.close(200, "fnwire is stopping".into()).await;
            return;
        }
        let _ = connection.close(200, "reconnecting".into()).await;
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = &mut stop => break,
        }
    }
    while in_flight.join_next().await.is_some() {}
}

/// Settles one message by its outcome (see the module documentation).
async fn settle(
    config: &ConsumerConfig,
    channel: &Channel,
    publish: &Channel,
    tag: u64,
    (properties, body, requeue_count): (lapin::BasicProperties, Vec<u8>, u32),
    outcome: Outcome,
) -> Result<Settlement, SettleError> {
    match outcome {
        Outcome::Succeeded => {
            channel.basic_ack(tag, BasicAckOptions::default()).await?;
            Ok(Settlement::Acknowledged)
        }
        Outcome::NotRun => {
            tokio::time::sleep(NOT_RUN_REQUEUE_DELAY).await;
            channel.basic_nack(tag, BasicNackOptions { requeue: true, ..Default::default() }).await?;
            Ok(Settlement::Requeued)
        }
        Outcome::Failed => {
            let attempt = requeue_count.saturating_add(1);
            let max = config.options.max_delivery_count;
            if attempt < max {
                let copy = with_requeue_count(&properties, attempt);
                publish_confirmed(publish, "", &config.queue, &[&body], &copy).await?;
                channel.basic_ack(tag, BasicAckOptions::default()).await?;
                tracing::info!(
                    "function `{}`: message on RabbitMQ queue `{}` failed (attempt {attempt} of {max}); it will be \
                     retried",
                    config.function,
                    config.queue
                );
                return Ok(Settlement::Retried { attempt });
            }
            match config.options.poison_handling {
                PoisonHandling::PoisonQueue => {
                    let poison = format!("{}{POISON_SUFFIX}", config.queue);
                    publish
                        .queue_declare(
                            poison.as_str().into(),
                            QueueDeclareOptions { durable: true, ..Default::default() },
                            FieldTable::default(),
                        )
                        .await?;
                    let copy = with_requeue_count(&properties, attempt);
                    publish_confirmed(publish, "", &poison, &[&body], &copy).await?;
                    channel.basic_ack(tag, BasicAckOptions::default()).await?;
                    tracing::warn!(
                        "function `{}`: message on RabbitMQ queue `{}` failed {attempt} time(s) (maxDeliveryCount \
                         {max}); moved to queue `{poison}`",
                        config.function,
                        config.queue
                    );
                    Ok(Settlement::Poisoned { to: poison })
                }
                PoisonHandling::DeadLetterExchange => {
                    channel.basic_reject(tag, BasicRejectOptions { requeue: false }).await?;
                    tracing::warn!(
                        "function `{}`: message on RabbitMQ queue `{}` failed {attempt} time(s) (maxDeliveryCount \
                         {max}); rejected to the queue's dead-letter exchange",
                        config.function,
                        config.queue
                    );
                    Ok(Settlement::DeadLettered)
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SettleError {
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
    #[error(transparent)]
    Publish(#[from] PublishError),
}
