use super::*;

fn parse(text: &str) -> Filter {
    Filter::parse(text).unwrap_or_else(|| panic!("{text} does not parse"))
}

fn error(text: &str) -> String {
    Filter::from_value(&serde_json::from_str(text).unwrap()).unwrap_err()
}

fn meta(text: &str) -> Map<String, Value> {
    serde_json::from_str(text).unwrap()
}

fn n(text: &str) -> Scalar {
    let Value::Number(json) = serde_json::from_str(text).unwrap() else {
        panic!("{text}")
    };
    Scalar::Number(Number {
        decimal: Decimal::parse(text).unwrap(),
        json,
    })
}

fn cond(path: &[&str], op: Op) -> Node {
    Node::Condition(Condition {
        path: path.iter().map(|s| s.to_string()).collect(),
        op,
    })
}

#[test]
fn parses_each_operator() {
    let s = |v: &str| Scalar::String(v.into());
    for (text, want) in [
        (r#"{"a": 2}"#, vec![cond(&["a"], Op::Eq(n("2")))]),
        (r#"{"a": {"$eq": null}}"#, vec![cond(&["a"], Op::Eq(Scalar::Null))]),
        (
            r#"{"a": {"$ne": true}}"#,
            vec![cond(&["a"], Op::Ne(Scalar::Bool(true)))],
        ),
        (
            r#"{"a": {"$in": ["x", 1.50]}}"#,
            vec![cond(&["a"], Op::In(vec![s("x"), n("1.50")]))],
        ),
        (r#"{"a": {"$nin": []}}"#, vec![cond(&["a"], Op::Nin(vec![]))]),
        (
            r#"{"a": {"$lt": 1}}"#,
            vec![cond(&["a"], Op::Range(Range::Lt, Bound::String("".into())))],
        ),
        (
            r#"{"a.b.c": {"$exists": false}}"#,
            vec![cond(&["a", "b", "c"], Op::Exists(false))],
        ),
        (r#"{"": 1}"#, vec![cond(&[""], Op::Eq(n("1")))]),
        (r#"{"a..0": 1}"#, vec![cond(&["a", "", "0"], Op::Eq(n("1")))]),
    ] {
        let Filter(Node::And(got)) = parse(text) else {
            panic!("{text}")
        };
        if text.contains("$lt") {
            // The bound keeps the number as written.
            let Node::Condition(Condition {
                op: Op::Range(Range::Lt, Bound::Number(b)),
                ..
            }) = &got[0]
            else {
                panic!("{got:?}")
            };
            assert_eq!(b.json.to_string(), "1");
            continue;
        }
        assert_eq!(got, want, "{text}");
    }
    // Several operators on a key, several keys, combinators: all ANDed.
    let Filter(Node::And(all)) =
        parse(r#"{"n": {"$gte": 1, "$lt": 5}, "$or": [{"a": 1}, {"b": {"$gt": "x"}}], "t": "y"}"#)
    else {
        panic!()
    };
    assert_eq!(all.len(), 4);
    assert!(matches!(&all[0], Node::Or(or) if or.len() == 2));
    assert_eq!(parse("{}"), Filter(Node::And(vec![])));
}

#[test]
fn errors_name_the_problem() {
    for (text, says) in [
        (r#"[1]"#, "must be a JSON object"),
        (r#"{"a": {"$regex": "x"}}"#, "unknown operator \"$regex\""),
        (r#"{"a": {"$gt": 1, "$foo": 2}}"#, "unknown operator \"$foo\""),
        (r#"{"$nor": [{"a": 1}]}"#, "unknown operator \"$nor\""),
        (r#"{"$and": []}"#, "$and takes a non-empty array"),
        (r#"{"$or": {"a": 1}}"#, "$or takes a non-empty array"),
        (r#"{"$or": [1]}"#, "$or takes an array of filters"),
        (r#"{"a": [1]}"#, "is an array"),
        (r#"{"a": {}}"#, "is empty"),
        (r#"{"a": {"b": 1}}"#, "\"a.b\""),
        (r#"{"a": {"$eq": [1]}}"#, "$eq for key \"a\" takes a scalar"),
        (r#"{"a": {"$ne": {"x": 1}}}"#, "$ne for key \"a\" takes a scalar"),
        (r#"{"a": {"$in": 1}}"#, "$in for key \"a\" takes an array"),
        (r#"{"a": {"$nin": [[1]]}}"#, "$nin for key \"a\" takes a scalar"),
        (
            r#"{"a": {"$gt": null}}"#,
            "$gt for key \"a\" takes a number or a string",
        ),
        (
            r#"{"a": {"$lte": true}}"#,
            "$lte for key \"a\" takes a number or a string",
        ),
        (r#"{"a": {"$lt": [1]}}"#, "$lt for key \"a\" takes a number or a string"),
        (r#"{"a": {"$exists": 1}}"#, "$exists for key \"a\" takes true or false"),
    ] {
        let message = error(text);
        assert!(message.contains(says), "{text}: {message:?} does not say {says:?}");
    }
    // Nesting: MAX_DEPTH levels of $and / $or, not one more.
    let nest = |levels: usize| (0..levels).fold(r#"{"a": 1}"#.to_string(), |f, _| format!(r#"{{"$or": [{f}]}}"#));
    assert!(Filter::parse(&nest(MAX_DEPTH)).is_some());
    assert!(error(&nest(MAX_DEPTH + 1)).contains("deeper than"));
}

#[test]
fn equality_is_jsonb_equality() {
    let meta = meta(r#"{"n": 2, "s": "2", "b": true, "z": null, "big": 18446744073709551617, "list": [1, 2]}"#);
    let matches = |filter: &str| parse(filter).matches(&meta);
    assert!(matches(r#"{"n": 2.0}"#));
    assert!(matches(r#"{"n": {"$eq": 20e-1}}"#));
    assert!(matches(r#"{"n": 2, "s": "2", "b": true, "z": null}"#));
    assert!(matches(r#"{"big": 18446744073709551617}"#));
    assert!(!matches(r#"{"big": 18446744073709551616}"#));
    assert!(!matches(r#"{"s": 2}"#));
    assert!(!matches(r#"{"n": "2"}"#));
    assert!(!matches(r#"{"b": "true"}"#));
    assert!(!matches(r#"{"missing": null}"#));
    assert!(!matches(r#"{"list": 1}"#));
    assert!(matches("{}"));
    // $ne / $nin: the negations, so an absent key matches.
    assert!(matches(r#"{"missing": {"$ne": 1}}"#));
    assert!(matches(r#"{"missing": {"$nin": [1]}}"#));
    assert!(!matches(r#"{"n": {"$ne": 2.00}}"#));
    assert!(matches(r#"{"s": {"$ne": 2}}"#));
    assert!(matches(r#"{"z": {"$ne": false}}"#));
    assert!(!matches(r#"{"z": {"$ne": null}}"#));
    assert!(matches(r#"{"list": {"$ne": 1}}"#));
    assert!(matches(r#"{"n": {"$in": ["2", 2e0]}}"#));
    assert!(!matches(r#"{"n": {"$in": []}}"#));
    assert!(matches(r#"{"n": {"$nin": []}}"#));
    assert!(!matches(r#"{"missing": {"$in": [null]}}"#));
    assert!(matches(r#"{"s": {"$nin": [2, null]}}"#));
    assert!(!matches(r#"{"b": {"$nin": [false, true]}}"#));
}

#[test]
fn ranges_compare_only_like_types() {
    let meta = meta(
        r#"{"n": 2, "s": "b", "e": "é", "big": 18446744073709551617, "z": null, "t": true, "l": [1], "o": {"x": 1}}"#,
    );
    let matches = |filter: &str| parse(filter).matches(&meta);
    assert!(matches(r#"{"n": {"$gte": 2.0, "$lt": 2.0000000000000000001}}"#));
    assert!(!matches(r#"{"n": {"$gt": 2}}"#));
    assert!(matches(r#"{"n": {"$lte": 2, "$gt": -3}}"#));
    assert!(matches(r#"{"big": {"$gt": 18446744073709551616}}"#));
    assert!(!matches(r#"{"big": {"$lt": 18446744073709551617}}"#));
    // Strings in byte order: "B" < "a" < "b" < "z" < "é".
    assert!(matches(r#"{"s": {"$gt": "a", "$lt": "z"}}"#));
    assert!(matches(r#"{"s": {"$gt": "B"}}"#));
    assert!(matches(r#"{"e": {"$gt": "z"}}"#));
    assert!(matches(r#"{"s": {"$gte": "b", "$lte": "b"}}"#));
    assert!(!matches(r#"{"s": {"$gt": "b"}}"#));
    assert!(matches(r#"{"s": {"$gt": ""}}"#));
    // A type mismatch, or an absent key, never matches a range.
    for key in ["n", "s", "z", "t", "l", "o", "missing"] {
        let number = key == "n";
        let string = key == "s";
        assert_eq!(matches(&format!(r#"{{"{key}": {{"$gt": -1e9}}}}"#)), number, "{key}");
        assert_eq!(matches(&format!(r#"{{"{key}": {{"$gte": ""}}}}"#)), string, "{key}");
    }
}

#[test]
fn exists_and_combinators() {
    let meta = meta(r#"{"z": null, "a": {"b": {"c": 1}}, "n": 5}"#);
    let matches = |filter: &str| parse(filter).matches(&meta);
    assert!(matches(r#"{"z": {"$exists": true}}"#));
    assert!(matches(r#"{"q": {"$exists": false}}"#));
    assert!(!matches(r#"{"z": {"$exists": false}}"#));
    assert!(matches(
        r#"{"a.b": {"$exists": true}, "a.b.c": 1, "a.b.d": {"$exists": false}}"#
    ));
    assert!(matches(r#"{"$or": [{"n": 1}, {"n": 5}]}"#));
    assert!(!matches(r#"{"$or": [{"n": 1}, {"n": 6}]}"#));
    assert!(matches(
        r#"{"$and": [{"n": {"$gt": 1}}, {"$or": [{"z": 1}, {"a.b.c": {"$lt": 2}}]}]}"#
    ));
    assert!(!matches(r#"{"$and": [{"n": 5}, {"n": 6}]}"#));
    assert!(!matches(r#"{"n": 5, "$or": [{"z": 1}, {"q": 1}]}"#));
}

#[test]
fn paths_read_like_postgres() {
    let meta = meta(r#"{"a": [10, {"b": "x"}, [30, 31]], "o": {"0": "zero", "-1": "minus"}, "s": "str", "a.b": 1}"#);
    let at = |key: &str| lookup(&meta, &key.split('.').map(String::from).collect::<Vec<_>>()).cloned();
    assert_eq!(at("a.0"), Some(serde_json::json!(10)));
    assert_eq!(at("a.1.b"), Some(serde_json::json!("x")));
    assert_eq!(at("a.2.-1"), Some(serde_json::json!(31)));
    assert_eq!(at("a.-1.0"), Some(serde_json::json!(30)));
    assert_eq!(at("a.-3"), Some(serde_json::json!(10)));
    assert_eq!(at("a.-4"), None);
    assert_eq!(at("a.3"), None);
    assert_eq!(at("a. +1.b"), Some(serde_json::json!("x")));
    assert_eq!(at("a.01.b"), Some(serde_json::json!("x")));
    assert_eq!(at("a.1 "), None);
    assert_eq!(at("a.x"), None);
    assert_eq!(at("a."), None);
    // An object's keys are keys, digits or not.
    assert_eq!(at("o.0"), Some(serde_json::json!("zero")));
    assert_eq!(at("o.-1"), Some(serde_json::json!("minus")));
    assert_eq!(at("s.0"), None);
    // A dotted key is a path: the key "a.b" itself is not reachable.
    assert_eq!(at("a.b"), None);
    assert!(parse(r#"{"a.1.b": "x", "a.-1.1": 31}"#).matches(&meta));
    for (element, len, index) in [
        ("0", 3, Some(0)),
        ("-0", 3, Some(0)),
        ("\t\n\u{b}\u{c}\r 2", 3, Some(2)),
        ("-3", 3, Some(0)),
        ("-4", 3, None),
        ("2147483647", 3, Some(2147483647)),
        ("2147483648", 3, None),
        ("-2147483648", 3, None),
        ("-2147483647", 3, None),
        ("99999999999999999999999", 3, None),
        ("", 3, None),
        ("-", 3, None),
        ("+", 3, None),
        ("1e0", 3, None),
        ("0x1", 3, None),
        ("\u{a0}1", 3, None),
    ] {
        assert_eq!(array_index(element, len), index, "{element:?}");
    }
}
