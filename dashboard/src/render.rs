//! Invocation data as JSON a page can show: trigger data and inputs from the request, outputs
//! and the return value from the response. Large values are cut so the history stays small.

use std::collections::HashMap;

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

/// One protocol value as the history keeps it until a page asks for it: small values are
/// copied as they are and rendered only then; a large one is cut (and so rendered) at once,
/// so the history never holds more than about [`MAX_VALUE_CHARS`] of it. Rendering every
/// invocation's data as it started was a fifth of the host's instructions per HTTP request,
/// spent whether or not anyone opened the dashboard.
#[derive(Debug, Clone)]
pub enum Kept {
    Null,
    /// Text shown as it is (already cut).
    Text(String),
    /// JSON text short enough to be shown parsed.
    Json(String),
    /// Bytes short enough to be kept whole: text if UTF-8, described if not.
    Bytes(Vec<u8>),
    Int(i64),
    Double(f64),
    Http(Box<KeptHttp>),
    /// Kinds the pipeline rarely carries (collections, model binding data): rendered at once.
    Rendered(Value),
}

/// An HTTP value's parts the dashboard shows.
#[derive(Debug, Clone)]
pub struct KeptHttp {
    method: String,
    url: String,
    status_code: String,
    headers: HashMap<String, String>,
    query: HashMap<String, String>,
    params: HashMap<String, String>,
    body: Option<Kept>,
}

impl Kept {
    /// What to keep of `data`. A value whose byte length is within [`MAX_VALUE_CHARS`] has
    /// no more characters than that either, so keeping it whole loses nothing the page shows.
    pub fn of(data: &TypedData) -> Kept {
        use typed_data::Data;
        let Some(data) = &data.data else { return Kept::Null };
        match data {
            Data::String(s) if s.len() <= MAX_VALUE_CHARS => Kept::Text(s.clone()),
            Data::String(s) => Kept::Text(shortened(s, MAX_VALUE_CHARS)),
            Data::Json(text) if text.len() <= MAX_VALUE_CHARS => Kept::Json(text.clone()),
            Data::Json(text) => Kept::Text(shortened(text, MAX_VALUE_CHARS)),
            // A copy, not `Bytes::clone`/`slice`: those would keep the whole body alive.
            Data::Bytes(b) | Data::Stream(b) if b.len() <= MAX_VALUE_CHARS => Kept::Bytes(b.to_vec()),
            Data::Bytes(b) | Data::Stream(b) => Kept::Rendered(bytes(b)),
            Data::Http(http) => Kept::Http(Box::new(KeptHttp {
                method: http.method.clone(),
                url: http.url.clone(),
                status_code: http.status_code.clone(),
                headers: http.headers.clone(),
                query: http.query.clone(),
                params: http.params.clone(),
                body: http.body.as_deref().map(Kept::of),
            })),
            Data::Int(i) => Kept::Int(*i),
            Data::Double(d) => Kept::Double(*d),
            Data::CollectionBytes(c) => {
                Kept::Rendered(Value::Array(c.bytes.iter().take(MAX_ITEMS).map(|b| bytes(b)).collect()))
            }
            Data::CollectionString(c) => Kept::Rendered(Value::Array(
                c.string.iter().take(MAX_ITEMS).map(|s| json!(shortened(s, MAX_VALUE_CHARS))).collect(),
            )),
            Data::CollectionDouble(c) => {
                Kept::Rendered(json!(c.double.iter().take(MAX_ITEMS).collect::<Vec<_>>()))
            }
            Data::CollectionSint64(c) => {
                Kept::Rendered(json!(c.sint64.iter().take(MAX_ITEMS).collect::<Vec<_>>()))
            }
            Data::ModelBindingData(m) => Kept::Rendered(
                json!({"modelBindingData": {"source": m.source, "contentType": m.content_type}}),
            ),
            Data::CollectionModelBindingData(c) => {
                Kept::Rendered(json!({"modelBindingData": c.model_binding_data.len()}))
            }
        }
    }

    /// The value as JSON: JSON stays JSON (parsed, when small enough to keep whole).
    pub fn render(&self) -> Value {
        match self {
            Kept::Null => Value::Null,
            Kept::Text(text) => json!(text),
            Kept::Json(text) => serde_json::from_str(text).unwrap_or_else(|_| json!(text)),
            Kept::Bytes(data) => bytes(data),
            Kept::Int(i) => json!(i),
            Kept::Double(d) => json!(d),
            Kept::Rendered(value) => value.clone(),
            Kept::Http(http) => {
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
                    out.insert("body".into(), body.render());
                }
                Value::Object(out)
            }
        }
    }
}

