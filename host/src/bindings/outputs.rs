//! Reading a function's output values from its `InvocationResponse`, as Azure hosts do:
//! `$return` takes `return_value`; other outputs take the `output_data` entry with their name;
//! without a `$return` binding, a JSON-object return value supplies outputs by property name
//! (the older Node style `return { res: …, out: … }`). Null values are skipped.

use bytes::Bytes;
use fnwire_protocol::rpc::{InvocationResponse, TypedData, parameter_binding, typed_data};

/// The binding name that means the function's return value.
pub const RETURN: &str = "$return";

/// The value the worker returned for output binding `name`, if any (null is none).
pub fn output_value(
    response: &InvocationResponse,
    name: &str,
    has_return_binding: bool,
) -> Option<TypedData> {
    let present = |t: &TypedData| t.data.is_some();
    if name == RETURN {
        return response.return_value.clone().filter(present);
    }
    if let Some(found) = response.output_data.iter().find(|p| p.name == name) {
        return match &found.rpc_data {
            Some(parameter_binding::RpcData::Data(d)) => Some(d.clone()).filter(present),
            _ => None,
        };
    }
    if has_return_binding {
        return None;
    }
    let Some(typed_data::Data::Json(text)) = response.return_value.as_ref().and_then(|r| r.data.as_ref())
    else {
        return None;
    };
    match serde_json::from_str::<serde_json::Value>(text).ok()?.get(name)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(TypedData { data: Some(typed_data::Data::String(s.clone())) }),
        other => Some(TypedData { data: Some(typed_data::Data::Json(other.to_string())) }),
    }
}

/// An output value that cannot be written to storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OutputValueError {
    #[error("an HTTP response cannot be stored as data")]
    HttpResponse,
    #[error("a collection or model-binding value cannot be stored as one item")]
    NotOneItem,
}

/// The content of one value written to storage (a blob, one queue message).
pub fn value_bytes(value: &TypedData) -> Result<Bytes, OutputValueError> {
    match value.data.as_ref() {
        None => Ok(Bytes::new()),
        Some(typed_data::Data::String(s)) | Some(typed_data::Data::Json(s)) => Ok(Bytes::from(s.clone())),
        Some(typed_data::Data::Bytes(b)) | Some(typed_data::Data::Stream(b)) => Ok(b.clone()),
        Some(typed_data::Data::Int(i)) => Ok(Bytes::from(i.to_string())),
        Some(typed_data::Data::Double(d)) => Ok(Bytes::from(d.to_string())),
        Some(typed_data::Data::Http(_)) => Err(OutputValueError::HttpResponse),
        Some(_) => Err(OutputValueError::NotOneItem),
    }
}

/// The messages a queue output value stands for: a JSON array or a collection is one message
/// per element (as Azure's collector outputs); anything else is one message.
pub fn queue_messages(value: &TypedData) -> Result<Vec<Bytes>, OutputValueError> {
    let strings = |v: &[String]| v.iter().map(|s| Bytes::from(s.clone())).collect();
    match value.data.as_ref() {
        Some(typed_data::Data::Json(text)) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Array(items)) => Ok(items
                .into_iter()
                .map(|item| match item {
                    serde_json::Value::String(s) => Bytes::from(s),
                    other => Bytes::from(other.to_string()),
                })
                .collect()),
            _ => Ok(vec![Bytes::from(text.clone())]),
        },
        Some(typed_data::Data::CollectionString(c)) => Ok(strings(&c.string)),
        Some(typed_data::Data::CollectionBytes(c)) => Ok(c.bytes.clone()),
        Some(typed_data::Data::CollectionSint64(c)) => {
            Ok(c.sint64.iter().map(|i| Bytes::from(i.to_string())).collect())
        }
        Some(typed_data::Data::CollectionDouble(c)) => {
            Ok(c.double.iter().map(|d| Bytes::from(d.to_string())).collect())
        }
        _ => value_bytes(value).map(|b| vec![b]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fnwire_protocol::rpc::{CollectionString, ParameterBinding};

    fn typed(d: typed_data::Data) -> TypedData {
        TypedData { data: Some(d) }
    }

    fn response(outputs: &[(&str, typed_data::Data)], ret: Option<typed_data::Data>) -> InvocationResponse {
        InvocationResponse {
            output_data: outputs
                .iter()
                .map(|(n, d)| ParameterBinding {
                    name: n.to_string(),
                    rpc_data: Some(parameter_binding::RpcData::Data(typed(d.clone()))),
                })
                .collect(),
            return_value: ret.map(typed),
            ..Default::default()
        }
    }

    #[test]
    fn return_named_and_legacy_object_outputs() {
        let r = response(
            &[("done", typed_data::Data::String("A".into()))],
            Some(typed_data::Data::String("R".into())),
        );
        assert_eq!(
            output_value(&r, "$return", true).unwrap().data,
            Some(typed_data::Data::String("R".into()))
        );
        assert_eq!(output_value(&r, "done", true).unwrap().data, Some(typed_data::Data::String("A".into())));
        assert!(output_value(&r, "other", true).is_none());
        let legacy =
            response(&[], Some(typed_data::Data::Json(r#"{"out":"x","n":{"a":1},"nil":null}"#.into())));
        assert_eq!(
            output_value(&legacy, "out", false).unwrap().data,
            Some(typed_data::Data::String("x".into()))
        );
        assert_eq!(
            output_value(&legacy, "n", false).unwrap().data,
            Some(typed_data::Data::Json(r#"{"a":1}"#.into()))
        );
        assert!(output_value(&legacy, "nil", false).is_none(), "null is skipped");
        assert!(
            output_value(&legacy, "out", true).is_none(),
            "with a $return binding the object is the return value"
        );
        let empty = response(&[("done", typed_data::Data::String(String::new()))], None);
        let mut empty = empty;
        empty.output_data[0].rpc_data = Some(parameter_binding::RpcData::Data(TypedData::default()));
        assert!(output_value(&empty, "done", false).is_none(), "an empty TypedData is null");
    }

    #[test]
    fn queue_values_become_one_message_per_item() {
        let one = queue_messages(&typed(typed_data::Data::String("hi".into()))).unwrap();
        assert_eq!(one, [Bytes::from("hi")]);
        let arr = queue_messages(&typed(typed_data::Data::Json(r#"["a",{"b":1},2]"#.into()))).unwrap();
        assert_eq!(arr, [Bytes::from("a"), Bytes::from(r#"{"b":1}"#), Bytes::from("2")]);
        let obj = queue_messages(&typed(typed_data::Data::Json(r#"{"b":1}"#.into()))).unwrap();
        assert_eq!(obj, [Bytes::from(r#"{"b":1}"#)]);
        let coll = typed(typed_data::Data::CollectionString(CollectionString {
            string: vec!["x".into(), "y".into()],
        }));
        assert_eq!(queue_messages(&coll).unwrap().len(), 2);
        assert!(value_bytes(&typed(typed_data::Data::Http(Box::default()))).is_err());
    }
}
