//! Placement constraints, written as a map from attribute to a rule. One grammar covers
//! Aurora's forms and Marathon's operators:
//!
//! | rule | meaning |
//! |---|---|
//! | `v1,v2` | the host's attribute is one of the values |
//! | `!v1,v2` | the host's attribute is none of the values (a missing attribute passes) |
//! | `limit:N` | at most N active instances of the job per attribute value |
//! | `role/name` on attribute `dedicated` | only on hosts dedicated to this role (`*/name`: any role) |
//! | `unique` | every instance on a different attribute value |
//! | `cluster:VALUE` | every instance on hosts whose attribute is VALUE |
//! | `group_by` or `group_by:N` | spread instances evenly over the values (over N values) |
//! | `like:REGEX` / `unlike:REGEX` | the attribute matches / does not match the whole regex |
//! | `max_per:N` | at most N instances per attribute value |
//! | `is:VALUE` | the attribute equals VALUE |
//! | `value:v1,v2` / `!value:v1,v2` | the values as written, colons included: `value:a:b` is the value `a:b` |
//!
//! A rule that starts with a word and a colon is an operator: a word that is none of them
//! (`limt:1`) is an error that suggests the nearest, never a value. A value that itself starts
//! with a word and a colon, or is `unique` or `group_by`, is written after `value:`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The attribute whose constraint names a dedicated `role/name` pool.
pub const DEDICATED_ATTRIBUTE: &str = "dedicated";

/// The rule a constraint applies to its attribute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintRule {
    Value { values: Vec<String>, negated: bool },
    Limit(u32),
    Dedicated(String),
    Unique,
    Cluster(String),
    GroupBy(Option<u32>),
    Like(String),
    Unlike(String),
    MaxPer(u32),
    Is(String),
}

/// A constraint on one host attribute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraint {
    pub attribute: String,
    pub rule: ConstraintRule,
}

/// A constraint that does not parse; the message says what is wrong and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("constraint {attribute}: '{rule}': {reason}")]
pub struct ConstraintError {
    pub attribute: String,
    pub rule: String,
    pub reason: String,
}

impl Constraint {
    /// Parses the rule written for `attribute`.
    pub fn parse(attribute: &str, rule: &str) -> Result<Constraint, ConstraintError> {
        let fail = |reason: String| ConstraintError { attribute: attribute.to_owned(), rule: rule.to_owned(), reason };
        if attribute.trim().is_empty() {
            return Err(fail("the attribute name is empty".to_owned()));
        }
        let count = |text: &str, what: &str| -> Result<u32, ConstraintError> {
            match text.trim().parse::<u32>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(fail(format!("{what} takes a positive whole number, not '{text}'"))),
            }
        };
        let regex = |text: &str| -> Result<String, ConstraintError> {
            regex_lite::Regex::new(text).map_err(|e| fail(format!("invalid regular expression: {e}")))?;
            Ok(text.to_owned())
        };
        let non_empty = |text: &str, what: &str| -> Result<String, ConstraintError> {
            if text.trim().is_empty() { Err(fail(format!("{what} needs a value"))) } else { Ok(text.trim().to_owned()) }
        };
        let rule_kind = if attribute == DEDICATED_ATTRIBUTE {
            match rule.split_once('/') {
                Some((role, name)) if !role.is_empty() && !name.is_empty() && !rule.contains(',') => {
                    ConstraintRule::Dedicated(rule.to_owned())
                }
                _ => return Err(fail("a dedicated constraint names one 'role/name' (or '*/name')".to_owned())),
            }
        } else if let Some(n) = rule.strip_prefix("limit:") {
            ConstraintRule::Limit(count(n, "limit")?)
        } else if rule == "unique" {
            ConstraintRule::Unique
        } else if let Some(value) = rule.strip_prefix("cluster:") {
            ConstraintRule::Cluster(non_empty(value, "cluster")?)
        } else if rule == "group_by" {
            ConstraintRule::GroupBy(None)
        } else if let Some(n) = rule.strip_prefix("group_by:") {
            ConstraintRule::GroupBy(Some(count(n, "group_by")?))
        } else if let Some(pattern) = rule.strip_prefix("like:") {
            ConstraintRule::Like(regex(pattern)?)
        } else if let Some(pattern) = rule.strip_prefix("unlike:") {
            ConstraintRule::Unlike(regex(pattern)?)
        } else if let Some(n) = rule.strip_prefix("max_per:") {
            ConstraintRule::MaxPer(count(n, "max_per")?)
        } else if let Some(value) = rule.strip_prefix("is:") {
            ConstraintRule::Is(non_empty(value, "is")?)
        } else {
            let (negated, list) = match rule.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, rule),
            };
            let list = match list.strip_prefix(LITERAL_PREFIX) {
                Some(literal) => literal,
                None => match operator_word(list.trim_start()) {
                    Some(word) => return Err(fail(not_a_value(word, list, negated))),
                    None => list,
                },
            };
            let values: Vec<String> = list.split(',').map(|v| v.trim().to_owned()).collect();
            if values.iter().any(String::is_empty) {
                return Err(fail(format!(
                    "expected values such as 'v1,v2', '!v1', or one of {}",
                    OPERATORS.iter().map(|(_, form)| *form).collect::<Vec<_>>().join(", ")
                )));
            }
            ConstraintRule::Value { values, negated }
        };
        Ok(Constraint { attribute: attribute.to_owned(), rule: rule_kind })
    }

    /// The rule as it is written in a job file.
    pub fn rule_text(&self) -> String {
        match &self.rule {
            ConstraintRule::Value { values, negated } => {
                let list = values.join(",");
                // Values that would read as an operator are written after `value:`.
                let reads_as_operator =
                    operator_word(&list).is_some() || (!negated && BARE_OPERATORS.contains(&list.as_str()));
                let prefix = if reads_as_operator { LITERAL_PREFIX } else { "" };
                format!("{}{prefix}{list}", if *negated { "!" } else { "" })
            }
            ConstraintRule::Limit(n) => format!("limit:{n}"),
            ConstraintRule::Dedicated(pool) => pool.clone(),
            ConstraintRule::Unique => "unique".to_owned(),
            ConstraintRule::Cluster(v) => format!("cluster:{v}"),
            ConstraintRule::GroupBy(None) => "group_by".to_owned(),
            ConstraintRule::GroupBy(Some(n)) => format!("group_by:{n}"),
            ConstraintRule::Like(re) => format!("like:{re}"),
            ConstraintRule::Unlike(re) => format!("unlike:{re}"),
            ConstraintRule::MaxPer(n) => format!("max_per:{n}"),
            ConstraintRule::Is(v) => format!("is:{v}"),
        }
    }
}

