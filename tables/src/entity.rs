//! Table entities as Azure Tables has them: a `PartitionKey`, a `RowKey`, the service's
//! `Timestamp` and `ETag`, and typed properties (the EDM types of the Table service).
//!
//! An entity has three JSON forms:
//! * the service's own (OData "minimal metadata", [`Entity::to_odata_json`]): `odata.etag`, a
//!   `Timestamp`, and an `<name>@odata.type` annotation beside every value JSON cannot type on
//!   its own (`Edm.Int64` as a string, `Edm.DateTime`, `Edm.Guid`, `Edm.Binary` as base64).
//!   The stores keep entities in this form and the `fnwire table` commands print it;
//! * what Azure's Tables extension gives a Python, Node or other non-.NET worker for a `table`
//!   input ([`Entity::to_binding_json`]): plain JSON values, without `odata.etag` and
//!   `Timestamp` (the extension drops both "for V4 compatibility"), dates as ISO 8601 strings;
//! * what such a worker hands a `table` output ([`Entity::from_binding_json`]): a JSON object
//!   whose `PartitionKey`, `RowKey` and `ETag` are recognised in any letter case (the `ETag`
//!   decides how the entity is written, [`Entity::output_write`]), whose
//!   integers are `Edm.Int64` and whose nested objects and arrays are stored as JSON text, as
//!   the extension converts them. Annotations are honoured too, so a value can be typed.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// The most properties an entity may have besides `PartitionKey`, `RowKey` and `Timestamp`.
pub const MAX_PROPERTIES: usize = 252;
/// The longest `PartitionKey` or `RowKey`, in characters (Azure: 1 KiB of UTF-16).
pub const MAX_KEY_CHARS: usize = 512;
/// The longest property name.
pub const MAX_PROPERTY_NAME_CHARS: usize = 255;

/// A property value, by its EDM type.
#[derive(Debug, Clone, PartialEq)]
pub enum EdmValue {
    String(String),
    Boolean(bool),
    Int32(i32),
    Int64(i64),
    Double(f64),
    DateTime(DateTime<Utc>),
    Guid(uuid::Uuid),
    Binary(Vec<u8>),
}

