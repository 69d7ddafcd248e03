//! Extractors for HTTP-triggered functions: [`Query<T>`], [`Path<T>`], a [`Json<T>`] body, and
//! application [`State<T>`]. A parameter whose name matches no binding and whose type is one of
//! these is filled from the function's HTTP request (or from the state given to [`provide_state`]).
//! A request that does not fit answers `400 Bad Request` with a message saying what was wrong.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use fnwire_protocol::rpc::typed_data::Data;
use http::StatusCode;
use serde::de::DeserializeOwned;

use crate::FunctionError;
use crate::bind::FromInvocation;
use crate::http_binding::HttpRequest;
use crate::invocation::Invocation;
use crate::json::Json;

/// The function's HTTP request, copied out of the invocation (the trigger stays in place for other
/// parameters). Failing means the function has no HTTP trigger.
fn http_request_of(invocation: &Invocation, extractor: &str) -> Result<HttpRequest, FunctionError> {
    let http = invocation.inputs().iter().find_map(|(_, data)| match &data.data {
        Some(Data::Http(http)) => Some(http),
        _ => None,
    });
    match http {
        Some(http) => HttpRequest::from_rpc((**http).clone()),
        None => Err(FunctionError::new(format!(
            "`{extractor}` reads the HTTP request, but function `{}` received none: use it only in \
             functions with an HTTP trigger",
            invocation.function_name()
        ))),
    }
}

fn bad_request(message: String) -> FunctionError {
    FunctionError::new(message).with_http_status(StatusCode::BAD_REQUEST)
}

/// Decodes text pairs into `T`, parsing numbers, bools and options out of the strings.
fn from_pairs<'a, T: DeserializeOwned>(
    pairs: impl Iterator<Item = (&'a String, &'a String)>,
) -> Result<T, serde_urlencoded::de::Error> {
    let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    serde_urlencoded::from_str(&encoded)
}

/// The query string decoded into `T` (a struct with named fields, or a map).
///
/// ```no_run
/// # use fnwire::{http_trigger, Query, HttpResponse};
/// #[derive(serde::Deserialize)]
/// struct Page { limit: u32, after: Option<String> }
///
/// #[http_trigger(route = "todos", methods = "get", auth_level = "anonymous")]
/// pub async fn list(req: fnwire::HttpRequest, page: Query<Page>) -> HttpResponse {
///     HttpResponse::ok().with_text(format!("first {}", page.limit))
/// }
/// ```
///
/// `?limit=x` answers `400 Bad Request` naming the query string and the field that did not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Query<T>(pub T);

/// The route parameters decoded into `T`: a struct whose fields are named like the route's
/// `{parameters}` (or a map), or a single value when the route has one parameter.
/// `{id:int}` can be read as `u32`, `{when:datetime}` as text to parse; a value that does not fit
/// answers `400 Bad Request`.
///
/// ```no_run
/// # use fnwire::{http_trigger, Path, HttpResponse};
/// #[http_trigger(route = "todos/{id:int}", methods = "get", auth_level = "anonymous")]
/// pub async fn get_todo(req: fnwire::HttpRequest, id: Path<u32>) -> HttpResponse {
///     HttpResponse::ok().with_text(format!("todo {}", *id))
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Path<T>(pub T);

macro_rules! wrapper {
    ($name:ident) => {
        impl<T> $name<T> {
            /// The wrapped value.
            pub fn into_inner(self) -> T {
                self.0
            }
        }

        impl<T> std::ops::Deref for $name<T> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.0
            }
        }

        impl<T> std::ops::DerefMut for $name<T> {
            fn deref_mut(&mut self) -> &mut T {
                &mut self.0
            }
        }
    };
}
wrapper!(Query);
wrapper!(Path);

impl<T: DeserializeOwned> FromInvocation for Query<T> {
    fn from_invocation(invocation: &Invocation) -> Result<Self, FunctionError> {
        let request = http_request_of(invocation, "Query")?;
        from_pairs(request.query_params().iter()).map(Query).map_err(|e| {
            bad_request(format!(
                "the query string does not fit `{}`: {e} (query parameters: {})",
                type_name::<T>(),
                describe(request.query_params().keys())
            ))
        })
    }
}

