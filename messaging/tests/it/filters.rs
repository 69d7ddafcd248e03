//! Filters × messages with the verdicts Service Bus gives: missing properties (unknown),
//! type coercions, LIKE escapes, precedence, actions on the copy, correlation filters.

use fnwire_messaging::{CorrelationFilter, FilterSpec, Message, Rule, RuleSpec, Value, route};

fn order() -> Message {
    Message::new(&b"{}"[..])
        .with_property("type", "order")
        .with_property("total", 150i64)
        .with_property("rate", 0.5f64)
        .with_property("vip", true)
        .with_property("code", "50%_off")
        .with_property("nothing", Value::Null)
        .with_system("Label", "sales")
        .with_system("CorrelationId", "c-1")
}

fn matches(filter: &str, m: &Message) -> bool {
    Rule::compile(&RuleSpec::sql(filter)).unwrap_or_else(|e| panic!("{filter}: {e}")).matches(m)
}

#[test]
fn filter_table() {
    let m = order();
    let empty = Message::new(&b""[..]);
    #[rustfmt::skip]
    let table: &[(&str, bool, bool)] = &[
        // filter,                                    on `order()`, on a message without properties
        ("type = 'order'",                             true,  false),
        ("type = 'order' AND total > 100",             true,  false),
        ("type = 'quote'",                             false, false),
        ("type <> 'quote'",                            true,  false), // missing: unknown, not true
        ("type != 'quote'",                            true,  false),
        ("NOT type = 'quote'",                         true,  false), // NOT unknown is unknown
        ("missing = 1",                                false, false),
        ("NOT missing = 1",                            false, false),
        ("missing = 1 OR total = 150",                 true,  false), // unknown OR true is true
        ("missing = 1 AND total = 150",                false, false),
        ("missing IS NULL",                            true,  true),
        ("nothing IS NULL",                            true,  true),  // set to null
        ("nothing IS NOT NULL",                        false, false),
        ("type IS NOT NULL",                           true,  false),
        ("EXISTS(nothing)",                            true,  false), // present although null
        ("EXISTS(type)",                               true,  false),
        ("NOT EXISTS(missing)",                        true,  true),
        ("nothing = NULL",                             false, false), // null compares unknown
        // coercions: a long meets a double as a double; a string never equals a number
        ("total = 150.0",                              true,  false),
        ("rate < 1",                                   true,  false),
        ("rate * 2 = 1",                               true,  false),
        ("total = '150'",                              false, false),
        ("NOT total = '150'",                          false, false),
        ("vip = TRUE",                                 true,  false),
        ("vip > FALSE",                                false, false), // booleans only compare for equality
        // arithmetic and precedence
        ("total + 50 = 200",                           true,  false),
        ("total - 50 * 2 = 50",                        true,  false),
        ("(total - 50) * 2 = 200",                     true,  false),
        ("total / 4 = 37",                             true,  false), // integer division
        ("total % 7 = 3",                              true,  false),
        ("-total = -150",                              true,  false),
        ("total / 0 = 1",                              false, false), // division by zero: unknown
        ("type = 'quote' OR type = 'order' AND total > 1000", false, false), // AND binds tighter
        ("(type = 'quote' OR type = 'order') AND total > 100", true, false),
        ("NOT type = 'quote' AND total > 100",         true,  false), // NOT binds tighter than AND
        ("((total > 100))",                            true,  false),
        // IN
        ("type IN ('order', 'quote')",                 true,  false),
        ("type NOT IN ('order', 'quote')",             false, false),
        ("total IN (1, 150.0)",                        true,  false),
        ("total IN (1, missing)",                      false, false), // unknown member
        ("total NOT IN (1, missing)",                  false, false),
        // LIKE with wildcards and escapes
        ("type LIKE 'ord%'",                           true,  false),
        ("type LIKE '_rder'",                          true,  false),
        ("type LIKE 'ORD%'",                           false, false), // case-sensitive
        ("type NOT LIKE 'q%'",                         true,  false),
        ("code LIKE '50!%!_off' ESCAPE '!'",           true,  false),
        ("code LIKE '50!%x' ESCAPE '!'",               false, false),
        ("code LIKE '%!_%' ESCAPE '!'",                true,  false),
        ("type LIKE '%'",                              true,  false),
        ("total LIKE '1%'",                            false, false), // LIKE reads strings only
        // system properties and scopes
        ("sys.Label = 'sales'",                        true,  false),
        ("sys.label = 'sales' AND sys.CorrelationId = 'c-1'", true, false),
        ("sys.To IS NULL",                             true,  true),
        ("user.type = 'order'",                        true,  false),
        ("[type] = 'order'",                           true,  false),
        ("property('type') = 'order'",                 true,  false),
        // keywords are case-insensitive
        ("type = 'order' and not total < 100",         true,  false),
        ("1 = 1",                                      true,  true),
        ("'it''s' = 'it''s'",                          true,  true),
        ("1e2 = 100",                                  true,  true),
    ];
    let mut wrong = Vec::new();
    for (filter, on_order, on_empty) in table {
        if matches(filter, &m) != *on_order {
            wrong.push(format!("{filter} on order: expected {on_order}"));
        }
        if matches(filter, &empty) != *on_empty {
            wrong.push(format!("{filter} on empty: expected {on_empty}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_filter_that_does_not_parse_is_refused_with_the_position_and_what_was_expected() {
    #[rustfmt::skip]
    let cases: &[(&str, usize, &str)] = &[
        ("type = ",                 8,  "value"),
        ("type = 'order",           14, "closing quote"),
        ("type == 'order'",         7,  "value"),
        ("type 'order'",            6,  "comparison"),
        ("type = 'x' ORDER BY a",   12, "end of the text"),
        ("sys.Nope = 1",            1,  "system property"),
        ("a = 1 OR sys.Nope = 1",   10, "system property"),
        ("foo.bar = 1",             1,  "scope"),
        ("a LIKE 'x' ESCAPE 'ab'",  23, "exactly one character"),
        ("(a = 1",                  7,  ")"),
        ("a = 1 AND",               10, "value"),
        ("a IS 1",                  6,  "NULL"),
        ("AND = 1",                 1,  "value"),
    ];
    for (text, position, expected) in cases {
        let err = Rule::compile(&RuleSpec::sql(text)).expect_err(text).to_string();
        assert!(err.contains(&format!("at character {position} ")), "{text}: {err}");
        assert!(err.contains(expected), "{text}: {err}");
        assert!(err.contains(text), "the message quotes the filter: {err}");
    }
    let deep = format!("{}a = 1{}", "(".repeat(40), ")".repeat(40));
    assert!(Rule::compile(&RuleSpec::sql(&deep)).unwrap_err().to_string().contains("nested"));
    let long = format!("a = '{}'", "x".repeat(1100));
    assert!(Rule::compile(&RuleSpec::sql(&long)).unwrap_err().to_string().contains("1024"));
}

#[test]
fn actions_change_only_the_subscriptions_copy() {
    let rule = Rule::compile(&RuleSpec::sql("type = 'order'").with_action(
        "SET priority = total / 50; SET sys.Label = 'big-' + type; REMOVE code; SET user.id = newid()",
    ))
    .unwrap();
    let original = order();
    let copy = route(&[rule], &original).expect("it matches");
    assert_eq!(copy.properties["priority"], Value::Long(3));
    assert_eq!(copy.system.subject.as_deref(), Some("big-order"));
    assert!(!copy.properties.contains_key("code"));
    assert!(matches!(&copy.properties["id"], Value::Str(s) if s.len() == 36));
    assert_eq!(original.properties["code"], Value::Str("50%_off".into()), "the sent message is untouched");
    let bad = Rule::compile(&RuleSpec::sql("1=1").with_action("SET = 1")).unwrap_err().to_string();
    assert!(bad.contains("SQL action") && bad.contains("at character 5"), "{bad}");
}

#[test]
fn correlation_true_and_false_filters() {
    let pairs = CorrelationFilter::parse_pairs("sys.CorrelationId=c-1, type=order, total=150").unwrap();
    let rule = |filter| Rule::compile(&RuleSpec { name: "r".into(), filter, action: None }).unwrap();
    assert!(rule(FilterSpec::Correlation(pairs.clone())).matches(&order()));
    let mut other = pairs;
    other.label = Some("support".into());
    assert!(!rule(FilterSpec::Correlation(other)).matches(&order()));
    assert!(rule(FilterSpec::True).matches(&Message::default()));
    assert!(!rule(FilterSpec::False).matches(&order()));
    assert!(CorrelationFilter::parse_pairs("sys.Nope=1").unwrap_err().contains("sys.Nope"));
    assert!(CorrelationFilter::parse_pairs("novalue").unwrap_err().contains("key=value"));
}
