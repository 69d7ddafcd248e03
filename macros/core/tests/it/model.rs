use fnwire_macros_core::ParamRole;
use fnwire_metadata::Direction;

use crate::{errors_of, model_of};

fn assert_one_error_containing(source: &str, needle: &str) {
    let errors = errors_of(source);
    assert!(errors.iter().any(|e| e.contains(needle)), "no error contains {needle:?}: {errors:#?}");
}

#[test]
fn trigger_binds_to_the_first_parameter_and_http_adds_a_return_output() {
    let model = model_of(
        r#"#[http_trigger(route = "hello")]
        pub async fn hello(req: HttpRequest, ctx: Context) -> HttpResponse { todo!() }"#,
    )
    .unwrap();
    assert_eq!(model.metadata.name, "hello");
    let names: Vec<&str> = model.metadata.bindings.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["req", "$return"]);
    assert_eq!(model.metadata.bindings[1].binding_type, "http");
    assert_eq!(model.metadata.bindings[1].direction, Direction::Out);
    let roles: Vec<&ParamRole> = model.params.iter().map(|p| &p.role).collect();
    assert_eq!(roles, [&ParamRole::Input { binding: "req".into() }, &ParamRole::Invocation]);
}

#[test]
fn stacked_attributes_are_gathered_with_any_path_prefix_and_stripped() {
    let model = model_of(
        r#"#[queue_output(name = "done", queue = "done")]
        #[fnwire::queue_trigger(queue = "jobs")]
        #[inline]
        #[some::reexport::blob_input(name = "doc", path = "docs/x")]
        pub fn work(msg: QueueMessage, doc: String, done: Out<String>) {}"#,
    )
    .unwrap();
    let bindings: Vec<(&str, &str)> =
        model.metadata.bindings.iter().map(|b| (b.name.as_str(), b.binding_type.as_str())).collect();
    // Trigger first, then the others in source order.
    assert_eq!(bindings, [("msg", "queueTrigger"), ("done", "queue"), ("doc", "blob")]);
    let kept: Vec<String> =
        model.item.attrs.iter().map(|a| quote::ToTokens::to_token_stream(a).to_string()).collect();
    assert_eq!(kept, ["# [inline]"]);
    assert_eq!(model.params[2].role, ParamRole::Output { binding: "done".into() });
    assert_eq!(model.params[1].role, ParamRole::Input { binding: "doc".into() });
}

#[test]
fn an_http_output_replaces_the_implicit_response() {
    let model = model_of(
        r#"#[http_trigger]
        #[http_output(name = "res")]
        #[queue_output(queue = "audit")]
        pub fn f(req: HttpRequest, res: Out<HttpResponse>) -> String { todo!() }"#,
    )
    .unwrap();
    let names: Vec<&str> = model.metadata.bindings.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["req", "res", "$return"]);
    assert_eq!(model.metadata.bindings[2].binding_type, "queue");
}

#[test]
fn explicit_trigger_name_and_function_name() {
    let model = model_of(
        r#"#[timer_trigger(schedule = "0 * * * * *", name = "timer", function_name = "Tick-Every-Minute")]
        pub fn tick(ctx: Context, timer: TimerInfo) {}"#,
    )
    .unwrap();
    assert_eq!(model.metadata.name, "Tick-Every-Minute");
    assert_eq!(model.metadata.bindings[0].name, "timer");
    assert_eq!(model.params[0].role, ParamRole::Invocation);
    assert_eq!(model.params[1].role, ParamRole::Input { binding: "timer".into() });
}

