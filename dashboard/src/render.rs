//! Invocation data as JSON a page can show: trigger data and inputs from the request, outputs
//! and the return value from the response. Large values are cut so the history stays small.

use fnwire_protocol::rpc::{InvocationRequest, InvocationResponse, ParameterBinding, TypedData, typed_data};
use serde_json::{Map, Value, json};

/// Characters kept of one text value (a body, a message).
pub const MAX_VALUE_CHARS: usize = 16 * 1024;
/// Items kept of one collection.
const MAX_ITEMS: usize = 100;

/// `text`, cut after `max` characters with a note of how much was left out.
pub fn shortened(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => {
            format!("{}… ({} more characters not kept)", &text[..cut], text[cut..].chars().count())
        }
    }
}

fn bytes(data: &[u8]) -> Value {
    match std::str::from_utf8(data) {
        Ok(text) => json!(shortened(text, MAX_VALUE_CHARS)),
        Err(_) => json!(format!("<{} bytes of binary data>", data.len())),
    }
}

/// One protocol value as JSON: JSON stays JSON (parsed, when small enough to keep whole).
pub fn typed(data: &TypedData) -> Value {
    use typed_data::Data;
    let Some(data) = &data.data else { return Value::Null };
    match data {
        Data::String(s) => json!(shortened(s, MAX_VALUE_CHARS)),
        Data::Json(text) if text.len() <= MAX_VALUE_CHARS => {
            serde_json::from_str(text).unwrap_or_else(|_| json!(text))
        }
        Data::Json(text) => json!(shortened(text, MAX_VALUE_CHARS)),
        Data::Bytes(b) | Data::Stream(b) => bytes(b),
        Data::Http(http) => {
            let mut out = Map::new();
            if !http.method.is_empty() {
                out.insert("method".into(), json!(http.method));
            }
            if !http.url.is_empty() {
                out.insert("url".into(), json!(http.url));
            }
            if !http.status_code.is_empty() {
                out.insert("statusCode".into(), json!(http.status_code));
            }
            if !http.headers.is_empty() {
                let mut headers: Vec<_> = http.headers.iter().collect();
                headers.sort();
                out.insert(
                    "headers".into(),
                    Value::Object(headers.into_iter().map(|(k, v)| (k.clone(), json!(v))).collect()),
                );
            }
            if !http.query.is_empty() {
                out.insert("query".into(), json!(http.query));
            }
            if !http.params.is_empty() {
                out.insert("params".into(), json!(http.params));
            }
            if let Some(body) = &http.body {
                out.insert("body".into(), typed(body));
            }
            Value::Object(out)
        }
        Data::Int(i) => json!(i),
        Data::Double(d) => json!(d),
        Data::CollectionBytes(c) => Value::Array(c.bytes.iter().take(MAX_ITEMS).map(|b| bytes(b)).collect()),
        Data::CollectionString(c) => Value::Array(
            c.string.iter().take(MAX_ITEMS).map(|s| json!(shortened(s, MAX_VALUE_CHARS))).collect(),
        ),
        Data::CollectionDouble(c) => json!(c.double.iter().take(MAX_ITEMS).collect::<Vec<_>>()),
        Data::CollectionSint64(c) => json!(c.sint64.iter().take(MAX_ITEMS).collect::<Vec<_>>()),
        Data::ModelBindingData(m) => {
            json!({"modelBindingData": {"source": m.source, "contentType": m.content_type}})
        }
        Data::CollectionModelBindingData(c) => json!({"modelBindingData": c.model_binding_data.len()}),
    }
}

fn bindings(list: &[ParameterBinding]) -> Value {
    use fnwire_protocol::rpc::parameter_binding::RpcData;
    let mut out = Map::new();
    for binding in list {
        let value = match &binding.rpc_data {
            Some(RpcData::Data(data)) => typed(data),
            Some(RpcData::RpcSharedMemory(shared)) => {
                json!(format!("<{} bytes passed in shared memory>", shared.count))
            }
            None => Value::Null,
        };
        out.insert(binding.name.clone(), value);
    }
    Value::Object(out)
}

/// What the worker received: inputs by binding name, and the trigger's metadata.
pub fn request(request: &InvocationRequest) -> Value {
    let mut metadata: Vec<_> = request.trigger_metadata.iter().collect();
    metadata.sort_by(|a, b| a.0.cmp(b.0));
    let metadata: Map<String, Value> = metadata.into_iter().map(|(k, v)| (k.clone(), typed(v))).collect();
    let mut out = json!({ "inputs": bindings(&request.input_data), "metadata": metadata });
    if let Some(trace) = &request.trace_context
        && !trace.trace_parent.is_empty()
    {
        out["traceParent"] = json!(trace.trace_parent);
    }
    out
}

/// What the worker answered: outputs by binding name, and the return value.
pub fn response(response: &InvocationResponse) -> Value {
    let mut out = json!({ "outputs": bindings(&response.output_data) });
    if let Some(value) = &response.return_value {
        out["returnValue"] = typed(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_with_a_note() {
        assert_eq!(shortened("abc", 5), "abc");
        assert_eq!(shortened("abcdef", 3), "abc… (3 more characters not kept)");
        assert_eq!(shortened("ééé", 1), "é… (2 more characters not kept)");
    }

    #[test]
    fn json_stays_json_and_binary_is_described() {
        let json_value = TypedData { data: Some(typed_data::Data::Json(r#"{"a":1}"#.into())) };
        assert_eq!(typed(&json_value), json!({"a": 1}));
        let binary = TypedData { data: Some(typed_data::Data::Bytes(vec![0xff, 0xfe].into())) };
        assert_eq!(typed(&binary), json!("<2 bytes of binary data>"));
    }
}
