//! The response rules shared with the Python and Node tests (`tests/data/response-rules.json`):
//! the SDK gives exactly the verdicts the table lists, so all three languages agree.

use fnwire::__bridge::{CookieFields, status_code};
use serde_json::Value;

fn table() -> Value {
    let text = include_str!("../data/response-rules.json");
    serde_json::from_str(text).expect("the rules table is JSON")
}

fn cases<'a>(table: &'a Value, key: &str) -> impl Iterator<Item = (&'a Value, Option<&'a str>)> {
    table[key]
        .as_array()
        .expect("a list of cases")
        .iter()
        .map(|case| (&case["value"], case["error"].as_str()))
}

fn cookie_verdict(fields: CookieFields) -> Option<String> {
    fields.into_cookie().err().map(|e| e.to_string())
}

#[test]
fn the_sdk_gives_the_verdicts_of_the_shared_table() {
    let table = table();
    for (value, error) in cases(&table, "status") {
        let verdict = status_code(value.as_i64().expect("an integer")).err().map(|e| e.to_string());
        assert_eq!(verdict.as_deref(), error, "status {value}");
    }
    let cookie = || CookieFields { name: "c".into(), value: "v".into(), ..CookieFields::default() };
    for (value, error) in cases(&table, "same_site") {
        let fields = CookieFields { same_site: value.as_str().map(String::from), ..cookie() };
        assert_eq!(cookie_verdict(fields).as_deref(), error, "same_site {value}");
    }
    for (value, error) in cases(&table, "expires_seconds") {
        let fields = CookieFields { expires: value.as_f64(), ..cookie() };
        assert_eq!(cookie_verdict(fields).as_deref(), error, "expires {value}");
    }
    for (value, error) in cases(&table, "max_age_seconds") {
        let fields = CookieFields { max_age: value.as_f64(), ..cookie() };
        assert_eq!(cookie_verdict(fields).as_deref(), error, "max_age {value}");
    }
}
