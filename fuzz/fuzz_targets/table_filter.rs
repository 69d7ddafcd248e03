//! Table filters (`$filter` of a `table` input or `fnwire table query --filter`): parsing and
//! evaluating never panic or recurse without bound, and an error's position lies inside the
//! text (or just past its end).

#![no_main]

use fnwire_tables::{EdmValue, Entity, Filter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Filter::parse(&text) {
        Ok(filter) => {
            let entity = Entity::new("p", "r")
                .expect("valid keys")
                .with("a", EdmValue::Int32(1))
                .with("Paid", EdmValue::Boolean(true))
                .with("Name", EdmValue::String("x".into()));
            let _ = filter.matches(&entity);
            let _ = filter.required_partition_key();
        }
        Err(e) => assert!(e.position >= 1 && e.position <= text.chars().count() + 1, "{text:?}: {e}"),
    }
});
