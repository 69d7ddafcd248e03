//! Filters, table-driven: each case is a filter and which of the sample entities pass it;
//! then the errors (position and what was expected), and a bounded property test that no
//! input makes the parser panic.

use chrono::TimeZone as _;
use fnwire_tables::{EdmValue, Entity, Filter};

fn samples() -> Vec<Entity> {
    let day = |d| chrono::Utc.with_ymd_and_hms(2024, 5, d, 12, 0, 0).unwrap();
    vec![
        Entity::new("orders", "001")
            .unwrap()
            .with("Customer", EdmValue::String("ada".into()))
            .with("Total", EdmValue::Double(12.5))
            .with("Count", EdmValue::Int64(3))
            .with("Paid", EdmValue::Boolean(true))
            .with("Placed", EdmValue::DateTime(day(1)))
            .with("Id", EdmValue::Guid(uuid::Uuid::from_u128(1))),
        Entity::new("orders", "002")
            .unwrap()
            .with("Customer", EdmValue::String("O'Brien".into()))
            .with("Total", EdmValue::Double(99.0))
            .with("Count", EdmValue::Int32(10))
            .with("Paid", EdmValue::Boolean(false))
            .with("Placed", EdmValue::DateTime(day(20))),
        Entity::new("returns", "001")
            .unwrap()
            .with("Customer", EdmValue::String("ada".into()))
            .with("Raw", EdmValue::Binary(vec![0xca, 0xfe])),
    ]
}

/// Which samples (by index) pass.
fn passing(filter: &str) -> Vec<usize> {
    let parsed = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    samples().iter().enumerate().filter(|(_, e)| parsed.matches(e)).map(|(i, _)| i).collect()
}

#[test]
fn filters_select_the_entities_azure_would() {
    let cases: &[(&str, &[usize])] = &[
        ("PartitionKey eq 'orders'", &[0, 1]),
        ("PartitionKey ne 'orders'", &[2]),
        ("RowKey ge '002'", &[1]),
        ("RowKey lt '002'", &[0, 2]),
        ("Customer eq 'O''Brien'", &[1]),
        ("'ada' eq Customer", &[0, 2]),
        ("Total gt 50.0", &[1]),
        ("Total le 12.5", &[0]),
        ("Count gt 5", &[1]),
        ("Count eq 3L", &[0]),
        ("Count ge 3 and Count lt 10", &[0]),
        ("Paid eq true", &[0]),
        ("Paid", &[0]),
        ("not Paid", &[1, 2]),
        ("not (Paid eq true)", &[1, 2]),
        ("Paid eq false or PartitionKey eq 'returns'", &[1, 2]),
        ("Placed lt datetime'2024-05-10T00:00:00Z'", &[0]),
        ("Placed ge datetime'2024-05-10'", &[1]),
        ("Id eq guid'00000000-0000-0000-0000-000000000001'", &[0]),
        ("Raw eq X'cafe'", &[2]),
        ("Raw eq binary'CAFE'", &[2]),
        // A missing property or a value of another type never compares, even with `ne`.
        ("Missing ne 'x'", &[]),
        ("Customer eq 3", &[]),
        ("Customer ne 3", &[]),
        // Precedence: `and` binds tighter than `or`; parentheses change it.
        ("PartitionKey eq 'returns' or PartitionKey eq 'orders' and Paid", &[0, 2]),
        ("(PartitionKey eq 'returns' or PartitionKey eq 'orders') and Paid", &[0]),
        ("  (( Count  gt 1 ))  ", &[0, 1]),
        ("PartitionKey EQ 'orders' AND NOT Paid", &[1]),
        ("Total gt -1e3", &[0, 1]),
        ("Timestamp ge datetime'2000-01-01T00:00:00Z'", &[]),
        ("true", &[0, 1, 2]),
    ];
    for (filter, expected) in cases {
        assert_eq!(passing(filter), *expected, "{filter}");
    }
}

