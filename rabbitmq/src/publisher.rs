//! Publishing with publisher confirms: a message counts as sent only once the broker has
//! confirmed it, and a message the broker could not route (no queue of that name) is an error,
//! never a silent drop.

use std::sync::Arc;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::Mutex;

use crate::settings::Endpoint;

/// AMQP delivery mode 2: the broker keeps the message on disk (in a durable queue).
pub(crate) const PERSISTENT: u8 = 2;

/// Why messages were not all confirmed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("cannot reach RabbitMQ at {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("publishing to queue `{queue}` failed: {reason}")]
    Publish { queue: String, reason: String },
    #[error(
        "RabbitMQ could not route the message to queue `{queue}`: no queue of that name exists on the broker's \
         vhost; declare it first"
    )]
    Unroutable { queue: String },
    #[error("RabbitMQ refused the message for queue `{queue}` (negative confirm)")]
    Refused { queue: String },
}

/// A connection and a confirm-mode channel opened on demand and opened again after a failure.
/// Publishes from many invocations share the channel; lapin pipelines them.
#[derive(Debug)]
pub struct Publisher {
    endpoint: Endpoint,
    open: Mutex<Option<(Arc<Connection>, Channel)>>,
}

impl Publisher {
    pub fn new(endpoint: Endpoint) -> Self {
        Publisher { endpoint, open: Mutex::new(None) }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    async fn channel(&self) -> Result<Channel, PublishError> {
        let mut open = self.open.lock().await;
        if let Some((connection, channel)) = open.as_ref() {
            if connection.status().connected() && channel.status().connected() {
                return Ok(channel.clone());
            }
        }
        let connect_error = |e: lapin::Error| PublishError::Connect {
            endpoint: self.endpoint.to_string(),
            reason: e.to_string(),
        };
        let connection = Connection::connect(self.endpoint.uri(), ConnectionProperties::default())
            .await
            .map_err(connect_error)?;
        let channel = connection.create_channel().await.map_err(connect_error)?;
        channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(connect_error)?;
        *open = Some((Arc::new(connection), channel.clone()));
        Ok(channel)
    }

    /// Forgets the channel so the next publish opens a new connection.
    async fn reset(&self) {
        self.open.lock().await.take();
    }

    /// Publishes `bodies` to `queue` through the default exchange and waits until the broker
    /// has confirmed every one. A failure on a broken connection is retried once on a new one
    /// (a message may then be sent twice: at least once, never lost).
    pub async fn publish(&self, queue: &str, bodies: &[&[u8]]) -> Result<(), PublishError> {
        let properties = BasicProperties::default().with_delivery_mode(PERSISTENT);
        self.publish_with(queue, bodies, properties).await
    }

    /// As [`Publisher::publish`], with the given properties on every message.
    pub async fn publish_with(
        &self,
        queue: &str,
        bodies: &[&[u8]],
        properties: BasicProperties,
    ) -> Result<(), PublishError> {
        match self.try_publish(queue, bodies, &properties).await {
            Err(PublishError::Connect { .. } | PublishError::Publish { .. }) => {
                self.reset().await;
                self.try_publish(queue, bodies, &properties).await
            }
            other => other,
        }
    }

    async fn try_publish(
        &self,
        queue: &str,
        bodies: &[&[u8]],
        properties: &BasicProperties,
    ) -> Result<(), PublishError> {
        let channel = self.channel().await?;
        publish_confirmed(&channel, "", queue, bodies, properties).await
    }
}

/// Publishes on a confirm-mode channel and waits for every confirm. `mandatory` makes an
/// unroutable message come back instead of vanishing.
pub(crate) async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    queue: &str,
    bodies: &[&[u8]],
    properties: &BasicProperties,
) -> Result<(), PublishError> {
    let failed = |e: lapin::Error| PublishError::Publish { queue: queue.to_string(), reason: e.to_string() };
    let mut confirms = Vec::with_capacity(bodies.len());
    for body in bodies {
        let confirm = channel
            .basic_publish(
                exchange.into(),
                queue.into(),
                BasicPublishOptions { mandatory: true, ..Default::default() },
                body,
                properties.clone(),
            )
            .await
            .map_err(failed)?;
        confirms.push(confirm);
    }
    for confirm in confirms {
        match confirm.await.map_err(failed)? {
            Confirmation::Ack(None) | Confirmation::NotRequested => {}
            Confirmation::Ack(Some(_)) => return Err(PublishError::Unroutable { queue: queue.to_string() }),
            Confirmation::Nack(_) => return Err(PublishError::Refused { queue: queue.to_string() }),
        }
    }
    Ok(())
}
