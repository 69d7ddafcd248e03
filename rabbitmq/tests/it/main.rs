//! The listener and the publisher against a real RabbitMQ broker: `FNWIRE_TEST_AMQP` (set by
//! `scripts/rabbitmq.sh`), else guest@127.0.0.1:5672. Each test uses queue names (or a vhost)
//! of its own and deletes them at the end.

mod broker;
mod consumer;
mod publisher;
