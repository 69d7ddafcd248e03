use fnwire_macros_core::expand_attribute;
use proc_macro2::TokenStream;

fn expand(args: &str, item: &str) -> String {
    let args: TokenStream = args.parse().unwrap();
    let item: TokenStream = item.parse().unwrap();
    let out = expand_attribute("http_trigger", args, item);
    // The expansion must be valid items.
    syn::parse2::<syn::File>(out.clone()).unwrap_or_else(|e| panic!("expansion does not parse ({e}): {out}"));
    out.to_string()
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn async_function_is_awaited_and_emitted_unchanged() {
    let out = expand(
        r#"route = "hello""#,
        "#[doc = \"Says hello.\"] pub async fn hello(req: HttpRequest, ctx: Context) -> HttpResponse { respond(req) }",
    );
    assert!(
        out.starts_with(&squash(
            "# [doc = \"Says hello.\"] pub async fn hello (req : HttpRequest , ctx : Context) -> HttpResponse { respond (req) }"
        )),
        "{out}"
    );
    for needle in [
        "< HttpRequest as :: fnwire :: __private :: FromInput > :: from_input (& mut __fnwire_invocation , \"req\") ?",
        "< Context as :: fnwire :: __private :: FromInvocation > :: from_invocation (& __fnwire_invocation) ?",
        "hello (__fnwire_arg0 , __fnwire_arg1) . await",
        ":: fnwire :: __private :: IntoReturn :: into_return (__fnwire_returned) ?",
        ":: fnwire :: __private :: finish (__fnwire_invocation , __fnwire_value)",
        ":: fnwire :: __private :: inventory :: submit !",
        "name : \"hello\"",
        "invoke : :: fnwire :: __private :: Invoke :: Async (__fnwire_invoke)",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in {out}");
    }
}

#[test]
fn sync_function_is_registered_as_blocking_and_called_without_await() {
    let out = expand("", "fn ping(req: HttpRequest) -> HttpResponse { todo!() }");
    for needle in [
        ") -> :: fnwire :: __private :: InvocationResult {",
        "let __fnwire_returned = ping (__fnwire_arg0) ;",
        "invoke : :: fnwire :: __private :: Invoke :: Blocking (__fnwire_invoke)",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in {out}");
    }
    assert!(!out.contains("async move"), "a blocking invoker is not a future: {out}");
}

#[test]
fn output_parameters_use_output_param() {
    let args: TokenStream = r#"queue = "q""#.parse().unwrap();
    let item: TokenStream = r#"#[queue_output(name = "done", queue = "d")] fn f(m: QueueMessage, done: Out<String>) {}"#
        .parse()
        .unwrap();
    let out = expand_attribute("queue_trigger", args, item).to_string();
    assert!(
        out.contains(
            "< Out < String > as :: fnwire :: __private :: OutputParam > :: bind_output (& mut __fnwire_invocation , \"done\")"
        ),
        "{out}"
    );
    assert!(!out.contains("# [queue_output"), "stacked attribute must be stripped: {out}");
    // ... but still named, so its import is used and a missing import is reported.
    assert!(out.contains("# [allow (unused_imports)] use queue_output as _ ;"), "{out}");
}

#[test]
fn binding_json_is_embedded_as_string_literals() {
    let out = expand(r#"route = "a""#, "fn f(req: HttpRequest) -> HttpResponse { todo!() }");
    assert!(
        out.contains(
            r#"bindings : & ["{\"type\":\"httpTrigger\",\"direction\":\"in\",\"name\":\"req\",\"route\":\"a\"}" , "{\"type\":\"http\",\"direction\":\"out\",\"name\":\"$return\"}"]"#
        ),
        "{out}"
    );
}

#[test]
fn errors_keep_the_function_and_add_compile_errors() {
    let out = expand(
        r#"rout = "a""#,
        r#"#[queue_output(queue = 5)] pub fn f(req: HttpRequest) -> HttpResponse { todo!() }"#,
    );
    assert!(out.starts_with("pub fn f (req : HttpRequest) -> HttpResponse"), "{out}");
    assert_eq!(out.matches("compile_error !").count(), 3, "{out}");
    assert!(!out.contains("inventory"), "no registration on error: {out}");
}
