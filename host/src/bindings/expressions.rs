//! Binding expressions in binding properties such as a blob `path`: `{name}` values from the
//! trigger (its metadata, or the properties of a JSON payload), `{rand-guid}`, `{DateTime}`,
//! `{queueTrigger}`. Names match case-insensitively, as in Azure.

use std::collections::HashMap;

use fnwire_protocol::rpc::{TypedData, typed_data};

/// The values an invocation's expressions can use, by lower-cased name.
#[derive(Debug, Clone, Default)]
pub struct ExpressionValues {
    values: HashMap<String, String>,
}

impl ExpressionValues {
    /// Values from trigger metadata: strings as they are, JSON strings unquoted, other JSON
    /// as its text.
    pub fn from_trigger_metadata(metadata: &HashMap<String, TypedData>) -> Self {
        let mut out = ExpressionValues::default();
        for (k, v) in metadata {
            if let Some(text) = scalar_text(v) {
                out.values.insert(k.to_lowercase(), text);
            }
        }
        out
    }

    /// Adds the top-level properties of a JSON object payload (metadata already there wins).
    pub fn add_json_properties(&mut self, payload: &[u8]) {
        if let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice::<serde_json::Value>(payload) {
            for (k, v) in fields {
                let text = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                self.values.entry(k.to_lowercase()).or_insert(text);
            }
        }
    }

    pub fn insert(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(name.to_lowercase(), value.into());
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(&name.to_lowercase()).map(String::as_str)
    }

    /// Resolves every `{…}` in `template`. An unknown name is an error listing the names
    /// that exist.
    pub fn resolve(&self, template: &str) -> Result<String, ExpressionError> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(ExpressionError::Unclosed { template: template.to_string() });
            };
            let name = after[..close].trim();
            out.push_str(&self.value_of(name, template)?);
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err(ExpressionError::Unopened { template: template.to_string() });
        }
        out.push_str(rest);
        Ok(out)
    }

    fn value_of(&self, name: &str, template: &str) -> Result<String, ExpressionError> {
        let lower = name.to_lowercase();
        if lower == "rand-guid" {
            return Ok(uuid::Uuid::new_v4().to_string());
        }
        if lower == "datetime" {
            // Azure's form: no colons, so it can stand in a blob or file name.
            return Ok(chrono::Utc::now().format("%Y-%m-%dT%H-%M-%SZ").to_string());
        }
        if let Some(v) = self.get(name) {
            return Ok(v.to_string());
        }
        let mut known: Vec<String> = self.values.keys().cloned().collect();
        known.sort_unstable();
        Err(ExpressionError::NoValue { name: name.to_string(), template: template.to_string(), known })
    }
}

/// A binding expression (`{name}` in a path or queue name) cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpressionError {
    #[error("`{template}` has a `{{` without a closing `}}`")]
    Unclosed { template: String },
    #[error("`{template}` has a `}}` without an opening `{{`")]
    Unopened { template: String },
    /// `known` lists the names this invocation has values for.
    #[error(
        "`{{{name}}}` in `{template}` has no value for this invocation; available: rand-guid, DateTime{}",
        known.iter().map(|k| format!(", {k}")).collect::<String>()
    )]
    NoValue { name: String, template: String, known: Vec<String> },
}

/// A TypedData as expression text, if it is a scalar.
pub fn scalar_text(v: &TypedData) -> Option<String> {
    match v.data.as_ref()? {
        typed_data::Data::String(s) => Some(s.clone()),
        typed_data::Data::Json(j) => match serde_json::from_str::<serde_json::Value>(j) {
            Ok(serde_json::Value::String(s)) => Some(s),
            Ok(serde_json::Value::Object(_)) | Ok(serde_json::Value::Array(_)) => None,
            Ok(other) => Some(other.to_string()),
            Err(_) => Some(j.clone()),
        },
        typed_data::Data::Int(i) => Some(i.to_string()),
        typed_data::Data::Double(d) => Some(d.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(d: typed_data::Data) -> TypedData {
        TypedData { data: Some(d) }
    }

    #[test]
    fn resolves_metadata_json_properties_and_builtins() {
        let metadata = HashMap::from([
            ("Id".to_string(), typed(typed_data::Data::String("m-1".into()))),
            ("DequeueCount".to_string(), typed(typed_data::Data::Json("2".into()))),
            (
                "InsertionTime".to_string(),
                typed(typed_data::Data::Json("\"2027-01-01T00:00:00+00:00\"".into())),
            ),
        ]);
        let mut values = ExpressionValues::from_trigger_metadata(&metadata);
        values.add_json_properties(br#"{"customer":"ada","n":3,"id":"ignored"}"#);
        values.insert("queueTrigger", "hello");
        assert_eq!(values.resolve("done/{id}.txt").unwrap(), "done/m-1.txt");
        assert_eq!(values.resolve("{Customer}/{n}/{DequeueCount}").unwrap(), "ada/3/2");
        assert_eq!(values.resolve("in/{queueTrigger}").unwrap(), "in/hello");
        assert_eq!(values.resolve("t/{InsertionTime}").unwrap(), "t/2027-01-01T00:00:00+00:00");
        let guid = values.resolve("x/{rand-guid}").unwrap();
        assert!(uuid::Uuid::parse_str(&guid[2..]).is_ok(), "{guid}");
        let when = values.resolve("{DateTime}").unwrap();
        assert_eq!(when.len(), "2027-01-01T00-00-00Z".len(), "{when}");
        assert!(!when.contains(':'));
    }

    #[test]
    fn unknown_names_and_unbalanced_braces_are_errors() {
        let values = ExpressionValues::default();
        let e = values.resolve("done/{nope}.txt").unwrap_err().to_string();
        assert!(e.contains("{nope}") && e.contains("done/{nope}.txt"), "{e}");
        assert!(values.resolve("a/{b").is_err());
        assert!(values.resolve("a/b}").is_err());
        assert_eq!(values.resolve("plain/path").unwrap(), "plain/path");
    }
}
