//! How function parameters and return values bind to an invocation. The attribute macros call
//! these traits; a wrong parameter type fails to compile with a message listing what is accepted.

use std::fmt;

use fnwire_protocol::rpc::TypedData;

use crate::FunctionError;
use crate::blob::Blob;
use crate::context::{Context, RetryContext, TraceContext};
use crate::convert::{FromTypedData, IntoTypedData};
use crate::invocation::Invocation;
use crate::output::Out;
use crate::queue::QueueMessage;
use crate::rabbitmq::RabbitMqMessage;
use crate::service_bus::ServiceBusMessage;

/// A parameter filled from an input binding (the trigger or another input).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as an input binding parameter",
    label = "not a type an input binding can fill",
    note = "accepted: HttpRequest, TimerInfo, QueueMessage, Blob, RabbitMqMessage, ServiceBusMessage, String, Vec<u8>, bytes::Bytes, serde_json::Value, \
            Json<T> (T: Deserialize), i64, f64, bool, or Option<T> of these",
    note = "a parameter named like an output binding must be `Out<T>`; `Context` needs no binding"
)]
pub trait FromInput: Sized {
    /// Which triggers can provide this type, checked at compile time for trigger parameters.
    #[doc(hidden)]
    const INPUT_KIND: InputKind = InputKind::Data;

    /// Takes the binding's value out of the invocation and converts it.
    fn from_input(invocation: &mut Invocation, binding: &str) -> Result<Self, FunctionError>;
}

/// What kind of trigger data a parameter type reads, so that a trigger parameter of a type its
/// trigger never sends (an `HttpRequest` on a timer) is a compile error rather than a failure at
/// every run.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// Plain data (text, bytes, JSON): what queue, blob and most other triggers send.
    Data,
    /// An HTTP request: only an `httpTrigger` sends one.
    Http,
    /// Timer information: only a `timerTrigger` sends it.
    Timer,
    /// Anything (raw `TypedData`).
    Any,
}

/// Whether a trigger of kind `trigger` can fill a parameter of kind `param` (a `const fn`, so the
/// macros check it at compile time).
#[doc(hidden)]
pub const fn trigger_fills(trigger: InputKind, param: InputKind) -> bool {
    match (trigger, param) {
        (_, InputKind::Any) => true,
        (InputKind::Http, param) => matches!(param, InputKind::Http),
        // A timer's information arrives as JSON, which the data types can read too.
        (InputKind::Timer, param) => !matches!(param, InputKind::Http),
        (_, param) => matches!(param, InputKind::Data),
    }
}

/// A parameter filled from the invocation itself rather than from a binding.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as a context parameter",
    label = "this parameter matches no binding, so it must be a context type",
    note = "accepted without a binding: Context, TraceContext, RetryContext, Option<RetryContext>",
    note = "if this parameter should be a binding, give its binding the parameter's name (`name = \"...\"`)"
)]
pub trait FromInvocation: Sized {
    /// Builds the value from the invocation's facts.
    fn from_invocation(invocation: &Invocation) -> Result<Self, FunctionError>;
}

/// A parameter that is an output binding.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as an output binding parameter",
    label = "output binding parameters must be `Out<T>`",
    note = "write `Out<T>` where T is String, &'static str, Vec<u8>, bytes::Bytes, serde_json::Value, \
            Json<T> (T: Serialize), i64, f64, bool or HttpResponse; then call `.set(value)`"
)]
pub trait OutputParam: Sized {
    /// An output bound to `binding`, whose value the invocation sends when it finishes.
    fn bind_output(invocation: &mut Invocation, binding: &str) -> Self;
}

/// What a function may return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a function",
    label = "not a supported return type",
    note = "accepted: (), HttpResponse, String, &'static str, Vec<u8>, bytes::Bytes, serde_json::Value, \
            Json<T> (T: Serialize), i64, f64, bool, Option<T> of these, or Result<T, E> with E: Display + Debug \
            (e.g. fnwire::Error)"
)]
pub trait IntoReturn {
    /// The `$return` value (`None`: nothing to return), or the failure to report.
    fn into_return(self) -> Result<Option<TypedData>, FunctionError>;
}

impl<T: FromTypedData> FromInput for T {
    const INPUT_KIND: InputKind = T::INPUT_KIND;

    /// Takes the binding's value out of the invocation and converts it.
    fn from_input(invocation: &mut Invocation, binding: &str) -> Result<Self, FunctionError> {
        let data = invocation.take_input(binding).unwrap_or_default();
        T::from_typed_data(data).map_err(|e| e.in_binding(binding))
    }
}

impl FromInput for QueueMessage {
    /// Takes the binding's value out of the invocation and converts it.
    fn from_input(invocation: &mut Invocation, binding: &str) -> Result<Self, FunctionError> {
        let data = invocation.take_input(binding).unwrap_or_default();
        QueueMessage::from_trigger(data, invocation.trigger_metadata()).map_err(|e| e.in_binding(binding))
    }
}

impl FromInput for Blob {
    /// Takes the binding's value out of the invocation and converts it.
    fn from_input(invocation: &mut Invocation, binding: &str) -> Result<Self, FunctionError> {
        let data = invocation.take_input(binding).unwrap_or_default();
        Blob::from_trigger(data, invocation.trigger_metadata()).map_err(|e| e.in_binding(binding))
    }
}

