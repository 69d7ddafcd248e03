//! Integration tests of fnwire-macros, compiled against the real `fnwire` crate.

mod ui;
