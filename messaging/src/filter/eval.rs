//! Evaluation with Service Bus's rules: a property the message does not have is *unknown*, and
//! unknown spreads through arithmetic and comparisons; `AND`, `OR` and `NOT` follow SQL's
//! three-valued logic; a rule matches only when its filter is TRUE.
//!
//! Types: a 64-bit integer meets a double as a double; strings compare ordinally; booleans
//! compare for (in)equality only; any other pair of types (a string against a number, a
//! property set to null) is unknown, so `NOT (n = 'x')` does not match a number either.

use std::cmp::Ordering;

use super::ast::{Arith, Compare, Expr, Predicate, Property, Statement};
use crate::{Message, Value};

/// SQL's three truth values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn from_bool(b: bool) -> Truth {
        if b { Truth::True } else { Truth::False }
    }

    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        }
    }
}

fn property_value(message: &Message, property: &Property) -> Option<Value> {
    match property {
        Property::System(name) => message.system.get(name).map(Value::from),
        Property::User(name) => message.properties.get(name).cloned(),
    }
}

/// An expression's value; `None` is unknown.
pub fn evaluate(expr: &Expr, message: &Message) -> Option<Value> {
    match expr {
        Expr::Constant(v) => Some(v.clone()),
        Expr::Property(p) => property_value(message, p),
        Expr::NewId => Some(Value::Str(uuid::Uuid::new_v4().to_string())),
        Expr::PropertyOf(name) => match evaluate(name, message)? {
            Value::Str(name) => message.properties.get(&name).cloned(),
            _ => None,
        },
        Expr::Negate(e) => match evaluate(e, message)? {
            Value::Long(i) => i.checked_neg().map(Value::Long),
            Value::Double(d) => Some(Value::Double(-d)),
            _ => None,
        },
        Expr::Arith(op, l, r) => arith(*op, evaluate(l, message)?, evaluate(r, message)?),
    }
}

fn arith(op: Arith, l: Value, r: Value) -> Option<Value> {
    match (l, r) {
        (Value::Long(a), Value::Long(b)) => match op {
            Arith::Add => a.checked_add(b),
            Arith::Sub => a.checked_sub(b),
            Arith::Mul => a.checked_mul(b),
            Arith::Div => a.checked_div(b),
            Arith::Rem => a.checked_rem(b),
        }
        .map(Value::Long),
        (Value::Str(a), Value::Str(b)) if op == Arith::Add => Some(Value::Str(a + &b)),
        (l, r) => {
            let (a, b) = (as_double(&l)?, as_double(&r)?);
            let d = match op {
                Arith::Add => a + b,
                Arith::Sub => a - b,
                Arith::Mul => a * b,
                Arith::Div if b == 0.0 => return None,
                Arith::Div => a / b,
                Arith::Rem if b == 0.0 => return None,
                Arith::Rem => a % b,
            };
            Some(Value::Double(d))
        }
    }
}

fn as_double(v: &Value) -> Option<f64> {
    match v {
        Value::Long(i) => Some(*i as f64),
        Value::Double(d) => Some(*d),
        _ => None,
    }
}