impl FromInput for RabbitMqMessage {
    /// Takes the binding's value out of the invocation and converts it.
    fn from_input(invocation: &mut Invocation, binding: &str) -> Result<Self, FunctionError> {
        let data = invocation.take_input(binding).unwrap_or_default();
        RabbitMqMessage::from_trigger(data, invocation.trigger_metadata()).map_err(|e| e.in_binding(binding))
    }
}

impl FromInput for ServiceBusMessage {
    /// Takes the binding's value out of the invocation and converts it.
    fn from_input(invocation: &mut Invocation, binding: &str) -> Result<Self, FunctionError> {
        let data = invocation.take_input(binding).unwrap_or_default();
        ServiceBusMessage::from_trigger(data, invocation.trigger_metadata())
            .map_err(|e| e.in_binding(binding))
    }
}

impl FromInvocation for Context {
    /// Builds the value from the invocation's facts.
    fn from_invocation(invocation: &Invocation) -> Result<Self, FunctionError> {
        Ok(Context::of(invocation))
    }
}

impl FromInvocation for TraceContext {
    /// Builds the value from the invocation's facts.
    fn from_invocation(invocation: &Invocation) -> Result<Self, FunctionError> {
        Ok(invocation.trace_context().clone())
    }
}

/// Zero counts when the invocation is not a retry.
impl FromInvocation for RetryContext {
    /// Builds the value from the invocation's facts.
    fn from_invocation(invocation: &Invocation) -> Result<Self, FunctionError> {
        Ok(invocation.retry_context().cloned().unwrap_or_default())
    }
}

impl FromInvocation for Option<RetryContext> {
    /// Builds the value from the invocation's facts.
    fn from_invocation(invocation: &Invocation) -> Result<Self, FunctionError> {
        Ok(invocation.retry_context().cloned())
    }
}

impl<T: IntoTypedData> OutputParam for Out<T> {
    /// An output bound to `binding`, whose value the invocation sends when it finishes.
    fn bind_output(invocation: &mut Invocation, binding: &str) -> Self {
        Out::bind(invocation, binding)
    }
}

impl IntoReturn for () {
    fn into_return(self) -> Result<Option<TypedData>, FunctionError> {
        Ok(None)
    }
}

impl<T: IntoTypedData> IntoReturn for T {
    fn into_return(self) -> Result<Option<TypedData>, FunctionError> {
        let data = self.into_typed_data().map_err(|e| e.in_binding("$return"))?;
        Ok(data.data.is_some().then_some(data))
    }
}

/// `Err` fails the invocation: the message is the error's `Display`, and its `Debug` becomes the
/// stack trace when it says more (an error chain).
/// An [`Error`](crate::Error) or [`FunctionError`] with an HTTP status keeps it, so that an
/// HTTP-triggered function answers with that status.
impl<T: IntoReturn, E: fmt::Display + fmt::Debug + 'static> IntoReturn for Result<T, E> {
    fn into_return(self) -> Result<Option<TypedData>, FunctionError> {
        match self {
            Ok(value) => value.into_return(),
            Err(error) => {
                let any: &dyn std::any::Any = &error;
                let status = match (any.downcast_ref::<crate::Error>(), any.downcast_ref::<FunctionError>()) {
                    (Some(e), _) => e.http_status(),
                    (_, Some(e)) => e.http_status,
                    _ => None,
                };
                Err(FunctionError { http_status: status, ..FunctionError::from_display(&error) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::typed;
    use crate::{HttpRequest, HttpResponse, Json};
    use fnwire_protocol::rpc::RpcHttp;
    use fnwire_protocol::rpc::typed_data::Data;

    #[test]
    fn inputs_bind_by_name_and_report_the_binding() {
        let mut invocation = Invocation::new("i", "f")
            .with_input(
                "req",
                typed(Data::Http(Box::new(RpcHttp { method: "GET".into(), ..RpcHttp::default() }))),
            )
            .with_input("n", typed(Data::Json("\"x\"".into())));
        let req = HttpRequest::from_input(&mut invocation, "req").unwrap();
        assert_eq!(req.method(), crate::http::Method::GET);
        let err = i64::from_input(&mut invocation, "n").unwrap_err();
        assert!(err.message.starts_with("binding `n`: expected a whole number"), "{err}");
        assert_eq!(Option::<String>::from_input(&mut invocation, "missing").unwrap(), None);
        let err = String::from_input(&mut invocation, "missing").unwrap_err();
        assert!(err.message.contains("no value"), "{err}");
    }

    #[test]
    fn return_values() {
        assert_eq!(().into_return().unwrap(), None);
        assert_eq!(None::<String>.into_return().unwrap(), None);
        assert!(matches!(
            HttpResponse::ok().into_return().unwrap(),
            Some(TypedData { data: Some(Data::Http(_)) })
        ));
        assert_eq!(
            Ok::<_, crate::Error>(Json(vec![1])).into_return().unwrap(),
            Some(typed(Data::Json("[1]".into())))
        );
        let err = Err::<(), _>(crate::Error::msg("no such order")).into_return().unwrap_err();
        assert_eq!(err.message, "no such order");
    }
}
