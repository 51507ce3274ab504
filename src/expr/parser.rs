//! Recursive-descent parser for the condition language, with DynamoDB's precedence (comparisons,
//! then `BETWEEN`/`IN`, then functions, then parentheses, `NOT`, `AND`, `OR`) and the static type
//! checks that catch a rule that could never be evaluated.

use super::lexer::{Spanned, Token, tokenize};
use super::{Comparator, Condition, ExprError, Operand, Path, Side, Step};
use crate::decimal::Decimal;

/// DynamoDB's type tags, as `attribute_type` accepts them.
pub const TYPE_TAGS: &[&str] = &["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"];

/// Parses a whole condition.
pub fn parse(text: &str) -> Result<Condition, ExprError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, pos: 0 };
    let condition = parser.or()?;
    match parser.peek() {
        Token::End => Ok(condition),
        other => Err(parser.error(format!(
            "expected AND, OR or the end of the expression, found {}",
            other.describe()
        ))),
    }
}

/// What an operand is known to be before any record is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Str,
    /// A path: its type is only known per record.
    Any,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Number => "a number",
            Kind::Str => "a string",
            Kind::Any => "an attribute",
        }
    }

    fn clashes(self, other: Kind) -> bool {
        self != Kind::Any && other != Kind::Any && self != other
    }
}

struct Parser {
    tokens: Vec<Spanned>,
    pos: usize,
}

fn is_keyword(token: &Token, word: &str) -> bool {
    matches!(token, Token::Ident(s) if s.eq_ignore_ascii_case(word))
}

