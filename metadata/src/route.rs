//! Route templates of HTTP triggers, parsed once for both the host (which routes requests by
//! them) and the attribute macros (which reject a bad template at compile time, at the route
//! string).
//!
//! Azure Functions routes use ASP.NET-style templates. Supported, per path segment (a segment is
//! either all literal or exactly one parameter):
//! * a literal, matched case-insensitively;
//! * `{name}`: one non-empty segment;
//! * `{name?}`: optional; only trailing segments may be optional;
//! * `{name:constraint}` / `{name:constraint?}`: with one of the constraints of [`Constraint`]:
//!   `int`, `long`, `bool`, `alpha`, `guid`, `double`, `float`, `decimal`;
//! * `{*name}`: catch-all, the rest of the path (possibly empty); only as the last segment.

use std::collections::BTreeMap;

/// One parameter of a route template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteParameter<'a> {
    /// The name, as a function reads it (`req.param("id")`).
    pub name: &'a str,
    /// The constraint the host checks before routing, if any.
    pub constraint: Option<Constraint>,
    /// Whether a request may leave it out (`{name?}`, `{*rest}`).
    pub optional: bool,
}

/// A parameter constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// 32-bit signed integer.
    Int,
    /// 64-bit signed integer.
    Long,
    /// `true` or `false`, case-insensitively.
    Bool,
    /// ASCII letters only.
    Alpha,
    /// A GUID, with or without braces/hyphens as .NET accepts the common `8-4-4-4-12` form.
    Guid,
    /// A floating-point number (`double`, `float` and `decimal` all accept this).
    Double,
}

impl Constraint {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "int" => Constraint::Int,
            "long" => Constraint::Long,
            "bool" => Constraint::Bool,
            "alpha" => Constraint::Alpha,
            "guid" => Constraint::Guid,
            "double" | "float" | "decimal" => Constraint::Double,
            _ => return None,
        })
    }

    /// Whether a (decoded) segment value satisfies the constraint.
    pub fn accepts(self, value: &str) -> bool {
        match self {
            Constraint::Int => value.parse::<i32>().is_ok(),
            Constraint::Long => value.parse::<i64>().is_ok(),
            Constraint::Bool => value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"),
            Constraint::Alpha => !value.is_empty() && value.chars().all(|c| c.is_ascii_alphabetic()),
            Constraint::Guid => {
                uuid::Uuid::parse_str(value.trim_start_matches('{').trim_end_matches('}')).is_ok()
            }
            Constraint::Double => value.parse::<f64>().is_ok_and(f64::is_finite),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param { name: String, optional: bool, constraint: Option<Constraint> },
    CatchAll { name: String },
}

impl Segment {
    /// Lower is more specific.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::Param { optional: false, constraint: Some(_), .. } => 1,
            Segment::Param { optional: false, constraint: None, .. } => 2,
            Segment::Param { optional: true, .. } => 3,
            Segment::CatchAll { .. } => 4,
        }
    }
}

/// A route template could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    /// The template as written.
    pub template: String,
    /// What is wrong with it and how to fix it.
    pub message: String,
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "route template `{}`: {}", self.template, self.message)
    }
}

impl std::error::Error for RouteError {}

/// A parsed route template (without the route prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTemplate {
    source: String,
    segments: Vec<Segment>,
}

