//! The one integration-test binary of fnwire-messaging.

mod declarations;
mod filters;
mod never_panics;
