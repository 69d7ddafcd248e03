//! Parsers of the SQL filter and action grammars Service Bus documents, written with winnow.
//!
//! Precedence, loosest first: `OR`, `AND`, `NOT`, the comparisons (`=`, `<>`, `!=`, `<`, `<=`,
//! `>`, `>=`, `IS [NOT] NULL`, `[NOT] IN`, `[NOT] LIKE … [ESCAPE …]`, `EXISTS`), `+ -`,
//! `* / %`, unary `+ -`. Keywords are case-insensitive and reserved (a property with a
//! keyword's name is written in brackets: `[order]`).
//!
//! Only parentheses nest by recursion, and their depth is bounded, so no input can exhaust the
//! stack; chains of `NOT` and unary signs are read in a loop.

use winnow::ascii::{Caseless, digit1, multispace0};
use winnow::combinator::{alt, cut_err, delimited, eof, not, opt, preceded, repeat, separated, terminated};
use winnow::error::{ContextError, ErrMode, ModalResult, StrContext, StrContextValue};
use winnow::prelude::*;
use winnow::token::{literal, none_of, one_of, take_while};

use super::ast::{Arith, Compare, Expr, Predicate, Property, Statement};
use crate::{SystemProperties, Value};

/// Service Bus refuses filter and action texts longer than this.
pub const MAX_EXPRESSION_LEN: usize = 1024;
/// Parentheses nested deeper than this are refused.
pub const MAX_NESTING: usize = 32;

/// A filter or action text that is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} `{text}` is not valid at character {position} ({near}): {expected}")]
pub struct SyntaxError {
    /// `SQL filter` or `SQL action`.
    pub what: &'static str,
    pub text: String,
    /// 1-based character position of the problem.
    pub position: usize,
    /// What stands there, or "at the end".
    pub near: String,
    /// What was expected, in words.
    pub expected: String,
}

type In<'i> = &'i str;

fn ws(i: &mut In<'_>) -> ModalResult<()> {
    multispace0.void().parse_next(i)
}

fn expected(what: &'static str) -> StrContext {
    StrContext::Expected(StrContextValue::Description(what))
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

const KEYWORDS: &[&str] =
    &["AND", "OR", "NOT", "IS", "NULL", "IN", "LIKE", "ESCAPE", "EXISTS", "TRUE", "FALSE", "SET", "REMOVE"];

/// A keyword, case-insensitive, not followed by an identifier character.
fn kw<'i>(word: &'static str) -> impl Parser<In<'i>, (), ErrMode<ContextError>> {
    preceded(ws, terminated(literal(Caseless(word)), not(one_of(is_ident_char))))
        .void()
        .context(StrContext::Expected(StrContextValue::StringLiteral(word)))
}

fn sym<'i>(s: &'static str) -> impl Parser<In<'i>, (), ErrMode<ContextError>> {
    preceded(ws, literal(s)).void().context(StrContext::Expected(StrContextValue::StringLiteral(s)))
}

fn plain_identifier(i: &mut In<'_>) -> ModalResult<String> {
    let start = i.checkpoint();
    let word = (one_of(|c: char| c.is_ascii_alphabetic() || c == '_'), take_while(0.., is_ident_char))
        .take()
        .parse_next(i)?;
    if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word)) {
        use winnow::stream::Stream;
        i.reset(&start);
        return Err(ErrMode::Backtrack(ContextError::new()));
    }
    Ok(word.to_string())
}

/// `[any text]`, with `]]` standing for `]`.
fn bracketed_identifier(i: &mut In<'_>) -> ModalResult<String> {
    let parts: Vec<char> = preceded(
        '[',
        cut_err(terminated(
            repeat(0.., alt((literal("]]").value(']'), none_of(']')))),
            ']'.context(StrContext::Expected(StrContextValue::CharLiteral(']'))),
        )),
    )
    .parse_next(i)?;
    Ok(parts.into_iter().collect())
}

