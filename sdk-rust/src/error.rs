//! Errors: [`Error`] for user code, [`FunctionError`] for what the host is told.

use std::error::Error as StdError;
use std::fmt;

use fnwire_protocol::rpc::RpcException;
use http::StatusCode;

/// A general error for function code: build it from any error with `?`, or from a message with
/// [`Error::msg`]. It keeps the error's `source()` chain.
///
/// `{}` prints the outermost message, `{:#}` the whole chain joined by `: `, and `{:?}` the message
/// followed by a `Caused by:` list (that text becomes the stack trace the host logs).
///
/// Like `anyhow::Error`, it does not implement `std::error::Error` itself, so that
/// `impl<E: std::error::Error> From<E> for Error` can exist.
pub struct Error {
    inner: Box<dyn StdError + Send + Sync + 'static>,
    /// The HTTP status an HTTP-triggered function answers with when it returns this error.
    status: Option<StatusCode>,
}

impl Error {
    /// An error that is just a message.
    pub fn msg<M>(message: M) -> Self
    where
        M: fmt::Display + fmt::Debug + Send + Sync + 'static,
    {
        Error { inner: Box::new(MessageError(message)), status: None }
    }

    /// An error that an HTTP-triggered function answers with `status` and the message as a
    /// plain-text body, instead of failing the invocation (a 500). Other functions fail as usual.
    pub fn with_status<M>(status: StatusCode, message: M) -> Self
    where
        M: fmt::Display + fmt::Debug + Send + Sync + 'static,
    {
        Error { inner: Box::new(MessageError(message)), status: Some(status) }
    }

    /// A `400 Bad Request` error: the request was malformed.
    pub fn bad_request<M>(message: M) -> Self
    where
        M: fmt::Display + fmt::Debug + Send + Sync + 'static,
    {
        Error::with_status(StatusCode::BAD_REQUEST, message)
    }

    /// A `401 Unauthorized` error: the caller did not say who they are.
    pub fn unauthorized<M>(message: M) -> Self
    where
        M: fmt::Display + fmt::Debug + Send + Sync + 'static,
    {
        Error::with_status(StatusCode::UNAUTHORIZED, message)
    }

    /// A `403 Forbidden` error: the caller may not do this.
    pub fn forbidden<M>(message: M) -> Self
    where
        M: fmt::Display + fmt::Debug + Send + Sync + 'static,
    {
        Error::with_status(StatusCode::FORBIDDEN, message)
    }

    /// A `404 Not Found` error: what the request names does not exist.
    pub fn not_found<M>(message: M) -> Self
    where
        M: fmt::Display + fmt::Debug + Send + Sync + 'static,
    {
        Error::with_status(StatusCode::NOT_FOUND, message)
    }

    /// A `409 Conflict` error: the request clashes with the current state.
    pub fn conflict<M>(message: M) -> Self
    where
        M: fmt::Display + fmt::Debug + Send + Sync + 'static,
    {
        Error::with_status(StatusCode::CONFLICT, message)
    }

    /// A `422 Unprocessable Content` error: the request is well-formed but its content is wrong.
    pub fn unprocessable<M>(message: M) -> Self
    where
        M: fmt::Display + fmt::Debug + Send + Sync + 'static,
    {
        Error::with_status(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// Gives this error an HTTP status (builder style), e.g. `Error::from(e).status(StatusCode::BAD_GATEWAY)`.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// The HTTP status this error answers with, if it has one.
    pub fn http_status(&self) -> Option<StatusCode> {
        self.status
    }

    /// Wraps this error in a higher-level message; the current error becomes its source.
    pub fn context<C>(self, context: C) -> Self
    where
        C: fmt::Display + Send + Sync + 'static,
    {
        Error {
            inner: Box::new(ContextError { context: context.to_string(), source: self.inner }),
            status: self.status,
        }
    }

    /// The error and each of its sources, outermost first.
    pub fn chain(&self) -> impl Iterator<Item = &(dyn StdError + 'static)> {
        let first: &(dyn StdError + 'static) = &*self.inner;
        std::iter::successors(Some(first), |e: &&(dyn StdError + 'static)| (*e).source())
    }

    /// The innermost error of the chain.
    pub fn root_cause(&self) -> &(dyn StdError + 'static) {
        self.chain().last().unwrap_or(&*self.inner)
    }

    /// The wrapped error as `E`, if it is one.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.inner.downcast_ref::<E>()
    }
}

impl<E> From<E> for Error
where
    E: StdError + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Error { inner: Box::new(error), status: None }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            let mut first = true;
            for e in self.chain() {
                if !first {
                    f.write_str(": ")?;
                }
                first = false;
                write!(f, "{e}")?;
            }
            Ok(())
        } else {
            write!(f, "{}", self.inner)
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)?;
        let causes: Vec<String> = self.chain().skip(1).map(|e| e.to_string()).collect();
        if !causes.is_empty() {
            f.write_str("\n\nCaused by:")?;
            for (i, cause) in causes.iter().enumerate() {
                write!(f, "\n    {i}: {cause}")?;
            }
        }
        Ok(())
    }
}

struct MessageError<M>(M);

impl<M: fmt::Display> fmt::Display for MessageError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<M: fmt::Debug> fmt::Debug for MessageError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<M: fmt::Display + fmt::Debug> StdError for MessageError<M> {}

struct ContextError {
    context: String,
    source: Box<dyn StdError + Send + Sync + 'static>,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)
    }
}

