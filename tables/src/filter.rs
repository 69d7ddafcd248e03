//! The OData `$filter` subset Azure Tables apps use, parsed with `winnow` and evaluated
//! against [`Entity`]s.
//!
//! Grammar (operators and keywords in any letter case; whitespace between tokens):
//! ```text
//! filter     := or EOF
//! or         := and ("or" and)*
//! and        := unary ("and" unary)*
//! unary      := "not" unary | "(" or ")" | comparison
//! comparison := operand (("eq"|"ne"|"gt"|"ge"|"lt"|"le") operand)?   -- alone: a boolean
//! operand    := 'text' ('' is a quote) | datetime'…' | guid'…' | X'hex' | binary'hex'
//!             | true | false | 12 | 12L | 1.5 | 1e3 | PropertyName
//! ```
//! A comparison holds when both sides have values of comparable types and the values
//! compare so: a property the entity lacks, or a value of another type, makes it false, as in
//! Azure Tables. Numbers compare by value whatever their width (`Count gt 5` matches a
//! `Count` stored as `Edm.Int64`), where the service would want `5L`: a function output's
//! integers are stored as `Edm.Int64`, and a filter written for them should find them.

use std::cmp::Ordering;

use base64::Engine as _;
use winnow::ascii::{digit1, multispace0};
use winnow::combinator::{cut_err, fail, opt};
use winnow::error::{ContextError, ModalResult, StrContext, StrContextValue};
use winnow::prelude::*;
use winnow::token::take_while;

use crate::entity::{EdmValue, Entity, parse_datetime};

/// How deeply parentheses and `not` may nest: deeper filters are refused rather than
/// parsed by ever deeper recursion.
pub const MAX_DEPTH: usize = 64;
/// The longest filter accepted, in bytes (Azure's URL limit is of the same order).
pub const MAX_FILTER_BYTES: usize = 32 * 1024;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Property(String),
    Literal(EdmValue),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare(Operand, CompareOp, Operand),
    /// An operand used alone: a boolean property or literal.
    Truthy(Operand),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

/// A filter that does not parse: where, what was there, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter `{filter}` does not parse at character {position} ({found}): expected {expected}")]
pub struct FilterError {
    pub filter: String,
    /// 1-based, in characters.
    pub position: usize,
    /// What stands at that position (`at \`…\``, or `at the end`).
    pub found: String,
    pub expected: String,
}

impl Filter {
    /// Parses a filter (see the module comment for the grammar).
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        if text.len() > MAX_FILTER_BYTES {
            return Err(FilterError {
                filter: shorten(text, 60),
                position: MAX_FILTER_BYTES,
                found: "past the limit".into(),
                expected: format!("a filter of at most {MAX_FILTER_BYTES} bytes"),
            });
        }
        let mut whole = |input: &mut &str| -> ModalResult<Filter> {
            let filter = or_expr(input, 0)?;
            multispace0.parse_next(input)?;
            if !input.is_empty() {
                return expected(input, "`and`, `or`, `)` or the end of the filter");
            }
            Ok(filter)
        };
        whole.parse(text).map_err(|e| {
            let offset = e.offset().min(text.len());
            let rest = &text[offset..];
            FilterError {
                filter: shorten(text, 200),
                position: text[..offset].chars().count() + 1,
                found: if rest.is_empty() {
                    "at the end".into()
                } else {
                    format!("at `{}`", shorten(rest, 24))
                },
                expected: describe_expected(e.inner()),
            }
        })
    }

    /// Whether `entity` passes the filter.
    pub fn matches(&self, entity: &Entity) -> bool {
        match self {
            Filter::Compare(left, op, right) => {
                let (Some(left), Some(right)) = (value_of(left, entity), value_of(right, entity)) else {
                    return false;
                };
                compare(&left, &right).is_some_and(|ordering| match op {
                    CompareOp::Eq => ordering == Ordering::Equal,
                    CompareOp::Ne => ordering != Ordering::Equal,
                    CompareOp::Gt => ordering == Ordering::Greater,
                    CompareOp::Ge => ordering != Ordering::Less,
                    CompareOp::Lt => ordering == Ordering::Less,
                    CompareOp::Le => ordering != Ordering::Greater,
                })
            }
            Filter::Truthy(operand) => matches!(value_of(operand, entity), Some(EdmValue::Boolean(true))),
            Filter::And(a, b) => a.matches(entity) && b.matches(entity),
            Filter::Or(a, b) => a.matches(entity) || b.matches(entity),
            Filter::Not(a) => !a.matches(entity),
        }
    }

    /// `PartitionKey eq '<value>'`.
    pub fn partition_key_is(value: &str) -> Filter {
        Filter::Compare(
            Operand::Property("PartitionKey".into()),
            CompareOp::Eq,
            Operand::Literal(EdmValue::String(value.into())),
        )
    }

    /// Both filters.
    pub fn and(self, other: Filter) -> Filter {
        Filter::And(Box::new(self), Box::new(other))
    }

    /// The partition every matching entity must be in, when the filter says so at its top
    /// level (`PartitionKey eq '…' and …`): stores read only that partition.
    pub fn required_partition_key(&self) -> Option<&str> {
        match self {
            Filter::Compare(Operand::Property(p), CompareOp::Eq, Operand::Literal(EdmValue::String(v)))
            | Filter::Compare(Operand::Literal(EdmValue::String(v)), CompareOp::Eq, Operand::Property(p))
                if p == "PartitionKey" =>
            {
                Some(v)
            }
            Filter::And(a, b) => a.required_partition_key().or_else(|| b.required_partition_key()),
            _ => None,
        }
    }
}

