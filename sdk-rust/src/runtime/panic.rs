//! Turns panics in function code into [`FunctionError`]s, with the panic's location and (when
//! `RUST_BACKTRACE` asks for one) a backtrace as the stack trace.

use std::any::Any;
use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

use crate::FunctionError;

thread_local! {
    /// How many `catch` frames are active on this thread: the hook stays quiet inside them.
    static CATCHING: Cell<u32> = const { Cell::new(0) };
    /// What the hook saw about the last panic on this thread, for `catch` to pick up.
    static LAST_PANIC_TRACE: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL_HOOK: Once = Once::new();

/// Installs (once per process) a panic hook that records where a panic in function code happened
/// instead of printing it; panics elsewhere go to the previous hook as before.
pub(crate) fn install_hook() {
    INSTALL_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) == 0 {
                previous(info);
                return;
            }
            let location = info.location().map_or_else(
                || "an unknown location".to_string(),
                |l| format!("{}:{}:{}", l.file(), l.line(), l.column()),
            );
            let backtrace = Backtrace::capture();
            let trace = match backtrace.status() {
                BacktraceStatus::Captured => format!("panicked at {location}\n{backtrace}"),
                _ => format!(
                    "panicked at {location}\n(set RUST_BACKTRACE=1 in the app settings for a full backtrace)"
                ),
            };
            LAST_PANIC_TRACE.with(|t| *t.borrow_mut() = Some(trace));
        }));
    });
}

/// Runs `f`, turning a panic into a [`FunctionError`].
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, FunctionError> {
    install_hook();
    CATCHING.with(|c| c.set(c.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(c.get() - 1));
    result.map_err(panic_error)
}

fn panic_error(payload: Box<dyn Any + Send>) -> FunctionError {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic whose payload is not text".to_string()
    };
    FunctionError {
        message: format!("the function panicked: {message}"),
        stack_trace: LAST_PANIC_TRACE.with(|t| t.borrow_mut().take()),
        error_type: Some("panic".to_string()),
        http_status: None,
    }
}

/// A future whose panics (in any poll) become `Err(FunctionError)`.
pub(crate) struct CatchPanic<F> {
    inner: Option<Pin<Box<F>>>,
}

impl<F> CatchPanic<F> {
    pub(crate) fn new(inner: F) -> Self {
        CatchPanic { inner: Some(Box::pin(inner)) }
    }
}

impl<F, T> Future for CatchPanic<F>
where
    F: Future<Output = Result<T, FunctionError>>,
{
    type Output = Result<T, FunctionError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(Err(FunctionError::new("the invocation was polled after it finished")));
        };
        match catch(|| inner.as_mut().poll(cx)) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => {
                self.inner = None;
                Poll::Ready(result)
            }
            Err(panic) => {
                // A panicked future must not be polled again.
                self.inner = None;
                Poll::Ready(Err(panic))
            }
        }
    }
}
