//! Service Bus SQL filters and actions from subscription declarations: parsing, and evaluating
//! what parses against a message, never panic. Input: the filter text, a newline, the action.

#![no_main]

use fnwire_messaging::{Message, Rule, RuleSpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (filter, action) = text.split_once('\n').unwrap_or((&text, ""));
    let spec = RuleSpec::sql(filter).with_action(action);
    if let Ok(rule) = Rule::compile(&spec) {
        let mut m = Message::new(&b"{}"[..]).with_property("a", 1i64).with_property("s", "x").with_system("Label", "l");
        if rule.matches(&m) {
            rule.apply(&mut m);
        }
    }
});