impl<T: DeserializeOwned> FromInvocation for Path<T> {
    fn from_invocation(invocation: &Invocation) -> Result<Self, FunctionError> {
        let request = http_request_of(invocation, "Path")?;
        let params = request.params();
        let decoded = match params.len() {
            // A single parameter may be read as a bare value (`Path<u32>`); a struct or map
            // still works, through the named form below.
            1 => single_value(params.values().next().map(String::as_str).unwrap_or_default())
                .or_else(|_| from_pairs(params.iter())),
            _ => from_pairs(params.iter()),
        };
        decoded.map(Path).map_err(|e| {
            bad_request(format!(
                "the route parameters do not fit `{}`: {e} (route parameters: {})",
                type_name::<T>(),
                params.iter().map(|(k, v)| format!("{k}={v:?}")).collect::<Vec<_>>().join(", ")
            ))
        })
    }
}

/// One text value decoded into `T` (a number, bool, string or option).
fn single_value<T: DeserializeOwned>(value: &str) -> Result<T, serde_urlencoded::de::Error> {
    #[derive(serde::Deserialize)]
    struct One<T> {
        v: T,
    }
    let encoded = form_urlencoded::Serializer::new(String::new()).append_pair("v", value).finish();
    serde_urlencoded::from_str::<One<T>>(&encoded).map(|one| one.v)
}

fn describe<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() { "none".to_string() } else { names.join(", ") }
}

/// A `Json<T>` parameter that matches no binding is the HTTP request's body.
impl<T: DeserializeOwned> FromInvocation for Json<T> {
    fn from_invocation(invocation: &Invocation) -> Result<Self, FunctionError> {
        let request = http_request_of(invocation, "Json")?;
        request.json::<T>().map(Json).map_err(|e| bad_request(e.to_string()))
    }
}

type StateMap = HashMap<TypeId, Arc<dyn Any + Send + Sync>>;

fn states() -> &'static RwLock<StateMap> {
    static STATES: OnceLock<RwLock<StateMap>> = OnceLock::new();
    STATES.get_or_init(Default::default)
}

/// Makes `value` available to every function as a [`State<T>`] parameter. Call it in `main`
/// before [`run`](crate::run); giving a second value of the same type replaces the first.
///
/// The state lives in this worker process: a host running several worker processes
/// (`FUNCTIONS_WORKER_PROCESS_COUNT`) gives each its own copy.
pub fn provide_state<T: Send + Sync + 'static>(value: T) {
    let mut map = states().write().unwrap_or_else(|poisoned| poisoned.into_inner());
    map.insert(TypeId::of::<T>(), Arc::new(value));
}

/// Shared application state given to [`provide_state`] in `main` (a connection pool, a
/// configuration, a cache); it derefs to `T`. Cloning is cheap: it is an `Arc`.
///
/// ```no_run
/// use fnwire::{http_trigger, HttpRequest, HttpResponse, State};
/// use std::sync::Mutex;
///
/// struct Todos(Mutex<Vec<String>>);
///
/// #[http_trigger(route = "todos", methods = "get", auth_level = "anonymous")]
/// pub async fn list(req: HttpRequest, todos: State<Todos>) -> HttpResponse {
///     HttpResponse::ok().with_json(&*todos.0.lock().unwrap())
/// }
///
/// fn main() -> std::process::ExitCode {
///     fnwire::provide_state(Todos(Mutex::new(Vec::new())));
///     fnwire::run()
/// }
/// ```
///
/// The `Arc` is private so that `state.0` (and any field) reaches through to `T`.
#[derive(Debug)]
pub struct State<T>(Arc<T>);

impl<T> State<T> {
    /// The shared value itself, to keep beyond the invocation (e.g. in a spawned task).
    pub fn arc(&self) -> Arc<T> {
        Arc::clone(&self.0)
    }
}

impl<T> Clone for State<T> {
    fn clone(&self) -> Self {
        State(Arc::clone(&self.0))
    }
}