impl EdmValue {
    /// The EDM type name (`Edm.Int64`…), as annotations and error messages spell it.
    pub fn type_name(&self) -> &'static str {
        match self {
            EdmValue::String(_) => "Edm.String",
            EdmValue::Boolean(_) => "Edm.Boolean",
            EdmValue::Int32(_) => "Edm.Int32",
            EdmValue::Int64(_) => "Edm.Int64",
            EdmValue::Double(_) => "Edm.Double",
            EdmValue::DateTime(_) => "Edm.DateTime",
            EdmValue::Guid(_) => "Edm.Guid",
            EdmValue::Binary(_) => "Edm.Binary",
        }
    }

    /// The value in the service's JSON, and the annotation it needs (if JSON alone would read
    /// it back as another type).
    fn to_odata(&self) -> (Value, Option<&'static str>) {
        match self {
            EdmValue::String(s) => (Value::String(s.clone()), None),
            EdmValue::Boolean(b) => (Value::Bool(*b), None),
            EdmValue::Int32(i) => (Value::from(*i), None),
            // JSON numbers lose precision past 2^53 in most readers: the service sends Int64 as text.
            EdmValue::Int64(i) => (Value::String(i.to_string()), Some("Edm.Int64")),
            EdmValue::Double(d) if d.is_finite() => {
                // An integral double is written with its fraction so it reads back as a double.
                (serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number), Some("Edm.Double"))
            }
            EdmValue::Double(d) => (Value::String(non_finite_text(*d).into()), Some("Edm.Double")),
            EdmValue::DateTime(t) => (Value::String(odata_datetime(t)), Some("Edm.DateTime")),
            EdmValue::Guid(g) => (Value::String(g.hyphenated().to_string()), Some("Edm.Guid")),
            EdmValue::Binary(b) => {
                (Value::String(base64::engine::general_purpose::STANDARD.encode(b)), Some("Edm.Binary"))
            }
        }
    }

    /// The value as Azure's Tables extension hands it to a worker: JSON numbers for all
    /// numbers, strings for dates (ISO 8601 with an offset), GUIDs and base64 binaries.
    fn to_binding(&self) -> Value {
        match self {
            EdmValue::String(s) => Value::String(s.clone()),
            EdmValue::Boolean(b) => Value::Bool(*b),
            EdmValue::Int32(i) => Value::from(*i),
            EdmValue::Int64(i) => Value::from(*i),
            EdmValue::Double(d) => serde_json::Number::from_f64(*d)
                .map_or_else(|| Value::String(non_finite_text(*d).into()), Value::Number),
            EdmValue::DateTime(t) => Value::String(binding_datetime(t)),
            EdmValue::Guid(g) => Value::String(g.hyphenated().to_string()),
            EdmValue::Binary(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        }
    }

    /// Reads a value with an explicit EDM type annotation.
    fn from_annotated(edm_type: &str, value: &Value) -> Result<EdmValue, String> {
        let text = || match value {
            Value::String(s) => Ok(s.as_str()),
            other => Err(format!("an {edm_type} value is written as a JSON string, not `{other}`")),
        };
        Ok(match edm_type {
            "Edm.String" => EdmValue::String(match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            "Edm.Boolean" => match value {
                Value::Bool(b) => EdmValue::Boolean(*b),
                Value::String(s) if s == "true" || s == "false" => EdmValue::Boolean(s == "true"),
                other => return Err(format!("`{other}` is not an Edm.Boolean (true or false)")),
            },
            "Edm.Int32" => EdmValue::Int32(
                number_text(value)
                    .parse()
                    .map_err(|_| format!("`{value}` is not an Edm.Int32 (a whole number within 32 bits)"))?,
            ),
            "Edm.Int64" => EdmValue::Int64(
                number_text(value)
                    .parse()
                    .map_err(|_| format!("`{value}` is not an Edm.Int64 (a whole number within 64 bits)"))?,
            ),
            "Edm.Double" => EdmValue::Double(match value {
                Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                Value::String(s) => match s.as_str() {
                    "NaN" => f64::NAN,
                    "Infinity" | "INF" => f64::INFINITY,
                    "-Infinity" | "-INF" => f64::NEG_INFINITY,
                    s => s.parse().map_err(|_| format!("`{s}` is not an Edm.Double"))?,
                },
                other => return Err(format!("`{other}` is not an Edm.Double")),
            }),
            "Edm.DateTime" => EdmValue::DateTime(parse_datetime(text()?).ok_or_else(|| {
                format!("`{value}` is not an Edm.DateTime (ISO 8601, such as 2024-05-01T12:00:00Z)")
            })?),
            "Edm.Guid" => EdmValue::Guid(
                uuid::Uuid::parse_str(text()?).map_err(|_| format!("`{value}` is not an Edm.Guid"))?,
            ),
            "Edm.Binary" => EdmValue::Binary(
                base64::engine::general_purpose::STANDARD
                    .decode(text()?)
                    .map_err(|_| format!("`{value}` is not an Edm.Binary (base64 text)"))?,
            ),
            other => {
                return Err(format!(
                    "`{other}` is not an EDM type the Table service stores (Edm.String, Edm.Boolean, Edm.Int32, \
                     Edm.Int64, Edm.Double, Edm.DateTime, Edm.Guid, Edm.Binary)"
                ));
            }
        })
    }

    /// Reads a JSON value without annotation as the Tables extension does (Newtonsoft's
    /// `JValue`): text stays text (dates are not guessed), integers are `Edm.Int64`, other
    /// numbers `Edm.Double`, and objects or arrays are kept as their JSON text. Null is no value.
    fn from_plain(value: &Value) -> Option<EdmValue> {
        Some(match value {
            Value::Null => return None,
            Value::Bool(b) => EdmValue::Boolean(*b),
            Value::String(s) => EdmValue::String(s.clone()),
            Value::Number(n) => match n.as_i64() {
                Some(i) => EdmValue::Int64(i),
                None => EdmValue::Double(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::Array(_) | Value::Object(_) => EdmValue::String(value.to_string()),
        })
    }

    /// Reads a value of the service's JSON without annotation: JSON types only (whole numbers
    /// that fit are `Edm.Int32`, as the service writes them).
    fn from_odata_plain(value: &Value) -> Option<EdmValue> {
        match value {
            Value::Number(n) => Some(match n.as_i64().and_then(|i| i32::try_from(i).ok()) {
                Some(i) => EdmValue::Int32(i),
                None => match n.as_i64() {
                    Some(i) => EdmValue::Int64(i),
                    None => EdmValue::Double(n.as_f64().unwrap_or(f64::NAN)),
                },
            }),
            other => EdmValue::from_plain(other),
        }
    }
}

fn number_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    }
}

fn non_finite_text(d: f64) -> &'static str {
    if d.is_nan() {
        "NaN"
    } else if d > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// How the service writes a date: UTC with a `Z` and seven fraction digits.
pub fn odata_datetime(t: &DateTime<Utc>) -> String {
    format!("{}.{:07}Z", t.format("%Y-%m-%dT%H:%M:%S"), t.timestamp_subsec_nanos() / 100)
}

/// How the Tables extension (Newtonsoft) writes a date to a worker: ISO 8601 with `+00:00`
/// and as many fraction digits as needed.
fn binding_datetime(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// An ISO 8601 date with an offset or `Z`; one without either is taken as UTC, as the
/// service takes it.
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc());
        }
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Why a JSON value is not an entity. Each message names the property and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntityError {
    #[error("a table entity is a JSON object with PartitionKey and RowKey; got `{0}`")]
    NotAnObject(String),
    #[error(
        "the entity has no {0}: give it a `{0}` property, or set `{1}` on the binding so every entity gets one"
    )]
    MissingKey(&'static str, &'static str),
    #[error("{key} `{value}` is not valid: {why}")]
    InvalidKey { key: &'static str, value: String, why: &'static str },
    #[error("property `{name}`: {why}")]
    InvalidProperty { name: String, why: String },
    #[error("the entity has {0} properties; Azure Tables allows at most {MAX_PROPERTIES}")]
    TooManyProperties(usize),
}

