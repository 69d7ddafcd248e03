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

/// Found by the `sql_filter` fuzz target: a parenthesis followed by a multi-byte character, where
/// the look for a keyword after `)` sliced the text inside that character.
#[test]
fn a_multi_byte_character_after_a_parenthesis_is_an_error_not_a_panic() {
    let crash = [40u8, 40, 39, 43, 40, 8, 39, 13, 62, 39, 40, 104, 40, 8, 45, 39, 13, 41, 184];
    let text = String::from_utf8_lossy(&crash);
    for filter in [text.as_ref(), "(a) é", "(a)\u{e9}=1", "(1)é"] {
        if let Ok(rule) = Rule::compile(&RuleSpec::sql(filter)) {
            let _ = rule.matches(&message());
        }
    }
}

/// Found by the `sql_filter` fuzz target: a text over the length limit whose limit falls inside a
/// multi-byte character, where the error pointed into that character.
#[test]
fn a_text_over_the_limit_is_refused_wherever_the_limit_falls() {
    for prefix in ["", "a", "aa"] {
        let text = format!("{prefix}{}", "é".repeat(600));
        let error = Rule::compile(&RuleSpec::sql(&text)).unwrap_err().to_string();
        assert!(error.contains("at most"), "{error}");
    }
}
