//! Route templates of HTTP triggers, parsed once for both the host (which routes requests by
//! them) and the attribute macros (which reject a bad template at compile time, at the route
//! string).
//!
//! Azure Functions routes use ASP.NET-style templates. Supported, per path segment (a segment is
//! either all literal or exactly one parameter):
//! * a literal, matched case-insensitively;
//! * `{name}`: one non-empty segment;
//! * `{name?}`: optional; only trailing segments may be optional;
//! * `{name:constraint}` / `{name:constraint?}`: with the constraints of [`Constraint`], as
//!   ASP.NET Core routing has them: `int`, `long`, `bool`, `alpha`, `guid`, `double`, `float`,
//!   `decimal`, `datetime`, `minlength(n)`, `maxlength(n)`, `length(n)`, `length(min,max)`,
//!   `min(n)`, `max(n)`, `range(min,max)`, `regex(expr)`; several in a row (`{id:int:min(1)}`)
//!   must all accept the value;
//! * `{*name}`: catch-all, the rest of the path (possibly empty); only as the last segment.

use std::collections::BTreeMap;

/// One parameter of a route template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteParameter<'a> {
    /// The name, as a function reads it (`req.param("id")`).
    pub name: &'a str,
    /// The constraints the host checks before routing (all must accept the value).
    pub constraints: &'a [Constraint],
    /// Whether a request may leave it out (`{name?}`, `{*rest}`).
    pub optional: bool,
}

/// A parameter constraint, as ASP.NET Core routing (Azure Functions' router) defines them.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// A date, or a date and time: ISO 8601 / RFC 3339 (`2024-05-01`, `2024-05-01T10:30:00Z`,
    /// `2024-05-01 10:30`) or `MM/dd/yyyy` with an optional time, as .NET's invariant culture reads them.
    DateTime,
    /// At least this many characters (`minlength(n)`).
    MinLength(usize),
    /// At most this many characters (`maxlength(n)`).
    MaxLength(usize),
    /// Between `min` and `max` characters, inclusive (`length(n)`, `length(min,max)`).
    Length { min: usize, max: usize },
    /// A 64-bit integer at least this large (`min(n)`).
    Min(i64),
    /// A 64-bit integer at most this large (`max(n)`).
    Max(i64),
    /// A 64-bit integer between `min` and `max`, inclusive (`range(min,max)`).
    Range { min: i64, max: i64 },
    /// Matches the regular expression somewhere, case-insensitively (`regex(expr)`; anchor it
    /// with `^…$` to match the whole value, as ASP.NET recommends).
    Regex(RouteRegex),
}

/// The expression of a `regex(...)` constraint, compiled once.
#[derive(Debug, Clone)]
pub struct RouteRegex {
    source: String,
    compiled: regex::Regex,
}

