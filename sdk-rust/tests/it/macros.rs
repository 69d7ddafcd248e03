//! Functions declared with the attribute macros, collected through `inventory` exactly as
//! `fnwire::run()` does, served over gRPC.

use std::collections::HashMap;

use fnwire::protocol::rpc::status_result::Status;
use fnwire::protocol::rpc::streaming_message::Content;
use fnwire::protocol::rpc::typed_data::Data;
use fnwire::protocol::rpc::{InvocationRequest, ParameterBinding, TypedData, parameter_binding};
use fnwire::{
    Context, HttpRequest, HttpResponse, Out, QueueMessage, TimerInfo, http_trigger, queue_output,
    queue_trigger, timer_trigger,
};

use crate::functions::text;
use crate::host::TestHost;

#[http_trigger(route = "greet/{name?}", methods = "get,post", auth_level = "anonymous")]
pub async fn greet(req: HttpRequest, ctx: Context) -> HttpResponse {
    tracing::info!("greeting");
    HttpResponse::ok().with_text(format!(
        "Hello, {}! ({})",
        req.param("name").unwrap_or("world"),
        ctx.function_name()
    ))
}

#[timer_trigger(schedule = "*/5 * * * * *")]
pub fn tick(timer: TimerInfo) {
    tracing::info!(past_due = timer.is_past_due, "tick");
}

#[queue_trigger(queue = "jobs")]
#[queue_output(name = "done", queue = "done")]
pub async fn work(msg: QueueMessage, done: Out<String>) -> Result<(), fnwire::Error> {
    let job: serde_json::Value = msg.json()?;
    done.set(format!("done:{}", job["id"]));
    Ok(())
}

#[queue_trigger(queue = "jobs")]
#[queue_output(queue = "relayed")]
pub fn relay(msg: QueueMessage) -> String {
    msg.text().to_uppercase()
}

fn invoke(host: &TestHost, id: &str, function_id: &str, binding: &str, data: TypedData) {
    host.send(Content::InvocationRequest(InvocationRequest {
        invocation_id: id.into(),
        function_id: function_id.into(),
        input_data: vec![ParameterBinding {
            name: binding.into(),
            rpc_data: Some(parameter_binding::RpcData::Data(data)),
        }],
        ..Default::default()
    }));
}

#[test]
fn annotated_functions_stay_callable() {
    let timer = TimerInfo { is_past_due: true, ..TimerInfo::default() };
    tick(timer);
    assert_eq!(relay(QueueMessage::new("abc")), "ABC");
}

#[tokio::test]
async fn macro_functions_are_registered_and_served() {
    let functions = fnwire::runtime::registered_functions().expect("the declared functions are valid");
    let mut names: Vec<&str> = functions.iter().map(|f| f.metadata.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["greet", "relay", "tick", "work"]);
    let greet_meta = &functions.iter().find(|f| f.metadata.name == "greet").unwrap().metadata;
    assert_eq!(greet_meta.trigger().unwrap().name, "req");
    assert!(greet_meta.binding("$return").is_some(), "http_trigger adds the $return http output");

    let mut host = TestHost::start(functions).await;
    let metadata = host.handshake().await;
    let ids: HashMap<String, String> =
        metadata.iter().map(|m| (m.name.clone(), m.function_id.clone())).collect();

    let request = fnwire::protocol::rpc::RpcHttp {
        method: "GET".into(),
        url: "http://localhost/api/greet/Ada".into(),
        params: HashMap::from([("name".to_string(), "Ada".to_string())]),
        ..Default::default()
    };
    invoke(&host, "inv-greet", &ids["greet"], "req", TypedData { data: Some(Data::Http(Box::new(request))) });
    let (logs, response) = host.invocation_response().await;
    assert_eq!(response.result.unwrap().status, Status::Success as i32);
    let Some(Data::Http(http)) = response.return_value.unwrap().data else { panic!("expected http") };
    assert_eq!(http.body.unwrap().data, Some(Data::Bytes("Hello, Ada! (greet)".into())));
    assert!(logs.iter().any(|m| matches!(&m.content, Some(Content::RpcLog(l)) if l.invocation_id == "inv-greet" && l.message == "greeting")));

    // A sync function runs on the blocking pool; its logs still carry the invocation.
    let timer = r#"{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":true}"#;
    invoke(&host, "inv-tick", &ids["tick"], "timer", TypedData { data: Some(Data::Json(timer.into())) });
    let (logs, response) = host.invocation_response().await;
    assert_eq!(response.result.unwrap().status, Status::Success as i32);
    assert!(logs.iter().any(|m| matches!(&m.content, Some(Content::RpcLog(l)) if l.invocation_id == "inv-tick" && l.message == "tick past_due=true")));

    invoke(&host, "inv-work", &ids["work"], "msg", text(r#"{"id": 7}"#));
    let (_, response) = host.invocation_response().await;
    assert_eq!(response.result.unwrap().status, Status::Success as i32);
    assert_eq!(response.output_data[0].name, "done");
    assert_eq!(response.output_data[0].rpc_data, Some(parameter_binding::RpcData::Data(text("done:7"))));

    invoke(&host, "inv-bad", &ids["work"], "msg", text("{not json"));
    let (_, response) = host.invocation_response().await;
    let result = response.result.unwrap();
    assert_eq!(result.status, Status::Failure as i32);
    assert!(result.exception.unwrap().message.contains("the queue message is not valid JSON"));

    invoke(&host, "inv-relay", &ids["relay"], "msg", text("ping"));
    let (_, response) = host.invocation_response().await;
    assert_eq!(response.result.unwrap().status, Status::Success as i32);
    assert_eq!(response.return_value, Some(text("PING")));
}