/// What to do about a filter that does not parse, for messages that show a [`FilterError`].
pub const FILTER_HELP: &str = "write it in the OData subset fnwire reads: comparisons with eq, ne, gt, ge, lt, le \
     (`Total gt 10`, `Name eq 'Ada'`), joined with and, or, not and parentheses; quote text with ' and double a \
     quote inside it ('')";

/// Checks a binding's `filter`, which may hold binding expressions (`{id}`), before any
/// invocation resolves them.
///
/// An expression inside a quoted string (`RowKey eq '{id}'`) only ever becomes text inside
/// that string, so it is replaced by placeholder letters of the same length (error positions
/// stay those of the filter as written) and the filter is parsed. An expression outside quotes
/// can stand for any part of the filter (a number, a clause, or all of it), so such a filter
/// cannot be judged until its values are known: it is accepted here and parsed at invocation.
/// Unbalanced braces are left to the binding-expression checks.
pub fn check_filter_template(text: &str) -> Result<(), FilterError> {
    let mut checked = String::with_capacity(text.len());
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_quotes = !in_quotes;
                checked.push(c);
            }
            '{' => {
                let mut expression = String::from('{');
                let mut closed = false;
                for next in chars.by_ref() {
                    expression.push(next);
                    if next == '}' {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    checked.push_str(&expression);
                    continue;
                }
                if !in_quotes {
                    return Ok(());
                }
                checked.extend(std::iter::repeat_n('x', expression.chars().count()));
            }
            other => checked.push(other),
        }
    }
    Filter::parse(&checked).map(drop).map_err(|mut error| {
        // Shown as written, with the user's own text at the position, not the placeholders.
        error.filter = shorten(text, 200);
        let rest: String = text.chars().skip(error.position.saturating_sub(1)).collect();
        if !rest.is_empty() {
            error.found = format!("at `{}`", shorten(&rest, 24));
        }
        error
    })
}

fn value_of(operand: &Operand, entity: &Entity) -> Option<EdmValue> {
    match operand {
        Operand::Property(name) => entity.property(name),
        Operand::Literal(value) => Some(value.clone()),
    }
}

/// The order of two values, when they can be compared at all.
fn compare(a: &EdmValue, b: &EdmValue) -> Option<Ordering> {
    use EdmValue::*;
    let whole = |v: &EdmValue| match v {
        Int32(i) => Some(i64::from(*i)),
        Int64(i) => Some(*i),
        _ => None,
    };
    match (a, b) {
        (String(a), String(b)) => Some(a.cmp(b)),
        (Boolean(a), Boolean(b)) => Some(a.cmp(b)),
        (DateTime(a), DateTime(b)) => Some(a.cmp(b)),
        (Guid(a), Guid(b)) => Some(a.cmp(b)),
        (Binary(a), Binary(b)) => Some(a.cmp(b)),
        (Int32(_) | Int64(_), Int32(_) | Int64(_)) => Some(whole(a)?.cmp(&whole(b)?)),
        (Int32(_) | Int64(_) | Double(_), Int32(_) | Int64(_) | Double(_)) => {
            let float = |v: &EdmValue| match v {
                Double(d) => *d,
                other => whole(other).unwrap_or_default() as f64,
            };
            float(a).partial_cmp(&float(b))
        }
        _ => None,
    }
}

// ---- parsing ----

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() > max {
        format!("{}…", text.chars().take(max).collect::<String>())
    } else {
        text.into()
    }
}

fn describe_expected(error: &ContextError) -> String {
    let mut wanted: Vec<String> = Vec::new();
    for context in error.context() {
        let text = match context {
            StrContext::Expected(StrContextValue::Description(d)) => (*d).to_string(),
            StrContext::Expected(StrContextValue::StringLiteral(s)) => format!("`{s}`"),
            StrContext::Expected(StrContextValue::CharLiteral(c)) => format!("`{c}`"),
            StrContext::Label(l) => (*l).to_string(),
            _ => continue,
        };
        if !wanted.contains(&text) {
            wanted.push(text);
        }
    }
    if wanted.is_empty() { "a comparison such as `Name eq 'value'`".into() } else { wanted.join(", or ") }
}

