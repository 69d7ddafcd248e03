//! Binding expressions in binding properties such as a blob `path` or a queue `queueName`, as
//! Azure documents them:
//! - `{name}`: a value from the trigger (its metadata, or a property of a JSON payload);
//! - `{DateTime}` / `{DateTime:format}`: the UTC time when the binding is resolved, by default
//!   `yyyy-MM-ddTHH-mm-ssZ` (no colons, so it can stand in a blob name), otherwise a .NET custom
//!   format such as `yyyy/MM/dd` or `HH'h'mm`;
//! - `{rand-guid}` / `{rand-guid:N}`: a new GUID each time it is resolved (formats D, N, B, P);
//! - `{sys.UtcNow}` (optionally `{sys.UtcNow:format}`), `{sys.RandGuid}`, `{sys.MethodName}`:
//!   one value per invocation, shared by all its bindings; `sys.UtcNow` is ISO 8601.
//!
//! Names match case-insensitively, as in Azure. Templates are checked when the host starts
//! ([`check_template`]): braces, system expressions and formats are fixed by the template, so
//! their mistakes are start errors. Trigger names are only checked there when the trigger's names
//! form a closed set (a timer); a queue message or an HTTP request can carry any JSON property,
//! so — as the WebJobs SDK does for functions without a typed payload — an unknown `{name}` for
//! them is an error of the invocation that lacks it.

use std::collections::HashMap;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Timelike, Utc};
use fnwire_protocol::rpc::{TypedData, typed_data};

/// The system expressions, for messages.
const SYSTEM_EXPRESSIONS: &str = "DateTime, DateTime:<format>, rand-guid, rand-guid:<N|D|B|P>, sys.UtcNow, \
                                  sys.UtcNow:<format>, sys.RandGuid, sys.MethodName";

/// `{DateTime}` without a format, as Azure writes it.
const DEFAULT_DATETIME_FORMAT: &str = "yyyy-MM-ddTHH-mm-ssZ";

/// One expression of a template, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expression {
    /// `{DateTime}`: the time now, each time it is resolved.
    DateTime(DateFormat),
    /// `{rand-guid}`: a new GUID each time it is resolved.
    RandGuid(GuidFormat),
    /// `{sys.UtcNow}`: the invocation's time.
    SysUtcNow(Option<DateFormat>),
    /// `{sys.RandGuid}`: the invocation's GUID.
    SysRandGuid,
    /// `{sys.MethodName}`: the function's name.
    SysMethodName,
    /// A value the trigger provides.
    Name(String),
}

/// A piece of a template: text as it is, or an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Expression(Expression),
}

/// How `{rand-guid:X}` writes a GUID (.NET's `Guid.ToString` formats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuidFormat {
    /// `d3b0…-…` (the default).
    Hyphenated,
    /// 32 digits.
    Digits,
    /// `{…}`.
    Braces,
    /// `(…)`.
    Parentheses,
}

impl GuidFormat {
    fn parse(spec: &str) -> Option<Self> {
        match spec {
            "" | "D" | "d" => Some(GuidFormat::Hyphenated),
            "N" | "n" => Some(GuidFormat::Digits),
            "B" | "b" => Some(GuidFormat::Braces),
            "P" | "p" => Some(GuidFormat::Parentheses),
            _ => None,
        }
    }

    fn write(self, guid: uuid::Uuid) -> String {
        let hyphenated = guid.hyphenated().to_string();
        match self {
            GuidFormat::Hyphenated => hyphenated,
            GuidFormat::Digits => guid.simple().to_string(),
            GuidFormat::Braces => format!("{{{hyphenated}}}"),
            GuidFormat::Parentheses => format!("({hyphenated})"),
        }
    }
}

/// A .NET date format, translated to chrono's strftime pieces (chrono does the formatting).
/// The translation is written here because no maintained crate reads .NET custom format
/// strings; fractions of a second of any width are the one thing chrono's strftime lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    parts: Vec<DatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DatePart {
    /// A chrono strftime string (literal text has `%` escaped).
    Strftime(String),
    /// `f…` (`trim` false) or `F…` (trailing zeros dropped): this many digits of the second.
    Fraction { digits: usize, trim: bool },
    /// `t`: the first letter of AM/PM (chrono writes only both letters).
    AmPmLetter,
}

