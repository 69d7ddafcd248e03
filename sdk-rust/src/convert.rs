//! Conversions between `TypedData` (the protocol's value type) and Rust values.
//!
//! These exist once, here; the Python and Node layers reuse them. A missing or null value arrives
//! as an empty `TypedData` (no `data` set).

use bytes::Bytes;
use fnwire_protocol::rpc::TypedData;
use fnwire_protocol::rpc::typed_data::Data;
use serde_json::Value;

use crate::FunctionError;

/// A value that can be read from a binding's `TypedData`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read from binding data",
    label = "this type has no `FromTypedData` conversion",
    note = "accepted: String, Vec<u8>, bytes::Bytes, serde_json::Value, Json<T> (T: Deserialize), i64, f64, \
            bool, HttpRequest, TimerInfo, TypedData, or Option<T> of these"
)]
pub trait FromTypedData: Sized {
    /// Which triggers can provide this type, checked at compile time for trigger parameters.
    #[doc(hidden)]
    const INPUT_KIND: crate::bind::InputKind = crate::bind::InputKind::Data;

    /// Converts the value; the error says what was received and what was expected.
    fn from_typed_data(data: TypedData) -> Result<Self, FunctionError>;
}

/// A value that can be sent to the host as `TypedData` (an output binding or a return value).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent as binding data",
    label = "this type has no `IntoTypedData` conversion",
    note = "accepted: String, &'static str, Vec<u8>, bytes::Bytes, serde_json::Value, Json<T> (T: Serialize), \
            i64, f64, bool, HttpResponse, TypedData, or Option<T> of these"
)]
pub trait IntoTypedData {
    /// Converts the value.
    fn into_typed_data(self) -> Result<TypedData, FunctionError>;
}

/// A `TypedData` holding `data`.
pub fn typed(data: Data) -> TypedData {
    TypedData { data: Some(data) }
}

/// Names the kind of value a `TypedData` holds, for error messages.
pub fn kind_of(data: &TypedData) -> &'static str {
    match &data.data {
        None => "no value (null)",
        Some(Data::String(_)) => "a string",
        Some(Data::Json(_)) => "JSON",
        Some(Data::Bytes(_)) => "bytes",
        Some(Data::Stream(_)) => "a stream",
        Some(Data::Http(_)) => "an HTTP request",
        Some(Data::Int(_)) => "an integer",
        Some(Data::Double(_)) => "a number",
        Some(Data::CollectionBytes(_)) => "a list of byte arrays",
        Some(Data::CollectionString(_)) => "a list of strings",
        Some(Data::CollectionDouble(_)) => "a list of numbers",
        Some(Data::CollectionSint64(_)) => "a list of integers",
        Some(Data::ModelBindingData(_)) => "a deferred-binding reference (model_binding_data)",
        Some(Data::CollectionModelBindingData(_)) => "a list of deferred-binding references",
    }
}

fn unexpected(data: &TypedData, expected: &str) -> FunctionError {
    FunctionError::new(format!(
        "expected {expected}, but the host sent {}; change the parameter type to one that accepts it \
         (String, Vec<u8> or serde_json::Value accept most values)",
        kind_of(data)
    ))
}