impl RouteTemplate {
    /// Parses a template such as `items/{id:int}/{*rest}`. Leading and trailing `/` are ignored.
    pub fn parse(template: &str) -> Result<Self, RouteError> {
        let err = |message: String| RouteError { template: template.to_string(), message };
        let trimmed = template.trim_matches('/');
        let mut segments = Vec::new();
        let parts: Vec<&str> = if trimmed.is_empty() { Vec::new() } else { trimmed.split('/').collect() };
        let mut names: Vec<String> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let is_last = i + 1 == parts.len();
            if part.is_empty() {
                return Err(err("empty segment (`//`): remove the doubled slash".into()));
            }
            let segment = if let Some(inner) = part.strip_prefix('{') {
                let Some(inner) = inner.strip_suffix('}') else {
                    return Err(err(format!(
                        "segment `{part}` opens `{{` without closing it at the segment's end"
                    )));
                };
                if inner.contains(['{', '}']) {
                    return Err(err(format!(
                        "segment `{part}` mixes parameters: a segment is either literal text or exactly one {{parameter}}"
                    )));
                }
                parse_param(inner, is_last).map_err(|m| err(format!("segment `{part}`: {m}")))?
            } else if part.contains(['{', '}']) {
                return Err(err(format!(
                    "segment `{part}` mixes literal text and a parameter: fnwire supports a parameter only as a \
                     whole segment, e.g. `items/{{id}}`"
                )));
            } else {
                Segment::Literal(part.to_string())
            };
            match &segment {
                Segment::Param { name, .. } | Segment::CatchAll { name } => {
                    if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                        return Err(err(format!("parameter `{name}` appears twice")));
                    }
                    names.push(name.clone());
                }
                Segment::Literal(_) => {}
            }
            segments.push(segment);
        }
        // Optional parameters can only be followed by other optional ones (or a catch-all):
        // otherwise a path could not tell which segment was left out.
        let mut seen_optional = false;
        for s in &segments {
            match s {
                Segment::Param { optional: true, .. } => seen_optional = true,
                Segment::CatchAll { .. } => {}
                Segment::Literal(text) if seen_optional => {
                    return Err(err(format!(
                        "literal `{text}` follows an optional parameter: only trailing parameters can be optional"
                    )));
                }
                Segment::Param { name, .. } if seen_optional => {
                    return Err(err(format!(
                        "required parameter `{name}` follows an optional one: only trailing parameters can be optional"
                    )));
                }
                _ => {}
            }
        }
        Ok(RouteTemplate { source: trimmed.to_string(), segments })
    }

    /// The template as written (without surrounding slashes).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Matches decoded path segments; returns the route values (only those present).
    pub fn matches(&self, path: &[String]) -> Option<BTreeMap<String, String>> {
        let mut values = BTreeMap::new();
        let mut i = 0;
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => {
                    if !path.get(i).is_some_and(|p| p.eq_ignore_ascii_case(text)) {
                        return None;
                    }
                    i += 1;
                }
                Segment::Param { name, optional, constraint } => match path.get(i) {
                    Some(value) => {
                        if value.is_empty() || constraint.is_some_and(|c| !c.accepts(value)) {
                            return None;
                        }
                        values.insert(name.clone(), value.clone());
                        i += 1;
                    }
                    None if *optional => {}
                    None => return None,
                },
                Segment::CatchAll { name } => {
                    let rest = path[i.min(path.len())..].join("/");
                    if !rest.is_empty() {
                        values.insert(name.clone(), rest);
                    }
                    i = path.len();
                }
            }
        }
        (i == path.len()).then_some(values)
    }

    /// How specific each segment is, lower first: comparing these picks the most specific of
    /// several matching templates.
    pub fn specificity(&self) -> Vec<u8> {
        self.segments.iter().map(Segment::rank).collect()
    }

    /// Whether both templates match exactly the same paths (literals compared case-insensitively,
    /// parameters by kind and constraint, not by name).
    pub fn same_shape(&self, other: &RouteTemplate) -> bool {
        self.segments.len() == other.segments.len()
            && self.segments.iter().zip(&other.segments).all(|(x, y)| match (x, y) {
                (Segment::Literal(p), Segment::Literal(q)) => p.eq_ignore_ascii_case(q),
                (
                    Segment::Param { optional: o1, constraint: c1, .. },
                    Segment::Param { optional: o2, constraint: c2, .. },
                ) => o1 == o2 && c1 == c2,
                (Segment::CatchAll { .. }, Segment::CatchAll { .. }) => true,
                _ => false,
            })
    }

    /// The parameters, in route order: name, constraint, and whether the value may be absent
    /// (optional parameters and catch-alls).
    pub fn parameters(&self) -> impl Iterator<Item = RouteParameter<'_>> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Literal(_) => None,
            Segment::Param { name, optional, constraint } => {
                Some(RouteParameter { name, constraint: *constraint, optional: *optional })
            }
            Segment::CatchAll { name } => Some(RouteParameter { name, constraint: None, optional: true }),
        })
    }
}

fn parse_param(inner: &str, is_last: bool) -> Result<Segment, String> {
    if let Some(name) = inner.strip_prefix('*') {
        let name = name.strip_prefix('*').unwrap_or(name);
        check_param_name(name)?;
        if !is_last {
            return Err("a catch-all `{*name}` must be the last segment".into());
        }
        return Ok(Segment::CatchAll { name: name.to_string() });
    }
    let (body, optional) = match inner.strip_suffix('?') {
        Some(b) => (b, true),
        None => (inner, false),
    };
    if body.contains('=') {
        return Err(
            "default values (`{name=value}`) are not supported: use an optional parameter `{name?}` \
                    and choose the default in the function"
                .into(),
        );
    }
    let (name, constraint) = match body.split_once(':') {
        Some((name, c)) => {
            if c.contains(':') {
                return Err("only one constraint per parameter is supported".into());
            }
            let constraint = Constraint::parse(c).ok_or_else(|| {
                format!("unknown constraint `{c}`: fnwire supports int, long, bool, alpha, guid, double, float, decimal")
            })?;
            (name, Some(constraint))
        }
        None => (body, None),
    };
    check_param_name(name)?;
    Ok(Segment::Param { name: name.to_string(), optional, constraint })
}

fn check_param_name(name: &str) -> Result<(), String> {
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') {
        return Err(format!("`{name}` is not a valid parameter name: use letters, digits, `_` or `-`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_segment_kind() {
        let t = RouteTemplate::parse("/items/{id:int}/{name?}/").unwrap();
        assert_eq!(t.as_str(), "items/{id:int}/{name?}");
        assert_eq!(t.segments.len(), 3);
        assert!(matches!(
            t.segments[1],
            Segment::Param { constraint: Some(Constraint::Int), optional: false, .. }
        ));
        assert!(matches!(t.segments[2], Segment::Param { optional: true, constraint: None, .. }));
        let c = RouteTemplate::parse("files/{*path}").unwrap();
        assert!(matches!(c.segments[1], Segment::CatchAll { .. }));
        assert!(RouteTemplate::parse("").unwrap().segments.is_empty());
    }

    #[test]
    fn parameters_come_in_route_order_with_their_constraints() {
        let t = RouteTemplate::parse("todos/{id:int}/notes/{note?}/{*rest}").unwrap();
        let names: Vec<(&str, Option<Constraint>, bool)> =
            t.parameters().map(|p| (p.name, p.constraint, p.optional)).collect();
        assert_eq!(names, [("id", Some(Constraint::Int), false), ("note", None, true), ("rest", None, true)]);
        assert!(t.same_shape(&RouteTemplate::parse("TODOS/{x:int}/notes/{y?}/{*z}").unwrap()));
        assert!(!t.same_shape(&RouteTemplate::parse("todos/{x}/notes/{y?}/{*z}").unwrap()));
    }
}
