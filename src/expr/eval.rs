//! Evaluates a parsed condition on a change's images: exact decimals, DynamoDB's type rules
//! (values of different types are never equal and never ordered), and no panics: anything that
//! cannot be evaluated is a missing operand.

use super::{Comparator, Condition, Operand, Path, Side, Step};
use crate::decimal::Decimal;
use crate::value::{Image, Value};

/// The images a condition reads: `OLD.` paths read `old`, `NEW.` (and bare) paths read `new`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Images<'i, 'a> {
    pub old: Option<&'i Image<'a>>,
    pub new: Option<&'i Image<'a>>,
}

/// An operand's value: an attribute of an image, or a computed number or literal string.
#[derive(Debug, Clone, Copy)]
enum Val<'v> {
    Attr(&'v Value<'v>),
    Num(Decimal),
    Str(&'v str),
}

impl<'v> Val<'v> {
    fn number(self) -> Option<Decimal> {
        match self {
            Val::Num(n) => Some(n),
            Val::Attr(Value::N(n)) => Some(n.value),
            _ => None,
        }
    }

    fn string(self) -> Option<&'v str> {
        match self {
            Val::Str(s) => Some(s),
            Val::Attr(Value::S(s)) => Some(s),
            _ => None,
        }
    }
}

pub fn condition(c: &Condition, images: &Images<'_, '_>) -> bool {
    match c {
        Condition::Compare(a, op, b) => match (operand(a, images), operand(b, images)) {
            (Some(a), Some(b)) => compare(a, *op, b),
            // As in DynamoDB: a missing attribute is not equal to a value that is there
            // (`status <> 'closed'` holds for an item without a status); every other comparison
            // with a missing operand is false.
            (Some(_), None) | (None, Some(_)) => *op == Comparator::Ne,
            (None, None) => false,
        },
        Condition::Between(a, low, high) => {
            match (
                operand(a, images),
                operand(low, images),
                operand(high, images),
            ) {
                (Some(a), Some(low), Some(high)) => {
                    compare(a, Comparator::Ge, low) && compare(a, Comparator::Le, high)
                }
                _ => false,
            }
        }
        Condition::In(a, list) => operand(a, images).is_some_and(|a| {
            list.iter()
                .filter_map(|o| operand(o, images))
                .any(|b| compare(a, Comparator::Eq, b))
        }),
        Condition::And(a, b) => condition(a, images) && condition(b, images),
        Condition::Or(a, b) => condition(a, images) || condition(b, images),
        Condition::Not(a) => !condition(a, images),
        Condition::AttributeExists(p) => resolve(p, images).is_some(),
        Condition::AttributeNotExists(p) => resolve(p, images).is_none(),
        Condition::AttributeType(p, tag) => resolve(p, images).is_some_and(|v| v.type_tag() == tag),
        Condition::BeginsWith(p, prefix) => match (resolve(p, images), operand(prefix, images)) {
            (Some(Value::S(s)), Some(prefix)) => {
                prefix.string().is_some_and(|prefix| s.starts_with(prefix))
            }
            (Some(Value::B(b)), Some(Val::Attr(Value::B(prefix)))) => decode_base64(b)
                .zip(decode_base64(prefix))
                .is_some_and(|(b, p)| b.starts_with(&p)),
            _ => false,
        },
        Condition::Contains(p, needle) => match (resolve(p, images), operand(needle, images)) {
            (Some(haystack), Some(needle)) => contains(haystack, needle),
            _ => false,
        },
    }
}

fn contains(haystack: &Value<'_>, needle: Val<'_>) -> bool {
    match haystack {
        Value::S(s) => needle.string().is_some_and(|n| s.contains(n)),
        Value::Ss(members) => needle
            .string()
            .is_some_and(|n| members.iter().any(|m| m == n)),
        Value::Ns(members) => needle
            .number()
            .is_some_and(|n| members.iter().any(|m| m.value == n)),
        Value::Bs(members) => match needle {
            Val::Attr(Value::B(b)) => members.iter().any(|m| m == b),
            _ => false,
        },
        Value::L(items) => items
            .iter()
            .any(|item| compare(Val::Attr(item), Comparator::Eq, needle)),
        _ => false,
    }
}