impl<T> std::ops::Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Send + Sync + 'static> FromInvocation for State<T> {
    fn from_invocation(_invocation: &Invocation) -> Result<Self, FunctionError> {
        let map = states().read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let value = map.get(&TypeId::of::<T>()).cloned().ok_or_else(|| {
            FunctionError::new(format!(
                "no state of type `{0}` was provided: call `fnwire::provide_state(value)` with a `{0}` \
                 in `main` before `fnwire::run()`",
                type_name::<T>()
            ))
        })?;
        value
            .downcast::<T>()
            .map(State)
            .map_err(|_| FunctionError::new("state map holds a value of the wrong type"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::typed;
    use fnwire_protocol::rpc::RpcHttp;

    fn invocation(url: &str, params: &[(&str, &str)], body: &str) -> Invocation {
        let http = RpcHttp {
            method: "POST".into(),
            url: url.into(),
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            query: url
                .split_once('?')
                .map(|(_, q)| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
            body: Some(Box::new(typed(Data::String(body.into())))),
            ..RpcHttp::default()
        };
        Invocation::new("i", "todos").with_input("req", typed(Data::Http(Box::new(http))))
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct NewTodo {
        title: String,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Page {
        limit: u32,
        done: Option<bool>,
    }

    #[test]
    fn json_body_decodes_and_a_bad_body_is_a_400_saying_why() {
        let ok = Json::<NewTodo>::from_invocation(&invocation("http://h/api/todos", &[], r#"{"title":"x"}"#));
        assert_eq!(ok.unwrap().0, NewTodo { title: "x".into() });
        let err =
            Json::<NewTodo>::from_invocation(&invocation("http://h/api/todos", &[], r#"{"titel":"x"}"#))
                .unwrap_err();
        assert_eq!(err.http_status, Some(StatusCode::BAD_REQUEST));
        assert!(err.message.contains("missing field `title`"), "{err}");
        let err = Json::<NewTodo>::from_invocation(&invocation("http://h/api/todos", &[], "")).unwrap_err();
        assert_eq!(err.http_status, Some(StatusCode::BAD_REQUEST));
        assert!(err.message.contains("request body is empty"), "{err}");
        let err =
            Json::<NewTodo>::from_invocation(&invocation("http://h/api/todos", &[], "{oops")).unwrap_err();
        assert!(err.message.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn query_parses_numbers_and_options_and_reports_the_field() {
        let page =
            Query::<Page>::from_invocation(&invocation("http://h/api/todos?limit=5&done=true", &[], ""));
        assert_eq!(page.unwrap().0, Page { limit: 5, done: Some(true) });
        let page = Query::<Page>::from_invocation(&invocation("http://h/api/todos?limit=5", &[], ""));
        assert_eq!(page.unwrap().0, Page { limit: 5, done: None });
        let err =
            Query::<Page>::from_invocation(&invocation("http://h/api/todos?limit=ten", &[], "")).unwrap_err();
        assert_eq!(err.http_status, Some(StatusCode::BAD_REQUEST));
        assert!(err.message.contains("the query string does not fit"), "{err}");
        assert!(err.message.contains("invalid digit"), "{err}");
        let err = Query::<Page>::from_invocation(&invocation("http://h/api/todos", &[], "")).unwrap_err();
        assert!(err.message.contains("missing field `limit`"), "{err}");
        assert!(err.message.contains("query parameters: none"), "{err}");
    }

    #[test]
    fn path_reads_single_values_structs_and_tuples() {
        let inv = invocation("http://h/api/todos/7", &[("id", "7")], "");
        assert_eq!(Path::<u32>::from_invocation(&inv).unwrap().0, 7);
        #[derive(serde::Deserialize)]
        struct Id {
            id: u64,
        }
        assert_eq!(Path::<Id>::from_invocation(&inv).unwrap().id, 7);
        let err = Path::<u32>::from_invocation(&invocation("http://h/api/todos/x", &[("id", "x")], ""))
            .unwrap_err();
        assert_eq!(err.http_status, Some(StatusCode::BAD_REQUEST));
        assert!(err.message.contains("id=\"x\""), "{err}");
        #[derive(serde::Deserialize)]
        struct Two {
            id: u32,
            slug: String,
        }
        let two = Path::<Two>::from_invocation(&invocation(
            "http://h/api/a/3/b",
            &[("id", "3"), ("slug", "b")],
            "",
        ));
        let two = two.unwrap();
        assert_eq!((two.id, two.slug.as_str()), (3, "b"));
    }

    #[test]
    fn extractors_outside_http_functions_say_so() {
        let err = Query::<Page>::from_invocation(&Invocation::new("i", "tick")).unwrap_err();
        assert!(err.message.contains("function `tick` received none"), "{err}");
        assert_eq!(err.http_status, None);
    }

    #[test]
    fn state_is_shared_and_missing_state_names_the_type() {
        struct Counter(u32);
        #[derive(Debug)]
        struct Missing;
        provide_state(Counter(3));
        let inv = Invocation::new("i", "f");
        assert_eq!(State::<Counter>::from_invocation(&inv).unwrap().0.0, 3);
        let err = State::<Missing>::from_invocation(&inv).unwrap_err();
        assert!(err.message.contains("Missing") && err.message.contains("provide_state"), "{err}");
    }
}
