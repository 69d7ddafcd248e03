//! The table that picks a function for a request, over route templates parsed by
//! [`fnwire_metadata::route`] (the same parser the attribute macros use at compile time).
//!
//! Azure Functions routes use ASP.NET-style templates (`items/{id:int}`, `hello/{name?}`,
//! `files/{*path}`). Routers such as matchit (and so axum) use a different syntax, have no
//! optional or constrained parameters and no case-insensitive literals, so fnwire matches
//! templates itself.
//!
//! Supported, per path segment (a segment is either all literal or exactly one parameter):
//! * a literal, matched case-insensitively;
//! * `{name}`: one non-empty segment;
//! * `{name?}`: optional; only trailing segments may be optional;
//! * `{name:constraint}` / `{name:constraint?}`: with the constraints of [`Constraint`] (ASP.NET
//!   Core's: `int`, `long`, `bool`, `alpha`, `guid`, `double`, `float`, `decimal`, `datetime`,
//!   `minlength`, `maxlength`, `length`, `min`, `max`, `range`, `regex`, several in a row). Any
//!   other constraint is a start-up error naming the function;
//! * `{*name}`: catch-all, the rest of the path (possibly empty); only as the last segment.
//!
//! When several templates match, the most specific wins: compared segment by segment, a literal
//! beats a constrained parameter, which beats a plain parameter, which beats an optional one,
//! which beats a catch-all.

use std::collections::BTreeMap;

use http::Method;

pub use fnwire_metadata::route::{Constraint, RouteError, RouteTemplate};

/// Two functions claim the same route for the same methods.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "route `{route}` of function `{function}` is the same as the route `{other_route}` of function \
     `{other_function}`: give one of them a different `route`"
)]
pub struct DuplicateRoute {
    pub route: String,
    pub function: String,
    pub other_route: String,
    pub other_function: String,
}

/// The app's HTTP functions cannot be routed: the message names the function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutesError {
    #[error("function `{function}`: {error}")]
    Template { function: String, error: RouteError },
    #[error("function `{function}`: {error}")]
    Methods { function: String, error: MethodsError },
    #[error("function `{function}`: {error}")]
    AuthLevel { function: String, error: crate::keys::UnknownAuthLevel },
    #[error(transparent)]
    Duplicate(#[from] DuplicateRoute),
}

/// A trigger's `methods` value is not a list of HTTP methods.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MethodsError {
    #[error("method `{0}` is not a string")]
    NotAString(String),
    #[error("`methods` must be a list of strings, found `{0}`")]
    NotAList(String),
    #[error("`{0}` is not an HTTP method")]
    UnknownMethod(String),
}

/// Splits a request path into percent-decoded segments, after removing the route prefix.
/// Returns `None` when the path is not under the prefix.
pub fn path_segments(path: &str, prefix: &str) -> Option<Vec<String>> {
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let mut raw = path.split('/').filter(|s| !s.is_empty());
    for p in prefix.split('/').filter(|s| !s.is_empty()) {
        // Decoded without a copy unless it has escapes; only the segments after the prefix
        // are kept (this runs for every request).
        let segment = percent_encoding::percent_decode_str(raw.next()?).decode_utf8_lossy();
        if !p.eq_ignore_ascii_case(&segment) {
            return None;
        }
    }
    Some(raw.map(decode).collect())
}

/// One function's route.
#[derive(Debug, Clone)]
pub struct Route {
    pub function_name: String,
    pub template: RouteTemplate,
    /// Upper-case methods; `None` accepts every method.
    pub methods: Option<Vec<Method>>,
}

/// The outcome of looking a request up.
#[derive(Debug, PartialEq)]
pub enum RouteMatch<'a> {
    Found {
        function_name: &'a str,
        params: BTreeMap<String, String>,
    },
    /// Some route matches the path, but none accepts this method; `allow` lists those that do.
    MethodNotAllowed {
        allow: Vec<Method>,
    },
    NotFound,
}

