//! Shared-memory data transfer: large inputs read from maps the host wrote, large outputs written
//! to maps the host reads and then closes; the map files are written and read here by hand, in
//! the layout Azure's host uses, so the runtime is checked against the format, not against itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use fnwire::metadata::{Binding, Direction, FunctionMetadata};
use fnwire::protocol::rpc::status_result::Status;
use fnwire::protocol::rpc::streaming_message::Content;
use fnwire::protocol::rpc::typed_data::Data;
use fnwire::protocol::rpc::{
    CloseSharedMemoryResourcesRequest, InvocationRequest, InvocationResponse, ParameterBinding, RpcDataType,
    RpcSharedMemory, TypedData, parameter_binding,
};
use fnwire::runtime::FunctionDefinition;
use fnwire::{Invocation, InvocationOutcome};
use fnwire_shared_memory::Settings;

use crate::host::TestHost;

const SIXTEEN_MIB: usize = 16 * 1024 * 1024;

/// `copy`: sends its `msg` input, with the first byte set to `!`, to the `done` output, and its
/// length to the small `note` output.
fn copy() -> FunctionDefinition {
    let metadata = FunctionMetadata::new("copy")
        .with_binding(Binding::new("msg", "queueTrigger", Direction::In).with("queueName", "jobs"))
        .with_binding(Binding::new("done", "blob", Direction::Out).with("path", "done/{id}"))
        .with_binding(Binding::new("note", "queue", Direction::Out).with("queueName", "notes"));
    FunctionDefinition::new(metadata, |mut invocation: Invocation| async move {
        let Some(TypedData { data: Some(Data::Bytes(input)) }) = invocation.take_input("msg") else {
            return Err(fnwire::FunctionError::new("`msg` is not bytes"));
        };
        let mut output = input.to_vec();
        if let Some(first) = output.first_mut() {
            *first = b'!';
        }
        let length = TypedData { data: Some(Data::String(format!("len={}", input.len()))) };
        Ok(InvocationOutcome {
            outputs: vec![
                ("done".into(), TypedData { data: Some(Data::Bytes(Bytes::from(output))) }),
                ("note".into(), length),
            ],
            return_value: None,
        })
    })
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn maps_dir(root: &Path) -> PathBuf {
    root.join("AzureFunctions")
}

/// A map as Azure's host writes it: initialized flag, little-endian length, content.
fn write_map(root: &Path, name: &str, content: &[u8]) {
    std::fs::create_dir_all(maps_dir(root)).unwrap();
    let mut raw = vec![1u8];
    raw.extend_from_slice(&(content.len() as i64).to_le_bytes());
    raw.extend_from_slice(content);
    std::fs::write(maps_dir(root).join(name), raw).unwrap();
}

fn read_map(root: &Path, name: &str) -> Vec<u8> {
    let raw = std::fs::read(maps_dir(root).join(name)).unwrap();
    assert_eq!(raw[0], 1, "initialized flag");
    let length = i64::from_le_bytes(raw[1..9].try_into().unwrap());
    assert_eq!(length as usize, raw.len() - 9, "the header gives the content length");
    raw[9..].to_vec()
}

fn invoke_with_map(host: &TestHost, function_id: &str, map: &str, count: usize) {
    host.send(Content::InvocationRequest(InvocationRequest {
        invocation_id: "inv-shm".into(),
        function_id: function_id.into(),
        input_data: vec![ParameterBinding {
            name: "msg".into(),
            rpc_data: Some(parameter_binding::RpcData::RpcSharedMemory(RpcSharedMemory {
                name: map.into(),
                offset: 0,
                count: count as i64,
                r#type: RpcDataType::Bytes as i32,
            })),
        }],
        ..Default::default()
    }));
}

fn output<'a>(response: &'a InvocationResponse, name: &str) -> &'a parameter_binding::RpcData {
    let binding = response.output_data.iter().find(|b| b.name == name).expect("the output is sent");
    binding.rpc_data.as_ref().unwrap()
}

async fn started(root: Option<&Path>) -> (TestHost, String) {
    let settings = root.map(|r| Settings::in_roots([r.to_path_buf()]));
    let mut host = TestHost::start_with(vec![copy()], |worker| worker.shared_memory(settings)).await;
    let metadata = host.handshake().await;
    let id = metadata.iter().find(|m| m.name == "copy").unwrap().function_id.clone();
    (host, id)
}

