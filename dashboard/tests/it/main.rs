//! The dashboard's history and JSON API, with a real embedded store.

mod api;
mod history;
mod support;
