use fnwire_macros_core::args::{ArgValue, parse_args};

fn parse(text: &str) -> syn::Result<Vec<(String, ArgValue)>> {
    let tokens: proc_macro2::TokenStream = text.parse().expect("test input tokenizes");
    parse_args(tokens).map(|args| args.into_iter().map(|a| (a.key_name(), a.value)).collect())
}

fn error(text: &str) -> String {
    parse(text).expect_err("expected a parse error").to_string()
}

#[test]
fn every_value_kind_parses() {
    let args = parse(
        r#"route = "a/{b}", run_on_startup = true, retries = -3, max = 10, methods = ["GET", "post"],"#,
    )
    .unwrap();
    assert_eq!(
        args,
        vec![
            ("route".into(), ArgValue::Str("a/{b}".into())),
            ("run_on_startup".into(), ArgValue::Bool(true)),
            ("retries".into(), ArgValue::Int(-3)),
            ("max".into(), ArgValue::Int(10)),
            ("methods".into(), ArgValue::StrList(vec!["GET".into(), "post".into()])),
        ]
    );
}

#[test]
fn keyword_keys_are_accepted() {
    let args = parse(r#"type = "sql", direction = "in""#).unwrap();
    assert_eq!(args[0].0, "type");
}

#[test]
fn empty_list_is_empty() {
    assert_eq!(parse("").unwrap(), vec![]);
}

#[test]
fn a_key_without_value_says_how_to_write_it() {
    let message = error("route");
    assert!(message.contains("expected `=` after `route`"), "{message}");
}

#[test]
fn expressions_are_rejected_with_the_accepted_kinds() {
    let message = error("route = some_const");
    assert!(message.contains("expected a literal value"), "{message}");
    let message = error("ratio = 1.5");
    assert!(message.contains("unsupported value"), "{message}");
}

#[test]
fn lists_hold_strings_only() {
    let message = error("methods = [1, 2]");
    assert!(message.contains("string literals only"), "{message}");
}

#[test]
fn a_key_given_twice_is_an_error() {
    let message = error(r#"route = "a", route = "b""#);
    assert_eq!(message, "`route` is given twice: keep one");
}

#[test]
fn too_large_integers_are_rejected() {
    let message = error("n = 99999999999999999999");
    assert!(message.contains("64 bits"), "{message}");
}
