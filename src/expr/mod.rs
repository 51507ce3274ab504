//! Declared conditions: DynamoDB's ConditionExpression notation, extended with `OLD.`/`NEW.`
//! image prefixes and `+`/`-`, parsed once at configuration load and evaluated exactly on the
//! typed [`Value`](crate::value::Value)s of a change.
//!
//! - [`lexer`]: text -> tokens with columns.
//! - [`parser`]: tokens -> [`Condition`], with the static type checks (a string literal in a sum,
//!   a number compared with a string) that make a rule a configuration error instead of a rule
//!   that can never hold.
//! - [`eval`]: [`Condition`] x (OldImage, NewImage) -> bool, never panicking.
//!
//! Missing operands follow DynamoDB: a comparison, `BETWEEN`, `IN`, `begins_with`, `contains` or
//! `attribute_type` with a missing operand (absent attribute, absent image, index out of range,
//! arithmetic on a non-number or past 38 digits) is false; `attribute_not_exists` is true; `NOT`
//! negates whatever its operand gave.

pub mod eval;
pub mod lexer;
pub mod parser;

use std::fmt;

use crate::decimal::Decimal;

pub use eval::Images;

/// A parse or type error, at a 1-based character column of the expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ExprError {
    pub column: usize,
    pub message: String,
}

impl ExprError {
    pub fn at(column: usize, message: impl Into<String>) -> ExprError {
        ExprError {
            column,
            message: message.into(),
        }
    }
}

/// Which image of a change a path reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Old,
    New,
}

/// One step of a document path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A map field (or the top-level attribute).
    Field(String),
    /// A list element.
    Index(usize),
}

/// `NEW.profile.tier`, `OLD.items[0]`; a path without a prefix reads the NewImage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub side: Side,
    /// The top-level attribute name: what evidence reports.
    pub attribute: String,
    pub steps: Vec<Step>,
}

/// A value-producing operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Path(Path),
    Number(Decimal),
    Str(String),
    /// `size(path)`: string length in characters, binary length in bytes, element count of a
    /// set, list or map.
    Size(Path),
    Add(Box<Operand>, Box<Operand>),
    Sub(Box<Operand>, Box<Operand>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A boolean condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Compare(Operand, Comparator, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
    Not(Box<Condition>),
    AttributeExists(Path),
    AttributeNotExists(Path),
    /// `attribute_type(path, 'N')`; the type tag is checked at parse time.
    AttributeType(Path, String),
    BeginsWith(Path, Operand),
    Contains(Path, Operand),
}

/// A parsed expression with its source text (for messages and evidence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression {
    pub text: String,
    pub condition: Condition,
}

impl Expression {
    /// Parses and type-checks `text`.
    pub fn parse(text: &str) -> Result<Expression, ExprError> {
        Ok(Expression {
            text: text.to_owned(),
            condition: parser::parse(text)?,
        })
    }

    /// Evaluates the condition on a change's images.
    pub fn holds(&self, images: &Images<'_, '_>) -> bool {
        eval::condition(&self.condition, images)
    }

    /// Every path the expression reads, in order of appearance.
    pub fn paths(&self) -> Vec<&Path> {
        let mut out = Vec::new();
        collect_condition(&self.condition, &mut out);
        out
    }

    /// Whether the expression reads the given image at all.
    pub fn reads(&self, side: Side) -> bool {
        self.paths().iter().any(|p| p.side == side)
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn collect_condition<'e>(condition: &'e Condition, out: &mut Vec<&'e Path>) {
    match condition {
        Condition::Compare(a, _, b) => {
            collect_operand(a, out);
            collect_operand(b, out);
        }
        Condition::Between(a, lo, hi) => {
            for o in [a, lo, hi] {
                collect_operand(o, out);
            }
        }
        Condition::In(a, list) => {
            collect_operand(a, out);
            for o in list {
                collect_operand(o, out);
            }
        }
        Condition::And(a, b) | Condition::Or(a, b) => {
            collect_condition(a, out);
            collect_condition(b, out);
        }
        Condition::Not(a) => collect_condition(a, out),
        Condition::AttributeExists(p)
        | Condition::AttributeNotExists(p)
        | Condition::AttributeType(p, _) => out.push(p),
        Condition::BeginsWith(p, o) | Condition::Contains(p, o) => {
            out.push(p);
            collect_operand(o, out);
        }
    }
}

fn collect_operand<'e>(operand: &'e Operand, out: &mut Vec<&'e Path>) {
    match operand {
        Operand::Path(p) | Operand::Size(p) => out.push(p),
        Operand::Number(_) | Operand::Str(_) => {}
        Operand::Add(a, b) | Operand::Sub(a, b) => {
            collect_operand(a, out);
            collect_operand(b, out);
        }
    }
}
