//! From a filter's JSON to its [`Node`]s, with an error naming what is
//! wrong.

use super::{decimal_of, Bound, Condition, Node, Number, Op, Range, Scalar};
use serde_json::{Map, Value};

/// How deep `$and` / `$or` may nest: a filter's object is level 0, the
/// filters in its `$and` or `$or` level 1, and so on, up to this level.
/// Deeper filters are refused, so that neither the edge's evaluation nor the
/// SQL compiled from it recurses without bound.
pub const MAX_DEPTH: usize = 8;

/// The root of the filter `value`.
pub(super) fn filter(value: &Value) -> Result<Node, String> {
    let Value::Object(fields) = value else {
        return Err("filter must be a JSON object".into());
    };
    object(fields, 0)
}

/// The AND of an object's entries.
fn object(fields: &Map<String, Value>, depth: usize) -> Result<Node, String> {
    let mut all = Vec::with_capacity(fields.len());
    for (key, value) in fields {
        match key.as_str() {
            "$and" | "$or" => {
                let filters = combined(key, value, depth)?;
                all.push(if key == "$and" {
                    Node::And(filters)
                } else {
                    Node::Or(filters)
                });
            }
            _ if key.starts_with('$') => {
                return Err(format!(
                    "unknown operator {key:?} at the top of a filter (only \"$and\" and \"$or\" combine filters; \
                     metadata keys cannot start with \"$\")"
                ))
            }
            _ => conditions(key, value, &mut all)?,
        }
    }
    Ok(Node::And(all))
}

/// The filters of `$and` / `$or`.
fn combined(op: &str, value: &Value, depth: usize) -> Result<Vec<Node>, String> {
    let items = match value {
        Value::Array(items) if !items.is_empty() => items,
        _ => return Err(format!("{op} takes a non-empty array of filters")),
    };
    if depth >= MAX_DEPTH {
        return Err(format!("filter nests $and / $or deeper than {MAX_DEPTH} levels"));
    }
    items
        .iter()
        .map(|item| match item {
            Value::Object(fields) => object(fields, depth + 1),
            _ => Err(format!("{op} takes an array of filters (JSON objects); found {item}")),
        })
        .collect()
}

/// The conditions `{key: value}` asks for, pushed onto `all`.
fn conditions(key: &str, value: &Value, all: &mut Vec<Node>) -> Result<(), String> {
    let path: Vec<String> = key.split('.').map(String::from).collect();
    let condition = |op| Node::Condition(Condition { path: path.clone(), op });
    let operators = match value {
        Value::Object(operators) => operators,
        Value::Array(_) => {
            return Err(format!(
                "the value for key {key:?} is an array; use a scalar (equality) or an object of operators"
            ))
        }
        scalar => {
            all.push(condition(Op::Eq(self::scalar(key, "equality", scalar)?)));
            return Ok(());
        }
    };
    if operators.is_empty() {
        return Err(format!("the operator object for key {key:?} is empty"));
    }
    for (op, operand) in operators {
        let op = match op.as_str() {
            "$eq" => Op::Eq(scalar(key, op, operand)?),
            "$ne" => Op::Ne(scalar(key, op, operand)?),
            "$in" => Op::In(scalars(key, op, operand)?),
            "$nin" => Op::Nin(scalars(key, op, operand)?),
            "$lt" => Op::Range(Range::Lt, bound(key, op, operand)?),
            "$lte" => Op::Range(Range::Lte, bound(key, op, operand)?),
            "$gt" => Op::Range(Range::Gt, bound(key, op, operand)?),
            "$gte" => Op::Range(Range::Gte, bound(key, op, operand)?),
            "$exists" => match operand {
                Value::Bool(present) => Op::Exists(*present),
                _ => return Err(format!("$exists for key {key:?} takes true or false; found {operand}")),
            },
            _ if op.starts_with('$') => return Err(format!("unknown operator {op:?} for key {key:?}")),
            _ => {
                return Err(format!(
                    "the object for key {key:?} holds {op:?}, which is not an operator (nested keys are written \
                     as one dotted key, \"{key}.{op}\")"
                ))
            }
        };
        all.push(condition(op));
    }
    Ok(())
}

fn number(n: &serde_json::Number) -> Result<Number, String> {
    let decimal = decimal_of(n).ok_or_else(|| format!("{n} is not a decimal number"))?;
    Ok(Number {
        decimal,
        json: n.clone(),
    })
}

/// A scalar operand of `op` (`equality` for `{key: scalar}`).
fn scalar(key: &str, op: &str, value: &Value) -> Result<Scalar, String> {
    Ok(match value {
        Value::Null => Scalar::Null,
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Number(n) => Scalar::Number(number(n)?),
        Value::String(s) => Scalar::String(s.clone()),
        Value::Array(_) | Value::Object(_) => {
            return Err(format!(
                "{op} for key {key:?} takes a scalar (null, a boolean, a number or a string); found {value}"
            ))
        }
    })
}

fn scalars(key: &str, op: &str, value: &Value) -> Result<Vec<Scalar>, String> {
    let Value::Array(items) = value else {
        return Err(format!("{op} for key {key:?} takes an array of scalars; found {value}"));
    };
    items.iter().map(|item| scalar(key, op, item)).collect()
}

fn bound(key: &str, op: &str, value: &Value) -> Result<Bound, String> {
    match value {
        Value::Number(n) => Ok(Bound::Number(number(n)?)),
        Value::String(s) => Ok(Bound::String(s.clone())),
        _ => Err(format!(
            "{op} for key {key:?} takes a number or a string; found {value}"
        )),
    }
}
