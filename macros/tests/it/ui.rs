//! trybuild UI tests: `tests/ui/pass` must compile and run; `tests/ui/fail` must fail with the
//! checked-in `.stderr`. Regenerate with `TRYBUILD=overwrite cargo test -p fnwire-macros`, then
//! read every changed `.stderr`: the messages are the user interface. The exact output depends
//! on the rustc version.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
