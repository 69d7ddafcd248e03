//! The syntax tree of Service Bus SQL filters and actions.

use crate::Value;

/// `sys.<name>` (a broker property) or `[user.]<name>` (an application property).
#[derive(Debug, Clone, PartialEq)]
pub enum Property {
    System(String),
    User(String),
}

impl std::fmt::Display for Property {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Property::System(n) => write!(f, "sys.{n}"),
            Property::User(n) => write!(f, "user.{n}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Constant(Value),
    Property(Property),
    /// `newid()`: a new GUID as a string.
    NewId,
    /// `property(name)`: the application property whose name the argument evaluates to.
    PropertyOf(Box<Expr>),
    Negate(Box<Expr>),
    Arith(Arith, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    Not(Box<Predicate>),
    And(Box<Predicate>, Box<Predicate>),
    Or(Box<Predicate>, Box<Predicate>),
    Compare(Compare, Expr, Expr),
    IsNull { property: Property, negated: bool },
    In { expr: Expr, list: Vec<Expr>, negated: bool },
    Like { expr: Expr, pattern: String, escape: Option<char>, negated: bool },
    Exists(Property),
}

/// One statement of a rule action.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Set(Property, Expr),
    Remove(Property),
}