const RESERVED: &[&str] = &["AND", "OR", "NOT", "BETWEEN", "IN"];

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)].token
    }

    fn peek_at(&self, ahead: usize) -> &Token {
        &self.tokens[(self.pos + ahead).min(self.tokens.len() - 1)].token
    }

    fn column(&self) -> usize {
        self.tokens[self.pos.min(self.tokens.len() - 1)].column
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        token
    }

    fn error(&self, message: impl Into<String>) -> ExprError {
        ExprError::at(self.column(), message)
    }

    fn expect(&mut self, want: Token, what: &str) -> Result<(), ExprError> {
        if *self.peek() == want {
            self.advance();
            Ok(())
        } else {
            Err(self.error(format!("expected {what}, found {}", self.peek().describe())))
        }
    }

    fn keyword(&mut self, word: &str) -> bool {
        if is_keyword(self.peek(), word) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Condition, ExprError> {
        let mut left = self.and()?;
        while self.keyword("OR") {
            let right = self.and()?;
            left = Condition::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Condition, ExprError> {
        let mut left = self.not()?;
        while self.keyword("AND") {
            let right = self.not()?;
            left = Condition::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Condition, ExprError> {
        if self.keyword("NOT") {
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Condition, ExprError> {
        if *self.peek() == Token::LParen {
            // `(` opens either a condition or an operand (`(NEW.a + 1) > 2`): try the condition
            // first and fall back, keeping whichever error got further.
            let start = self.pos;
            self.advance();
            let nested = self.or().and_then(|c| {
                self.expect(Token::RParen, "`)`")?;
                Ok(c)
            });
            match nested {
                Ok(condition) => return Ok(condition),
                Err(first) => {
                    let reached = self.pos;
                    self.pos = start;
                    return match self.comparison() {
                        Ok(condition) => Ok(condition),
                        Err(second) if self.pos >= reached => Err(second),
                        Err(_) => Err(first),
                    };
                }
            }
        }
        if let (Token::Ident(name), Token::LParen) = (self.peek().clone(), self.peek_at(1))
            && name != "size"
        {
            return self.function(&name);
        }
        self.comparison()
    }

    fn function(&mut self, name: &str) -> Result<Condition, ExprError> {
        let column = self.column();
        self.advance();
        self.advance();
        let condition = match name {
            "attribute_exists" => Condition::AttributeExists(self.path()?),
            "attribute_not_exists" => Condition::AttributeNotExists(self.path()?),
            "attribute_type" => {
                let path = self.path()?;
                self.expect(Token::Comma, "`,`")?;
                let tag_column = self.column();
                match self.advance() {
                    Token::Str(tag) if TYPE_TAGS.contains(&tag.as_str()) => {
                        Condition::AttributeType(path, tag)
                    }
                    other => {
                        return Err(ExprError::at(
                            tag_column,
                            format!(
                                "expected a type tag in quotes ({}), found {}",
                                TYPE_TAGS.join(", "),
                                other.describe()
                            ),
                        ));
                    }
                }
            }
            "begins_with" => {
                let path = self.path()?;
                self.expect(Token::Comma, "`,`")?;
                let column = self.column();
                let (prefix, kind) = self.operand()?;
                if kind == Kind::Number {
                    return Err(ExprError::at(
                        column,
                        "begins_with needs a string prefix, not a number",
                    ));
                }
                Condition::BeginsWith(path, prefix)
            }
            "contains" => {
                let path = self.path()?;
                self.expect(Token::Comma, "`,`")?;
                Condition::Contains(path, self.operand()?.0)
            }
            other => {
                return Err(ExprError::at(
                    column,
                    format!(
                        "unknown function `{other}` (known: attribute_exists, attribute_not_exists, \
                         attribute_type, begins_with, contains, size)"
                    ),
                ));
            }
        };
        self.expect(Token::RParen, "`)`")?;
        Ok(condition)
    }

    fn comparison(&mut self) -> Result<Condition, ExprError> {
        let (left, left_kind) = self.operand()?;
        let column = self.column();
        let comparator = match self.peek() {
            Token::Eq => Some(Comparator::Eq),
            Token::Ne => Some(Comparator::Ne),
            Token::Lt => Some(Comparator::Lt),
            Token::Le => Some(Comparator::Le),
            Token::Gt => Some(Comparator::Gt),
            Token::Ge => Some(Comparator::Ge),
            _ => None,
        };
        if let Some(comparator) = comparator {
            self.advance();
            let (right, right_kind) = self.operand()?;
            check_comparable(left_kind, right_kind, column)?;
            return Ok(Condition::Compare(left, comparator, right));
        }
        if self.keyword("BETWEEN") {
            let (low, low_kind) = self.operand()?;
            check_comparable(left_kind, low_kind, column)?;
            if !self.keyword("AND") {
                return Err(self.error(format!(
                    "expected AND in BETWEEN, found {}",
                    self.peek().describe()
                )));
            }
            let (high, high_kind) = self.operand()?;
            check_comparable(left_kind, high_kind, column)?;
            return Ok(Condition::Between(left, low, high));
        }
        if self.keyword("IN") {
            self.expect(Token::LParen, "`(` after IN")?;
            let mut list = Vec::new();
            loop {
                list.push(self.operand()?.0);
                if *self.peek() == Token::Comma {
                    self.advance();
                } else {
                    break;
                }
            }
            self.expect(Token::RParen, "`,` or `)`")?;
            return Ok(Condition::In(left, list));
        }
        Err(self.error(format!(
            "expected a comparison (=, <>, <, <=, >, >=, BETWEEN, IN), found {}",
            self.peek().describe()
        )))
    }

    /// `term (('+' | '-') term)*`
    fn operand(&mut self) -> Result<(Operand, Kind), ExprError> {
        let mut column = self.column();
        let (mut left, mut kind) = self.term()?;
        loop {
            let add = match self.peek() {
                Token::Plus => true,
                Token::Minus => false,
                _ => return Ok((left, kind)),
            };
            self.advance();
            if kind == Kind::Str {
                return Err(ExprError::at(
                    column,
                    "arithmetic needs numbers, not a string",
                ));
            }
            column = self.column();
            let (right, right_kind) = self.term()?;
            if right_kind == Kind::Str {
                return Err(ExprError::at(
                    column,
                    "arithmetic needs numbers, not a string",
                ));
            }
            left = if add {
                Operand::Add(Box::new(left), Box::new(right))
            } else {
                Operand::Sub(Box::new(left), Box::new(right))
            };
            kind = Kind::Number;
        }
    }

    fn term(&mut self) -> Result<(Operand, Kind), ExprError> {
        let column = self.column();
        match self.peek().clone() {
            Token::Number(text) => {
                self.advance();
                let value =
                    Decimal::parse(&text).map_err(|e| ExprError::at(column, e.to_string()))?;
                Ok((Operand::Number(value), Kind::Number))
            }
            Token::Str(text) => {
                self.advance();
                Ok((Operand::Str(text), Kind::Str))
            }
            Token::Minus => {
                self.advance();
                let inner_column = self.column();
                let (inner, kind) = self.term()?;
                match (inner, kind) {
                    (_, Kind::Str) => Err(ExprError::at(
                        inner_column,
                        "arithmetic needs numbers, not a string",
                    )),
                    (Operand::Number(n), _) => Ok((Operand::Number(n.negated()), Kind::Number)),
                    (inner, _) => Ok((
                        Operand::Sub(Box::new(Operand::Number(Decimal::ZERO)), Box::new(inner)),
                        Kind::Number,
                    )),
                }
            }
            Token::LParen => {
                self.advance();
                let inner = self.operand()?;
                self.expect(Token::RParen, "`)`")?;
                Ok(inner)
            }
            Token::Ident(name) if name == "size" && *self.peek_at(1) == Token::LParen => {
                self.advance();
                self.advance();
                let path = self.path()?;
                self.expect(Token::RParen, "`)`")?;
                Ok((Operand::Size(path), Kind::Number))
            }
            Token::Ident(_) | Token::Quoted(_) => Ok((Operand::Path(self.path()?), Kind::Any)),
            other => Err(self.error(format!(
                "expected an attribute path, a number or a 'string', found {}",
                other.describe()
            ))),
        }
    }

    /// `[OLD. | NEW.] name ( .name | [index] )*`
    fn path(&mut self) -> Result<Path, ExprError> {
        let mut side = Side::New;
        if let (Token::Ident(prefix), Token::Dot) = (self.peek().clone(), self.peek_at(1))
            && (prefix == "OLD" || prefix == "NEW")
        {
            side = if prefix == "OLD" {
                Side::Old
            } else {
                Side::New
            };
            self.advance();
            self.advance();
        }
        let attribute = self.name()?;
        let mut steps = Vec::new();
        loop {
            match self.peek() {
                Token::Dot => {
                    self.advance();
                    steps.push(Step::Field(self.name()?));
                }
                Token::LBracket => {
                    self.advance();
                    let column = self.column();
                    let index = match self.advance() {
                        Token::Number(text) if text.bytes().all(|b| b.is_ascii_digit()) => {
                            text.parse::<usize>().map_err(|_| {
                                ExprError::at(column, format!("list index {text} is too large"))
                            })?
                        }
                        other => {
                            return Err(ExprError::at(
                                column,
                                format!("expected a list index, found {}", other.describe()),
                            ));
                        }
                    };
                    self.expect(Token::RBracket, "`]`")?;
                    steps.push(Step::Index(index));
                }
                _ => break,
            }
        }
        Ok(Path {
            side,
            attribute,
            steps,
        })
    }

    fn name(&mut self) -> Result<String, ExprError> {
        match self.peek().clone() {
            Token::Ident(name) if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&name)) => {
                self.advance();
                Ok(name)
            }
            Token::Quoted(name) if !name.is_empty() => {
                self.advance();
                Ok(name)
            }
            other => Err(self.error(format!(
                "expected an attribute name, found {}",
                other.describe()
            ))),
        }
    }
}

fn check_comparable(left: Kind, right: Kind, column: usize) -> Result<(), ExprError> {
    if left.clashes(right) {
        return Err(ExprError::at(
            column,
            format!("cannot compare {} with {}", left.name(), right.name()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column_of(text: &str) -> (usize, String) {
        let err = parse(text).err().unwrap_or_else(|| panic!("{text} parsed"));
        (err.column, err.message)
    }

    #[test]
    fn parses_the_issue_examples() {
        for text in [
            "NEW.balance >= 0",
            "NEW.status <> 'closed' OR NEW.balance = 0",
            "NEW.balance = OLD.balance - NEW.lastAmount",
            "NOT (NEW.a BETWEEN 1 AND 5) AND NEW.b IN ('x', 'y', 'z')",
            "attribute_exists(NEW.profile.tier) AND attribute_not_exists(OLD.items[0])",
            "attribute_type(NEW.balance, 'N') AND begins_with(NEW.sk, 'acct#')",
            "contains(NEW.tags, 'vip') OR size(NEW.items) <= 10",
            "(NEW.a + 1) > 2",
            "((NEW.a > 1))",
            "NEW.a > -5 AND -NEW.b < 0 AND `odd-name` = 1e3",
            "NEW.a = 1 and NEW.b = 2 or not NEW.c = 3",
        ] {
            parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn precedence_is_not_and_or() {
        let c = parse("NEW.a = 1 OR NEW.b = 2 AND NOT NEW.c = 3").unwrap();
        let Condition::Or(_, right) = c else {
            panic!("OR must be the root: {c:?}")
        };
        let Condition::And(_, not) = *right else {
            panic!("AND binds tighter")
        };
        assert!(matches!(*not, Condition::Not(_)));
        // OLD/NEW prefixes; a bare path reads the NewImage.
        let Condition::Compare(Operand::Path(p), _, Operand::Sub(a, _)) =
            parse("balance = OLD.balance - NEW.items[2].n").unwrap()
        else {
            panic!()
        };
        assert_eq!(p.side, Side::New);
        assert!(matches!(
            *a,
            Operand::Path(Path {
                side: Side::Old,
                ..
            })
        ));
    }

    #[test]
    fn errors_point_at_the_column() {
        let cases: &[(&str, usize, &str)] = &[
            ("NEW.balance >= ", 16, "expected an attribute path"),
            ("NEW.balance => 0", 14, "found `>`"),
            ("NEW.balance 0", 13, "expected a comparison"),
            ("NEW.balance >= 0 AND", 21, "expected an attribute path"),
            ("NEW.a = 1 NEW.b = 2", 11, "expected AND, OR"),
            ("NEW.a + 'x' > 1", 9, "arithmetic needs numbers"),
            ("'x' - NEW.a > 1", 1, "arithmetic needs numbers"),
            (
                "NEW.a = 1 AND 'x' = 2",
                19,
                "cannot compare a string with a number",
            ),
            ("NEW.a BETWEEN 1 OR 2", 17, "expected AND in BETWEEN"),
            ("NEW.a IN (1, 2", 15, "expected `,` or `)`"),
            ("attribute_type(NEW.a, 'INT')", 23, "expected a type tag"),
            ("begins_with(NEW.a, 5)", 20, "begins_with needs a string"),
            ("exists(NEW.a)", 1, "unknown function `exists`"),
            ("NEW.items[x] = 1", 11, "expected a list index"),
            ("(NEW.a = 1", 11, "expected `)`"),
            ("NEW.a = 1e9999", 9, "exponent out of range"),
            (
                "NEW.a = 123456789012345678901234567890123456789",
                9,
                "more than 38",
            ),
            ("NEW.", 5, "expected an attribute name"),
            ("NEW.a = 'open", 9, "unterminated"),
        ];
        for (text, column, message) in cases {
            let (got_column, got_message) = column_of(text);
            assert!(
                got_column == *column && got_message.contains(message),
                "{text}: got column {got_column}: {got_message}"
            );
        }
    }
}