#[test]
fn a_trigger_without_parameters_gets_a_default_name() {
    let model = model_of(r#"#[timer_trigger(schedule = "0 * * * * *")] fn tick() {}"#).unwrap();
    assert_eq!(model.metadata.bindings[0].name, "trigger");
}

#[test]
fn private_and_raw_identifier_functions_are_accepted() {
    let model =
        model_of(r#"#[http_trigger] fn r#match(req: HttpRequest) -> HttpResponse { todo!() }"#).unwrap();
    assert_eq!(model.metadata.name, "match");
}

#[test]
fn generic_binding_is_a_trigger_when_its_type_ends_in_trigger() {
    let model = model_of(
        r#"#[binding(type = "serviceBusTrigger", direction = "in", queue_name = "orders", is_sessions_enabled = true)]
        pub fn on_order(message: String) {}"#,
    )
    .unwrap();
    let trigger = &model.metadata.bindings[0];
    assert_eq!(trigger.name, "message");
    assert_eq!(trigger.properties["queueName"], "orders");
    assert_eq!(trigger.properties["isSessionsEnabled"], true);
}

#[test]
fn unknown_key_lists_the_accepted_keys() {
    let errors = errors_of(r#"#[http_trigger(rout = "x")] pub fn f(req: HttpRequest) {}"#);
    assert_eq!(
        errors,
        [
            "`#[http_trigger]` has no key `rout`; did you mean `route`? it accepts: route, methods, auth_level, name, \
             data_type, function_name"
        ]
    );
    let errors = errors_of(r#"#[http_trigger(authLevel = "admin")] pub fn f(req: HttpRequest) {}"#);
    assert!(errors[0].contains("did you mean `auth_level`?"), "{errors:#?}");
    let errors = errors_of(r#"#[queue_trigger(queue = "q", color = "red")] pub fn f(m: QueueMessage) {}"#);
    assert_eq!(
        errors,
        [
            "`#[queue_trigger]` has no key `color`; it accepts: queue, connection, name, data_type, function_name"
        ]
    );
}

#[test]
fn wrong_value_type_says_what_the_key_takes() {
    assert_one_error_containing(
        r#"#[timer_trigger(schedule = "* * * * * *", run_on_startup = "yes")] pub fn f(t: TimerInfo) {}"#,
        "`run_on_startup` takes a boolean (`true` or `false`), found `\"yes\"`",
    );
}

#[test]
fn bad_method_and_auth_level_use_the_catalog_messages() {
    let errors = errors_of(
        r#"#[http_trigger(methods = ["get", "fetch"], auth_level = "public")] pub fn f(req: HttpRequest) {}"#,
    );
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].contains("`fetch` is not an HTTP method"), "{errors:#?}");
    assert!(errors[1].contains("`public` is not an auth level"), "{errors:#?}");
}

#[test]
fn missing_required_key() {
    assert_one_error_containing(
        r#"#[queue_trigger(connection = "C")] pub fn f(m: QueueMessage) {}"#,
        "`#[queue_trigger]` requires `queue = ...` (a string)",
    );
}

#[test]
fn two_triggers() {
    assert_one_error_containing(
        r#"#[http_trigger] #[queue_trigger(queue = "q")] pub fn f(req: HttpRequest) {}"#,
        "`f` already has the trigger #[http_trigger]",
    );
}

#[test]
fn no_trigger() {
    assert_one_error_containing(
        r#"#[queue_output(queue = "q")] pub fn f() -> String { todo!() }"#,
        "`f` has no trigger",
    );
}

#[test]
fn output_name_without_parameter() {
    assert_one_error_containing(
        r#"#[queue_trigger(queue = "q")] #[queue_output(name = "done", queue = "d")] pub fn f(m: QueueMessage) {}"#,
        "no parameter is named `done`: add `done: Out<T>`",
    );
}

#[test]
fn duplicate_names_are_case_insensitive() {
    assert_one_error_containing(
        r#"#[queue_trigger(queue = "q")]
        #[blob_input(name = "Doc", path = "a")]
        #[blob_output(name = "doc", path = "b")]
        pub fn f(m: QueueMessage, Doc: String, doc: Out<String>) {}"#,
        "Azure compares binding names case-insensitively, so `doc` and `Doc` clash",
    );
}

#[test]
fn second_return_output_on_http_function() {
    assert_one_error_containing(
        r#"#[http_trigger] #[queue_output(queue = "q")] pub fn f(req: HttpRequest) -> HttpResponse { todo!() }"#,
        "`#[http_trigger]` already returns the HTTP response there",
    );
}

#[test]
fn return_output_on_function_returning_nothing() {
    assert_one_error_containing(
        r#"#[queue_trigger(queue = "q")] #[queue_output(queue = "d")] pub fn f(m: QueueMessage) {}"#,
        "`f` returns nothing",
    );
}

#[test]
fn invalid_binding_names() {
    assert_one_error_containing(
        r#"#[queue_trigger(queue = "q")] pub fn f(my_msg: QueueMessage) {}"#,
        "rename the parameter, e.g. `mymsg`",
    );
    assert_one_error_containing(
        r#"#[queue_trigger(queue = "q")] #[queue_output(name = "my_out", queue = "d")] pub fn f(m: QueueMessage, my_out: Out<String>) {}"#,
        "`my_out` is not a valid binding name: binding names are letters and digits only",
    );
}

#[test]
fn input_needs_a_name() {
    assert_one_error_containing(
        r#"#[queue_trigger(queue = "q")] #[blob_input(path = "p")] pub fn f(m: QueueMessage) {}"#,
        "#[blob_input] needs `name = \"...\"`",
    );
}

#[test]
fn out_parameter_without_output_binding() {
    assert_one_error_containing(
        r#"#[queue_trigger(queue = "q")] pub fn f(m: QueueMessage, done: Out<String>) {}"#,
        "`done` is an `Out<_>` parameter, but no output binding is named `done`",
    );
}

#[test]
fn signature_problems_are_all_reported() {
    let errors = errors_of(
        r#"#[http_trigger] pub const unsafe extern "C" fn f<T>(self, (a, b): (u8, u8), _: Context, x: impl Sized) {}"#,
    );
    let expected = [
        "`const fn`",
        "`unsafe`",
        "`extern` ABI",
        "cannot be generic",
        "`self` parameter",
        "plain name",
        "give this parameter a name",
        "`impl Trait`",
    ];
    for needle in expected {
        assert!(errors.iter().any(|e| e.contains(needle)), "no error contains {needle:?}: {errors:#?}");
    }
}

#[test]
fn variadic_functions_are_rejected() {
    assert_one_error_containing(
        r#"#[http_trigger] pub unsafe extern "C" fn f(req: HttpRequest, args: ...) {}"#,
        "cannot be variadic",
    );
}

#[test]
fn stacked_paths_are_kept_for_the_expansion() {
    let model = model_of(
        r#"#[queue_trigger(queue = "q")] #[fnwire::queue_output(queue = "d")] #[inline] fn f(m: QueueMessage) -> String { todo!() }"#,
    )
    .unwrap();
    let paths: Vec<String> =
        model.stacked_paths.iter().map(|p| quote::ToTokens::to_token_stream(p).to_string()).collect();
    assert_eq!(paths, ["fnwire :: queue_output"]);
}

#[test]
fn generic_binding_requires_type_and_direction() {
    let errors =
        errors_of(r#"#[http_trigger] #[binding(name = "x")] pub fn f(req: HttpRequest, x: String) {}"#);
    assert!(errors.iter().any(|e| e.contains("requires `type = \"...\"`")), "{errors:#?}");
    assert!(errors.iter().any(|e| e.contains("requires `direction = \"in\"`")), "{errors:#?}");
}

#[test]
fn generic_trigger_must_be_in() {
    assert_one_error_containing(
        r#"#[binding(type = "eventHubTrigger", direction = "out")] pub fn f(e: String) {}"#,
        "triggers have `direction = \"in\"`",
    );
}

#[test]
fn function_name_only_on_the_trigger() {
    assert_one_error_containing(
        r#"#[http_trigger] #[http_output(function_name = "x")] pub fn f(req: HttpRequest) -> HttpResponse { todo!() }"#,
        "goes on the trigger attribute",
    );
}

#[test]
fn invalid_function_name_override() {
    assert_one_error_containing(
        r#"#[http_trigger(function_name = "host")] pub fn f(req: HttpRequest) -> HttpResponse { todo!() }"#,
        "`host` is not a valid function name",
    );
}

#[test]
fn attribute_on_something_else_than_a_function() {
    let error = fnwire_macros_core::model::analyze(
        "http_trigger",
        proc_macro2::TokenStream::new(),
        "struct S;".parse().unwrap(),
    );
    let message = error.model.unwrap_err().to_string();
    assert!(message.contains("goes on a function"), "{message}");
    assert_eq!(error.item.to_string(), "struct S ;");
}

#[test]
fn a_leading_underscore_marks_an_unused_parameter_and_is_not_part_of_the_binding_name() {
    let model = model_of(
        r#"#[queue_trigger(queue = "jobs")]
        #[queue_output(name = "done", queue = "done")]
        pub fn work(_msg: QueueMessage, __done: Out<String>) {}"#,
    )
    .unwrap();
    let names: Vec<&str> = model.metadata.bindings.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["msg", "done"]);
    let roles: Vec<&ParamRole> = model.params.iter().map(|p| &p.role).collect();
    assert_eq!(
        roles,
        [&ParamRole::Input { binding: "msg".into() }, &ParamRole::Output { binding: "done".into() }]
    );
}
