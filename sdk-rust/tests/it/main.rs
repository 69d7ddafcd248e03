//! Integration tests: a real tonic FunctionRpc server (the test host) driving the real worker
//! runtime over gRPC.

mod durable;
mod durable_golden;
mod functions;
mod host;
mod invocations;
mod lifecycle;
mod logs;
mod macros;
mod response_rules;
mod shared_memory;

mod invocations_support {
    use fnwire::protocol::rpc::typed_data::Data;
    use fnwire::protocol::rpc::{RpcHttp, TypedData};

    /// A GET request as TypedData.
    pub fn get(url: &str) -> TypedData {
        TypedData {
            data: Some(Data::Http(Box::new(RpcHttp {
                method: "GET".into(),
                url: url.into(),
                ..Default::default()
            }))),
        }
    }
}