fn identifier(i: &mut In<'_>) -> ModalResult<String> {
    preceded(ws, alt((bracketed_identifier, plain_identifier)))
        .context(expected("a property name"))
        .parse_next(i)
}

fn property(i: &mut In<'_>) -> ModalResult<Property> {
    use winnow::stream::Stream;
    ws.parse_next(i)?;
    let start = i.checkpoint();
    let first = identifier.parse_next(i)?;
    let scoped = opt(preceded(
        '.',
        cut_err(
            alt((bracketed_identifier, plain_identifier))
                .context(expected("a property name after the scope")),
        ),
    ))
    .parse_next(i)?;
    match scoped {
        None => Ok(Property::User(first)),
        Some(name) if first.eq_ignore_ascii_case("user") => Ok(Property::User(name)),
        Some(name) if first.eq_ignore_ascii_case("sys") => {
            if SystemProperties::is_known(&name) {
                Ok(Property::System(name))
            } else {
                i.reset(&start);
                Err(ErrMode::Cut(ContextError::new().add_context_value(expected(
                    "a system property filters can read (sys.MessageId, sys.CorrelationId, sys.ContentType, sys.Label, sys.To, sys.ReplyTo, sys.ReplyToSessionId, sys.SessionId, sys.PartitionKey)",
                ))))
            }
        }
        Some(_) => {
            i.reset(&start);
            Err(ErrMode::Cut(
                ContextError::new().add_context_value(expected("the scope `sys` or `user` before the dot")),
            ))
        }
    }
}

trait AddContext {
    fn add_context_value(self, c: StrContext) -> Self;
}

impl AddContext for ContextError {
    fn add_context_value(mut self, c: StrContext) -> Self {
        self.push(c);
        self
    }
}

/// `'text'` with `''` standing for `'`.
fn string_literal(i: &mut In<'_>) -> ModalResult<String> {
    let parts: Vec<char> = preceded(
        (ws, '\''),
        cut_err(terminated(
            repeat(0.., alt((literal("''").value('\''), none_of('\'')))),
            '\''.context(expected("the closing quote of the string")),
        )),
    )
    .parse_next(i)?;
    Ok(parts.into_iter().collect())
}

fn number(i: &mut In<'_>) -> ModalResult<Value> {
    let text = preceded(
        ws,
        (
            alt((
                (digit1, opt(('.', take_while(0.., |c: char| c.is_ascii_digit())))).void(),
                ('.', digit1).void(),
            )),
            opt((
                one_of(['e', 'E']),
                opt(one_of(['+', '-'])),
                cut_err(digit1.context(expected("the exponent's digits"))),
            )),
        )
            .take(),
    )
    .parse_next(i)?;
    if !text.contains(['.', 'e', 'E']) {
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Value::Long(n));
        }
    }
    text.parse::<f64>()
        .map(Value::Double)
        .map_err(|_| ErrMode::Cut(ContextError::new().add_context_value(expected("a number that fits"))))
}

fn constant(i: &mut In<'_>) -> ModalResult<Value> {
    alt((
        string_literal.map(Value::Str),
        number,
        kw("TRUE").value(Value::Bool(true)),
        kw("FALSE").value(Value::Bool(false)),
        kw("NULL").value(Value::Null),
    ))
    .parse_next(i)
}

/// Parenthesised parsers count their depth in a thread-local: winnow's `&str` stream carries
/// no state, and the bound must hold for every path into a nested parenthesis.
mod depth {
    use std::cell::Cell;
    thread_local!(static DEPTH: Cell<usize> = const { Cell::new(0) });

    pub(super) struct Guard;

    impl Guard {
        pub(super) fn enter() -> Option<Guard> {
            DEPTH.with(|d| {
                if d.get() >= super::MAX_NESTING {
                    None
                } else {
                    d.set(d.get() + 1);
                    Some(Guard)
                }
            })
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
        }
    }

    pub(super) fn reset() {
        DEPTH.with(|d| d.set(0));
    }
}

