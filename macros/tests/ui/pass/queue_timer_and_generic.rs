//! Queue, timer and generic bindings, stacked in any order; `main` runs one function through
//! its generated invoker, as the worker does.
// Stacked attributes are stripped before the compiler sees them; their imports must still count
// as used, so any warning fails these cases.
#![deny(warnings)]

use fnwire::__private::{Invocation, Registration, inventory};
use fnwire::{Out, QueueMessage, TimerInfo};
use fnwire::{binding, queue_output, queue_trigger, timer_trigger};
use fnwire::protocol::rpc::TypedData;
use fnwire::protocol::rpc::typed_data::Data;

#[queue_output(name = "done", queue = "done")]
#[queue_trigger(queue = "jobs", connection = "AzureWebJobsStorage")]
pub async fn work(msg: QueueMessage, done: Out<String>) -> Result<(), String> {
    done.set(format!("done: {}", msg.text()));
    Ok(())
}

#[queue_trigger(queue = "jobs")]
#[queue_output(queue = "done")]
pub fn relay(msg: QueueMessage) -> String {
    msg.text().to_uppercase()
}

#[timer_trigger(schedule = "*/5 * * * * *", run_on_startup = false)]
pub fn tick(timer: TimerInfo) {
    let _ = timer;
}

#[binding(type = "serviceBusTrigger", direction = "in", name = "order", queue_name = "orders", max_batch = 10)]
#[binding(type = "sql", direction = "out", name = "rows", command_text = "dbo.Orders", parameters = ["@Id", "@Total"])]
pub fn store(order: String, rows: Out<String>) {
    rows.set(order);
}

fn registration(name: &str) -> &'static Registration {
    inventory::iter::<Registration>
        .into_iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("`{name}` is not registered"))
}

fn string(text: &str) -> TypedData {
    TypedData { data: Some(Data::String(text.to_string())) }
}

fn main() {
    assert_eq!(
        registration("work").bindings,
        [
            r#"{"type":"queueTrigger","direction":"in","name":"msg","queueName":"jobs","connection":"AzureWebJobsStorage"}"#,
            r#"{"type":"queue","direction":"out","name":"done","queueName":"done"}"#,
        ]
    );
    assert_eq!(
        registration("relay").bindings,
        [
            r#"{"type":"queueTrigger","direction":"in","name":"msg","queueName":"jobs"}"#,
            r#"{"type":"queue","direction":"out","name":"$return","queueName":"done"}"#,
        ]
    );
    assert_eq!(
        registration("tick").bindings,
        [r#"{"type":"timerTrigger","direction":"in","name":"timer","schedule":"*/5 * * * * *","runOnStartup":false}"#]
    );
    assert_eq!(
        registration("store").bindings,
        [
            r#"{"type":"serviceBusTrigger","direction":"in","name":"order","queueName":"orders","maxBatch":10}"#,
            r#"{"type":"sql","direction":"out","name":"rows","commandText":"dbo.Orders","parameters":["@Id","@Total"]}"#,
        ]
    );

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let invocation = Invocation::new("1", "work").with_input("msg", string("job 7"));
    let outcome = runtime.block_on(registration("work").invoke.call(invocation)).expect("work succeeds");
    assert_eq!(outcome.outputs, [("done".to_string(), string("done: job 7"))]);
    assert_eq!(outcome.return_value, None);

    let invocation = Invocation::new("2", "relay").with_input("msg", string("shout"));
    let outcome = runtime.block_on(registration("relay").invoke.call(invocation)).expect("relay succeeds");
    assert_eq!(outcome.return_value, Some(string("SHOUT")));
}
