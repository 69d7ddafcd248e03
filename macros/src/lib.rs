//! Attribute macros that turn a plain Rust function into an Azure Functions function served by
//! fnwire. Use them through the `fnwire` crate (`use fnwire::http_trigger;`); generated code
//! refers to `::fnwire`.
//!
//! This crate only declares the attributes; parsing, checks and code generation live in
//! `fnwire-macros-core`.
//!
//! # Writing a function
//!
//! ```ignore
//! use fnwire::{http_trigger, queue_output, queue_trigger, HttpRequest, HttpResponse, Out, QueueMessage};
//!
//! #[http_trigger(route = "hello/{name?}", methods = "get,post", auth_level = "anonymous")]
//! pub async fn hello(req: HttpRequest) -> HttpResponse { /* ... */ }
//!
//! #[queue_trigger(queue = "jobs", connection = "AzureWebJobsStorage")]
//! #[queue_output(name = "done", queue = "done")]
//! pub fn work(msg: QueueMessage, done: Out<String>) { /* ... */ }
//! ```
//!
//! * A function has exactly one trigger (`http_trigger`, `timer_trigger`, `queue_trigger`, or a
//!   generic `binding` whose type ends in `Trigger`) and any number of other bindings.
//! * The trigger binds to the parameter named by its `name` key, else to the **first
//!   parameter** (a function without parameters ignores its trigger data; the binding is then
//!   named `trigger`). An input binding (`blob_input`, generic `in`) needs `name` = a parameter name.
//!   An output binding with `name` binds to the `Out<T>` parameter of that name; without
//!   `name` it binds to the return value (`$return`). An HTTP trigger (`http_trigger`, or a
//!   generic `httpTrigger`) adds an HTTP output on the return value unless the function declares
//!   `#[http_output(name = "...")]` or `#[http_output]`. Every other parameter is filled from the
//!   invocation (e.g. `Context`). These rules, and their messages, are `fnwire-metadata`'s front
//!   end, shared with the Python decorators and Node's `app.*`.
//! * Binding names are letters and digits only (an Azure rule), so `my_out` is rejected.
//! * The function name is the Rust fn name; `function_name = "..."` on the trigger overrides it.
//! * The function may be `async` or not (a sync function runs on a blocking thread), private or
//!   `pub`, and returns `()`, a type the SDK can return, or `Result<T, E>` with `E: Display`.
//!   It may not be generic, `const`, `unsafe`, `extern`, or take `self`.
//!
//! Keys of each attribute come from `fnwire-metadata`'s catalog: `http_trigger(route, methods,
//! auth_level)`, `timer_trigger(schedule, run_on_startup, use_monitor)`, `queue_trigger(queue,
//! connection)`, `blob_trigger(path, connection, source)`, `queue_output(queue, connection)`,
//! `service_bus_trigger(queue | topic, subscription, connection, is_sessions_enabled)`,
//! `service_bus_output(queue | topic, connection)`, `blob_input(path, connection)`,
//! `blob_output(path, connection)`, `http_output()`, the durable `orchestration_trigger(orchestration)`,
//! `activity_trigger(activity)`, `entity_trigger(entity_name)` and
//! `durable_client_input(task_hub, connection_name)`, and on every one `name` and `data_type`.
//! A durable trigger changes how the function is called: an orchestrator (an `async fn` taking
//! `OrchestrationContext`) is replayed from its history, an activity's first parameter is
//! deserialized from the orchestrator's JSON and its `Result` serialized back, and an entity
//! function runs once per operation of its batch (see `fnwire::durable`).
//! `methods` takes `"get,post"` or `["GET", "POST"]`.
//!
//! `#[binding(type = "sql", direction = "in", name = "items", command_text = "SELECT 1")]`
//! declares any Azure binding fnwire has no attribute for: `type` and `direction` are required,
//! every other key is passed to the host with its snake_case name turned into camelCase
//! (`command_text` → `commandText`), and values may be strings, booleans, integers or lists of
//! strings.
//!
//! # Stacking
//!
//! Rust hands an attribute macro only its own arguments. So the first fnwire attribute to
//! expand takes every other fnwire attribute still on the function, removes it, and expands the
//! function once with all bindings. An attribute counts as fnwire's when its path **ends in one
//! of the names above**: `#[queue_output]`, `#[fnwire::queue_output]` and
//! `#[some::reexport::queue_output]` all do. An attribute imported under another name
//! (`use fnwire::queue_output as send;`) is not recognized when stacked; keep the original names.
//!
//! # What is generated
//!
//! The function is emitted unchanged, so unit tests can call it directly. Beside it, in an
//! anonymous `const _` block: an invoker that fills each parameter through the SDK's traits
//! (`FromInput`, `OutputParam`, `FromInvocation`) and converts the result (`IntoReturn`), and a
//! registration holding the function name and its binding JSON, rendered at compile time. An
//! unsupported parameter or return type is a compile error at that type, with a message saying
//! which types are accepted. Every misuse of the attributes is a compile error at the offending
//! token; all errors are shown at once, and the function is still emitted so IDEs keep working.
//!
//! # Why registration uses `inventory`
//!
//! Each expansion submits its registration to a distributed collection (`inventory`, through
//! `::fnwire::__private::inventory`) that `fnwire::run()` reads at start-up.
//!
//! * **Nothing to forget.** There is no hand-maintained list of functions: a function exists
//!   for the host exactly when its attribute compiles. A list that must repeat every function
//!   can silently miss one, and the app then runs without it.
//! * **Works across modules.** Functions may live in any module of the binary (or a library it
//!   links); the macro needs no knowledge of the module tree and generates no `mod` items, so
//!   compile errors stay in the user's own code.
//! * **Cost.** One static per function and a platform constructor that runs before `main` to
//!   link it into the list; reading the list once at start-up is a walk over a linked list.
//!   Constructors exist on every platform a worker runs on (Linux, macOS, Windows). The price
//!   is that registration is implicit: a function in a library crate the binary never links is
//!   not registered (the function table `fnwire start` prints shows what was found).