fn too_deep() -> ErrMode<ContextError> {
    ErrMode::Cut(ContextError::new().add_context_value(expected("at most 32 nested parentheses")))
}

fn function_call(i: &mut In<'_>) -> ModalResult<Expr> {
    alt((
        (kw_ident("newid"), sym("("), cut_err(sym(")"))).value(Expr::NewId),
        preceded((kw_ident("property"), sym("(")), cut_err(terminated(expression, sym(")"))))
            .map(|e| Expr::PropertyOf(Box::new(e))),
    ))
    .parse_next(i)
}

/// A function name: case-insensitive, followed by `(` (so a property may share its name).
fn kw_ident<'i>(name: &'static str) -> impl Parser<In<'i>, (), ErrMode<ContextError>> {
    preceded(ws, terminated(literal(Caseless(name)), (ws, winnow::combinator::peek('(')))).void()
}

fn primary(i: &mut In<'_>) -> ModalResult<Expr> {
    // Only a plain miss says "expected a value"; a cut from inside (an unclosed string) keeps
    // its own, more precise, expectation.
    let parsed =
        alt((constant.map(Expr::Constant), function_call, property.map(Expr::Property), |i: &mut In<'_>| {
            sym("(").parse_next(i)?;
            let _guard = depth::Guard::enter().ok_or_else(too_deep)?;
            cut_err(terminated(expression, sym(")"))).parse_next(i)
        }))
        .parse_next(i);
    match parsed {
        Err(ErrMode::Backtrack(_)) => Err(ErrMode::Backtrack(
            ContextError::new()
                .add_context_value(expected("a value, a property or a parenthesised expression")),
        )),
        other => other,
    }
}

fn unary(i: &mut In<'_>) -> ModalResult<Expr> {
    let signs: Vec<char> = repeat(0.., preceded(ws, one_of(['+', '-']))).parse_next(i)?;
    let mut e = primary.parse_next(i)?;
    for sign in signs.into_iter().rev() {
        if sign == '-' {
            e = Expr::Negate(Box::new(e));
        }
    }
    Ok(e)
}

fn fold_arith(first: Expr, rest: Vec<(Arith, Expr)>) -> Expr {
    rest.into_iter().fold(first, |l, (op, r)| Expr::Arith(op, Box::new(l), Box::new(r)))
}

fn term(i: &mut In<'_>) -> ModalResult<Expr> {
    let first = unary.parse_next(i)?;
    let rest: Vec<(Arith, Expr)> = repeat(
        0..,
        (
            preceded(ws, alt(('*'.value(Arith::Mul), '/'.value(Arith::Div), '%'.value(Arith::Rem)))),
            cut_err(unary),
        ),
    )
    .parse_next(i)?;
    Ok(fold_arith(first, rest))
}

fn expression(i: &mut In<'_>) -> ModalResult<Expr> {
    let first = term.parse_next(i)?;
    let rest: Vec<(Arith, Expr)> =
        repeat(0.., (preceded(ws, alt(('+'.value(Arith::Add), '-'.value(Arith::Sub)))), cut_err(term)))
            .parse_next(i)?;
    Ok(fold_arith(first, rest))
}

fn compare_op(i: &mut In<'_>) -> ModalResult<Compare> {
    preceded(
        ws,
        alt((
            literal("<>").value(Compare::Ne),
            literal("!=").value(Compare::Ne),
            literal("<=").value(Compare::Le),
            literal(">=").value(Compare::Ge),
            literal("=").value(Compare::Eq),
            literal("<").value(Compare::Lt),
            literal(">").value(Compare::Gt),
        )),
    )
    .parse_next(i)
}

