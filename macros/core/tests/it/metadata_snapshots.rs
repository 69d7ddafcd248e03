//! The binding JSON hosts receive for representative functions. A change here changes what
//! fnwire tells hosts: review the `.snap` diff.

use serde_json::{Value, json};

use crate::model_of;

/// Function name and its bindings, each parsed back from the exact `raw_bindings` text.
fn rendered(source: &str) -> Value {
    let model = model_of(source).unwrap_or_else(|e| panic!("model failed: {e}"));
    let bindings: Vec<Value> = model
        .raw_bindings()
        .iter()
        .map(|text| serde_json::from_str(text).expect("binding JSON parses"))
        .collect();
    json!({ "name": model.metadata.name, "bindings": bindings })
}

#[test]
fn http_trigger_with_route_methods_and_auth_level() {
    insta::assert_json_snapshot!(rendered(
        r#"#[http_trigger(route = "hello/{name?}", methods = "GET, post", auth_level = "Anonymous")]
        pub async fn hello(req: HttpRequest, ctx: Context) -> HttpResponse { todo!() }"#
    ));
}

#[test]
fn http_trigger_with_method_list_and_named_response() {
    insta::assert_json_snapshot!(rendered(
        r#"#[http_trigger(route = "items/{id:int}", methods = ["PUT", "PATCH"], function_name = "UpdateItem")]
        #[http_output(name = "response")]
        pub fn update(request: HttpRequest, response: Out<HttpResponse>) {}"#
    ));
}

#[test]
fn timer_trigger() {
    insta::assert_json_snapshot!(rendered(
        r#"#[timer_trigger(schedule = "*/5 * * * * *", run_on_startup = false, use_monitor = true)]
        pub fn tick(timer: TimerInfo) {}"#
    ));
}

#[test]
fn queue_trigger_with_output_to_a_parameter() {
    insta::assert_json_snapshot!(rendered(
        r#"#[queue_trigger(queue = "jobs", connection = "AzureWebJobsStorage", data_type = "string")]
        #[queue_output(name = "done", queue = "done")]
        pub async fn work(msg: QueueMessage, done: Out<String>) -> Result<(), fnwire::Error> { todo!() }"#
    ));
}

#[test]
fn queue_trigger_with_output_to_the_return_value() {
    insta::assert_json_snapshot!(rendered(
        r#"#[queue_trigger(queue = "jobs")]
        #[queue_output(queue = "done")]
        pub fn relay(msg: QueueMessage) -> String { todo!() }"#
    ));
}

#[test]
fn generic_bindings() {
    insta::assert_json_snapshot!(rendered(
        r#"#[http_trigger(route = "x")]
        #[binding(type = "sql", direction = "in", name = "items", command_text = "SELECT 1", command_type = "Text",
                  connection_string_setting = "SqlConnection", parameters = ["@Id={id}"], max_items = 10)]
        #[binding(type = "signalR", direction = "out", name = "signal", hub_name = "chat", data_type = "Binary")]
        pub fn x(req: HttpRequest, items: serde_json::Value, signal: Out<String>) -> HttpResponse { todo!() }"#
    ));
}

#[test]
fn blob_input_and_output() {
    insta::assert_json_snapshot!(rendered(
        r#"#[queue_trigger(queue = "resize")]
        #[blob_input(name = "original", path = "images/{queueTrigger}", data_type = "binary")]
        #[blob_output(path = "thumbs/{queueTrigger}", connection = "Storage")]
        pub fn resize(msg: QueueMessage, original: Vec<u8>) -> Vec<u8> { todo!() }"#
    ));
}

#[test]
fn table_input_and_output() {
    insta::assert_json_snapshot!(rendered(
        r#"#[queue_trigger(queue = "orders")]
        #[table_input(name = "customer", table_name = "Customers", partition_key = "web", row_key = "{customerId}")]
        #[table_input(name = "recent", table_name = "Orders", partition_key = "{customerId}", filter = "Total gt 10", take = 5)]
        #[table_output(table_name = "Orders", partition_key = "{customerId}", row_key = "{rand-guid}", connection = "Storage")]
        pub fn record(msg: QueueMessage, customer: Option<Json<Value>>, recent: Json<Vec<Value>>) -> Json<Value> { todo!() }"#
    ));
}

#[test]
fn durable_triggers_and_client() {
    insta::assert_json_snapshot!(json!([
        rendered(
            r#"#[orchestration_trigger(orchestration = "HelloCities")]
            pub async fn hello_cities(context: OrchestrationContext) -> Result<Vec<String>, TaskError> { todo!() }"#
        ),
        rendered(
            r#"#[activity_trigger(activity = "SayHello")]
            pub fn say_hello(city: String) -> Result<String, fnwire::Error> { todo!() }"#
        ),
        rendered(
            r#"#[entity_trigger(entity_name = "Counter")]
            pub fn counter(ctx: EntityContext) {}"#
        ),
        rendered(
            r#"#[http_trigger(route = "orchestrators/{name}", auth_level = "anonymous")]
            #[durable_client_input(name = "client", task_hub = "Hub", connection_name = "Storage")]
            pub async fn start(req: HttpRequest, client: DurableClient) -> HttpResponse { todo!() }"#
        ),
    ]));
}

#[test]
fn blob_trigger_with_path_parameters_used_by_its_outputs() {
    insta::assert_json_snapshot!(rendered(
        r#"#[blob_trigger(path = "uploads/{name}.{ext}", connection = "AzureWebJobsStorage", source = "EventGrid")]
        #[blob_output(name = "thumb", path = "thumbnails/{name}.{ext}")]
        pub fn thumbnail(image: Blob, thumb: Out<Vec<u8>>) {}"#
    ));
}

#[test]
fn rabbitmq_trigger_with_output_to_the_return_value() {
    insta::assert_json_snapshot!(rendered(
        r#"#[rabbitmq_trigger(queue = "orders", connection_string_setting = "RabbitMQConnection")]
        #[rabbitmq_output(queue = "shipped", connection_string_setting = "RabbitMQConnection")]
        pub async fn ship(order: RabbitMqMessage) -> String { todo!() }"#
    ));
}

#[test]
fn service_bus_topic_trigger_with_queue_and_topic_outputs() {
    insta::assert_json_snapshot!(rendered(
        r#"#[service_bus_trigger(topic = "sales", subscription = "orders", connection = "ServiceBusConnection")]
        #[service_bus_output(name = "shipping", queue = "shipping")]
        #[service_bus_output(topic = "audit")]
        pub fn ship(msg: ServiceBusMessage, shipping: Out<ServiceBusMessage>) -> String { todo!() }"#
    ));
}
