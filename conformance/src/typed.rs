//! `TypedData` as scenario files write it, and short human descriptions of received values.

use std::collections::HashMap;

use bytes::Bytes;
use fnwire_protocol::rpc::{TypedData, typed_data};
use serde::Deserialize;

/// A `TypedData` value in a scenario file: at most one of the keys; none means a `TypedData`
/// with nothing set (how hosts send null).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    pub string: Option<String>,
    /// JSON text, sent as `TypedData.json`.
    pub json: Option<String>,
    /// Bytes written as hex digits (whitespace allowed).
    pub bytes_hex: Option<String>,
    pub int: Option<i64>,
    pub double: Option<f64>,
}

impl DataSpec {
    pub fn to_typed_data(&self) -> Result<TypedData, String> {
        let mut set = Vec::new();
        if let Some(s) = &self.string {
            set.push(typed_data::Data::String(s.clone()));
        }
        if let Some(j) = &self.json {
            set.push(typed_data::Data::Json(j.clone()));
        }
        if let Some(h) = &self.bytes_hex {
            set.push(typed_data::Data::Bytes(Bytes::from(parse_hex(h)?)));
        }
        if let Some(i) = self.int {
            set.push(typed_data::Data::Int(i));
        }
        if let Some(d) = self.double {
            set.push(typed_data::Data::Double(d));
        }
        if set.len() > 1 {
            return Err("a value sets more than one of string, json, bytes_hex, int, double; keep one".into());
        }
        Ok(TypedData { data: set.pop() })
    }
}

/// Parses hex digits, ignoring ASCII whitespace.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err(format!("hex text has an odd number of digits ({}): `{text}`", digits.len()));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).unwrap_or("??");
            u8::from_str_radix(s, 16).map_err(|_| format!("`{s}` is not a hex byte in `{text}`"))
        })
        .collect()
}

/// The contract's test pattern: `len` bytes with byte i = i mod 251.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The first index where `bytes` differs from the pattern, if any.
pub fn pattern_mismatch(bytes: &[u8]) -> Option<usize> {
    bytes.iter().enumerate().position(|(i, b)| *b != (i % 251) as u8)
}

/// A short description of bytes for messages: the length and a readable preview.
pub fn describe_bytes(bytes: &[u8]) -> String {
    const PREVIEW: usize = 80;
    match std::str::from_utf8(bytes) {
        Ok(text) if text.chars().count() <= PREVIEW => format!("{text:?} ({} bytes)", bytes.len()),
        Ok(text) => {
            let head: String = text.chars().take(PREVIEW).collect();
            format!("{head:?}… ({} bytes)", bytes.len())
        }
        Err(_) => {
            let head: String = bytes.iter().take(PREVIEW / 2).map(|b| format!("{b:02x}")).collect();
            let more = if bytes.len() > PREVIEW / 2 { "…" } else { "" };
            format!("hex {head}{more} ({} bytes, not UTF-8)", bytes.len())
        }
    }
}

/// Names the variant a `TypedData` holds, with a preview of small values.
pub fn describe(data: Option<&TypedData>) -> String {
    let Some(data) = data.and_then(|d| d.data.as_ref()) else { return "nothing (no value set)".into() };
    match data {
        typed_data::Data::String(s) => format!("string {}", describe_bytes(s.as_bytes())),
        typed_data::Data::Json(j) => format!("json {}", describe_bytes(j.as_bytes())),
        typed_data::Data::Bytes(b) => format!("bytes {}", describe_bytes(b)),
        typed_data::Data::Stream(b) => format!("stream {}", describe_bytes(b)),
        typed_data::Data::Http(_) => "http (an RpcHttp)".into(),
        typed_data::Data::Int(i) => format!("int {i}"),
        typed_data::Data::Double(d) => format!("double {d}"),
        typed_data::Data::CollectionBytes(_) => "collection_bytes".into(),
        typed_data::Data::CollectionString(_) => "collection_string".into(),
        typed_data::Data::CollectionDouble(_) => "collection_double".into(),
        typed_data::Data::CollectionSint64(_) => "collection_sint64".into(),
        typed_data::Data::ModelBindingData(_) => "model_binding_data".into(),
        typed_data::Data::CollectionModelBindingData(_) => "collection_model_binding_data".into(),
    }
}

/// The bytes of a text-like value: `string` and `json` as UTF-8, `bytes` as is.
pub fn text_bytes(data: Option<&TypedData>) -> Option<Vec<u8>> {
    match data.and_then(|d| d.data.as_ref())? {
        typed_data::Data::String(s) | typed_data::Data::Json(s) => Some(s.as_bytes().to_vec()),
        typed_data::Data::Bytes(b) => Some(b.to_vec()),
        _ => None,
    }
}

/// Whether a `TypedData` is absent or has nothing set.
pub fn is_empty(data: Option<&TypedData>) -> bool {
    data.and_then(|d| d.data.as_ref()).is_none()
}

/// Builds a trigger-metadata map from specs.
pub fn metadata_map(
    specs: &std::collections::BTreeMap<String, DataSpec>,
) -> Result<HashMap<String, TypedData>, String> {
    specs
        .iter()
        .map(|(k, v)| {
            v.to_typed_data().map(|d| (k.clone(), d)).map_err(|e| format!("trigger_metadata `{k}`: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_pattern() {
        assert_eq!(parse_hex("00 ff\n7a").unwrap(), vec![0, 255, 0x7a]);
        assert!(parse_hex("0").is_err());
        assert!(parse_hex("zz").is_err());
        let p = pattern(300);
        assert_eq!((p[250], p[251], p[252]), (250, 0, 1));
        assert_eq!(pattern_mismatch(&p), None);
        let mut q = p.clone();
        q[7] = 0;
        assert_eq!(pattern_mismatch(&q), Some(7));
    }

    #[test]
    fn specs_become_typed_data() {
        let empty = DataSpec::default().to_typed_data().unwrap();
        assert!(empty.data.is_none());
        let s = DataSpec { string: Some("x".into()), ..Default::default() }.to_typed_data().unwrap();
        assert_eq!(s.data, Some(typed_data::Data::String("x".into())));
        let both = DataSpec { string: Some("x".into()), int: Some(1), ..Default::default() };
        assert!(both.to_typed_data().is_err());
    }

    #[test]
    fn descriptions_are_short() {
        let long = "é".repeat(500);
        let d = describe_bytes(long.as_bytes());
        assert!(d.contains("1000 bytes") && d.len() < 300, "{d}");
        assert!(describe_bytes(&[0xff, 0]).contains("not UTF-8"));
    }
}
