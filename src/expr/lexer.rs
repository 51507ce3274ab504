//! Splits an expression into tokens, each with the 1-based column (in characters) it starts at,
//! so parse errors can point at the place a person has to fix.

use super::ExprError;

/// One token of the expression language.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// An attribute name, keyword or function name (`balance`, `AND`, `size`).
    Ident(String),
    /// A name in back quotes, for attribute names that are not identifiers (`` `last-id` ``).
    Quoted(String),
    /// A number literal, as written.
    Number(String),
    /// A string literal in single quotes (`''` inside stands for one quote).
    Str(String),
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    End,
}

impl Token {
    /// How an error message names the token.
    pub fn describe(&self) -> String {
        match self {
            Token::Ident(s) => format!("`{s}`"),
            Token::Quoted(s) => format!("`{s}`"),
            Token::Number(s) => format!("number {s}"),
            Token::Str(s) => format!("string '{s}'"),
            Token::Eq => "`=`".into(),
            Token::Ne => "`<>`".into(),
            Token::Lt => "`<`".into(),
            Token::Le => "`<=`".into(),
            Token::Gt => "`>`".into(),
            Token::Ge => "`>=`".into(),
            Token::Plus => "`+`".into(),
            Token::Minus => "`-`".into(),
            Token::LParen => "`(`".into(),
            Token::RParen => "`)`".into(),
            Token::LBracket => "`[`".into(),
            Token::RBracket => "`]`".into(),
            Token::Comma => "`,`".into(),
            Token::Dot => "`.`".into(),
            Token::End => "the end of the expression".into(),
        }
    }
}

/// A token and the column it starts at.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    pub token: Token,
    pub column: usize,
}

/// Tokenizes `text`; the last token is always [`Token::End`].
pub fn tokenize(text: &str) -> Result<Vec<Spanned>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let single = match c {
            '=' => Some(Token::Eq),
            '+' => Some(Token::Plus),
            '-' => Some(Token::Minus),
            '(' => Some(Token::LParen),
            ')' => Some(Token::RParen),
            '[' => Some(Token::LBracket),
            ']' => Some(Token::RBracket),
            ',' => Some(Token::Comma),
            '.' if !chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => Some(Token::Dot),
            _ => None,
        };
        if let Some(token) = single {
            tokens.push(Spanned { token, column });
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (token, len) = match (c, next) {
            ('<', Some('>')) => (Token::Ne, 2),
            ('<', Some('=')) => (Token::Le, 2),
            ('<', _) => (Token::Lt, 1),
            ('>', Some('=')) => (Token::Ge, 2),
            ('>', _) => (Token::Gt, 1),
            ('\'', _) => lex_quoted(&chars, i, '\'', column).map(|(s, n)| (Token::Str(s), n))?,
            ('`', _) => lex_quoted(&chars, i, '`', column).map(|(s, n)| (Token::Quoted(s), n))?,
            (c, _) if c.is_ascii_digit() || c == '.' => {
                let n = number_len(&chars[i..]);
                (Token::Number(chars[i..i + n].iter().collect()), n)
            }
            (c, _) if c.is_alphabetic() || c == '_' => {
                let n = chars[i..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || **c == '_')
                    .count();
                (Token::Ident(chars[i..i + n].iter().collect()), n)
            }
            (c, _) => {
                return Err(ExprError::at(column, format!("unexpected character `{c}`")));
            }
        };
        tokens.push(Spanned { token, column });
        i += len;
    }
    tokens.push(Spanned {
        token: Token::End,
        column: chars.len() + 1,
    });
    Ok(tokens)
}

/// Reads a literal quoted with `quote`, where a doubled quote stands for one.
fn lex_quoted(
    chars: &[char],
    start: usize,
    quote: char,
    column: usize,
) -> Result<(String, usize), ExprError> {
    let mut text = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => {
                return Err(ExprError::at(
                    column,
                    format!("unterminated {quote}...{quote} literal"),
                ));
            }
            Some(c) if *c == quote => {
                if chars.get(i + 1) == Some(&quote) {
                    text.push(quote);
                    i += 2;
                } else {
                    return Ok((text, i + 1 - start));
                }
            }
            Some(c) => {
                text.push(*c);
                i += 1;
            }
        }
    }
}

/// Length of a number literal: digits, an optional fraction, an optional exponent.
fn number_len(chars: &[char]) -> usize {
    let digits = |from: usize| {
        chars[from..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let mut n = digits(0);
    if chars.get(n) == Some(&'.') {
        n += 1 + digits(n + 1);
    }
    if matches!(chars.get(n), Some('e' | 'E')) {
        let sign = usize::from(matches!(chars.get(n + 1), Some('+' | '-')));
        let exp = digits(n + 1 + sign);
        if exp > 0 {
            n += 1 + sign + exp;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_their_columns() {
        let tokens = tokenize("NEW.balance >= 0.5 AND `a-b` <> 'it''s'").unwrap();
        let summary: Vec<(Token, usize)> =
            tokens.into_iter().map(|s| (s.token, s.column)).collect();
        assert_eq!(
            summary,
            vec![
                (Token::Ident("NEW".into()), 1),
                (Token::Dot, 4),
                (Token::Ident("balance".into()), 5),
                (Token::Ge, 13),
                (Token::Number("0.5".into()), 16),
                (Token::Ident("AND".into()), 20),
                (Token::Quoted("a-b".into()), 24),
                (Token::Ne, 30),
                (Token::Str("it's".into()), 33),
                (Token::End, 40),
            ]
        );
    }

    #[test]
    fn bad_characters_and_open_quotes_name_their_column() {
        assert_eq!(tokenize("a = #x").unwrap_err().column, 5);
        assert_eq!(tokenize("a = 'open").unwrap_err().column, 5);
    }
}