impl fmt::Debug for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}", self.context, self.source)
    }
}

impl StdError for ContextError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// Why an invocation failed, as the host will log it: `InvocationResponse.result.exception`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FunctionError {
    /// One line saying what went wrong (`RpcException.message`).
    pub message: String,
    /// Where it went wrong, when known: a backtrace or an error chain (`RpcException.stack_trace`).
    pub stack_trace: Option<String>,
    /// The kind of error, e.g. `panic` (`RpcException.type`).
    pub error_type: Option<String>,
    /// Set for a failure the caller caused (a malformed request, a missing resource): an
    /// HTTP-triggered function then answers with this status and the message as its body
    /// instead of failing the invocation.
    pub http_status: Option<StatusCode>,
}

impl FunctionError {
    /// A failure with just a message.
    pub fn new(message: impl Into<String>) -> Self {
        FunctionError { message: message.into(), stack_trace: None, error_type: None, http_status: None }
    }

    /// Adds a stack trace (builder style).
    pub fn with_stack_trace(mut self, stack_trace: impl Into<String>) -> Self {
        self.stack_trace = Some(stack_trace.into());
        self
    }

    /// Adds an error type (builder style).
    pub fn with_type(mut self, error_type: impl Into<String>) -> Self {
        self.error_type = Some(error_type.into());
        self
    }

    /// Gives the failure an HTTP status (builder style); see [`FunctionError::http_status`].
    pub fn with_http_status(mut self, status: StatusCode) -> Self {
        self.http_status = Some(status);
        self
    }

    /// Prefixes the message with where the failure happened, e.g. ``binding `req`: ``.
    pub fn in_binding(mut self, binding: &str) -> Self {
        self.message = format!("binding `{binding}`: {}", self.message);
        self
    }

    /// A failure from any displayable error. The `Debug` text becomes the stack trace when it says
    /// more than the message (an error chain, a backtrace).
    pub fn from_display<E: fmt::Display + fmt::Debug + ?Sized>(error: &E) -> Self {
        let message = error.to_string();
        let debug = format!("{error:?}");
        // `Debug` of a plain string is just the quoted message: that adds nothing.
        let adds_something = debug != message && debug != format!("{message:?}");
        FunctionError {
            message,
            stack_trace: adds_something.then_some(debug),
            error_type: Some(short_type_name::<E>()),
            http_status: None,
        }
    }

    /// The exception sent to the host.
    pub fn to_rpc_exception(&self, source: &str) -> RpcException {
        RpcException {
            source: source.to_string(),
            stack_trace: self.stack_trace.clone().unwrap_or_default(),
            message: self.message.clone(),
            is_user_exception: true,
            r#type: self.error_type.clone().unwrap_or_default(),
        }
    }
}

fn short_type_name<E: ?Sized>() -> String {
    // `alloc::string::String` → `String`, `my_app::MyError` → `MyError`, generics left intact.
    let full = std::any::type_name::<E>();
    let base = full.split('<').next().unwrap_or(full);
    let short = base.rsplit("::").next().unwrap_or(base);
    format!("{short}{}", &full[base.len()..])
}

/// Lets handlers built on the dynamic API use `?` on [`Error`]s.
impl From<Error> for FunctionError {
    fn from(error: Error) -> Self {
        let status = error.status;
        FunctionError { http_status: status, ..FunctionError::from_display(&error) }
    }
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for FunctionError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Inner;
    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("disk full")
        }
    }
    impl StdError for Inner {}

    #[test]
    fn error_keeps_its_chain() {
        let e = Error::from(Inner).context("saving the order");
        assert_eq!(e.to_string(), "saving the order");
        assert_eq!(format!("{e:#}"), "saving the order: disk full");
        assert!(format!("{e:?}").contains("Caused by:\n    0: disk full"));
        assert_eq!(e.root_cause().to_string(), "disk full");
    }

    #[test]
    fn question_mark_converts_std_errors() {
        fn parse(s: &str) -> Result<i32, Error> {
            Ok(s.parse::<i32>()?)
        }
        let e = parse("x").unwrap_err();
        assert!(e.downcast_ref::<std::num::ParseIntError>().is_some());
    }

    #[test]
    fn function_error_from_string_has_no_redundant_stack_trace() {
        let e = FunctionError::from_display(&"boom".to_string());
        assert_eq!(e.message, "boom");
        assert_eq!(e.stack_trace, None);
        let chained = FunctionError::from_display(&Error::from(Inner).context("outer"));
        assert_eq!(chained.message, "outer");
        assert!(chained.stack_trace.unwrap().contains("disk full"));
        assert_eq!(chained.error_type.as_deref(), Some("Error"));
        let converted: FunctionError = Error::msg("plain").into();
        assert_eq!((converted.message.as_str(), converted.stack_trace), ("plain", None));
    }
}