/// What may follow the left expression of a comparison-level predicate.
fn comparison(i: &mut In<'_>) -> ModalResult<Predicate> {
    let left = expression.parse_next(i)?;
    if let Some(op) = opt(compare_op).parse_next(i)? {
        let right = cut_err(expression).parse_next(i)?;
        return Ok(Predicate::Compare(op, left, right));
    }
    if opt(kw("IS")).parse_next(i)?.is_some() {
        let negated = opt(kw("NOT")).parse_next(i)?.is_some();
        cut_err(kw("NULL")).parse_next(i)?;
        let Expr::Property(property) = left else {
            return Err(ErrMode::Cut(
                ContextError::new().add_context_value(expected("a property before IS [NOT] NULL")),
            ));
        };
        return Ok(Predicate::IsNull { property, negated });
    }
    let negated = opt(kw("NOT")).parse_next(i)?.is_some();
    if opt(kw("IN")).parse_next(i)?.is_some() {
        let list: Vec<Expr> =
            cut_err(delimited(sym("("), separated(1.., expression, sym(",")), sym(")"))).parse_next(i)?;
        return Ok(Predicate::In { expr: left, list, negated });
    }
    if opt(kw("LIKE")).parse_next(i)?.is_some() {
        let pattern = cut_err(string_literal.context(expected("a quoted LIKE pattern"))).parse_next(i)?;
        let escape = opt(preceded(
            kw("ESCAPE"),
            cut_err(string_literal.context(expected("a quoted escape character"))),
        ))
        .parse_next(i)?;
        let escape = match escape {
            None => None,
            Some(e) if e.chars().count() == 1 => e.chars().next(),
            Some(_) => {
                return Err(ErrMode::Cut(
                    ContextError::new().add_context_value(expected("an ESCAPE of exactly one character")),
                ));
            }
        };
        return Ok(Predicate::Like { expr: left, pattern, escape, negated });
    }
    let what = if negated { "IN or LIKE after NOT" } else { "a comparison (=, <>, <, >, IS NULL, IN, LIKE)" };
    Err(ErrMode::Cut(ContextError::new().add_context_value(expected(what))))
}

fn atom(i: &mut In<'_>) -> ModalResult<Predicate> {
    alt((
        preceded(kw("EXISTS"), cut_err(delimited(sym("("), property, sym(")")))).map(Predicate::Exists),
        // A parenthesis opens either a predicate or an expression (`(a + 1) > 2`): try the
        // predicate first and fall back to a comparison that starts with one.
        |i: &mut In<'_>| {
            use winnow::stream::Stream;
            let start = i.checkpoint();
            sym("(").parse_next(i)?;
            let guard = depth::Guard::enter().ok_or_else(too_deep)?;
            let inner = predicate.parse_next(i);
            if inner.is_ok() {
                // A whole predicate in parentheses must be closed: `(a = 1` cannot be anything else.
                cut_err(sym(")")).parse_next(i)?;
            }
            drop(guard);
            match inner {
                Ok(p) if !followed_by_operator(i) => Ok(p),
                Ok(_) | Err(ErrMode::Backtrack(_)) => {
                    i.reset(&start);
                    Err(ErrMode::Backtrack(ContextError::new()))
                }
                Err(e) => {
                    // A parenthesised expression can fail as a predicate with a cut; try it as one.
                    i.reset(&start);
                    match comparison.parse_next(i) {
                        Ok(p) => Ok(p),
                        Err(_) => Err(e),
                    }
                }
            }
        },
        comparison,
    ))
    .parse_next(i)
}

/// Whether an arithmetic or comparison operator follows: then a parenthesis was an expression.
fn followed_by_operator(i: &In<'_>) -> bool {
    let rest = i.trim_start();
    rest.starts_with(['=', '<', '>', '!', '+', '-', '*', '/', '%'])
        || ["IS", "IN", "LIKE", "NOT"].iter().any(|k| {
            // `get`, not slicing: the text after the parenthesis may start with a multi-byte
            // character, and a keyword's length may end inside it.
            rest.get(..k.len()).is_some_and(|head| head.eq_ignore_ascii_case(k))
                && !rest[k.len()..].starts_with(is_ident_char)
        })
}