impl DateFormat {
    /// Reads a .NET date format string: a single letter is a standard format (only the
    /// culture-free `o`, `s`, `u`, `r` are accepted), anything longer a custom format.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let custom = match spec {
            "o" | "O" => "yyyy-MM-ddTHH:mm:ss.fffffffK",
            "s" => "yyyy-MM-ddTHH:mm:ss",
            "u" => "yyyy-MM-dd HH:mm:ssZ",
            "r" | "R" => "ddd, dd MMM yyyy HH:mm:ss 'GMT'",
            "" => return Err("the format is empty".to_string()),
            other if other.chars().count() == 1 => {
                return Err(format!(
                    "`{other}` is a .NET standard format that depends on a culture; write a custom format \
                     such as `yyyy-MM-dd`, or one of the standard formats o, s, u, r"
                ));
            }
            other => other,
        };
        let mut format = DateFormat { parts: Vec::new() };
        let chars: Vec<char> = custom.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let run = chars[i..].iter().take_while(|&&d| d == c).count();
            let mut consumed = run;
            match c {
                'y' => format.push(match run {
                    1 => "%-y",
                    2 => "%y",
                    _ => "%Y",
                }),
                'M' => format.push(match run {
                    1 => "%-m",
                    2 => "%m",
                    3 => "%b",
                    _ => "%B",
                }),
                'd' => format.push(match run {
                    1 => "%-d",
                    2 => "%d",
                    3 => "%a",
                    _ => "%A",
                }),
                'H' => format.push(if run == 1 { "%-H" } else { "%H" }),
                'h' => format.push(if run == 1 { "%-I" } else { "%I" }),
                'm' => format.push(if run == 1 { "%-M" } else { "%M" }),
                's' => format.push(if run == 1 { "%-S" } else { "%S" }),
                't' if run == 1 => format.parts.push(DatePart::AmPmLetter),
                't' => format.push("%p"),
                'f' | 'F' if run > 7 => {
                    return Err(format!("`{spec}` asks for {run} digits of a second; .NET allows at most 7"));
                }
                'f' | 'F' => format.parts.push(DatePart::Fraction { digits: run, trim: c == 'F' }),
                // The time is always UTC.
                'K' => format.literal("Z"),
                'z' => format.literal(match run {
                    1 => "+0",
                    2 => "+00",
                    _ => "+00:00",
                }),
                '\'' | '"' => {
                    let Some(len) = chars[i + 1..].iter().position(|&d| d == c) else {
                        return Err(format!("`{spec}` has a {c} without its closing {c}"));
                    };
                    format.literal(&chars[i + 1..i + 1 + len].iter().collect::<String>());
                    consumed = len + 2;
                }
                '\\' => {
                    let Some(next) = chars.get(i + 1) else {
                        return Err(format!("`{spec}` ends with a `\\` that escapes nothing"));
                    };
                    format.literal(&next.to_string());
                    consumed = 2;
                }
                // `%x` makes a single letter a custom specifier; the letter follows.
                '%' => consumed = 1,
                'g' => return Err(format!("`{spec}` asks for an era (`g`), which fnwire does not write")),
                other => {
                    format.literal(&other.to_string());
                    consumed = 1;
                }
            }
            i += consumed;
        }
        Ok(format)
    }

    fn push(&mut self, strftime: &str) {
        match self.parts.last_mut() {
            Some(DatePart::Strftime(s)) => s.push_str(strftime),
            _ => self.parts.push(DatePart::Strftime(strftime.to_string())),
        }
    }

    fn literal(&mut self, text: &str) {
        self.push(&text.replace('%', "%%"));
    }

    pub fn write(&self, when: DateTime<Utc>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                DatePart::Strftime(s) => {
                    // Every string here was built from known specifiers; check anyway, as a
                    // bad one would make chrono's `Display` fail.
                    let items: Vec<Item<'_>> = StrftimeItems::new(s).collect();
                    if items.iter().all(|item| !matches!(item, Item::Error)) {
                        out.push_str(&when.format_with_items(items.into_iter()).to_string());
                    }
                }
                DatePart::Fraction { digits, trim } => {
                    let nanos = format!("{:09}", when.nanosecond() % 1_000_000_000);
                    let mut text = &nanos[..*digits];
                    if *trim {
                        text = text.trim_end_matches('0');
                        // .NET drops the separator before an `F` fraction that writes nothing.
                        if text.is_empty() && out.ends_with('.') {
                            out.pop();
                        }
                    }
                    out.push_str(text);
                }
                DatePart::AmPmLetter => out.push(if when.hour() < 12 { 'A' } else { 'P' }),
            }
        }
        out
    }
}