/// Fails here (not backtracking) with what was expected.
fn expected<O>(input: &mut &str, what: &'static str) -> ModalResult<O> {
    cut_err(fail).context(StrContext::Expected(StrContextValue::Description(what))).parse_next(input)
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A keyword (any letter case) followed by something that cannot continue a name; on no
/// match nothing is consumed.
fn keyword(input: &mut &str, word: &str) -> bool {
    let start = *input;
    let _ = multispace0::<_, ContextError>.parse_next(input);
    let n = word.len();
    if input.len() >= n
        && input.is_char_boundary(n)
        && input[..n].eq_ignore_ascii_case(word)
        && !input[n..].chars().next().is_some_and(is_word_char)
    {
        *input = &input[n..];
        true
    } else {
        *input = start;
        false
    }
}

fn or_expr(input: &mut &str, depth: usize) -> ModalResult<Filter> {
    let mut left = and_expr(input, depth)?;
    while keyword(input, "or") {
        let right = and_expr(input, depth)?;
        left = Filter::Or(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn and_expr(input: &mut &str, depth: usize) -> ModalResult<Filter> {
    let mut left = unary(input, depth)?;
    while keyword(input, "and") {
        let right = unary(input, depth)?;
        left = Filter::And(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn unary(input: &mut &str, depth: usize) -> ModalResult<Filter> {
    if depth >= MAX_DEPTH {
        return expected(input, "fewer nested parentheses and `not`s (at most 64)");
    }
    multispace0.parse_next(input)?;
    if keyword(input, "not") {
        return Ok(Filter::Not(Box::new(unary(input, depth + 1)?)));
    }
    if opt('(').parse_next(input)?.is_some() {
        let inner = or_expr(input, depth + 1)?;
        multispace0.parse_next(input)?;
        cut_err(')')
            .context(StrContext::Expected(StrContextValue::Description("`)`, `and` or `or`")))
            .parse_next(input)?;
        return Ok(inner);
    }
    comparison(input)
}

fn comparison(input: &mut &str) -> ModalResult<Filter> {
    let left = operand(input)?;
    let before_operator = *input;
    multispace0.parse_next(input)?;
    let word: &str = take_while(0.., is_word_char).parse_next(input)?;
    let op = match word.to_ascii_lowercase().as_str() {
        "eq" => CompareOp::Eq,
        "ne" => CompareOp::Ne,
        "gt" => CompareOp::Gt,
        "ge" => CompareOp::Ge,
        "lt" => CompareOp::Lt,
        "le" => CompareOp::Le,
        _ => {
            // Not an operator: the operand stands alone (a boolean), and what follows is for
            // the caller (`and`, `or`, `)` or the end).
            *input = before_operator;
            if let Operand::Literal(ref value) = left
                && !matches!(value, EdmValue::Boolean(_))
            {
                multispace0.parse_next(input)?;
                return expected(input, "a comparison operator (`eq`, `ne`, `gt`, `ge`, `lt`, `le`)");
            }
            if !word.is_empty() && !["and", "or"].contains(&word.to_ascii_lowercase().as_str()) {
                multispace0.parse_next(input)?;
                return expected(
                    input,
                    "a comparison operator (`eq`, `ne`, `gt`, `ge`, `lt`, `le`), `and` or `or`",
                );
            }
            return Ok(Filter::Truthy(left));
        }
    };
    let right = operand(input)?;
    Ok(Filter::Compare(left, op, right))
}

fn operand(input: &mut &str) -> ModalResult<Operand> {
    multispace0.parse_next(input)?;
    let Some(first) = input.chars().next() else {
        return expected(input, "a property name or a value");
    };
    if first == '\'' {
        return Ok(Operand::Literal(EdmValue::String(quoted(input)?)));
    }
    if first == '-' || first.is_ascii_digit() {
        return number(input).map(Operand::Literal);
    }
    if !(first.is_ascii_alphabetic() || first == '_') {
        return expected(
            input,
            "a property name or a value ('text', a number, true, false, datetime'…', guid'…')",
        );
    }
    let start = *input;
    let word: &str = take_while(1.., is_word_char).parse_next(input)?;
    if input.starts_with('\'') {
        let prefix = word.to_ascii_lowercase();
        let text_start = *input;
        let text = quoted(input)?;
        let typed = match prefix.as_str() {
            "datetime" | "datetimeoffset" => parse_datetime(&text).map(EdmValue::DateTime),
            "guid" => uuid::Uuid::parse_str(&text).ok().map(EdmValue::Guid),
            "x" | "binary" => hex(&text).map(EdmValue::Binary),
            "base64" => base64::engine::general_purpose::STANDARD.decode(&text).ok().map(EdmValue::Binary),
            _ => {
                *input = start;
                return expected(input, "a typed value: datetime'…', guid'…', X'…' or binary'…'");
            }
        };
        return match typed {
            Some(value) => Ok(Operand::Literal(value)),
            None => {
                *input = text_start;
                expected(
                    input,
                    match prefix.as_str() {
                        "datetime" | "datetimeoffset" => {
                            "an ISO 8601 date such as datetime'2024-05-01T12:00:00Z'"
                        }
                        "guid" => "a GUID such as guid'c9da6455-213d-42c9-9a79-3e9149a57833'",
                        "base64" => "base64 text",
                        _ => "hexadecimal digits, two per byte",
                    },
                )
            }
        };
    }
    Ok(match word.to_ascii_lowercase().as_str() {
        "true" => Operand::Literal(EdmValue::Boolean(true)),
        "false" => Operand::Literal(EdmValue::Boolean(false)),
        "and" | "or" | "not" | "eq" | "ne" | "gt" | "ge" | "lt" | "le" => {
            *input = start;
            return expected(input, "a property name or a value");
        }
        _ => Operand::Property(word.to_string()),
    })
}

/// `'…'` with `''` standing for one quote.
fn quoted(input: &mut &str) -> ModalResult<String> {
    let start = *input;
    '\''.parse_next(input)?;
    let mut text = String::new();
    loop {
        match input.find('\'') {
            None => {
                *input = start;
                return expected(input, "a closing `'` for this text (write '' for a quote inside it)");
            }
            Some(i) => {
                text.push_str(&input[..i]);
                *input = &input[i + 1..];
                if input.starts_with('\'') {
                    text.push('\'');
                    *input = &input[1..];
                } else {
                    return Ok(text);
                }
            }
        }
    }
}

fn number(input: &mut &str) -> ModalResult<EdmValue> {
    let start = *input;
    let negative = opt('-').parse_next(input)?.is_some();
    let whole: &str = cut_err(digit1)
        .context(StrContext::Expected(StrContextValue::Description("digits")))
        .parse_next(input)?;
    let fraction: Option<&str> = opt(('.', digit1).take()).parse_next(input)?;
    let exponent: Option<&str> =
        opt((winnow::token::one_of(['e', 'E']), opt(winnow::token::one_of(['+', '-'])), digit1).take())
            .parse_next(input)?;
    let suffix = opt(winnow::token::one_of(['L', 'l', 'D', 'd', 'F', 'f', 'M', 'm'])).parse_next(input)?;
    if input.chars().next().is_some_and(is_word_char) {
        *input = start;
        return expected(input, "a number (12, 12L, 1.5, 1e3)");
    }
    let text = format!(
        "{}{whole}{}{}",
        if negative { "-" } else { "" },
        fraction.unwrap_or(""),
        exponent.unwrap_or("")
    );
    let is_float =
        fraction.is_some() || exponent.is_some() || matches!(suffix, Some('D' | 'd' | 'F' | 'f' | 'M' | 'm'));
    let value = if is_float {
        text.parse().ok().map(EdmValue::Double)
    } else if matches!(suffix, Some('L' | 'l')) {
        text.parse().ok().map(EdmValue::Int64)
    } else {
        text.parse::<i32>()
            .ok()
            .map(EdmValue::Int32)
            .or_else(|| text.parse::<i64>().ok().map(EdmValue::Int64))
    };
    match value {
        Some(value) => Ok(value),
        None => {
            *input = start;
            expected(input, "a number within 64 bits")
        }
    }
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod template_tests {
    use super::*;

    #[test]
    fn filters_with_expressions_are_checked_where_the_expressions_are_text() {
        for accepted in [
            "Total gt 10",
            "RowKey eq '{id}' and Total gt 10",
            "Name eq 'it''s {name}'",
            // Outside quotes an expression may be a number, a clause or the whole filter.
            "Total gt {min}",
            "{query.filter}",
            "Total gt {min} and and",
        ] {
            assert_eq!(check_filter_template(accepted), Ok(()), "{accepted}");
        }
        let error = check_filter_template("RowKey eq '{id}' and and Total gt 1").unwrap_err();
        assert_eq!(error.position, 22, "{error}");
        assert_eq!(error.filter, "RowKey eq '{id}' and and Total gt 1");
        assert!(error.found.starts_with("at `and Total"), "{error}");
        let error = check_filter_template("Total gt").unwrap_err();
        assert_eq!((error.position, error.found.as_str()), (9, "at the end"), "{error}");
        let error = check_filter_template("Name eq '{name}").unwrap_err();
        assert!(error.to_string().contains("'{name}"), "the filter is shown as written: {error}");
    }
}