fn negation(i: &mut In<'_>) -> ModalResult<Predicate> {
    let nots: Vec<()> = repeat(0.., kw("NOT")).parse_next(i)?;
    let mut p = if nots.is_empty() { atom.parse_next(i)? } else { cut_err(atom).parse_next(i)? };
    for _ in nots {
        p = Predicate::Not(Box::new(p));
    }
    Ok(p)
}

fn conjunction(i: &mut In<'_>) -> ModalResult<Predicate> {
    let first = negation.parse_next(i)?;
    let rest: Vec<Predicate> = repeat(0.., preceded(kw("AND"), cut_err(negation))).parse_next(i)?;
    Ok(rest.into_iter().fold(first, |l, r| Predicate::And(Box::new(l), Box::new(r))))
}

fn predicate(i: &mut In<'_>) -> ModalResult<Predicate> {
    let first = conjunction.parse_next(i)?;
    let rest: Vec<Predicate> = repeat(0.., preceded(kw("OR"), cut_err(conjunction))).parse_next(i)?;
    Ok(rest.into_iter().fold(first, |l, r| Predicate::Or(Box::new(l), Box::new(r))))
}

fn statement(i: &mut In<'_>) -> ModalResult<Statement> {
    alt((
        preceded(kw("SET"), cut_err((property, sym("="), expression))).map(|(p, (), e)| Statement::Set(p, e)),
        preceded(kw("REMOVE"), cut_err(property)).map(Statement::Remove),
    ))
    .context(expected("SET <property> = <expression> or REMOVE <property>"))
    .parse_next(i)
}

fn statements(i: &mut In<'_>) -> ModalResult<Vec<Statement>> {
    let list: Vec<Statement> = separated(1.., statement, sym(";")).parse_next(i)?;
    opt(sym(";")).parse_next(i)?;
    Ok(list)
}

fn run<'i, O>(
    what: &'static str,
    text: &'i str,
    mut parser: impl Parser<In<'i>, O, ErrMode<ContextError>>,
) -> Result<O, SyntaxError> {
    let fail = |offset: usize, expected: String| {
        // Point at what stands there, not at the blanks before it; an offset inside a multi-byte
        // character (the length limit's) moves back to where that character starts.
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let offset = offset + (text[offset..].len() - text[offset..].trim_start().len());
        let position = text[..offset.min(text.len())].chars().count() + 1;
        let rest = &text[offset.min(text.len())..];
        let near = match rest.chars().next() {
            None => "at the end".to_string(),
            Some(_) => format!("at `{}`", rest.chars().take(12).collect::<String>()),
        };
        SyntaxError { what, text: text.to_string(), position, near, expected }
    };
    if text.len() > MAX_EXPRESSION_LEN {
        return Err(fail(MAX_EXPRESSION_LEN, format!("at most {MAX_EXPRESSION_LEN} characters")));
    }
    depth::reset();
    let result =
        terminated(|i: &mut In<'i>| parser.parse_next(i), (ws, eof.context(expected("the end of the text"))))
            .parse(text);
    result.map_err(|e| {
        let inner = e.inner();
        let expected: Vec<String> = inner
            .context()
            .filter_map(|c| match c {
                StrContext::Expected(v) => Some(v.to_string()),
                _ => None,
            })
            .collect();
        let expected = if expected.is_empty() {
            "something else".to_string()
        } else {
            let mut unique: Vec<String> = Vec::new();
            for e in expected {
                if !unique.contains(&e) {
                    unique.push(e);
                }
            }
            format!("expected {}", unique.join(" or "))
        };
        fail(e.offset(), expected)
    })
}

/// Parses a SQL filter expression.
pub fn parse_filter(text: &str) -> Result<Predicate, SyntaxError> {
    run("SQL filter", text, predicate)
}

/// Parses a SQL rule action (`SET p = expr; REMOVE q`).
pub fn parse_action(text: &str) -> Result<Vec<Statement>, SyntaxError> {
    run("SQL action", text, statements)
}

/// Parses one constant (used for correlation-filter values written on a command line).
pub fn parse_constant(text: &str) -> Result<Value, SyntaxError> {
    run("constant", text, constant)
}