/// Every HTTP-triggered function's route.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    pub fn new() -> Self {
        RouteTable::default()
    }

    /// Adds a route. A template identical to an existing one (same segments) is refused, naming
    /// the function that already owns it.
    pub fn add(&mut self, route: Route) -> Result<(), DuplicateRoute> {
        if let Some(other) = self
            .routes
            .iter()
            .find(|r| same_shape(&r.template, &route.template) && methods_overlap(&r.methods, &route.methods))
        {
            return Err(DuplicateRoute {
                route: route.template.as_str().to_string(),
                function: route.function_name,
                other_route: other.template.as_str().to_string(),
                other_function: other.function_name.clone(),
            });
        }
        self.routes.push(route);
        Ok(())
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the most specific route for decoded path segments and a method.
    pub fn find(&self, path: &[String], method: &Method) -> RouteMatch<'_> {
        let mut best: Option<(Vec<u8>, &Route, BTreeMap<String, String>)> = None;
        let mut allow: Vec<Method> = Vec::new();
        let mut any_path_match = false;
        for route in &self.routes {
            let Some(params) = route.template.matches(path) else { continue };
            any_path_match = true;
            let accepts = match &route.methods {
                None => true,
                Some(methods) => methods.contains(method),
            };
            if !accepts {
                if let Some(methods) = &route.methods {
                    for m in methods {
                        if !allow.contains(m) {
                            allow.push(m.clone());
                        }
                    }
                }
                continue;
            }
            let key = route.template.specificity();
            if best.as_ref().is_none_or(|(k, _, _)| key < *k) {
                best = Some((key, route, params));
            }
        }
        match best {
            Some((_, route, params)) => RouteMatch::Found { function_name: &route.function_name, params },
            None if any_path_match => RouteMatch::MethodNotAllowed { allow },
            None => RouteMatch::NotFound,
        }
    }
}

fn same_shape(a: &RouteTemplate, b: &RouteTemplate) -> bool {
    a.same_shape(b)
}

fn methods_overlap(a: &Option<Vec<Method>>, b: &Option<Vec<Method>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.iter().any(|m| b.contains(m)),
        _ => true,
    }
}

