//! Typed extraction in HTTP functions: a JSON body, query and route parameters, shared state, and
//! errors with an HTTP status. `main` runs each function as the worker would and checks that a
//! request that does not fit is answered `400` with the reason, and `Error::not_found` with `404`.
#![deny(warnings)]

use std::sync::Mutex;

use fnwire::__private::{Invocation, InvocationResult, Registration, inventory};
use fnwire::protocol::rpc::typed_data::Data;
use fnwire::protocol::rpc::{RpcHttp, TypedData};
use fnwire::{Error, HttpRequest, HttpResponse, Json, Out, Path, Query, State, http_output, http_trigger};

#[derive(serde::Deserialize)]
pub struct NewTodo {
    pub title: String,
}

#[derive(serde::Deserialize)]
pub struct Page {
    pub limit: usize,
}

pub struct Todos(Mutex<Vec<String>>);

#[http_trigger(route = "todos", methods = "post", auth_level = "anonymous")]
pub async fn create(_req: HttpRequest, body: Json<NewTodo>, todos: State<Todos>) -> HttpResponse {
    let mut list = todos.0.lock().unwrap();
    list.push(body.0.title);
    HttpResponse::created().with_json(&list.len())
}

#[http_trigger(route = "todos", methods = "get", auth_level = "anonymous")]
pub fn list(_req: HttpRequest, page: Query<Page>, todos: State<Todos>) -> HttpResponse {
    let list = todos.0.lock().unwrap();
    HttpResponse::ok().with_json(&list.iter().take(page.limit).collect::<Vec<_>>())
}

/// A sync function answering on a named output: rejections go there too.
#[http_trigger(route = "todos/{id:int}", methods = "get", auth_level = "anonymous")]
#[http_output(name = "res")]
pub fn get_todo(_req: HttpRequest, id: Path<usize>, todos: State<Todos>, res: Out<HttpResponse>) -> Result<(), Error> {
    let list = todos.0.lock().unwrap();
    let title = list.get(*id).ok_or_else(|| Error::not_found(format!("no todo has id {}", *id)))?;
    res.set(HttpResponse::ok().with_text(title.clone()));
    Ok(())
}

fn registration(name: &str) -> &'static Registration {
    inventory::iter::<Registration>.into_iter().find(|r| r.name == name).expect("registered")
}

fn request(url: &str, params: &[(&str, &str)], body: &str) -> Invocation {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let http = RpcHttp {
        method: "POST".into(),
        url: url.into(),
        params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        query: query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect(),
        body: Some(Box::new(TypedData { data: Some(Data::String(body.into())) })),
        ..RpcHttp::default()
    };
    Invocation::new("i", "f").with_input("req", TypedData { data: Some(Data::Http(Box::new(http))) })
}

/// The status and body of the HTTP response an invocation answered with.
fn answer(result: InvocationResult) -> (String, String) {
    let outcome = result.expect("the invocation answers instead of failing");
    let data = outcome.return_value.or_else(|| outcome.outputs.into_iter().map(|(_, d)| d).next());
    let Some(TypedData { data: Some(Data::Http(http)) }) = data else { panic!("no HTTP response: {data:?}") };
    let body = match http.body.and_then(|b| b.data) {
        Some(Data::Bytes(b)) => String::from_utf8(b.to_vec()).unwrap(),
        other => panic!("unexpected body {other:?}"),
    };
    (http.status_code, body)
}

fn main() {
    fnwire::provide_state(Todos(Mutex::new(Vec::new())));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let call = |name: &str, invocation: Invocation| runtime.block_on(registration(name).invoke.call(invocation));

    assert_eq!(answer(call("create", request("http://h/api/todos", &[], r#"{"title":"milk"}"#))), ("201".into(), "1".into()));
    let (status, body) = answer(call("create", request("http://h/api/todos", &[], r#"{"name":"milk"}"#)));
    assert_eq!(status, "400");
    assert!(body.contains("missing field `title`"), "{body}");

    assert_eq!(answer(call("list", request("http://h/api/todos?limit=5", &[], ""))), ("200".into(), r#"["milk"]"#.into()));
    let (status, body) = answer(call("list", request("http://h/api/todos?limit=all", &[], "")));
    assert_eq!(status, "400");
    assert!(body.contains("the query string does not fit"), "{body}");

    assert_eq!(answer(call("get_todo", request("http://h/api/todos/0", &[("id", "0")], ""))), ("200".into(), "milk".into()));
    let (status, body) = answer(call("get_todo", request("http://h/api/todos/9", &[("id", "9")], "")));
    assert_eq!((status.as_str(), body.as_str()), ("404", "no todo has id 9"));

    let invocation = |body: &str| {
        let http = RpcHttp {
            method: "POST".into(),
            url: "http://h/api/bodies".into(),
            body: Some(Box::new(TypedData { data: Some(Data::String(body.into())) })),
            ..RpcHttp::default()
        };
        Invocation::new("i", "f").with_input("body", TypedData { data: Some(Data::Http(Box::new(http))) })
    };
    let outcome = call("only_body", invocation(r#"{"title":"tea"}"#)).expect("answers");
    assert!(format!("{:?}", outcome.return_value).contains("tea"), "{outcome:?}");
    let (status, body) = answer(call("only_body", invocation("[]")));
    assert_eq!(status, "400");
    assert!(body.contains("NewTodo"), "{body}");
}

/// The trigger itself may be a `Json<T>`: its body.
#[http_trigger(route = "bodies", methods = "post", auth_level = "anonymous")]
pub fn only_body(body: Json<NewTodo>) -> String {
    body.0.title
}