/// One protocol value as JSON: JSON stays JSON (parsed, when small enough to keep whole).
pub fn typed(data: &TypedData) -> Value {
    Kept::of(data).render()
}

/// Bindings by name, in the order the message lists them.
fn keep_bindings(list: &[ParameterBinding]) -> Vec<(String, Kept)> {
    use fnwire_protocol::rpc::parameter_binding::RpcData;
    list.iter()
        .map(|binding| {
            let value = match &binding.rpc_data {
                Some(RpcData::Data(data)) => Kept::of(data),
                Some(RpcData::RpcSharedMemory(shared)) => {
                    Kept::Text(format!("<{} bytes passed in shared memory>", shared.count))
                }
                None => Kept::Null,
            };
            (binding.name.clone(), value)
        })
        .collect()
}

fn render_bindings(list: &[(String, Kept)]) -> Value {
    let mut out = Map::new();
    for (name, value) in list {
        out.insert(name.clone(), value.render());
    }
    Value::Object(out)
}

/// What the worker received, kept to be rendered by [`KeptRequest::render`].
#[derive(Debug, Clone)]
pub struct KeptRequest {
    inputs: Vec<(String, Kept)>,
    metadata: Vec<(String, Kept)>,
    trace_parent: String,
}

impl KeptRequest {
    pub fn of(request: &InvocationRequest) -> KeptRequest {
        KeptRequest {
            inputs: keep_bindings(&request.input_data),
            metadata: request.trigger_metadata.iter().map(|(k, v)| (k.clone(), Kept::of(v))).collect(),
            trace_parent: request.trace_context.as_ref().map(|t| t.trace_parent.clone()).unwrap_or_default(),
        }
    }

    /// Inputs by binding name, and the trigger's metadata (by name, sorted).
    pub fn render(&self) -> Value {
        let mut metadata: Vec<_> = self.metadata.iter().collect();
        metadata.sort_by(|a, b| a.0.cmp(&b.0));
        let metadata: Map<String, Value> =
            metadata.into_iter().map(|(k, v)| (k.clone(), v.render())).collect();
        let mut out = json!({ "inputs": render_bindings(&self.inputs), "metadata": metadata });
        if !self.trace_parent.is_empty() {
            out["traceParent"] = json!(self.trace_parent);
        }
        out
    }
}

/// What the worker answered, kept to be rendered by [`KeptResponse::render`].
#[derive(Debug, Clone)]
pub struct KeptResponse {
    outputs: Vec<(String, Kept)>,
    return_value: Option<Kept>,
}

impl KeptResponse {
    pub fn of(response: &InvocationResponse) -> KeptResponse {
        KeptResponse {
            outputs: keep_bindings(&response.output_data),
            return_value: response.return_value.as_ref().map(Kept::of),
        }
    }

    /// Outputs by binding name, and the return value.
    pub fn render(&self) -> Value {
        let mut out = json!({ "outputs": render_bindings(&self.outputs) });
        if let Some(value) = &self.return_value {
            out["returnValue"] = value.render();
        }
        out
    }
}

/// What the worker received: inputs by binding name, and the trigger's metadata.
pub fn request(request: &InvocationRequest) -> Value {
    KeptRequest::of(request).render()
}

/// What the worker answered: outputs by binding name, and the return value.
pub fn response(response: &InvocationResponse) -> Value {
    KeptResponse::of(response).render()
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

    #[test]
    fn a_large_body_is_kept_cut_not_whole() {
        let body = bytes::Bytes::from(vec![b'a'; 4 * 1024 * 1024]);
        let kept = Kept::of(&TypedData { data: Some(typed_data::Data::Bytes(body.clone())) });
        // The ring holds the cut text only: no handle on the 4 MiB buffer, no copy of it.
        assert!(body.is_unique());
        let Kept::Rendered(Value::String(text)) = &kept else { panic!("kept whole: {kept:?}") };
        assert!(text.len() < MAX_VALUE_CHARS + 64, "{} bytes kept", text.len());
        assert!(text.ends_with(&format!("({} more characters not kept)", 4 * 1024 * 1024 - MAX_VALUE_CHARS)));
    }

    #[test]
    fn a_small_body_is_copied_and_rendered_when_asked() {
        let body = bytes::Bytes::from_static(b"hello");
        let kept = Kept::of(&TypedData { data: Some(typed_data::Data::Bytes(body)) });
        assert!(matches!(&kept, Kept::Bytes(b) if b == b"hello"));
        assert_eq!(kept.render(), json!("hello"));
    }
}