/// Parses `function.json` `methods` values (`["get","post"]` or `"get,post"`) into methods.
pub fn parse_methods(value: Option<&serde_json::Value>) -> Result<Option<Vec<Method>>, MethodsError> {
    let names: Vec<String> = match value {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::String(s)) => s.split(',').map(|m| m.trim().to_string()).collect(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(|s| s.trim().to_string())
                    .ok_or_else(|| MethodsError::NotAString(v.to_string()))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(MethodsError::NotAList(other.to_string())),
    };
    let names: Vec<String> = names.into_iter().filter(|n| !n.is_empty()).collect();
    if names.is_empty() {
        return Ok(None);
    }
    let mut methods = Vec::new();
    for name in names {
        let method = Method::from_bytes(name.to_ascii_uppercase().as_bytes())
            .map_err(|_| MethodsError::UnknownMethod(name.clone()))?;
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    Ok(Some(methods))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<String> {
        path_segments(path, "api").expect("under prefix")
    }

    fn table(routes: &[(&str, &str, Option<&[&str]>)]) -> RouteTable {
        let mut t = RouteTable::new();
        for (name, template, methods) in routes {
            t.add(Route {
                function_name: name.to_string(),
                template: RouteTemplate::parse(template).unwrap(),
                methods: methods
                    .map(|ms| ms.iter().map(|m| Method::from_bytes(m.as_bytes()).unwrap()).collect()),
            })
            .unwrap();
        }
        t
    }

    fn found(t: &RouteTable, path: &str, method: Method) -> Option<(String, BTreeMap<String, String>)> {
        match t.find(&segs(path), &method) {
            RouteMatch::Found { function_name, params } => Some((function_name.to_string(), params)),
            _ => None,
        }
    }

    #[test]
    fn rejects_bad_templates_with_reasons() {
        let cases = [
            ("items/{id:number}", "unknown constraint `number`"),
            ("{*rest}/more", "must be the last segment"),
            ("a/{b?}/c", "only trailing parameters can be optional"),
            ("a/{b?}/{c}", "only trailing parameters can be optional"),
            ("a/{id}/{ID}", "appears twice"),
            ("a/{id", "without closing"),
            ("a/x{id}", "mixes literal text"),
            ("a//b", "empty segment"),
            ("a/{x=1}", "default values"),
        ];
        for (template, expected) in cases {
            let e = RouteTemplate::parse(template).unwrap_err();
            assert!(e.to_string().contains(expected), "{template}: {e}");
        }
    }

    #[test]
    fn matches_literals_case_insensitively_and_optional_params() {
        let t = table(&[("hello", "hello/{name?}", None)]);
        assert_eq!(found(&t, "/api/HELLO", Method::GET).unwrap().1, BTreeMap::new());
        let (name, params) = found(&t, "/api/hello/Bob", Method::GET).unwrap();
        assert_eq!(name, "hello");
        assert_eq!(params.get("name").unwrap(), "Bob");
        assert!(found(&t, "/api/hello/Bob/extra", Method::GET).is_none());
        assert!(path_segments("/hello", "api").is_none(), "paths outside the prefix do not match");
    }

    #[test]
    fn decodes_percent_escapes_in_values() {
        let t = table(&[("hello", "hello/{name}", None)]);
        assert_eq!(found(&t, "/api/hello/Ada%20L", Method::GET).unwrap().1["name"], "Ada L");
    }

    #[test]
    fn constraints_filter_values() {
        for (c, good, bad) in [
            ("int", "42", "4x"),
            ("int", "-7", "99999999999"),
            ("long", "99999999999", "1.5"),
            ("bool", "TRUE", "yes"),
            ("alpha", "abc", "ab1"),
            ("guid", "6f6e7769-7265-4a2b-9a3e-1c5d7f002b41", "6f6e7769"),
            ("double", "1.5", "nan"),
        ] {
            let t = table(&[("f", &format!("x/{{v:{c}}}"), None)]);
            assert!(found(&t, &format!("/api/x/{good}"), Method::GET).is_some(), "{c} should accept {good}");
            assert!(found(&t, &format!("/api/x/{bad}"), Method::GET).is_none(), "{c} should refuse {bad}");
        }
    }

    #[test]
    fn catch_all_takes_the_rest_or_nothing() {
        let t = table(&[("files", "files/{*path}", None)]);
        assert_eq!(found(&t, "/api/files/a/b/c.txt", Method::GET).unwrap().1["path"], "a/b/c.txt");
        assert!(found(&t, "/api/files", Method::GET).unwrap().1.is_empty());
    }

    #[test]
    fn most_specific_route_wins_regardless_of_order() {
        let t = table(&[
            ("catch", "items/{*rest}", None),
            ("param", "items/{id}", None),
            ("int", "items/{id:int}", None),
            ("literal", "items/new", None),
        ]);
        assert_eq!(found(&t, "/api/items/new", Method::GET).unwrap().0, "literal");
        assert_eq!(found(&t, "/api/items/12", Method::GET).unwrap().0, "int");
        assert_eq!(found(&t, "/api/items/abc", Method::GET).unwrap().0, "param");
        assert_eq!(found(&t, "/api/items/a/b", Method::GET).unwrap().0, "catch");
    }

    #[test]
    fn wrong_method_reports_allowed_methods() {
        let t = table(&[("echo", "echo", Some(&["POST"])), ("echo2", "echo", Some(&["PUT"]))]);
        match t.find(&segs("/api/echo"), &Method::GET) {
            RouteMatch::MethodNotAllowed { allow } => assert_eq!(allow, vec![Method::POST, Method::PUT]),
            other => panic!("expected 405, got {other:?}"),
        }
        assert_eq!(found(&t, "/api/echo", Method::PUT).unwrap().0, "echo2");
        assert_eq!(t.find(&segs("/api/nope"), &Method::GET), RouteMatch::NotFound);
    }

    #[test]
    fn duplicate_routes_are_refused_naming_both_functions() {
        let mut t = table(&[("a", "items/{id}", None)]);
        let e = t
            .add(Route {
                function_name: "b".into(),
                template: RouteTemplate::parse("Items/{other}").unwrap(),
                methods: None,
            })
            .unwrap_err()
            .to_string();
        assert!(e.contains("`a`") && e.contains("`b`"), "{e}");
    }

    #[test]
    fn empty_prefix_and_nested_prefix() {
        assert_eq!(path_segments("/hello/x", "").unwrap(), vec!["hello", "x"]);
        assert_eq!(path_segments("/v1/fn/hello", "v1/fn").unwrap(), vec!["hello"]);
        assert!(path_segments("/other/hello", "api").is_none());
    }

    #[test]
    fn methods_parse_from_list_or_comma_string() {
        let m = parse_methods(Some(&serde_json::json!(["get", "Post"]))).unwrap().unwrap();
        assert_eq!(m, vec![Method::GET, Method::POST]);
        let m = parse_methods(Some(&serde_json::json!("get, post"))).unwrap().unwrap();
        assert_eq!(m, vec![Method::GET, Method::POST]);
        assert_eq!(parse_methods(None).unwrap(), None);
        assert!(parse_methods(Some(&serde_json::json!([1]))).is_err());
    }
}
