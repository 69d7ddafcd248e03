//! The tables crate's one integration-test binary.

mod entity;
mod filter;