#[test]
fn errors_name_the_position_and_what_was_expected() {
    // (filter, position, found, words the expectation contains)
    let cases: &[(&str, usize, &str, &str)] = &[
        ("Name eq", 8, "at the end", "property name or a value"),
        ("Name eq 'open", 9, "'open", "closing `'`"),
        ("Name xx 'a'", 6, "xx", "comparison operator"),
        ("(Age gt 3", 10, "at the end", "`)`"),
        ("Age gt 3 Name eq 'a'", 10, "Name", "`and`, `or`"),
        ("Placed gt datetime'yesterday'", 19, "'yesterday'", "ISO 8601"),
        ("Id eq guid'nope'", 11, "'nope'", "GUID"),
        ("Age gt 12x", 8, "12x", "number"),
        ("Age gt 99999999999999999999", 8, "9999", "within 64 bits"),
        ("and Age gt 1", 1, "and", "property name or a value"),
        ("Age gt 1 and", 13, "at the end", "property name or a value"),
        ("'a'", 4, "at the end", "comparison operator"),
        ("Age gt 1)", 9, ")", "end of the filter"),
        ("", 1, "at the end", "property name or a value"),
        ("Name eq #", 9, "#", "property name or a value"),
        ("Name eq foo'x'", 9, "foo'x'", "typed value"),
    ];
    for (filter, position, found, expected) in cases {
        let e = Filter::parse(filter).expect_err(filter);
        assert_eq!(e.position, *position, "{filter}: {e}");
        assert!(e.found.contains(found), "{filter}: {e}");
        assert!(e.expected.contains(expected), "{filter}: {e}");
        let text = e.to_string();
        assert!(text.contains(&format!("character {position}")) && text.contains(filter), "{text}");
    }
    let deep = format!("{}a eq 1{}", "(".repeat(200), ")".repeat(200));
    assert!(Filter::parse(&deep).unwrap_err().expected.contains("nested"));
    let nots = format!("{}Paid", "not ".repeat(1000));
    assert!(Filter::parse(&nots).unwrap_err().expected.contains("nested"));
    assert!(Filter::parse(&"a eq 1 and ".repeat(5000)).is_err(), "longer than the limit");
}

#[test]
fn the_partition_a_filter_requires_is_found_at_its_top_level() {
    let pk = |f: &str| Filter::parse(f).unwrap().required_partition_key().map(str::to_string);
    assert_eq!(pk("PartitionKey eq 'a'").as_deref(), Some("a"));
    assert_eq!(pk("Age gt 1 and 'b' eq PartitionKey").as_deref(), Some("b"));
    assert_eq!(pk("PartitionKey eq 'a' or Age gt 1"), None);
    assert_eq!(pk("not (PartitionKey eq 'a')"), None);
    assert_eq!(pk("PartitionKey ge 'a'"), None);
}

/// A small deterministic generator (xorshift): the same inputs every run, so a failure is
/// reproducible, and a bounded number of them.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

#[test]
fn no_input_makes_the_parser_or_the_evaluation_panic() {
    let tokens = [
        "(",
        ")",
        " ",
        "not",
        "and",
        "or",
        "eq",
        "ne",
        "gt",
        "ge",
        "lt",
        "le",
        "'",
        "''",
        "'x'",
        "Name",
        "PartitionKey",
        "RowKey",
        "Timestamp",
        "Count",
        "Paid",
        "1",
        "-",
        "1.5",
        "1e",
        "1e9",
        "12L",
        "L",
        "99999999999999999999",
        "true",
        "false",
        "datetime'",
        "datetime'2024-05-01T00:00:00Z'",
        "guid'",
        "X'",
        "X'ca'",
        "X'c'",
        "binary'",
        "é",
        "\u{0}",
        "\t",
        "💥",
        ".",
        "_",
        "ü'",
    ];
    let entities = samples();
    let mut rng = Rng(0x5eed_f11e_u64);
    for _ in 0..20_000 {
        let len = (rng.next() % 16) as usize;
        let text: String = (0..len)
            .map(|_| rng.pick(&tokens))
            .collect::<Vec<_>>()
            .join(if rng.next() % 3 == 0 { "" } else { " " });
        match Filter::parse(&text) {
            Ok(filter) => {
                for e in &entities {
                    let _ = filter.matches(e);
                }
            }
            Err(e) => {
                assert!(e.position >= 1 && e.position <= text.chars().count() + 1, "{text:?}: {e}");
            }
        }
    }
}