/// Parses a template into text and expressions. Errors say what is wrong with it.
pub fn parse_template(template: &str) -> Result<Vec<Piece>, ExpressionError> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if rest[..open].contains('}') {
            return Err(ExpressionError::Unopened { template: template.to_string() });
        }
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_string()));
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(ExpressionError::Unclosed { template: template.to_string() });
        };
        let expression =
            parse_expression(after[..close].trim()).map_err(|reason| ExpressionError::Invalid {
                expression: after[..close].trim().to_string(),
                template: template.to_string(),
                reason,
            })?;
        pieces.push(Piece::Expression(expression));
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(ExpressionError::Unopened { template: template.to_string() });
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

fn parse_expression(text: &str) -> Result<Expression, String> {
    let (name, format) = match text.split_once(':') {
        Some((name, format)) => (name.trim(), Some(format)),
        None => (text, None),
    };
    let lower = name.to_lowercase();
    let date_format = |f: Option<&str>| f.map(DateFormat::parse).transpose();
    match lower.as_str() {
        "" => Err("the braces are empty; write a name such as {queueTrigger}".to_string()),
        "datetime" => Ok(Expression::DateTime(match date_format(format)? {
            Some(f) => f,
            None => DateFormat::parse(DEFAULT_DATETIME_FORMAT)?,
        })),
        "rand-guid" => match GuidFormat::parse(format.unwrap_or_default()) {
            Some(f) => Ok(Expression::RandGuid(f)),
            None => Err("a GUID's format is one of D, N, B, P".to_string()),
        },
        "sys.utcnow" => Ok(Expression::SysUtcNow(date_format(format)?)),
        "sys.randguid" | "sys.methodname" if format.is_some() => {
            Err(format!("`{name}` takes no format; formats apply to DateTime, rand-guid and sys.UtcNow"))
        }
        "sys.randguid" => Ok(Expression::SysRandGuid),
        "sys.methodname" => Ok(Expression::SysMethodName),
        other if other.starts_with("sys.") => {
            Err(format!("`{name}` is not a system expression; they are: {SYSTEM_EXPRESSIONS}"))
        }
        _ if format.is_some() => Err(format!(
            "a format applies only to DateTime, rand-guid and sys.UtcNow, not to the trigger value `{name}`"
        )),
        _ => Ok(Expression::Name(name.to_string())),
    }
}