fn compare(a: Val<'_>, op: Comparator, b: Val<'_>) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = if let (Some(x), Some(y)) = (a.number(), b.number()) {
        Some(x.cmp(&y))
    } else if let (Some(x), Some(y)) = (a.string(), b.string()) {
        Some(x.cmp(y))
    } else if let (Val::Attr(Value::B(x)), Val::Attr(Value::B(y))) = (a, b) {
        decode_base64(x)
            .zip(decode_base64(y))
            .map(|(x, y)| x.cmp(&y))
    } else {
        None
    };
    match (op, ordering) {
        (Comparator::Eq, Some(o)) => o == Ordering::Equal,
        (Comparator::Ne, Some(o)) => o != Ordering::Equal,
        (Comparator::Lt, Some(o)) => o == Ordering::Less,
        (Comparator::Le, Some(o)) => o != Ordering::Greater,
        (Comparator::Gt, Some(o)) => o == Ordering::Greater,
        (Comparator::Ge, Some(o)) => o != Ordering::Less,
        // Not ordered (maps, lists, sets, BOOL, NULL, or two different types): only equality is
        // defined, and values of different types are never equal.
        (Comparator::Eq, None) => attr_eq(a, b),
        (Comparator::Ne, None) => !attr_eq(a, b),
        _ => false,
    }
}

fn attr_eq(a: Val<'_>, b: Val<'_>) -> bool {
    match (a, b) {
        (Val::Attr(x), Val::Attr(y)) => x.semantic_eq(y),
        _ => false,
    }
}

fn operand<'v>(o: &'v Operand, images: &Images<'v, 'v>) -> Option<Val<'v>> {
    match o {
        Operand::Path(p) => resolve(p, images).map(Val::Attr),
        Operand::Number(n) => Some(Val::Num(*n)),
        Operand::Str(s) => Some(Val::Str(s)),
        Operand::Size(p) => size(resolve(p, images)?).map(Val::Num),
        Operand::Add(a, b) => {
            let (a, b) = (operand(a, images)?.number()?, operand(b, images)?.number()?);
            a.checked_add(&b).map(Val::Num)
        }
        Operand::Sub(a, b) => {
            let (a, b) = (operand(a, images)?.number()?, operand(b, images)?.number()?);
            a.checked_sub(&b).map(Val::Num)
        }
    }
}

fn size(value: &Value<'_>) -> Option<Decimal> {
    let n = match value {
        Value::S(s) => s.chars().count(),
        Value::B(b) => decode_base64(b)?.len(),
        Value::Ss(m) | Value::Bs(m) => m.len(),
        Value::Ns(m) => m.len(),
        Value::L(items) => items.len(),
        Value::M(map) => map.len(),
        Value::N(_) | Value::Bool(_) | Value::Null => return None,
    };
    i64::try_from(n).ok().map(Decimal::from_i64)
}