use proc_macro::TokenStream;

macro_rules! binding_attributes {
    ($($(#[$doc:meta])* $name:ident;)*) => {
        $(
            $(#[$doc])*
            #[proc_macro_attribute]
            pub fn $name(args: TokenStream, item: TokenStream) -> TokenStream {
                fnwire_macros_core::expand_attribute(stringify!($name), args.into(), item.into()).into()
            }
        )*
    };
}

binding_attributes! {
    /// An HTTP trigger: `#[http_trigger(route = "items/{id}", methods = "get,post", auth_level = "anonymous")]`.
    /// All keys are optional; the response is the return value unless `#[http_output(name = "...")]` says otherwise.
    http_trigger;
    /// A timer trigger: `#[timer_trigger(schedule = "0 */5 * * * *", run_on_startup = false, use_monitor = true)]`.
    timer_trigger;
    /// A queue trigger: `#[queue_trigger(queue = "jobs", connection = "AzureWebJobsStorage")]`.
    queue_trigger;
    /// A blob trigger: `#[blob_trigger(path = "uploads/{name}")]` on a function whose first
    /// parameter is a `Blob` (or `Vec<u8>`, `String`, `bytes::Bytes`).
    blob_trigger;
    /// The HTTP response of an HTTP-triggered function, on the return value or on `name = "..."`.
    http_output;
    /// A queue message written when the function succeeds: `#[queue_output(queue = "done", name = "done")]`.
    queue_output;
    /// A Service Bus trigger: `#[service_bus_trigger(topic = "sales", subscription = "orders")]`, or
    /// `#[service_bus_trigger(queue = "jobs")]`, on a `fnwire::ServiceBusMessage` (or text/JSON) parameter.
    service_bus_trigger;
    /// A Service Bus message sent when the function succeeds: `#[service_bus_output(topic = "sales")]` or
    /// `#[service_bus_output(queue = "jobs", name = "out")]`; send a `fnwire::ServiceBusMessage` to set properties.
    service_bus_output;
    /// A blob read before the function runs: `#[blob_input(name = "doc", path = "docs/{id}")]`.
    blob_input;
    /// A blob written when the function succeeds: `#[blob_output(path = "out/{rand-guid}")]`.
    blob_output;
    /// A RabbitMQ trigger: `#[rabbitmq_trigger(queue = "orders", connection_string_setting = "RabbitMQConnection")]`,
    /// the setting holding an `amqp://` URI. The parameter is `RabbitMqMessage`, `String`, `Vec<u8>` or `Json<T>`.
    rabbitmq_trigger;
    /// A RabbitMQ message published when the function succeeds:
    /// `#[rabbitmq_output(queue = "shipped", connection_string_setting = "RabbitMQConnection")]`.
    rabbitmq_output;
    /// A durable orchestrator: `#[orchestration_trigger(orchestration = "Name")]` on an
    /// `async fn(ctx: fnwire::durable::OrchestrationContext) -> Result<T, E>`.
    orchestration_trigger;
    /// A durable activity: `#[activity_trigger(activity = "Name")]` on a function whose first
    /// parameter is its (deserialized) input and which returns `Result<T, E>` or `()`.
    activity_trigger;
    /// A durable entity: `#[entity_trigger(entity_name = "Counter")]` on a function taking a
    /// `fnwire::durable::EntityContext`, called once per operation.
    entity_trigger;
    /// A durable client: `#[durable_client_input(name = "client", task_hub = "...", connection_name = "...")]`
    /// on a `fnwire::durable::DurableClient` parameter.
    durable_client_input;
    /// Table entities read before the function runs: one with `partition_key` and `row_key`,
    /// else a query's: `#[table_input(name = "orders", table_name = "Orders", partition_key = "{id}", filter = "Total gt 10", take = 50)]`.
    table_input;
    /// Table entities written when the function succeeds (one JSON object, or an array of
    /// them), by each entity's `ETag` as on Azure: none inserts, `"*"` inserts or replaces, any
    /// other replaces only that version: `#[table_output(table_name = "Orders", partition_key = "web")]`.
    table_output;
    /// Any Azure binding: `#[binding(type = "sql", direction = "in", name = "items", command_text = "...")]`.
    binding;
}