/// How a `table` output writes one entity: Azure's table transaction action for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputWrite<'a> {
    /// No ETag: `Add`. The write fails when the entity exists (the service's 409 Conflict).
    Insert,
    /// ETag `*`: `UpsertReplace`.
    InsertOrReplace,
    /// Any other ETag: `UpdateReplace` with `If-Match`. The write fails when the entity is
    /// gone or has another ETag (the service's 404 and 412).
    ReplaceIfMatch(&'a str),
}

/// One entity of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub partition_key: String,
    pub row_key: String,
    /// When the store last wrote it (set by the store; `None` before it is stored).
    pub timestamp: Option<DateTime<Utc>>,
    /// The store's version tag (set by the store, Azure's `W/"datetime'…'"` form).
    pub etag: Option<String>,
    pub properties: BTreeMap<String, EdmValue>,
}

const PARTITION_KEY: &str = "PartitionKey";
const ROW_KEY: &str = "RowKey";
const TIMESTAMP: &str = "Timestamp";
const ODATA_ETAG: &str = "odata.etag";
const ANNOTATION: &str = "@odata.type";

impl Entity {
    /// An entity with no properties yet; the keys are checked.
    pub fn new(partition_key: impl Into<String>, row_key: impl Into<String>) -> Result<Entity, EntityError> {
        let entity = Entity {
            partition_key: partition_key.into(),
            row_key: row_key.into(),
            timestamp: None,
            etag: None,
            properties: BTreeMap::new(),
        };
        check_key(PARTITION_KEY, &entity.partition_key)?;
        check_key(ROW_KEY, &entity.row_key)?;
        Ok(entity)
    }