/// Checks a template when the host starts. `trigger_names` is the closed set of names the
/// trigger provides (lower case), or `None` when the trigger can provide any name at run time.
pub fn check_template(template: &str, trigger_names: Option<&[&str]>) -> Result<(), ExpressionError> {
    for piece in parse_template(template)? {
        if let (Piece::Expression(Expression::Name(name)), Some(names)) = (&piece, trigger_names)
            && !names.contains(&name.to_lowercase().as_str())
        {
            return Err(ExpressionError::Invalid {
                expression: name.clone(),
                template: template.to_string(),
                reason: format!(
                    "the trigger provides no such value (it provides: {}) and it is not a system expression \
                     ({SYSTEM_EXPRESSIONS})",
                    names.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// The values an invocation's expressions can use, by lower-cased name.
#[derive(Debug, Clone)]
pub struct ExpressionValues {
    values: HashMap<String, String>,
    /// Payload properties hidden by a trigger metadata field of the same name (lowercase name →
    /// the payload's value), so a template naming one can say which was used.
    shadowed: HashMap<String, String>,
    method_name: String,
    utc_now: DateTime<Utc>,
    rand_guid: uuid::Uuid,
    /// The invocation's W3C trace context, which its Service Bus sends and queue messages
    /// carry on.
    traceparent: Option<String>,
    tracestate: String,
}

impl Default for ExpressionValues {
    fn default() -> Self {
        ExpressionValues {
            values: HashMap::new(),
            shadowed: HashMap::new(),
            method_name: String::new(),
            utc_now: Utc::now(),
            rand_guid: uuid::Uuid::new_v4(),
            traceparent: None,
            tracestate: String::new(),
        }
    }
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

    /// Sets the invocation's trace context, which the messages it sends carry on.
    pub fn set_traceparent(&mut self, traceparent: Option<String>) {
        self.traceparent = traceparent.filter(|t| !t.is_empty());
    }

    pub fn traceparent(&self) -> Option<&str> {
        self.traceparent.as_deref()
    }

    /// Sets the invocation's W3C `tracestate`, which its queue messages carry on with the
    /// `traceparent`.
    pub fn set_tracestate(&mut self, tracestate: &str) {
        self.tracestate = tracestate.to_string();
    }

    /// The trace context a queue message put by the invocation carries; none when the
    /// invocation has none.
    pub fn message_trace(&self) -> Option<fnwire_storage::MessageTrace> {
        fnwire_storage::MessageTrace::new(self.traceparent.clone()?, self.tracestate.clone())
    }

    /// Sets the function's name, the value of `{sys.MethodName}`.
    pub fn set_method_name(&mut self, function: &str) {
        self.method_name = function.to_string();
    }

    /// Adds the top-level properties of a JSON object payload (metadata already there wins).
    pub fn add_json_properties(&mut self, payload: &[u8]) {
        if let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice::<serde_json::Value>(payload) {
            for (k, v) in fields {
                let text = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                let name = k.to_lowercase();
                match self.values.get(&name) {
                    None => {
                        self.values.insert(name, text);
                    }
                    Some(metadata) if *metadata != text => {
                        self.shadowed.insert(name, text);
                    }
                    Some(_) => {}
                }
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
        self.resolve_at(template, Utc::now())
    }

    /// [`Self::resolve`] with `{DateTime}` at `now` (so tests can fix the time).
    fn resolve_at(&self, template: &str, now: DateTime<Utc>) -> Result<String, ExpressionError> {
        let mut out = String::with_capacity(template.len());
        for piece in parse_template(template)? {
            match piece {
                Piece::Text(text) => out.push_str(&text),
                Piece::Expression(expression) => out.push_str(&self.value_of(&expression, template, now)?),
            }
        }
        Ok(out)
    }

    /// Logs once per function and name (the first invocation that hits it) that `{name}` took
    /// the trigger metadata's value although the JSON payload has a property of that name too, as
    /// Azure resolves it: a silent choice here sends a blob or message to an unexpected place.
    fn warn_if_shadowed(&self, name: &str, used: &str, template: &str) {
        let Some(payload_value) = self.shadowed.get(&name.to_lowercase()) else { return };
        static WARNED: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
        let key = (self.method_name.clone(), name.to_lowercase());
        let mut warned = WARNED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if warned.contains(&key) {
            return;
        }
        warned.push(key);
        tracing::warn!(
            "function `{}`: `{{{name}}}` in `{template}` names both a trigger metadata field and a property of the \
             message's JSON payload; the metadata value {used:?} was used, not the payload's {payload_value:?} \
             (as on Azure). To use the payload's value, rename the property or bind the payload explicitly",
            self.method_name
        );
    }

    /// Whether `{name}` would resolve to trigger metadata hiding a payload property of that name.
    pub fn is_shadowed(&self, name: &str) -> bool {
        self.shadowed.contains_key(&name.to_lowercase())
    }

    fn value_of(
        &self,
        expression: &Expression,
        template: &str,
        now: DateTime<Utc>,
    ) -> Result<String, ExpressionError> {
        Ok(match expression {
            Expression::DateTime(format) => format.write(now),
            Expression::RandGuid(format) => format.write(uuid::Uuid::new_v4()),
            Expression::SysUtcNow(Some(format)) => format.write(self.utc_now),
            Expression::SysUtcNow(None) => self.utc_now.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            Expression::SysRandGuid => self.rand_guid.hyphenated().to_string(),
            Expression::SysMethodName => self.method_name.clone(),
            Expression::Name(name) => match self.get(name) {
                Some(v) => {
                    self.warn_if_shadowed(name, v, template);
                    v.to_string()
                }
                None => {
                    let mut known: Vec<String> = self.values.keys().cloned().collect();
                    known.sort_unstable();
                    return Err(ExpressionError::NoValue {
                        name: name.clone(),
                        template: template.to_string(),
                        known,
                    });
                }
            },
        })
    }
}

/// A binding expression (`{name}` in a path or queue name) is malformed or cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpressionError {
    #[error("`{template}` has a `{{` without a closing `}}`")]
    Unclosed { template: String },
    #[error("`{template}` has a `}}` without an opening `{{`")]
    Unopened { template: String },
    #[error("`{{{expression}}}` in `{template}` is not a valid binding expression: {reason}")]
    Invalid { expression: String, template: String, reason: String },
    /// `known` lists the names this invocation has values for.
    #[error(
        "`{{{name}}}` in `{template}` has no value for this invocation; available: {SYSTEM_EXPRESSIONS}{}",
        known.iter().map(|k| format!(", {k}")).collect::<String>()
    )]
    NoValue { name: String, template: String, known: Vec<String> },
    /// A table input's `filter` that does not parse (checked at start with the expressions
    /// inside quoted strings replaced by placeholders).
    #[error("{error}; {}", fnwire_tables::FILTER_HELP)]
    Filter { error: fnwire_tables::FilterError },
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
    use chrono::TimeZone;

    fn typed(d: typed_data::Data) -> TypedData {
        TypedData { data: Some(d) }
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, millis: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap() + chrono::Duration::milliseconds(millis.into())
    }

    #[test]
    fn resolves_metadata_and_json_properties() {
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
        let cases = [
            ("done/{id}.txt", "done/m-1.txt"),
            ("{Customer}/{n}/{DequeueCount}", "ada/3/2"),
            ("in/{ queueTrigger }", "in/hello"),
            ("t/{InsertionTime}", "t/2027-01-01T00:00:00+00:00"),
            ("plain/path", "plain/path"),
            ("", ""),
        ];
        for (template, expected) in cases {
            assert_eq!(values.resolve(template).unwrap(), expected, "{template}");
        }
    }

    #[test]
    fn metadata_wins_over_a_payload_property_and_the_collision_is_known() {
        let metadata = HashMap::from([("Id".to_string(), typed(typed_data::Data::String("msg-1".into())))]);
        let mut values = ExpressionValues::from_trigger_metadata(&metadata);
        values.set_method_name("copy");
        values.add_json_properties(br#"{"id": "order-7", "id2": "x", "other": 1}"#);
        assert_eq!(values.resolve("out/{id}.json").unwrap(), "out/msg-1.json");
        assert!(values.is_shadowed("ID"));
        assert!(!values.is_shadowed("other"), "no metadata of that name");
        assert_eq!(values.get("other"), Some("1"));
        let mut same = ExpressionValues::from_trigger_metadata(&metadata);
        same.add_json_properties(br#"{"Id": "msg-1"}"#);
        assert!(!same.is_shadowed("id"), "the same value is no collision");
    }

    #[test]
    fn datetime_takes_azure_default_and_dotnet_custom_formats() {
        let values = ExpressionValues::default();
        let afternoon = at(2027, 3, 4, 15, 6, 7, 89);
        let morning = at(2027, 11, 22, 9, 5, 0, 0);
        let cases = [
            ("{DateTime}", afternoon, "2027-03-04T15-06-07Z"),
            ("{datetime}", morning, "2027-11-22T09-05-00Z"),
            ("logs/{DateTime:yyyy-MM-dd}/x", afternoon, "logs/2027-03-04/x"),
            ("{DateTime:yyyy/MM/dd/HH}", afternoon, "2027/03/04/15"),
            ("{DateTime:HH-mm-ss.fff}", afternoon, "15-06-07.089"),
            ("{DateTime:ss.f}", afternoon, "07.0"),
            ("{DateTime:ss.FFF}", morning, "00"),
            ("{DateTime:ss.FFF}", afternoon, "07.089"),
            ("{DateTime:yyMdd}", afternoon, "27304"),
            ("{DateTime:d-M-yy H:m}", morning, "22-11-27 9:5"),
            ("{DateTime:hh tt t}", afternoon, "03 PM P"),
            ("{DateTime:ddd dddd MMM MMMM}", afternoon, "Thu Thursday Mar March"),
            ("{DateTime:yyyy'h'MM\"%d\"\\y}", afternoon, "2027h03%dy"),
            ("{DateTime:%d}", afternoon, "4"),
            ("{DateTime:o}", afternoon, "2027-03-04T15:06:07.0890000Z"),
            ("{DateTime:s}", afternoon, "2027-03-04T15:06:07"),
            ("{DateTime:u}", afternoon, "2027-03-04 15:06:07Z"),
            ("{DateTime:R}", afternoon, "Thu, 04 Mar 2027 15:06:07 GMT"),
            ("{DateTime:K zzz}", afternoon, "Z +00:00"),
        ];
        for (template, now, expected) in cases {
            assert_eq!(values.resolve_at(template, now).unwrap(), expected, "{template}");
        }
    }

    #[test]
    fn guids_are_new_per_expression_and_take_dotnet_formats() {
        let values = ExpressionValues::default();
        let resolve = |t: &str| values.resolve(t).unwrap();
        let a = resolve("{rand-guid}");
        assert!(uuid::Uuid::parse_str(&a).is_ok() && a.len() == 36, "{a}");
        assert_ne!(a, resolve("{rand-guid}"));
        type Shape = fn(&str) -> bool;
        let cases: [(&str, Shape); 4] = [
            ("{rand-guid:D}", |g| g.len() == 36 && g.matches('-').count() == 4),
            ("{rand-guid:N}", |g| g.len() == 32 && g.chars().all(|c| c.is_ascii_hexdigit())),
            ("{rand-guid:B}", |g| g.len() == 38 && g.starts_with('{') && g.ends_with('}')),
            ("{Rand-Guid:p}", |g| g.len() == 38 && g.starts_with('(') && g.ends_with(')')),
        ];
        for (template, shape) in cases {
            let g = resolve(template);
            assert!(shape(&g), "{template}: {g}");
        }
    }

    #[test]
    fn system_values_are_fixed_for_the_invocation() {
        let mut values = ExpressionValues::default();
        values.set_method_name("Archive");
        values.utc_now = at(2027, 3, 4, 15, 6, 7, 89);
        let cases = [
            ("{sys.MethodName}/x", "Archive/x"),
            ("{SYS.METHODNAME}", "Archive"),
            ("{sys.UtcNow}", "2027-03-04T15:06:07.089Z"),
            ("{sys.utcnow:yyyy-MM}", "2027-03"),
        ];
        for (template, expected) in cases {
            assert_eq!(values.resolve(template).unwrap(), expected, "{template}");
        }
        let guid = values.resolve("{sys.randguid}").unwrap();
        assert!(uuid::Uuid::parse_str(&guid).is_ok(), "{guid}");
        assert_eq!(values.resolve("{sys.RandGuid}").unwrap(), guid, "one GUID per invocation");
    }

    #[test]
    fn malformed_templates_are_errors_at_start_naming_the_expression() {
        let cases = [
            ("a/{b", "without a closing"),
            ("a/b}", "without an opening"),
            ("a}/{b}", "without an opening"),
            ("x/{}", "braces are empty"),
            ("{sys.nope}", "`sys.nope` is not a system expression"),
            ("{sys.MethodName:x}", "takes no format"),
            ("{rand-guid:X}", "one of D, N, B, P"),
            ("{DateTime:}", "format is empty"),
            ("{DateTime:d}", "standard format"),
            ("{DateTime:yyyy'}", "without its closing"),
            ("{DateTime:yyyy\\}", "escapes nothing"),
            ("{DateTime:ffffffff}", "at most 7"),
            ("{DateTime:gg}", "era"),
            ("{id:yyyy}", "applies only to DateTime"),
        ];
        for (template, reason) in cases {
            let e = check_template(template, None).unwrap_err().to_string();
            assert!(e.contains(reason) && e.contains(template), "{template}: {e}");
            let e = ExpressionValues::default().resolve(template).unwrap_err().to_string();
            assert!(e.contains(reason), "{template} at run time: {e}");
        }
    }

    #[test]
    fn trigger_names_are_checked_at_start_only_when_closed() {
        let timer: &[&str] = &["tick", "schedule", "ispastdue"];
        let cases = [
            ("out/{IsPastDue}/{DateTime}", Some(timer), true),
            ("out/{sys.methodname}-{rand-guid}", Some(timer), true),
            ("out/{customer}", Some(timer), false),
            ("out/{customer}", None, true),
        ];
        for (template, names, valid) in cases {
            let checked = check_template(template, names);
            assert_eq!(checked.is_ok(), valid, "{template}: {checked:?}");
            if let Err(e) = checked {
                let e = e.to_string();
                assert!(e.contains("{customer}") && e.contains("tick, schedule, ispastdue"), "{e}");
            }
        }
    }

    #[test]
    fn an_unknown_name_at_run_time_lists_what_exists() {
        let mut values = ExpressionValues::default();
        values.insert("Id", "m-1");
        let e = values.resolve("done/{nope}.txt").unwrap_err().to_string();
        assert!(e.contains("{nope}") && e.contains("done/{nope}.txt") && e.contains(", id"), "{e}");
    }
}