impl RouteRegex {
    /// The expression as written in the template (braces unescaped).
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl PartialEq for RouteRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for RouteRegex {}

/// The constraints fnwire knows, for error messages.
const KNOWN_CONSTRAINTS: &str = "int, long, bool, alpha, guid, double, float, decimal, datetime, minlength(n), \
                                 maxlength(n), length(n), length(min,max), min(n), max(n), range(min,max), regex(expr)";

impl Constraint {
    /// Parses one constraint (`int`, `min(1)`, `regex(^a+$)`), its arguments unescaped.
    fn parse(text: &str) -> Result<Self, String> {
        let (name, args) = match text.split_once('(') {
            Some((name, rest)) => match rest.strip_suffix(')') {
                Some(args) => (name, Some(args)),
                None => return Err(format!("constraint `{text}` opens `(` without closing it at its end")),
            },
            None => (text, None),
        };
        let lower = name.to_ascii_lowercase();
        let simple = match lower.as_str() {
            "int" => Some(Constraint::Int),
            "long" => Some(Constraint::Long),
            "bool" => Some(Constraint::Bool),
            "alpha" => Some(Constraint::Alpha),
            "guid" => Some(Constraint::Guid),
            "double" | "float" | "decimal" => Some(Constraint::Double),
            "datetime" => Some(Constraint::DateTime),
            _ => None,
        };
        if let Some(constraint) = simple {
            if args.is_some() {
                return Err(format!("constraint `{name}` takes no arguments: write `{name}`"));
            }
            return Ok(constraint);
        }
        let takes = |example: &str| format!("constraint `{text}` needs {example}");
        let Some(args) = args else {
            return Err(match lower.as_str() {
                "minlength" | "maxlength" | "length" | "min" | "max" | "range" | "regex" => {
                    format!("constraint `{name}` needs arguments, e.g. `{lower}(1)`")
                }
                _ => format!("unknown constraint `{name}`: fnwire supports {KNOWN_CONSTRAINTS}"),
            });
        };
        let whole = |arg: &str| arg.trim().parse::<i64>().ok();
        let count = |arg: &str| arg.trim().parse::<usize>().ok();
        let pair = args.split_once(',');
        Ok(match lower.as_str() {
            "minlength" => {
                Constraint::MinLength(count(args).ok_or_else(|| takes("a count, e.g. `minlength(4)`"))?)
            }
            "maxlength" => {
                Constraint::MaxLength(count(args).ok_or_else(|| takes("a count, e.g. `maxlength(8)`"))?)
            }
            "length" => {
                let bad = || takes("a count or two, e.g. `length(12)` or `length(8,16)`");
                match pair {
                    Some((min, max)) => {
                        let (min, max) = (count(min).ok_or_else(bad)?, count(max).ok_or_else(bad)?);
                        if min > max {
                            return Err(format!(
                                "constraint `{text}`: the minimum {min} is above the maximum {max}"
                            ));
                        }
                        Constraint::Length { min, max }
                    }
                    None => {
                        let n = count(args).ok_or_else(bad)?;
                        Constraint::Length { min: n, max: n }
                    }
                }
            }
            "min" => Constraint::Min(whole(args).ok_or_else(|| takes("a whole number, e.g. `min(1)`"))?),
            "max" => Constraint::Max(whole(args).ok_or_else(|| takes("a whole number, e.g. `max(100)`"))?),
            "range" => {
                let bad = || takes("two whole numbers, e.g. `range(1,100)`");
                let (min, max) = pair.ok_or_else(bad)?;
                let (min, max) = (whole(min).ok_or_else(bad)?, whole(max).ok_or_else(bad)?);
                if min > max {
                    return Err(format!("constraint `{text}`: the minimum {min} is above the maximum {max}"));
                }
                Constraint::Range { min, max }
            }
            "regex" => {
                let compiled = regex::RegexBuilder::new(args).case_insensitive(true).build().map_err(|e| {
                    format!(
                        "constraint `{text}`: the expression does not compile: {e} (fnwire's regular expressions \
                         have no look-around or backreferences)"
                    )
                })?;
                Constraint::Regex(RouteRegex { source: args.to_string(), compiled })
            }
            _ => return Err(format!("unknown constraint `{name}`: fnwire supports {KNOWN_CONSTRAINTS}")),
        })
    }

    /// Whether a (decoded) segment value satisfies the constraint.
    pub fn accepts(&self, value: &str) -> bool {
        let chars = || value.chars().count();
        match self {
            Constraint::Int => value.parse::<i32>().is_ok(),
            Constraint::Long => value.parse::<i64>().is_ok(),
            Constraint::Bool => value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"),
            Constraint::Alpha => !value.is_empty() && value.chars().all(|c| c.is_ascii_alphabetic()),
            Constraint::Guid => {
                uuid::Uuid::parse_str(value.trim_start_matches('{').trim_end_matches('}')).is_ok()
            }
            Constraint::Double => value.parse::<f64>().is_ok_and(f64::is_finite),
            Constraint::DateTime => is_date_time(value),
            Constraint::MinLength(n) => chars() >= *n,
            Constraint::MaxLength(n) => chars() <= *n,
            Constraint::Length { min, max } => (*min..=*max).contains(&chars()),
            Constraint::Min(n) => value.parse::<i64>().is_ok_and(|v| v >= *n),
            Constraint::Max(n) => value.parse::<i64>().is_ok_and(|v| v <= *n),
            Constraint::Range { min, max } => value.parse::<i64>().is_ok_and(|v| (*min..=*max).contains(&v)),
            Constraint::Regex(r) => r.compiled.is_match(value),
        }
    }
}

/// Whether `value` reads as a date or date and time: RFC 3339, ISO 8601 dates with an optional
/// time (`T` or a space between), or `MM/dd/yyyy` with an optional time.
fn is_date_time(value: &str) -> bool {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    const DATES: [&str; 2] = ["%Y-%m-%d", "%m/%d/%Y"];
    const DATE_TIMES: [&str; 8] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %I:%M%p",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %H:%M",
        "%m/%d/%Y %I:%M %p",
    ];
    DateTime::parse_from_rfc3339(value).is_ok()
        || DATES.iter().any(|f| NaiveDate::parse_from_str(value, f).is_ok())
        || DATE_TIMES.iter().any(|f| NaiveDateTime::parse_from_str(value, f).is_ok())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param { name: String, optional: bool, constraints: Vec<Constraint> },
    CatchAll { name: String },
}