/// Reads a UTF-8 string; the error says where the bytes stop being UTF-8.
pub(crate) fn utf8(bytes: Bytes, what: &str) -> Result<String, FunctionError> {
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        FunctionError::new(format!(
            "{what} is not valid UTF-8 (invalid byte at offset {}); read it as bytes (Vec<u8> or Bytes) instead",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Parses JSON text; the error names the line and column (serde_json's message carries them).
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    text: &[u8],
    what: &str,
) -> Result<T, FunctionError> {
    serde_json::from_slice(text).map_err(|e| {
        let kind = if e.is_data() { "does not have the expected shape" } else { "is not valid JSON" };
        FunctionError::new(format!("{what} {kind}: {e}"))
    })
}

/// The text of a value that is text-like: strings as they are, JSON strings unquoted, other
/// JSON as its text, numbers printed. Used for trigger metadata, which hosts send as JSON.
pub fn text_of(data: &TypedData) -> Option<String> {
    match data.data.as_ref()? {
        Data::String(s) => Some(s.clone()),
        Data::Json(j) => match serde_json::from_str::<Value>(j) {
            Ok(Value::String(s)) => Some(s),
            Ok(Value::Null) => None,
            _ => Some(j.clone()),
        },
        Data::Bytes(b) | Data::Stream(b) => String::from_utf8(b.to_vec()).ok(),
        Data::Int(i) => Some(i.to_string()),
        Data::Double(d) => Some(d.to_string()),
        _ => None,
    }
}

/// The value as JSON, for any non-HTTP `TypedData`.
pub fn json_of(data: TypedData) -> Result<Value, FunctionError> {
    let Some(inner) = data.data else { return Ok(Value::Null) };
    Ok(match inner {
        Data::Json(j) => parse_json(j.as_bytes(), "the JSON value")?,
        // Text that happens to be JSON is read as JSON, anything else as a JSON string.
        Data::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        Data::Bytes(b) | Data::Stream(b) => parse_json(&b, "the bytes value")?,
        Data::Int(i) => Value::from(i),
        Data::Double(d) => Value::from(d),
        Data::CollectionString(c) => Value::from(c.string),
        Data::CollectionDouble(c) => Value::from(c.double),
        Data::CollectionSint64(c) => Value::from(c.sint64),
        Data::CollectionBytes(c) => Value::Array(c.bytes.iter().map(|b| Value::from(b.to_vec())).collect()),
        other => return Err(unexpected(&typed(other), "JSON-compatible data")),
    })
}

impl FromTypedData for TypedData {
    const INPUT_KIND: crate::bind::InputKind = crate::bind::InputKind::Any;
    fn from_typed_data(data: TypedData) -> Result<Self, FunctionError> {
        Ok(data)
    }
}

impl FromTypedData for String {
    fn from_typed_data(data: TypedData) -> Result<Self, FunctionError> {
        match data.data {
            Some(Data::String(s)) => Ok(s),
            // A JSON string is unquoted; other JSON is handed over as its text.
            Some(Data::Json(j)) => match serde_json::from_str::<Value>(&j) {
                Ok(Value::String(s)) => Ok(s),
                _ => Ok(j),
            },
            Some(Data::Bytes(b)) | Some(Data::Stream(b)) => utf8(b, "the binding data"),
            Some(Data::Int(i)) => Ok(i.to_string()),
            Some(Data::Double(d)) => Ok(d.to_string()),
            _ => Err(unexpected(&data, "text")),
        }
    }
}

impl FromTypedData for Bytes {
    fn from_typed_data(data: TypedData) -> Result<Self, FunctionError> {
        match data.data {
            Some(Data::Bytes(b)) | Some(Data::Stream(b)) => Ok(b),
            Some(Data::String(s)) | Some(Data::Json(s)) => Ok(Bytes::from(s)),
            _ => Err(unexpected(&data, "bytes or text")),
        }
    }
}

impl FromTypedData for Vec<u8> {
    fn from_typed_data(data: TypedData) -> Result<Self, FunctionError> {
        Bytes::from_typed_data(data).map(Vec::from)
    }
}

impl FromTypedData for Value {
    fn from_typed_data(data: TypedData) -> Result<Self, FunctionError> {
        json_of(data)
    }
}

impl FromTypedData for i64 {
    fn from_typed_data(data: TypedData) -> Result<Self, FunctionError> {
        match &data.data {
            Some(Data::Int(i)) => Ok(*i),
            Some(Data::Double(d)) if d.fract() == 0.0 && d.abs() < 9.0e15 => Ok(*d as i64),
            _ => match text_of(&data) {
                Some(text) => text.trim().parse().map_err(|_| {
                    FunctionError::new(format!("expected a whole number, but the host sent {text:?}"))
                }),
                None => Err(unexpected(&data, "a whole number")),
            },
        }
    }
}

impl FromTypedData for f64 {
    fn from_typed_data(data: TypedData) -> Result<Self, FunctionError> {
        match &data.data {
            Some(Data::Double(d)) => Ok(*d),
            Some(Data::Int(i)) => Ok(*i as f64),
            _ => match text_of(&data) {
                Some(text) => text.trim().parse().map_err(|_| {
                    FunctionError::new(format!("expected a number, but the host sent {text:?}"))
                }),
                None => Err(unexpected(&data, "a number")),
            },
        }
    }
}

impl FromTypedData for bool {
    fn from_typed_data(data: TypedData) -> Result<Self, FunctionError> {
        match &data.data {
            Some(Data::Int(i)) => Ok(*i != 0),
            _ => match text_of(&data).map(|t| t.trim().to_ascii_lowercase()) {
                Some(t) if t == "true" => Ok(true),
                Some(t) if t == "false" => Ok(false),
                Some(t) => {
                    Err(FunctionError::new(format!("expected true or false, but the host sent {t:?}")))
                }
                None => Err(unexpected(&data, "true or false")),
            },
        }
    }
}

/// A missing or null value becomes `None`.
impl<T: FromTypedData> FromTypedData for Option<T> {
    const INPUT_KIND: crate::bind::InputKind = T::INPUT_KIND;
    fn from_typed_data(data: TypedData) -> Result<Self, FunctionError> {
        if data.data.is_none() { Ok(None) } else { T::from_typed_data(data).map(Some) }
    }
}

impl IntoTypedData for TypedData {
    fn into_typed_data(self) -> Result<TypedData, FunctionError> {
        Ok(self)
    }
}

impl IntoTypedData for String {
    fn into_typed_data(self) -> Result<TypedData, FunctionError> {
        Ok(typed(Data::String(self)))
    }
}

impl IntoTypedData for &'static str {
    fn into_typed_data(self) -> Result<TypedData, FunctionError> {
        Ok(typed(Data::String(self.to_string())))
    }
}

impl IntoTypedData for Bytes {
    fn into_typed_data(self) -> Result<TypedData, FunctionError> {
        Ok(typed(Data::Bytes(self)))
    }
}

impl IntoTypedData for Vec<u8> {
    fn into_typed_data(self) -> Result<TypedData, FunctionError> {
        Ok(typed(Data::Bytes(Bytes::from(self))))
    }
}

impl IntoTypedData for Value {
    fn into_typed_data(self) -> Result<TypedData, FunctionError> {
        Ok(typed(Data::Json(self.to_string())))
    }
}

impl IntoTypedData for i64 {
    fn into_typed_data(self) -> Result<TypedData, FunctionError> {
        Ok(typed(Data::Int(self)))
    }
}

impl IntoTypedData for f64 {
    fn into_typed_data(self) -> Result<TypedData, FunctionError> {
        Ok(typed(Data::Double(self)))
    }
}

/// Hosts have no boolean `TypedData`; JSON `true`/`false` reads back as a boolean everywhere.
impl IntoTypedData for bool {
    fn into_typed_data(self) -> Result<TypedData, FunctionError> {
        Ok(typed(Data::Json(self.to_string())))
    }
}

/// `None` is an empty `TypedData`: the host treats it as "no value" and skips the binding.
impl<T: IntoTypedData> IntoTypedData for Option<T> {
    fn into_typed_data(self) -> Result<TypedData, FunctionError> {
        match self {
            Some(v) => v.into_typed_data(),
            None => Ok(TypedData::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(t: &str) -> TypedData {
        typed(Data::Json(t.into()))
    }

    #[test]
    fn strings_come_from_text_json_and_bytes() {
        assert_eq!(String::from_typed_data(typed(Data::String("a".into()))).unwrap(), "a");
        assert_eq!(String::from_typed_data(json("\"quoted\"")).unwrap(), "quoted");
        assert_eq!(String::from_typed_data(json("{\"a\":1}")).unwrap(), "{\"a\":1}");
        assert_eq!(String::from_typed_data(typed(Data::Bytes(Bytes::from_static(b"hi")))).unwrap(), "hi");
        let err = String::from_typed_data(typed(Data::Bytes(Bytes::from_static(b"ok\xff")))).unwrap_err();
        assert!(err.message.contains("not valid UTF-8 (invalid byte at offset 2)"), "{err}");
    }

    #[test]
    fn numbers_accept_the_json_the_host_sends() {
        assert_eq!(i64::from_typed_data(json("5")).unwrap(), 5);
        assert_eq!(i64::from_typed_data(typed(Data::Int(-3))).unwrap(), -3);
        assert_eq!(f64::from_typed_data(json("2.5")).unwrap(), 2.5);
        assert!(i64::from_typed_data(json("\"x\"")).unwrap_err().message.contains("whole number"));
        assert!(bool::from_typed_data(json("true")).unwrap());
    }

    #[test]
    fn json_values_and_options() {
        let v = Value::from_typed_data(json("{\"a\":[1,2]}")).unwrap();
        assert_eq!(v["a"][1], 2);
        assert_eq!(Value::from_typed_data(typed(Data::String("plain".into()))).unwrap(), "plain");
        assert_eq!(Option::<String>::from_typed_data(TypedData::default()).unwrap(), None);
        let err = Value::from_typed_data(json("{oops")).unwrap_err();
        assert!(err.message.contains("is not valid JSON") && err.message.contains("column 2"), "{err}");
    }

    #[test]
    fn outputs_become_the_matching_variant() {
        assert_eq!("x".into_typed_data().unwrap(), typed(Data::String("x".into())));
        assert_eq!(vec![1u8].into_typed_data().unwrap(), typed(Data::Bytes(Bytes::from_static(&[1]))));
        assert_eq!(serde_json::json!({"a":1}).into_typed_data().unwrap(), json("{\"a\":1}"));
        assert_eq!(7i64.into_typed_data().unwrap(), typed(Data::Int(7)));
        assert_eq!(None::<String>.into_typed_data().unwrap(), TypedData::default());
    }
}