#[tokio::test]
async fn sixteen_mib_both_ways_through_maps_and_the_outputs_are_freed_on_close() {
    let root = tempfile::tempdir().unwrap();
    let (mut host, id) = started(Some(root.path())).await;
    let input = pattern(SIXTEEN_MIB);
    write_map(root.path(), "host-input-1", &input);
    invoke_with_map(&host, &id, "host-input-1", input.len());
    let (_, response) = host.invocation_response().await;
    assert_eq!(response.result.as_ref().unwrap().status, Status::Success as i32, "{:?}", response.result);

    let parameter_binding::RpcData::RpcSharedMemory(done) = output(&response, "done") else {
        panic!("a 16 MiB output goes through shared memory: {:?}", response.output_data[0].name)
    };
    assert_eq!((done.offset, done.count, done.r#type), (0, SIXTEEN_MIB as i64, RpcDataType::Bytes as i32));
    let mut expected = input.clone();
    expected[0] = b'!';
    assert!(read_map(root.path(), &done.name) == expected, "the map holds the output");
    assert_eq!(
        output(&response, "note"),
        &parameter_binding::RpcData::Data(TypedData {
            data: Some(Data::String(format!("len={SIXTEEN_MIB}")))
        }),
        "small outputs stay inline"
    );
    assert!(maps_dir(root.path()).join("host-input-1").exists(), "the host frees its own input maps");

    host.send(Content::CloseSharedMemoryResourcesRequest(CloseSharedMemoryResourcesRequest {
        map_names: vec![done.name.clone(), "not-ours".into()],
    }));
    let (_, results) = host
        .recv_until(|m| match &m.content {
            Some(Content::CloseSharedMemoryResourcesResponse(r)) => Some(r.close_map_results.clone()),
            _ => None,
        })
        .await;
    assert_eq!(results, HashMap::from([(done.name.clone(), true), ("not-ours".to_string(), false)]));
    assert!(!maps_dir(root.path()).join(&done.name).exists(), "closed maps are deleted");
}

#[tokio::test]
async fn with_the_transfer_off_large_outputs_go_inline() {
    let root = tempfile::tempdir().unwrap();
    let (mut host, id) = started(None).await;
    let input = pattern(SIXTEEN_MIB);
    host.invoke(
        "inv-inline",
        &id,
        vec![("msg", TypedData { data: Some(Data::Bytes(Bytes::from(input.clone()))) })],
    );
    let (_, response) = host.invocation_response().await;
    assert_eq!(response.result.as_ref().unwrap().status, Status::Success as i32, "{:?}", response.result);
    let parameter_binding::RpcData::Data(TypedData { data: Some(Data::Bytes(done)) }) =
        output(&response, "done")
    else {
        panic!("with the transfer off, outputs travel inline")
    };
    assert_eq!(done.len(), SIXTEEN_MIB);
    assert_eq!(done[1..], input[1..]);
    assert!(!maps_dir(root.path()).exists(), "nothing was written");
}

#[tokio::test]
async fn an_input_map_that_cannot_be_read_fails_the_invocation_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let (mut host, id) = started(Some(root.path())).await;
    invoke_with_map(&host, &id, "never-written", 10);
    let (_, response) = host.invocation_response().await;
    let result = response.result.unwrap();
    assert_eq!(result.status, Status::Failure as i32);
    let message = result.exception.unwrap().message;
    assert!(message.contains("input `msg`") && message.contains("`never-written`"), "{message}");

    invoke_with_map(&host, &id, "../../etc/passwd", 10);
    let (_, response) = host.invocation_response().await;
    let message = response.result.unwrap().exception.unwrap().message;
    assert!(message.contains("not a plain file name"), "{message}");

    // A map shorter than the count the host gave.
    write_map(root.path(), "short", b"abc");
    invoke_with_map(&host, &id, "short", 10);
    let (_, response) = host.invocation_response().await;
    let message = response.result.unwrap().exception.unwrap().message;
    assert!(message.contains("do not fit its 3 bytes"), "{message}");
}