/// How two values compare: `None` when they cannot be compared (unknown); booleans only
/// compare as equal or not.
fn order(l: &Value, r: &Value) -> Option<Ordering> {
    match (l, r) {
        (Value::Long(a), Value::Long(b)) => Some(a.cmp(b)),
        (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (l, r) => as_double(l)?.partial_cmp(&as_double(r)?),
    }
}

fn compare(op: Compare, l: &Value, r: &Value) -> Truth {
    let Some(ord) = order(l, r) else { return Truth::Unknown };
    let is_bool = matches!(l, Value::Bool(_));
    Truth::from_bool(match op {
        Compare::Eq => ord == Ordering::Equal,
        Compare::Ne => ord != Ordering::Equal,
        _ if is_bool => return Truth::Unknown,
        Compare::Lt => ord == Ordering::Less,
        Compare::Le => ord != Ordering::Greater,
        Compare::Gt => ord == Ordering::Greater,
        Compare::Ge => ord != Ordering::Less,
    })
}

/// Whether two values are equal as `=` decides (a long equals the same double).
pub fn equal(l: &Value, r: &Value) -> bool {
    compare(Compare::Eq, l, r) == Truth::True
}

/// A predicate's truth for a message.
pub fn test(p: &Predicate, message: &Message) -> Truth {
    match p {
        Predicate::Not(p) => test(p, message).not(),
        Predicate::And(l, r) => match (test(l, message), test(r, message)) {
            (Truth::False, _) | (_, Truth::False) => Truth::False,
            (Truth::True, Truth::True) => Truth::True,
            _ => Truth::Unknown,
        },
        Predicate::Or(l, r) => match (test(l, message), test(r, message)) {
            (Truth::True, _) | (_, Truth::True) => Truth::True,
            (Truth::False, Truth::False) => Truth::False,
            _ => Truth::Unknown,
        },
        Predicate::Compare(op, l, r) => match (evaluate(l, message), evaluate(r, message)) {
            (Some(l), Some(r)) => compare(*op, &l, &r),
            _ => Truth::Unknown,
        },
        Predicate::IsNull { property, negated } => {
            let null = matches!(property_value(message, property), None | Some(Value::Null));
            Truth::from_bool(null != *negated)
        }
        Predicate::Exists(property) => Truth::from_bool(property_value(message, property).is_some()),
        Predicate::In { expr, list, negated } => {
            let Some(left) = evaluate(expr, message) else { return Truth::Unknown };
            let mut found = Truth::False;
            for item in list {
                match evaluate(item, message).map(|v| compare(Compare::Eq, &left, &v)) {
                    Some(Truth::True) => {
                        found = Truth::True;
                        break;
                    }
                    Some(Truth::False) => {}
                    _ => found = Truth::Unknown,
                }
            }
            if *negated { found.not() } else { found }
        }
        Predicate::Like { expr, pattern, escape, negated } => match evaluate(expr, message) {
            Some(Value::Str(s)) => Truth::from_bool(like(&s, pattern, *escape) != *negated),
            _ => Truth::Unknown,
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Piece {
    /// `%`: any run of characters, empty included.
    Any,
    /// `_`: exactly one character.
    One,
    Char(char),
}

fn pieces(pattern: &str, escape: Option<char>) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            // An escape at the end stands for itself.
            out.push(Piece::Char(chars.next().unwrap_or(c)));
        } else if c == '%' {
            out.push(Piece::Any);
        } else if c == '_' {
            out.push(Piece::One);
        } else {
            out.push(Piece::Char(c));
        }
    }
    out
}

/// `LIKE`: `%` any run, `_` one character, case-sensitive. The greedy two-pointer walk with
/// one back-track point is linear in practice and never exponential.
pub fn like(text: &str, pattern: &str, escape: Option<char>) -> bool {
    let p = pieces(pattern, escape);
    let t: Vec<char> = text.chars().collect();
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(Piece::Any) => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(Piece::One) => {
                ti += 1;
                pi += 1;
            }
            Some(Piece::Char(c)) if *c == t[ti] => {
                ti += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|x| *x == Piece::Any)
}

/// Applies action statements to a message in order.
pub fn apply(statements: &[Statement], message: &mut Message) {
    for s in statements {
        match s {
            Statement::Set(target, expr) => {
                let value = evaluate(expr, message);
                match target {
                    Property::User(name) => {
                        message.properties.insert(name.clone(), value.unwrap_or(Value::Null));
                    }
                    Property::System(name) => {
                        let text = match value {
                            None | Some(Value::Null) => None,
                            Some(Value::Str(s)) => Some(s),
                            Some(Value::Long(i)) => Some(i.to_string()),
                            Some(Value::Double(d)) => Some(d.to_string()),
                            Some(Value::Bool(b)) => Some(b.to_string()),
                        };
                        message.system.set(name, text);
                    }
                }
            }
            Statement::Remove(Property::User(name)) => {
                message.properties.remove(name);
            }
            Statement::Remove(Property::System(name)) => {
                message.system.set(name, None);
            }
        }
    }
}
