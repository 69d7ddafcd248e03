use fnwire_rabbitmq::{Endpoint, PublishError, Publisher};
use lapin::types::FieldTable;

use crate::broker::*;

#[tokio::test]
async fn published_messages_are_confirmed_and_an_unknown_queue_is_an_error() {
    let url = broker_url();
    let (_c, channel) = connect(&url).await;
    let queue = unique("publish");
    declare(&channel, &queue, FieldTable::default()).await;
    let publisher = Publisher::new(Endpoint::parse("Test", &url).unwrap());
    publisher.publish(&queue, &[b"one", b"two"]).await.unwrap();
    let got = drain_queue(&channel, &queue).await;
    let bodies: Vec<_> = got.iter().map(|m| m.delivery.data.clone()).collect();
    assert_eq!(bodies, [b"one".to_vec(), b"two".to_vec()]);
    assert_eq!(got[0].delivery.properties.delivery_mode(), &Some(2), "persistent");
    let missing = unique("missing");
    let e = publisher.publish(&missing, &[b"x"]).await.unwrap_err();
    assert_eq!(e, PublishError::Unroutable { queue: missing.clone() });
    assert!(e.to_string().contains(&missing));
    delete(&channel, &queue).await;
}

#[tokio::test]
async fn a_publisher_opens_a_new_connection_after_the_broker_closed_it() {
    let vhost = Vhost::new("republish");
    let (_c, channel) = connect(&vhost.url).await;
    let queue = unique("q");
    declare(&channel, &queue, FieldTable::default()).await;
    let publisher = Publisher::new(Endpoint::parse("Test", &vhost.url).unwrap());
    publisher.publish(&queue, &[b"before"]).await.unwrap();
    vhost.close_all_connections();
    publisher.publish(&queue, &[b"after"]).await.unwrap();
    let (_c2, channel) = connect(&vhost.url).await;
    let bodies: Vec<_> = drain_queue(&channel, &queue).await.into_iter().map(|m| m.delivery.data).collect();
    assert_eq!(bodies, [b"before".to_vec(), b"after".to_vec()]);
}
