//! Logs from function code reach the host as RpcLog, tagged with the invocation, before the
//! invocation's response.

use fnwire::protocol::rpc::rpc_log::{Level, RpcLogCategory};
use fnwire::protocol::rpc::status_result::Status;
use fnwire::protocol::rpc::streaming_message::Content;

use crate::functions::{chatty, hello};
use crate::host::TestHost;

#[tokio::test]
async fn logs_arrive_before_the_response_with_the_invocation_id() {
    let mut host = TestHost::start(vec![chatty(), hello()]).await;
    let metadata = host.handshake().await;
    let chatty_id = &metadata.iter().find(|m| m.name == "chatty").unwrap().function_id;
    host.invoke("inv-logs", chatty_id, vec![]);
    let (before, response) = host.invocation_response().await;
    assert_eq!(response.result.unwrap().status, Status::Success as i32);
    let logs: Vec<_> = before
        .into_iter()
        .filter_map(|m| match m.content {
            Some(Content::RpcLog(log)) if log.invocation_id == "inv-logs" => Some(log),
            _ => None,
        })
        .collect();
    let seen: Vec<(String, i32)> = logs.iter().map(|l| (l.message.clone(), l.level)).collect();
    assert_eq!(
        seen,
        vec![
            ("processing order=7".to_string(), Level::Information as i32),
            ("running low".to_string(), Level::Warning as i32),
            ("from the blocking pool source=blocking".to_string(), Level::Error as i32),
        ]
    );
    for log in &logs {
        assert_eq!(log.category, "chatty");
        assert_eq!(log.log_category, RpcLogCategory::User as i32);
    }
}

#[tokio::test]
async fn concurrent_invocations_keep_their_logs_apart() {
    let mut host = TestHost::start(vec![hello()]).await;
    let metadata = host.handshake().await;
    let id = metadata[0].function_id.clone();
    for i in 0..8 {
        host.invoke(
            &format!("inv-{i}"),
            &id,
            vec![("req", crate::invocations_support::get("http://h/api/hello"))],
        );
    }
    let mut logs_by_invocation = std::collections::HashMap::<String, usize>::new();
    let mut answered = std::collections::HashSet::new();
    while answered.len() < 8 {
        let message = host.recv().await;
        match message.content {
            Some(Content::RpcLog(log)) => {
                assert!(!answered.contains(&log.invocation_id), "a log arrived after its response: {log:?}");
                assert_eq!(log.message, "hello invoked method=GET");
                *logs_by_invocation.entry(log.invocation_id).or_default() += 1;
            }
            Some(Content::InvocationResponse(r)) => {
                assert_eq!(logs_by_invocation.get(&r.invocation_id), Some(&1), "{r:?}");
                answered.insert(r.invocation_id);
            }
            _ => {}
        }
    }
}
