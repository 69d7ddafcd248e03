//! The model in FunctionRpc terms (feature `rpc`): what a worker reports for worker indexing and
//! what a host sends in a `FunctionLoadRequest`.

use std::collections::HashMap;

use fnwire_protocol::rpc::{BindingInfo, RpcFunctionMetadata, binding_info};
use serde_json::Value;

use crate::{DataType, Direction, FunctionMetadata};

/// `RpcFunctionMetadata` for a function: name, directory, script file, entry point, the
/// `bindings` map, `raw_bindings`, the deterministic function id, language and properties.
pub fn to_rpc_metadata(metadata: &FunctionMetadata, directory: &str, language: &str) -> RpcFunctionMetadata {
    RpcFunctionMetadata {
        name: metadata.name.clone(),
        directory: directory.to_string(),
        script_file: metadata.script_file.clone(),
        entry_point: metadata.entry_point.clone(),
        bindings: binding_infos(metadata),
        raw_bindings: metadata.raw_bindings(),
        function_id: metadata.function_id(),
        language: language.to_string(),
        properties: metadata.properties.iter().map(|(k, v)| (k.clone(), value_text(v))).collect(),
        ..RpcFunctionMetadata::default()
    }
}

/// The `bindings` map keyed by binding name. Like Azure hosts, fnwire leaves
/// `BindingInfo.properties` empty: the binding's keys travel in `raw_bindings`.
pub fn binding_infos(metadata: &FunctionMetadata) -> HashMap<String, BindingInfo> {
    metadata
        .bindings
        .iter()
        .map(|b| {
            let direction = match b.direction {
                Direction::In => binding_info::Direction::In,
                Direction::Out => binding_info::Direction::Out,
                Direction::InOut => binding_info::Direction::Inout,
            };
            let data_type = match b.data_type {
                None => binding_info::DataType::Undefined,
                Some(DataType::String) => binding_info::DataType::String,
                Some(DataType::Binary) => binding_info::DataType::Binary,
                Some(DataType::Stream) => binding_info::DataType::Stream,
            };
            let info = BindingInfo {
                r#type: b.binding_type.clone(),
                direction: direction as i32,
                data_type: data_type as i32,
                properties: HashMap::new(),
            };
            (b.name.clone(), info)
        })
        .collect()
}

/// A JSON value as the string a `map<string,string>` can carry: strings as they are, anything
/// else as its JSON text.
fn value_text(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_string)
}
