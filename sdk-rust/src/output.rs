//! [`Out<T>`]: a named output binding.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use fnwire_protocol::rpc::TypedData;

use crate::FunctionError;
use crate::convert::IntoTypedData;
use crate::invocation::{Invocation, lock};

/// A handle to an output binding: call [`Out::set`] to give it a value. Unset outputs send
/// nothing. Clones write to the same binding, so a handle can move into spawned tasks.
pub struct Out<T> {
    binding: String,
    slot: Arc<Mutex<Option<Result<TypedData, FunctionError>>>>,
    _value: PhantomData<fn(T)>,
}

impl<T> Clone for Out<T> {
    fn clone(&self) -> Self {
        Out { binding: self.binding.clone(), slot: self.slot.clone(), _value: PhantomData }
    }
}

impl<T> fmt::Debug for Out<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Out").field("binding", &self.binding).field("is_set", &self.is_set()).finish()
    }
}

impl<T: IntoTypedData> Out<T> {
    /// The output binding `binding` of an invocation.
    pub fn bind(invocation: &Invocation, binding: &str) -> Self {
        Out {
            binding: binding.to_string(),
            slot: invocation.output_slots().slot(binding),
            _value: PhantomData,
        }
    }

    /// A handle not bound to any invocation, e.g. to call a function from a unit test and then
    /// read what it set with [`Out::get`].
    pub fn detached(binding: &str) -> Self {
        Out { binding: binding.to_string(), slot: Arc::default(), _value: PhantomData }
    }

    /// Sets the value, replacing an earlier one. If the value cannot be converted (e.g. a
    /// `Json<T>` that does not serialize), the invocation fails with that error.
    pub fn set(&self, value: T) {
        *lock(&self.slot) = Some(value.into_typed_data());
    }
}

impl<T> Out<T> {
    /// The binding name.
    pub fn binding(&self) -> &str {
        &self.binding
    }

    /// Whether a value has been set.
    pub fn is_set(&self) -> bool {
        lock(&self.slot).is_some()
    }

    /// The value set so far, as it will be sent.
    pub fn get(&self) -> Option<Result<TypedData, FunctionError>> {
        lock(&self.slot).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::typed;
    use fnwire_protocol::rpc::typed_data::Data;

    #[test]
    fn outputs_reach_the_invocation_result_in_binding_order() {
        let invocation = Invocation::new("i1", "f");
        let second: Out<String> = Out::bind(&invocation, "second");
        let first: Out<i64> = Out::bind(&invocation, "first");
        let unset: Out<String> = Out::bind(&invocation, "unset");
        first.clone().set(1);
        second.set("two".to_string());
        assert!(!unset.is_set());
        let outcome = invocation.finish(Some(typed(Data::String("r".into())))).unwrap();
        assert_eq!(
            outcome.outputs,
            vec![
                ("second".to_string(), typed(Data::String("two".into()))),
                ("first".to_string(), typed(Data::Int(1))),
            ]
        );
        assert_eq!(outcome.return_value, Some(typed(Data::String("r".into()))));
    }

    #[test]
    fn a_conversion_error_fails_the_invocation_naming_the_binding() {
        struct NotJson;
        impl serde::Serialize for NotJson {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("cannot"))
            }
        }
        let invocation = Invocation::new("i1", "f");
        Out::bind(&invocation, "doc").set(crate::Json(NotJson));
        let err = invocation.finish(None).unwrap_err();
        assert!(err.message.starts_with("binding `doc`: could not serialize"), "{err}");
    }
}