/// The prefix after which a rule is values as written, even if they start like an operator.
const LITERAL_PREFIX: &str = "value:";
/// Every operator's word and how it is written, for suggestions and messages.
const OPERATORS: [(&str, &str); 9] = [
    ("limit", "limit:N"),
    ("unique", "unique"),
    ("cluster", "cluster:V"),
    ("group_by", "group_by[:N]"),
    ("like", "like:RE"),
    ("unlike", "unlike:RE"),
    ("max_per", "max_per:N"),
    ("is", "is:V"),
    ("value", "value:V"),
];
/// The operators written without a colon.
const BARE_OPERATORS: [&str; 2] = ["unique", "group_by"];

/// The word a rule starts with, if a colon follows it: what an operator looks like.
fn operator_word(text: &str) -> Option<&str> {
    let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
    let word = &text[..end];
    let starts_like_a_word = word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    (starts_like_a_word && text[end..].starts_with(':')).then_some(word)
}

/// Why `list`, which starts with `word` and a colon, is not read as values.
fn not_a_value(word: &str, list: &str, negated: bool) -> String {
    let literal = format!(
        "a value containing ':' is written '{}{LITERAL_PREFIX}{}'",
        if negated { "!" } else { "" },
        list.trim()
    );
    if OPERATORS.iter().any(|(operator, _)| *operator == word) {
        let reason = if negated { "cannot be negated" } else { "must start the rule, with nothing before it" };
        return format!("the operator '{word}' {reason}; {literal}");
    }
    let hint = match crate::suggest::nearest(word, OPERATORS.iter().map(|(operator, _)| *operator)) {
        Some(operator) => format!("did you mean '{operator}'?"),
        None => format!("the operators are {}", OPERATORS.iter().map(|(_, form)| *form).collect::<Vec<_>>().join(", ")),
    };
    format!("unknown constraint operator '{word}'; {hint} ({literal})")
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: '{}'", self.attribute, self.rule_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_and_prints_it_back() {
        let cases = [
            ("rack", "r1,r2", ConstraintRule::Value { values: vec!["r1".into(), "r2".into()], negated: false }),
            ("rack", "!r3", ConstraintRule::Value { values: vec!["r3".into()], negated: true }),
            ("host", "limit:1", ConstraintRule::Limit(1)),
            ("dedicated", "www-data/web", ConstraintRule::Dedicated("www-data/web".into())),
            ("host", "unique", ConstraintRule::Unique),
            ("rack", "cluster:r1", ConstraintRule::Cluster("r1".into())),
            ("rack", "group_by", ConstraintRule::GroupBy(None)),
            ("rack", "group_by:3", ConstraintRule::GroupBy(Some(3))),
            ("host", "like:web-[0-9]+", ConstraintRule::Like("web-[0-9]+".into())),
            ("host", "unlike:db.*", ConstraintRule::Unlike("db.*".into())),
            ("rack", "max_per:2", ConstraintRule::MaxPer(2)),
            ("os", "is:linux", ConstraintRule::Is("linux".into())),
        ];
        for (attribute, text, rule) in cases {
            let parsed = Constraint::parse(attribute, text).unwrap();
            assert_eq!(parsed.rule, rule, "{attribute}: {text}");
            assert_eq!(parsed.rule_text(), text);
        }
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        let cases = [
            ("host", "limit:0", "limit takes a positive whole number, not '0'"),
            ("host", "max_per:-1", "max_per takes a positive whole number"),
            ("rack", "group_by:x", "group_by takes a positive whole number"),
            ("host", "like:web-[", "invalid regular expression"),
            ("dedicated", "web", "one 'role/name'"),
            ("rack", "r1,,r2", "expected values such as"),
            ("rack", "is:", "is needs a value"),
            ("", "r1", "the attribute name is empty"),
        ];
        for (attribute, text, reason) in cases {
            let err = Constraint::parse(attribute, text).unwrap_err().to_string();
            assert!(err.contains(reason), "{attribute}: {text}: {err}");
        }
    }

    #[test]
    fn a_word_and_a_colon_that_is_no_operator_is_an_error_with_the_nearest_operator() {
        let cases = [
            (
                "host",
                "limt:1",
                "unknown constraint operator 'limt'; did you mean 'limit'? (a value containing ':' is written 'value:limt:1')",
            ),
            ("rack", "grup_by:2", "unknown constraint operator 'grup_by'; did you mean 'group_by'?"),
            ("host", "Limit:1", "did you mean 'limit'?"),
            ("rack", "!maxper:2", "did you mean 'max_per'? (a value containing ':' is written '!value:maxper:2')"),
            (
                "rack",
                "frobnicate:3",
                "unknown constraint operator 'frobnicate'; the operators are limit:N, unique, cluster:V, group_by[:N], like:RE, unlike:RE, max_per:N, is:V, value:V",
            ),
            (
                "host",
                "!limit:1",
                "the operator 'limit' cannot be negated; a value containing ':' is written '!value:limit:1'",
            ),
            ("host", " limit:1", "the operator 'limit' must start the rule, with nothing before it"),
        ];
        for (attribute, text, reason) in cases {
            let err = Constraint::parse(attribute, text).unwrap_err();
            assert_eq!((err.attribute.as_str(), err.rule.as_str()), (attribute, text));
            assert!(err.reason.contains(reason), "{attribute}: {text}: {err}");
        }
        assert_eq!(
            Constraint::parse("host", "limt:1").unwrap_err().to_string(),
            "constraint host: 'limt:1': unknown constraint operator 'limt'; did you mean 'limit'? \
             (a value containing ':' is written 'value:limt:1')"
        );
    }

    #[test]
    fn values_with_colons_are_written_after_the_value_prefix() {
        let value = |values: &[&str], negated| ConstraintRule::Value {
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            negated,
        };
        let cases = [
            ("value:us:east", value(&["us:east"], false)),
            ("!value:limit:1", value(&["limit:1"], true)),
            ("value:a:b, c", value(&["a:b", "c"], false)),
            ("value:unique", value(&["unique"], false)),
            ("r1,zone:a", value(&["r1", "zone:a"], false)),
            ("fe80-1", value(&["fe80-1"], false)),
            ("10.0.0.1:8080", value(&["10.0.0.1:8080"], false)),
        ];
        for (text, rule) in cases {
            assert_eq!(Constraint::parse("zone", text).unwrap().rule, rule, "{text}");
        }
        assert!(Constraint::parse("zone", "value:").is_err());
    }

    #[test]
    fn every_rule_reads_back_from_its_text() {
        let value = |values: &[&str], negated| ConstraintRule::Value {
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            negated,
        };
        let rules = [
            value(&["us:east"], false),
            value(&["limit:1"], true),
            value(&["value:x"], false),
            value(&["unique"], false),
            value(&["group_by"], false),
            value(&["unique"], true),
            value(&["r1", "a:b"], false),
            value(&["r1", "r2"], true),
            ConstraintRule::Is("a:b".into()),
            ConstraintRule::Cluster("c:1".into()),
            ConstraintRule::GroupBy(None),
            ConstraintRule::Unique,
        ];
        for rule in rules {
            let constraint = Constraint { attribute: "zone".into(), rule };
            let text = constraint.rule_text();
            assert_eq!(Constraint::parse("zone", &text).unwrap(), constraint, "{text}");
        }
    }
}