    /// Adds or replaces a property (builder style).
    pub fn with(mut self, name: impl Into<String>, value: EdmValue) -> Entity {
        self.properties.insert(name.into(), value);
        self
    }

    /// A property by name, including the system properties `PartitionKey`, `RowKey` and
    /// `Timestamp`, as filters see them.
    pub fn property(&self, name: &str) -> Option<EdmValue> {
        match name {
            PARTITION_KEY => Some(EdmValue::String(self.partition_key.clone())),
            ROW_KEY => Some(EdmValue::String(self.row_key.clone())),
            TIMESTAMP => self.timestamp.map(EdmValue::DateTime),
            _ => self.properties.get(name).cloned(),
        }
    }

    /// The service's JSON form (see the module comment).
    pub fn to_odata_json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        if let Some(etag) = &self.etag {
            out.insert(ODATA_ETAG.into(), Value::String(etag.clone()));
        }
        out.insert(PARTITION_KEY.into(), Value::String(self.partition_key.clone()));
        out.insert(ROW_KEY.into(), Value::String(self.row_key.clone()));
        if let Some(t) = &self.timestamp {
            out.insert(format!("{TIMESTAMP}{ANNOTATION}"), Value::String("Edm.DateTime".into()));
            out.insert(TIMESTAMP.into(), Value::String(odata_datetime(t)));
        }
        for (name, value) in &self.properties {
            let (json, annotation) = value.to_odata();
            if let Some(annotation) = annotation {
                out.insert(format!("{name}{ANNOTATION}"), Value::String(annotation.into()));
            }
            out.insert(name.clone(), json);
        }
        out
    }

    /// The properties alone in the service's JSON form (what the stores keep beside the keys).
    pub fn properties_odata_json(&self) -> String {
        let mut out = Map::new();
        for (name, value) in &self.properties {
            let (json, annotation) = value.to_odata();
            if let Some(annotation) = annotation {
                out.insert(format!("{name}{ANNOTATION}"), Value::String(annotation.into()));
            }
            out.insert(name.clone(), json);
        }
        Value::Object(out).to_string()
    }

    /// Reads the service's JSON form. `PartitionKey` and `RowKey` are required; `Timestamp` and
    /// `odata.etag` are kept when present.
    pub fn from_odata_json(value: &Value) -> Result<Entity, EntityError> {
        let object = value.as_object().ok_or_else(|| EntityError::NotAnObject(truncate(value)))?;
        let key = |name: &'static str| match object.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => {
                Err(EntityError::InvalidKey { key: name, value: truncate(other), why: "it must be a string" })
            }
            None => Err(EntityError::MissingKey(
                name,
                if name == PARTITION_KEY { "partitionKey" } else { "rowKey" },
            )),
        };
        let mut entity = Entity::new(key(PARTITION_KEY)?, key(ROW_KEY)?)?;
        entity.timestamp = object.get(TIMESTAMP).and_then(Value::as_str).and_then(parse_datetime);
        entity.etag = object.get(ODATA_ETAG).and_then(Value::as_str).map(str::to_string);
        entity.properties = odata_properties(object, &[PARTITION_KEY, ROW_KEY, TIMESTAMP, ODATA_ETAG])?;
        Ok(entity)
    }

    /// Reads stored properties (the text [`Entity::properties_odata_json`] wrote) onto keys.
    pub fn from_stored(
        partition_key: String,
        row_key: String,
        properties: &str,
        timestamp: DateTime<Utc>,
        etag: String,
    ) -> Result<Entity, EntityError> {
        let value: Value = serde_json::from_str(properties).map_err(|e| EntityError::InvalidProperty {
            name: "(all)".into(),
            why: format!("the stored properties are not JSON: {e}"),
        })?;
        let object = value.as_object().ok_or_else(|| EntityError::NotAnObject(truncate(&value)))?;
        Ok(Entity {
            partition_key,
            row_key,
            timestamp: Some(timestamp),
            etag: Some(etag),
            properties: odata_properties(object, &[])?,
        })
    }

    /// How Azure's `table` output binding writes this entity, by the ETag the function gave it
    /// (`TableEntityWriter` of Microsoft.Azure.WebJobs.Extensions.Tables): none inserts, `*`
    /// inserts or replaces, any other replaces only the stored entity with that ETag.
    pub fn output_write(&self) -> OutputWrite<'_> {
        match self.etag.as_deref() {
            None | Some("") => OutputWrite::Insert,
            Some("*") => OutputWrite::InsertOrReplace,
            Some(etag) => OutputWrite::ReplaceIfMatch(etag),
        }
    }

    /// What Azure's Tables extension hands a non-.NET worker (see the module comment).
    pub fn to_binding_json(&self) -> Value {
        let mut out = Map::new();
        out.insert(PARTITION_KEY.into(), Value::String(self.partition_key.clone()));
        out.insert(ROW_KEY.into(), Value::String(self.row_key.clone()));
        for (name, value) in &self.properties {
            out.insert(name.clone(), value.to_binding());
        }
        Value::Object(out)
    }

    /// Reads what a worker hands a `table` output (see the module comment). The keys come from
    /// the object, else from the binding's `partitionKey`/`rowKey` (`default_keys`).
    pub fn from_binding_json(
        value: &Value,
        default_keys: (Option<&str>, Option<&str>),
    ) -> Result<Entity, EntityError> {
        let object = value.as_object().ok_or_else(|| EntityError::NotAnObject(truncate(value)))?;
        let mut partition_key = None;
        let mut row_key = None;
        let mut etag = None;
        let mut plain = Map::new();
        for (name, value) in object {
            if name.eq_ignore_ascii_case(PARTITION_KEY) || name.eq_ignore_ascii_case(ROW_KEY) {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Null => continue,
                    // A number as a key is its text, as the extension's `JValue` becomes one.
                    Value::Number(n) => n.to_string(),
                    other => {
                        return Err(EntityError::InvalidKey {
                            key: if name.eq_ignore_ascii_case(PARTITION_KEY) {
                                PARTITION_KEY
                            } else {
                                ROW_KEY
                            },
                            value: truncate(other),
                            why: "it must be a string",
                        });
                    }
                };
                if name.eq_ignore_ascii_case(PARTITION_KEY) {
                    partition_key = Some(text);
                } else {
                    row_key = Some(text);
                }
            } else if name.eq_ignore_ascii_case("ETag") || name.eq_ignore_ascii_case(ODATA_ETAG) {
                // The write's condition (see [`Entity::output_write`]), as Azure's extension
                // reads it; never stored as a property.
                etag = match value {
                    Value::Null => None,
                    Value::String(s) if s.is_empty() => None,
                    Value::String(s) => Some(s.clone()),
                    other => {
                        return Err(EntityError::InvalidProperty {
                            name: name.clone(),
                            why: format!(
                                "the ETag is `{}`; give the string `*` to insert or replace, the entity's current \
                                 ETag to replace only that version, or leave it out to insert",
                                truncate(other)
                            ),
                        });
                    }
                };
            } else if name.eq_ignore_ascii_case(TIMESTAMP) || name.eq_ignore_ascii_case("odata.metadata") {
                // Set by the store, never by a writer: the service ignores them too.
            } else {
                plain.insert(name.clone(), value.clone());
            }
        }
        let partition_key = partition_key
            .or_else(|| default_keys.0.filter(|k| !k.is_empty()).map(str::to_string))
            .ok_or(EntityError::MissingKey(PARTITION_KEY, "partitionKey"))?;
        let row_key = row_key
            .or_else(|| default_keys.1.filter(|k| !k.is_empty()).map(str::to_string))
            .ok_or(EntityError::MissingKey(ROW_KEY, "rowKey"))?;
        let mut entity = Entity::new(partition_key, row_key)?;
        entity.properties = annotated_properties(&plain, EdmValue::from_plain)?;
        entity.etag = etag;
        Ok(entity)
    }
}

