//! Blob trigger input ([`Blob`]).

use std::borrow::Cow;
use std::collections::HashMap;

use bytes::Bytes;
use fnwire_protocol::rpc::TypedData;
use fnwire_protocol::rpc::typed_data::Data;
use serde::de::DeserializeOwned;

use crate::FunctionError;
use crate::convert::{kind_of, parse_json, text_of};

/// A blob that triggered the function, with the properties the host sends beside it (Azure's
/// `BlobTrigger`, `Uri`, `Properties` and `Metadata` trigger metadata). The path pattern's
/// parameters (`{name}` in `uploads/{name}`) are in [`Blob::parameters`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blob {
    /// `container/name` (`BlobTrigger`).
    pub path: String,
    /// The content.
    pub content: Bytes,
    /// Where the blob lives (`Uri`).
    pub uri: Option<String>,
    /// The version that triggered (`Properties.ETag`).
    pub etag: Option<String>,
    /// As the store gave it, e.g. `image/png` (`Properties.ContentType`).
    pub content_type: Option<String>,
    /// When this version was written, e.g. `2026-01-01T00:00:00+00:00` (`Properties.LastModified`).
    pub last_modified: Option<String>,
    /// User metadata (`Metadata`).
    pub metadata: HashMap<String, String>,
    /// The values of the trigger path's `{parameters}`.
    pub parameters: HashMap<String, String>,
}

/// Trigger metadata keys that are not path parameters.
const AZURE_KEYS: &[&str] = &["BlobTrigger", "Uri", "Properties", "Metadata", "sys"];

impl Blob {
    /// A blob with a path and content, e.g. to call a function from a test.
    pub fn new(path: impl Into<String>, content: impl Into<Bytes>) -> Self {
        Blob { path: path.into(), content: content.into(), ..Blob::default() }
    }

    /// Builds the blob from the trigger value and the invocation's trigger metadata.
    pub fn from_trigger(
        data: TypedData,
        metadata: &HashMap<String, TypedData>,
    ) -> Result<Self, FunctionError> {
        let content = match data.data {
            Some(Data::Bytes(b)) | Some(Data::Stream(b)) => b,
            Some(Data::String(s)) | Some(Data::Json(s)) => Bytes::from(s),
            _ => {
                return Err(FunctionError::new(format!(
                    "expected a blob's content (bytes or text), but the host sent {}; Blob parameters belong \
                     to functions with a blob trigger",
                    kind_of(&data)
                )));
            }
        };
        let text = |key: &str| metadata.get(key).and_then(text_of);
        let json = |key: &str| -> serde_json::Value {
            text(key).and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(serde_json::Value::Null)
        };
        let properties = json("Properties");
        let property = |key: &str| properties.get(key).and_then(|v| v.as_str()).map(str::to_string);
        let metadata_values = match json("Metadata") {
            serde_json::Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                .collect(),
            _ => HashMap::new(),
        };
        let parameters = metadata
            .iter()
            .filter(|(k, _)| !AZURE_KEYS.contains(&k.as_str()))
            .filter_map(|(k, v)| text_of(v).map(|t| (k.clone(), t)))
            .collect();
        Ok(Blob {
            path: text("BlobTrigger").unwrap_or_default(),
            content,
            uri: text("Uri"),
            etag: property("ETag"),
            content_type: property("ContentType"),
            last_modified: property("LastModified"),
            metadata: metadata_values,
            parameters,
        })
    }

    /// The blob's name inside its container (`path` without the container).
    pub fn name(&self) -> &str {
        self.path.split_once('/').map_or("", |(_, name)| name)
    }

    /// The content as text; bytes that are not UTF-8 are replaced by U+FFFD.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.content)
    }

    /// The content parsed as JSON into `T`; the error says where the JSON is wrong.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, FunctionError> {
        parse_json(&self.content, "the blob")
    }
}