impl Segment {
    /// Lower is more specific.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::Param { optional: false, constraints, .. } if !constraints.is_empty() => 1,
            Segment::Param { optional: false, .. } => 2,
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
                // Braces inside a constraint's arguments are doubled, as in ASP.NET (`regex(^\\d{{3}}$)`).
                if inner.replace("{{", "").replace("}}", "").contains(['{', '}']) {
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
                Segment::Param { name, optional, constraints } => match path.get(i) {
                    Some(value) => {
                        if value.is_empty() || constraints.iter().any(|c| !c.accepts(value)) {
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
                    Segment::Param { optional: o1, constraints: c1, .. },
                    Segment::Param { optional: o2, constraints: c2, .. },
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
            Segment::Param { name, optional, constraints } => {
                Some(RouteParameter { name, constraints, optional: *optional })
            }
            Segment::CatchAll { name } => Some(RouteParameter { name, constraints: &[], optional: true }),
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
    if outside_parentheses(body).any(|c| c == '=') {
        return Err(
            "default values (`{name=value}`) are not supported: use an optional parameter `{name?}` \
                    and choose the default in the function"
                .into(),
        );
    }
    let (name, constraints) = match body.split_once(':') {
        Some((name, rest)) => (name, parse_constraints(rest)?),
        None => (body, Vec::new()),
    };
    check_param_name(name)?;
    Ok(Segment::Param { name: name.to_string(), optional, constraints })
}

/// Parses `int:min(1)`: constraints separated by `:`, each with optional arguments in
/// parentheses. Arguments end at a `)` followed by `:` or the end, so they may hold `:` (a
/// regular expression); their braces are doubled in the template.
fn parse_constraints(text: &str) -> Result<Vec<Constraint>, String> {
    let mut constraints = Vec::new();
    let mut rest = text;
    loop {
        let end = match (rest.find('('), rest.find(':')) {
            (Some(open), colon) if colon.is_none_or(|c| open < c) => {
                let close = rest[open..]
                    .match_indices(')')
                    .map(|(i, _)| open + i)
                    .find(|&i| rest[i + 1..].is_empty() || rest[i + 1..].starts_with(':'));
                match close {
                    Some(i) => i + 1,
                    None => return Err(format!("constraint `{rest}` opens `(` without closing it")),
                }
            }
            (_, Some(colon)) => colon,
            (_, None) => rest.len(),
        };
        let one = &rest[..end];
        if one.is_empty() {
            return Err("empty constraint (`::` or a trailing `:`): remove it".into());
        }
        constraints.push(Constraint::parse(&one.replace("{{", "{").replace("}}", "}"))?);
        match rest[end..].strip_prefix(':') {
            Some(next) => rest = next,
            None => return Ok(constraints),
        }
    }
}

/// The characters of `text` not inside `(...)`: a `regex(...)` argument may hold anything.
fn outside_parentheses(text: &str) -> impl Iterator<Item = char> + '_ {
    let mut depth = 0usize;
    text.chars().filter(move |c| {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ => return depth == 0,
        }
        false
    })
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
            &t.segments[1],
            Segment::Param { constraints, optional: false, .. } if constraints == &[Constraint::Int]
        ));
        assert!(
            matches!(&t.segments[2], Segment::Param { optional: true, constraints, .. } if constraints.is_empty())
        );
        let c = RouteTemplate::parse("files/{*path}").unwrap();
        assert!(matches!(c.segments[1], Segment::CatchAll { .. }));
        assert!(RouteTemplate::parse("").unwrap().segments.is_empty());
    }

    #[test]
    fn parameters_come_in_route_order_with_their_constraints() {
        let t = RouteTemplate::parse("todos/{id:int}/notes/{note?}/{*rest}").unwrap();
        let names: Vec<(&str, &[Constraint], bool)> =
            t.parameters().map(|p| (p.name, p.constraints, p.optional)).collect();
        assert_eq!(
            names,
            [("id", &[Constraint::Int][..], false), ("note", &[][..], true), ("rest", &[][..], true)]
        );
        assert!(t.same_shape(&RouteTemplate::parse("TODOS/{x:int}/notes/{y?}/{*z}").unwrap()));
        assert!(!t.same_shape(&RouteTemplate::parse("todos/{x}/notes/{y?}/{*z}").unwrap()));
    }

    /// Whether `template` routes `value` (one segment).
    fn routes(template: &str, value: &str) -> bool {
        RouteTemplate::parse(template).unwrap().matches(&["x".to_string(), value.to_string()]).is_some()
    }

    #[test]
    fn every_constraint_accepts_and_refuses_as_aspnet_core_does() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("x/{v:int}", &["42", "-7"], &["4.2", "abc", "2147483648"]),
            ("x/{v:long}", &["2147483648"], &["1e3"]),
            ("x/{v:bool}", &["true", "FALSE"], &["yes", "1"]),
            ("x/{v:alpha}", &["Rick"], &["R2D2"]),
            ("x/{v:guid}", &["CD2C1638-1638-72D5-1638-DEADBEEF1638"], &["not-a-guid"]),
            ("x/{v:decimal}", &["49.99", "-1"], &["NaN", "abc"]),
            (
                "x/{v:datetime}",
                &[
                    "2016-12-31",
                    "2016-12-31T07:32:00Z",
                    "2016-12-31 7:32pm",
                    "2024-05-01T10:30",
                    "12/31/2016",
                ],
                &["2016-13-01", "yesterday", "31/12/2016"],
            ),
            ("x/{v:minlength(4)}", &["Rick", "Ricky"], &["Ric"]),
            ("x/{v:maxlength(8)}", &["MyFile"], &["MyLongFile"]),
            ("x/{v:length(12)}", &["somefile.txt"], &["short"]),
            ("x/{v:length(2,3)}", &["ab", "abc"], &["a", "abcd"]),
            ("x/{v:min(18)}", &["18", "19"], &["17", "abc"]),
            ("x/{v:max(120)}", &["91"], &["121"]),
            ("x/{v:range(18,120)}", &["18", "120"], &["17", "121"]),
            ("x/{v:regex(^\\d{{3}}-\\d{{4}}$)}", &["555-1234"], &["5551234", "55-1234"]),
            ("x/{v:regex(^[a-z]+$)}", &["ABC"], &["a1"]),
            ("x/{v:int:min(1)}", &["1"], &["0", "x"]),
            ("x/{v:regex(^a:b$):maxlength(3)}", &["a:b"], &["a:bb"]),
        ];
        for (template, accepted, refused) in cases {
            for v in *accepted {
                assert!(routes(template, v), "{template} should route {v:?}");
            }
            for v in *refused {
                assert!(!routes(template, v), "{template} should not route {v:?}");
            }
        }
    }

    #[test]
    fn bad_constraints_say_what_to_write() {
        for (template, says) in [
            ("x/{v:integer}", "unknown constraint `integer`: fnwire supports int, long"),
            ("x/{v:min}", "constraint `min` needs arguments, e.g. `min(1)`"),
            ("x/{v:min(one)}", "constraint `min(one)` needs a whole number, e.g. `min(1)`"),
            ("x/{v:range(5,1)}", "the minimum 5 is above the maximum 1"),
            ("x/{v:length(a)}", "needs a count or two"),
            ("x/{v:int(3)}", "constraint `int` takes no arguments"),
            ("x/{v:min(1}", "constraint `min(1` opens `(` without closing it"),
            ("x/{v:regex(a(b)}", "unclosed group"),
            ("x/{v:regex((?=a))}", "does not compile"),
            ("x/{v:int::min(1)}", "empty constraint"),
        ] {
            let e = RouteTemplate::parse(template).unwrap_err().to_string();
            assert!(e.contains(says), "{template}: {e}");
        }
        // A datetime constraint is one of the supported ones, with a regex's braces escaped.
        assert!(RouteTemplate::parse("orders/{d:datetime}/{code:regex(^[A-Z]{{2}}$)}").is_ok());
    }
}