fn odata_properties(
    object: &Map<String, Value>,
    skip: &[&str],
) -> Result<BTreeMap<String, EdmValue>, EntityError> {
    let kept: Map<String, Value> = object
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    annotated_properties(&kept, EdmValue::from_odata_plain)
}

/// Properties of a JSON object, honouring `<name>@odata.type` annotations; `plain` reads
/// values without one.
fn annotated_properties(
    object: &Map<String, Value>,
    plain: fn(&Value) -> Option<EdmValue>,
) -> Result<BTreeMap<String, EdmValue>, EntityError> {
    let mut properties = BTreeMap::new();
    for (name, value) in object {
        if name.ends_with(ANNOTATION) {
            continue;
        }
        check_property_name(name)?;
        let annotation = object.get(&format!("{name}{ANNOTATION}"));
        let edm = match annotation {
            Some(Value::String(edm_type)) => Some(
                EdmValue::from_annotated(edm_type, value)
                    .map_err(|why| EntityError::InvalidProperty { name: name.clone(), why })?,
            ),
            Some(other) => {
                return Err(EntityError::InvalidProperty {
                    name: name.clone(),
                    why: format!("its type annotation must be a string such as \"Edm.Int64\", not `{other}`"),
                });
            }
            None => plain(value),
        };
        if let Some(edm) = edm {
            properties.insert(name.clone(), edm);
        }
    }
    if properties.len() > MAX_PROPERTIES {
        return Err(EntityError::TooManyProperties(properties.len()));
    }
    Ok(properties)
}

