//! One test per wire pitfall the protocol reference lists.

use fnwire_protocol::prost::Message;
use fnwire_protocol::rpc::{
    CollectionDouble, CollectionSInt64, RpcHttp, StatusResult, TypedData, status_result::Status,
    typed_data::Data,
};

#[test]
fn typed_data_int_is_zigzag_sint64() {
    let msg = TypedData { data: Some(Data::Int(-1)) };
    // field 6, varint wire type => key 0x30; zig-zag(-1) = 1. A plain int64 would need 10 bytes.
    assert_eq!(msg.encode_to_vec(), vec![0x30, 0x01]);
    let msg = TypedData { data: Some(Data::Int(i64::MIN)) };
    assert_eq!(TypedData::decode(msg.encode_to_vec().as_slice()).unwrap(), msg);
}

#[test]
fn collection_sint64_is_zigzag_and_packed() {
    let msg = CollectionSInt64 { sint64: vec![-1, 1, -2] };
    // field 1, length-delimited (packed) => key 0x0a, 3 bytes of zig-zag varints 1, 2, 3.
    assert_eq!(msg.encode_to_vec(), vec![0x0a, 0x03, 0x01, 0x02, 0x03]);
}

#[test]
fn repeated_scalars_decode_packed_and_unpacked() {
    // Unpacked sint64: each element with its own key 0x08.
    let unpacked = [0x08, 0x01, 0x08, 0x02, 0x08, 0x03];
    assert_eq!(CollectionSInt64::decode(&unpacked[..]).unwrap().sint64, vec![-1, 1, -2]);
    // Unpacked double: key 0x09 (field 1, fixed64) per element.
    let mut unpacked_doubles = vec![0x09];
    unpacked_doubles.extend_from_slice(&1.5f64.to_le_bytes());
    unpacked_doubles.push(0x09);
    unpacked_doubles.extend_from_slice(&(-2.0f64).to_le_bytes());
    assert_eq!(CollectionDouble::decode(unpacked_doubles.as_slice()).unwrap().double, vec![1.5, -2.0]);
    // Packed double: key 0x0a, length 16.
    let packed = CollectionDouble { double: vec![1.5, -2.0] }.encode_to_vec();
    assert_eq!(&packed[..2], &[0x0a, 16]);
    assert_eq!(CollectionDouble::decode(packed.as_slice()).unwrap().double, vec![1.5, -2.0]);
}

#[test]
fn status_defaults_to_failure() {
    // A result whose status was never set is a failure on the wire: proto3 omits zero.
    let result = StatusResult::default();
    assert_eq!(result.status(), Status::Failure);
    assert!(result.encode_to_vec().is_empty());
    let success = StatusResult { status: Status::Success as i32, ..Default::default() };
    assert_eq!(success.encode_to_vec(), vec![0x20, 0x01]);
}

#[test]
fn http_status_code_is_a_string() {
    let http = RpcHttp { status_code: "201".into(), ..Default::default() };
    // field 12, length-delimited => key 0x62, then the text "201".
    assert_eq!(http.encode_to_vec(), vec![0x62, 0x03, b'2', b'0', b'1']);
}

#[test]
fn unknown_fields_and_oneof_members_are_tolerated() {
    // A future host may add StreamingMessage members: field 99 (varint) must not break decoding.
    let bytes = [0x0a, 0x01, b'r', 0x98, 0x06, 0x05];
    let msg = fnwire_protocol::rpc::StreamingMessage::decode(&bytes[..]).unwrap();
    assert_eq!(msg.request_id, "r");
    assert!(msg.content.is_none());
}
