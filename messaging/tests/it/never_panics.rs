//! The parsers and the evaluation never panic, whatever the text (property test); the same
//! promise the `sql_filter` fuzz target checks with coverage guidance.

use fnwire_messaging::{Message, Rule, RuleSpec};
use proptest::prelude::*;

fn message() -> Message {
    Message::new(&b""[..]).with_property("a", 1i64).with_property("s", "x%").with_system("Label", "l")
}

/// Texts built from the grammar's own tokens reach deep into the parser, unlike random bytes.
fn tokens() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "a",
        "s",
        "sys.Label",
        "sys.",
        "user.",
        "[a]",
        "[",
        "]",
        "(",
        ")",
        "'x'",
        "'",
        "''",
        "1",
        "1.5",
        "1e3",
        "e",
        "-",
        "+",
        "*",
        "/",
        "%",
        "=",
        "<>",
        "!=",
        "<",
        ">=",
        "AND",
        "OR",
        "NOT",
        "IS",
        "NULL",
        "IN",
        "LIKE",
        "ESCAPE",
        "EXISTS",
        "TRUE",
        "newid()",
        "property(",
        ",",
        ";",
        "SET",
        "REMOVE",
        " ",
        "_",
    ]);
    prop::collection::vec(token, 0..40).prop_map(|t| t.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics(text in tokens()) {
        if let Ok(rule) = Rule::compile(&RuleSpec::sql(&text)) {
            let _ = rule.matches(&message());
        }
        if let Ok(rule) = Rule::compile(&RuleSpec::sql("1=1").with_action(&text)) {
            let mut m = message();
            rule.apply(&mut m);
        }
    }

    #[test]
    fn any_text_never_panics(text in "\\PC{0,200}") {
        let _ = Rule::compile(&RuleSpec::sql(&text));
        let _ = Rule::compile(&RuleSpec::sql("1=1").with_action(&text));
    }
}