/// Azure's rules for `PartitionKey` and `RowKey`.
fn check_key(key: &'static str, value: &str) -> Result<(), EntityError> {
    let invalid = |why| Err(EntityError::InvalidKey { key, value: value.chars().take(80).collect(), why });
    if value.chars().count() > MAX_KEY_CHARS {
        return invalid("it is longer than Azure's 1 KiB");
    }
    if value.chars().any(|c| matches!(c, '/' | '\\' | '#' | '?')) {
        return invalid("Azure Tables does not allow `/`, `\\`, `#` or `?` in keys");
    }
    if value.chars().any(|c| c.is_control()) {
        return invalid("Azure Tables does not allow control characters in keys");
    }
    Ok(())
}

fn check_property_name(name: &str) -> Result<(), EntityError> {
    let why = if name.is_empty() {
        "a property needs a name"
    } else if name.chars().count() > MAX_PROPERTY_NAME_CHARS {
        "a property name has at most 255 characters"
    } else if name.chars().any(char::is_control) {
        "a property name may not contain control characters"
    } else {
        return Ok(());
    };
    Err(EntityError::InvalidProperty { name: name.chars().take(80).collect(), why: why.into() })
}

fn truncate(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 { format!("{}…", text.chars().take(80).collect::<String>()) } else { text }
}

/// Azure's rule for table names: 3 to 63 letters and digits, starting with a letter, not
/// `tables`. Names are case-insensitive: the stores key them in lower case.
pub fn validate_table_name(name: &str) -> Result<(), TableNameError> {
    let why = if name.len() < 3 || name.len() > 63 {
        "it must be 3 to 63 characters long"
    } else if !name.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        "it must start with a letter"
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        "it may contain only letters and digits"
    } else if name.eq_ignore_ascii_case("tables") {
        "`tables` is reserved by Azure Tables"
    } else {
        return Ok(());
    };
    Err(TableNameError { name: name.chars().take(80).collect(), why })
}

/// A table name Azure Tables would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "table name `{name}` is not valid: {why} (Azure's rule: 3-63 letters and digits, starting with a letter)"
)]
pub struct TableNameError {
    pub name: String,
    pub why: &'static str,
}

/// The ETag Azure gives an entity written at `t`: `W/"datetime'<time, URL-encoded>'"`.
pub fn etag_for(t: &DateTime<Utc>) -> String {
    format!("W/\"datetime'{}'\"", odata_datetime(t).replace(':', "%3A"))
}
