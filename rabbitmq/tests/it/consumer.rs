use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fnwire_rabbitmq::{
    ConsumerConfig, Endpoint, ExtensionOptions, Message, Outcome, PoisonHandling, REQUEUE_COUNT_HEADER,
    consume,
};
use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};
use tokio::sync::oneshot;

use crate::broker::*;

const LIMIT: Duration = Duration::from_secs(30);

fn config(url: &str, queue: &str, options: ExtensionOptions) -> ConsumerConfig {
    ConsumerConfig {
        function: "test".into(),
        endpoint: Endpoint::parse("Test", url).unwrap(),
        queue: queue.into(),
        options,
    }
}

async fn publish(channel: &Channel, queue: &str, body: &[u8]) {
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
}

async fn ready_count(channel: &Channel, queue: &str) -> u32 {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions { passive: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap()
        .message_count()
}

/// Runs the listener in a task; the sender stops it.
fn start<H, F>(config: ConsumerConfig, handler: H) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>)
where
    H: Fn(Message) -> F + Send + Sync + 'static,
    F: std::future::Future<Output = Outcome> + Send + 'static,
{
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(consume(config, handler, async move {
        let _ = stopped.await;
    }));
    (stop, task)
}

#[tokio::test]
async fn successes_are_acknowledged_and_the_queue_ends_empty() {
    let url = broker_url();
    let (_c, channel) = connect(&url).await;
    let queue = unique("ack");
    declare(&channel, &queue, FieldTable::default()).await;
    for i in 0..5 {
        publish(&channel, &queue, format!("m{i}").as_bytes()).await;
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let (stop, task) = start(config(&url, &queue, ExtensionOptions::default()), move |m: Message| {
        s.lock().unwrap().push(String::from_utf8(m.body).unwrap());
        async { Outcome::Succeeded }
    });
    assert!(eventually(LIMIT, async || seen.lock().unwrap().len() == 5).await, "{:?}", seen.lock().unwrap());
    stop.send(()).unwrap();
    task.await.unwrap();
    assert_eq!(ready_count(&channel, &queue).await, 0, "every message was acknowledged");
    delete(&channel, &queue).await;
}

#[tokio::test]
async fn a_failing_message_is_tried_max_delivery_count_times_then_moved_to_the_poison_queue() {
    let url = broker_url();
    let (_c, channel) = connect(&url).await;
    let queue = unique("poison");
    let poison = format!("{queue}-poison");
    declare(&channel, &queue, FieldTable::default()).await;
    // Declared here too (as the listener declares it) so the test can read it before it fills.
    declare(&channel, &poison, FieldTable::default()).await;
    publish(&channel, &queue, b"bad").await;
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let a = attempts.clone();
    let options = ExtensionOptions { max_delivery_count: 3, ..Default::default() };
    let (stop, task) = start(config(&url, &queue, options), move |m: Message| {
        a.lock().unwrap().push(m.requeue_count());
        async { Outcome::Failed }
    });
    let mut poisoned = Vec::new();
    let found = eventually(LIMIT, async || {
        poisoned.extend(drain_queue(&channel, &poison).await);
        !poisoned.is_empty()
    })
    .await;
    stop.send(()).unwrap();
    task.await.unwrap();
    assert!(found, "no message reached {poison}; attempts {:?}", attempts.lock().unwrap());
    assert_eq!(*attempts.lock().unwrap(), [0, 1, 2], "tried exactly maxDeliveryCount times");
    assert_eq!(poisoned.len(), 1);
    assert_eq!(poisoned[0].delivery.data, b"bad");
    let headers = poisoned[0].delivery.properties.headers().clone().unwrap();
    assert_eq!(headers.inner().get(REQUEUE_COUNT_HEADER), Some(&AMQPValue::LongInt(3)));
    assert_eq!(ready_count(&channel, &queue).await, 0);
    delete(&channel, &queue).await;
    delete(&channel, &poison).await;
}

#[tokio::test]
async fn dead_letter_exchange_handling_rejects_the_last_attempt_to_the_queues_dlx() {
    let url = broker_url();
    let (_c, channel) = connect(&url).await;
    let queue = unique("dlx");
    let dead = unique("dead");
    declare(&channel, &dead, FieldTable::default()).await;
    let mut arguments = FieldTable::default();
    arguments.insert("x-dead-letter-exchange".into(), AMQPValue::LongString("".into()));
    arguments.insert("x-dead-letter-routing-key".into(), AMQPValue::LongString(dead.as_str().into()));
    declare(&channel, &queue, arguments).await;
    publish(&channel, &queue, b"bad").await;
    let calls = Arc::new(Mutex::new(0));
    let c = calls.clone();
    let options = ExtensionOptions {
        max_delivery_count: 2,
        poison_handling: PoisonHandling::DeadLetterExchange,
        ..Default::default()
    };
    let (stop, task) = start(config(&url, &queue, options), move |_| {
        *c.lock().unwrap() += 1;
        async { Outcome::Failed }
    });
    let mut dead_lettered = Vec::new();
    let found = eventually(LIMIT, async || {
        dead_lettered.extend(drain_queue(&channel, &dead).await);
        !dead_lettered.is_empty()
    })
    .await;
    stop.send(()).unwrap();
    task.await.unwrap();
    assert!(found, "nothing was dead-lettered");
    assert_eq!(*calls.lock().unwrap(), 2);
    assert_eq!(dead_lettered[0].delivery.data, b"bad");
    delete(&channel, &queue).await;
    delete(&channel, &dead).await;
}

#[tokio::test]
async fn a_message_that_did_not_run_goes_back_without_counting_an_attempt() {
    let url = broker_url();
    let (_c, channel) = connect(&url).await;
    let queue = unique("notrun");
    declare(&channel, &queue, FieldTable::default()).await;
    publish(&channel, &queue, b"m").await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let (stop, task) = start(config(&url, &queue, ExtensionOptions::default()), move |m: Message| {
        let mut seen = s.lock().unwrap();
        seen.push((m.requeue_count(), m.redelivered));
        let outcome = if seen.len() == 1 { Outcome::NotRun } else { Outcome::Succeeded };
        async move { outcome }
    });
    assert!(eventually(LIMIT, async || seen.lock().unwrap().len() == 2).await);
    stop.send(()).unwrap();
    task.await.unwrap();
    assert_eq!(*seen.lock().unwrap(), [(0, false), (0, true)]);
    assert_eq!(ready_count(&channel, &queue).await, 0);
    delete(&channel, &queue).await;
}

#[tokio::test]
async fn stopping_lets_running_messages_finish_and_acknowledges_them() {
    let url = broker_url();
    let (_c, channel) = connect(&url).await;
    let queue = unique("drain");
    declare(&channel, &queue, FieldTable::default()).await;
    publish(&channel, &queue, b"slow").await;
    let (started_tx, started_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let gate = Arc::new(tokio::sync::Notify::new());
    let g = gate.clone();
    let (stop, task) = start(config(&url, &queue, ExtensionOptions::default()), move |_| {
        let _ = started_tx.send(());
        let g = g.clone();
        async move {
            g.notified().await;
            Outcome::Succeeded
        }
    });
    let mut started_rx = started_rx;
    tokio::time::timeout(LIMIT, started_rx.recv()).await.unwrap();
    stop.send(()).unwrap();
    // The listener waits for the running message while stopping.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!task.is_finished(), "the listener returned with a message still running");
    gate.notify_one();
    tokio::time::timeout(LIMIT, task).await.unwrap().unwrap();
    assert_eq!(ready_count(&channel, &queue).await, 0, "the finished message was acknowledged");
    delete(&channel, &queue).await;
}

#[tokio::test]
async fn closing_every_connection_mid_load_loses_no_message() {
    const COUNT: usize = 300;
    let vhost = Vhost::new("close");
    let (_c, channel) = connect(&vhost.url).await;
    let queue = unique("load");
    declare(&channel, &queue, FieldTable::default()).await;
    for i in 0..COUNT {
        publish(&channel, &queue, format!("{i}").as_bytes()).await;
    }
    let seen: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let s = seen.clone();
    let options = ExtensionOptions { prefetch_count: 20, ..Default::default() };
    let (stop, task) = start(config(&vhost.url, &queue, options), move |m: Message| {
        *s.lock().unwrap().entry(String::from_utf8(m.body).unwrap()).or_default() += 1;
        async {
            tokio::time::sleep(Duration::from_millis(2)).await;
            Outcome::Succeeded
        }
    });
    assert!(eventually(LIMIT, async || seen.lock().unwrap().len() >= COUNT / 4).await);
    vhost.close_all_connections();
    assert!(eventually(LIMIT, async || seen.lock().unwrap().len() >= COUNT / 2).await, "no reconnect");
    vhost.close_all_connections();
    let all = eventually(LIMIT, async || seen.lock().unwrap().len() == COUNT).await;
    // A message whose acknowledgement a closed connection took comes back and is run again (at
    // least once): stop only once the broker holds nothing of the queue, acknowledged or not.
    let settled = eventually(LIMIT, async || vhost.unsettled(&queue) == 0).await;
    stop.send(()).unwrap();
    task.await.unwrap();
    let (_c2, channel) = connect(&vhost.url).await;
    let left = ready_count(&channel, &queue).await;
    assert!(all, "only {} of {COUNT} messages were processed", seen.lock().unwrap().len());
    assert!(settled, "the broker still holds messages of the queue that were all processed");
    assert_eq!(left, 0, "messages left unacknowledged");
}