/// Follows a path into an image; `None` when any step is missing.
fn resolve<'v>(path: &Path, images: &Images<'v, 'v>) -> Option<&'v Value<'v>> {
    let image = match path.side {
        Side::Old => images.old?,
        Side::New => images.new?,
    };
    let mut value = image.get(&path.attribute)?;
    for step in &path.steps {
        value = match (step, value) {
            (Step::Field(name), Value::M(map)) => map.get(name)?,
            (Step::Index(i), Value::L(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(value)
}

/// Standard base64 (as DynamoDB writes B values) to bytes; `None` when it is not base64.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let trimmed = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in trimmed.bytes() {
        buffer = (buffer << 6) | sextet(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::expr::Expression;
    use crate::value::Number;

    fn n(text: &'static str) -> Value<'static> {
        Value::N(Number {
            text: Cow::Borrowed(text),
            value: Decimal::parse(text).unwrap(),
        })
    }

    fn s(text: &'static str) -> Value<'static> {
        Value::S(Cow::Borrowed(text))
    }

    fn image(attrs: Vec<(&'static str, Value<'static>)>) -> Image<'static> {
        Image {
            attributes: attrs
                .into_iter()
                .map(|(k, v)| (Cow::Borrowed(k), v))
                .collect(),
        }
    }

    fn holds(text: &str, old: Option<&Image<'_>>, new: Option<&Image<'_>>) -> bool {
        Expression::parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .holds(&Images { old, new })
    }

    #[test]
    fn arithmetic_and_comparison_are_exact() {
        let old = image(vec![("balance", n("100.10"))]);
        let new = image(vec![("balance", n("70.1")), ("lastAmount", n("30"))]);
        assert!(holds(
            "NEW.balance = OLD.balance - NEW.lastAmount",
            Some(&old),
            Some(&new)
        ));
        assert!(!holds(
            "NEW.balance = OLD.balance - 30.0000000001",
            Some(&old),
            Some(&new)
        ));
        let big = image(vec![
            ("a", n("12345678901234567890123456789012345678")),
            ("b", n("12345678901234567890123456789012345677")),
            ("c", n("99999999999999999999999999999999999999")),
        ]);
        assert!(holds(
            "NEW.a > NEW.b AND NEW.a - 1 = NEW.b",
            None,
            Some(&big)
        ));
        // Past 38 digits the sum is missing: the comparison is false, not a wrong answer.
        assert!(!holds("NEW.c + 0.1 > 0", None, Some(&big)));
        assert!(holds("NOT (NEW.c + 0.1 > 0)", None, Some(&big)));
        assert!(holds("NEW.a - NEW.b BETWEEN 0.5 AND 1", None, Some(&big)));
        assert!(holds("-NEW.b < 0", None, Some(&big)));
    }

    #[test]
    fn missing_operands_make_comparisons_false_but_not_equal() {
        let new = image(vec![("balance", n("-5"))]);
        assert!(!holds("NEW.status = 'closed'", None, Some(&new)));
        assert!(holds("NEW.status <> 'closed'", None, Some(&new)));
        assert!(!holds("NEW.status <> OLD.status", None, Some(&new)));
        assert!(!holds("OLD.balance >= 0", None, Some(&new)));
        assert!(holds("attribute_not_exists(NEW.status)", None, Some(&new)));
        assert!(!holds("attribute_exists(OLD.balance)", None, Some(&new)));
        assert!(!holds("NEW.status IN ('a', 'b')", None, Some(&new)));
        assert!(!holds("begins_with(NEW.status, 'a')", None, Some(&new)));
        // Types never mix: a string is neither equal to nor ordered against a number.
        let text = image(vec![("balance", s("5"))]);
        assert!(!holds("NEW.balance = 5", None, Some(&text)));
        assert!(holds("NEW.balance <> 5", None, Some(&text)));
        assert!(!holds("NEW.balance >= 0", None, Some(&text)));
    }

    #[test]
    fn functions_paths_and_sets() {
        let profile = Value::M(image(vec![("tier", s("gold"))]));
        let new = image(vec![
            ("profile", profile),
            ("items", Value::L(vec![n("3"), s("x")])),
            ("tags", Value::Ss(vec!["vip".into(), "eu".into()])),
            ("sk", s("acct#42")),
            ("blob", Value::B("AAEC".into())),
            ("flag", Value::Bool(true)),
        ]);
        let new = Some(&new);
        assert!(holds("NEW.profile.tier = 'gold'", None, new));
        assert!(holds("NEW.items[0] = 3 AND NEW.items[1] = 'x'", None, new));
        assert!(!holds("attribute_exists(NEW.items[2])", None, new));
        assert!(holds(
            "attribute_type(NEW.profile, 'M') AND attribute_type(NEW.flag, 'BOOL')",
            None,
            new
        ));
        assert!(holds(
            "contains(NEW.tags, 'vip') AND NOT contains(NEW.tags, 'us')",
            None,
            new
        ));
        assert!(holds(
            "contains(NEW.items, 'x') AND contains(NEW.sk, '#4')",
            None,
            new
        ));
        assert!(holds(
            "begins_with(NEW.sk, 'acct#') AND NEW.sk BETWEEN 'a' AND 'b'",
            None,
            new
        ));
        assert!(holds(
            "size(NEW.tags) = 2 AND size(NEW.sk) = 7 AND size(NEW.blob) = 3",
            None,
            new
        ));
        assert!(holds(
            "size(NEW.profile) = 1 AND size(NEW.items) < 3",
            None,
            new
        ));
        assert!(holds("NEW.profile.tier IN ('silver', 'gold')", None, new));
        assert!(!holds("size(NEW.flag) >= 0", None, new));
        assert!(!holds(
            "NEW.profile.tier.x = 1 OR NEW.sk[0] = 'a'",
            None,
            new
        ));
    }

    #[test]
    fn base64_decodes() {
        assert_eq!(decode_base64("AAEC"), Some(vec![0, 1, 2]));
        assert_eq!(decode_base64("aGk="), Some(b"hi".to_vec()));
        assert_eq!(decode_base64("a*"), None);
    }
}
