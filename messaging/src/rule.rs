//! Subscription rules: a filter (SQL, correlation, true, false) and an optional action.
//!
//! A [`RuleSpec`] is what is declared and stored (texts and values); [`Rule::compile`] checks
//! it and is the only way to a [`Rule`], so a rule that does not parse is refused when it is
//! created, never when a message arrives. A subscription delivers a message once when any of
//! its rules matches, with the actions of the matching rules applied in order to its copy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::filter::ast::{Predicate, Statement};
use crate::filter::{self, SyntaxError, Truth};
use crate::{Message, Value};

/// The rule every new subscription gets unless told otherwise (as in Service Bus).
pub const DEFAULT_RULE_NAME: &str = "$Default";

/// A correlation filter: every field that is set must equal the message's (exact, case-sensitive),
/// and every listed application property must be present with an equal value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CorrelationFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "Subject")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to_session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, Value>,
}

impl CorrelationFilter {
    pub fn matches(&self, m: &Message) -> bool {
        let sys = &m.system;
        let same = |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
        same(&self.correlation_id, &sys.correlation_id)
            && same(&self.message_id, &sys.message_id)
            && same(&self.to, &sys.to)
            && same(&self.reply_to, &sys.reply_to)
            && same(&self.label, &sys.subject)
            && same(&self.session_id, &sys.session_id)
            && same(&self.reply_to_session_id, &sys.reply_to_session_id)
            && same(&self.content_type, &sys.content_type)
            && self
                .properties
                .iter()
                .all(|(k, want)| m.properties.get(k).is_some_and(|have| filter::equal(have, want)))
    }

    /// Reads `k=v,…` as written on a command line: `sys.<Name>=v` sets a system field
    /// (`sys.CorrelationId`, `sys.Label`…), any other key an application property whose value is
    /// a SQL constant when it reads as one (`100`, `true`, `'quoted'`) and a string otherwise.
    pub fn parse_pairs(text: &str) -> Result<CorrelationFilter, String> {
        let mut f = CorrelationFilter::default();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(format!(
                    "`{pair}` is not key=value (e.g. sys.CorrelationId=order-1 or type=order)"
                ));
            };
            let (key, value) = (key.trim(), value.trim());
            if let Some(name) = key.strip_prefix("sys.") {
                let slot = match name.to_ascii_lowercase().as_str() {
                    "correlationid" => &mut f.correlation_id,
                    "messageid" => &mut f.message_id,
                    "to" => &mut f.to,
                    "replyto" => &mut f.reply_to,
                    "label" | "subject" => &mut f.label,
                    "sessionid" => &mut f.session_id,
                    "replytosessionid" => &mut f.reply_to_session_id,
                    "contenttype" => &mut f.content_type,
                    _ => {
                        return Err(format!(
                            "`{key}` is not a correlation filter field (use sys.CorrelationId, sys.MessageId, sys.To, \
                             sys.ReplyTo, sys.Label, sys.SessionId, sys.ReplyToSessionId or sys.ContentType)"
                        ));
                    }
                };
                *slot = Some(value.to_string());
            } else {
                let value = filter::parse_constant(value).unwrap_or_else(|_| Value::Str(value.to_string()));
                f.properties.insert(key.to_string(), value);
            }
        }
        Ok(f)
    }
}

/// A rule's filter as declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FilterSpec {
    Sql(String),
    Correlation(CorrelationFilter),
    True,
    False,
}

/// A rule as declared and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuleSpec {
    pub name: String,
    pub filter: FilterSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

impl RuleSpec {
    /// The `$Default` rule with a SQL filter.
    pub fn sql(filter: &str) -> RuleSpec {
        RuleSpec { name: DEFAULT_RULE_NAME.into(), filter: FilterSpec::Sql(filter.into()), action: None }
    }

    /// The `$Default` rule that lets everything through.
    pub fn accept_all() -> RuleSpec {
        RuleSpec { name: DEFAULT_RULE_NAME.into(), filter: FilterSpec::True, action: None }
    }

    pub fn with_action(mut self, action: &str) -> RuleSpec {
        self.action = Some(action.into());
        self
    }
}

/// A rule that cannot be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("rule `{rule}`: {error}")]
    Syntax { rule: String, error: Box<SyntaxError> },
    #[error(
        "rule `{rule}`: the filter is a SQL text of more than {max} characters, which Service Bus refuses"
    )]
    TooLong { rule: String, max: usize },
}

#[derive(Debug, Clone)]
enum CompiledFilter {
    Sql(Predicate),
    Correlation(CorrelationFilter),
    Constant(bool),
}

/// A checked rule, ready to filter messages.
#[derive(Debug, Clone)]
pub struct Rule {
    spec: RuleSpec,
    filter: CompiledFilter,
    action: Vec<Statement>,
}

impl Rule {
    /// Checks a declared rule: its SQL filter and action must parse.
    pub fn compile(spec: &RuleSpec) -> Result<Rule, RuleError> {
        let syntax = |error| RuleError::Syntax { rule: spec.name.clone(), error: Box::new(error) };
        let filter = match &spec.filter {
            FilterSpec::Sql(text) => CompiledFilter::Sql(filter::parse_filter(text).map_err(syntax)?),
            FilterSpec::Correlation(c) => CompiledFilter::Correlation(c.clone()),
            FilterSpec::True => CompiledFilter::Constant(true),
            FilterSpec::False => CompiledFilter::Constant(false),
        };
        let action = match spec.action.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            Some(text) => filter::parse_action(text).map_err(syntax)?,
            None => Vec::new(),
        };
        Ok(Rule { spec: spec.clone(), filter, action })
    }

    pub fn spec(&self) -> &RuleSpec {
        &self.spec
    }

    /// Whether the filter is TRUE for the message (unknown does not match).
    pub fn matches(&self, m: &Message) -> bool {
        match &self.filter {
            CompiledFilter::Sql(p) => filter::test(p, m) == Truth::True,
            CompiledFilter::Correlation(c) => c.matches(m),
            CompiledFilter::Constant(b) => *b,
        }
    }

    /// Applies the action (if any) to a subscription's copy.
    pub fn apply(&self, m: &mut Message) {
        filter::apply(&self.action, m);
    }
}

/// The copy a subscription with these rules receives, if any rule matches.
pub fn route(rules: &[Rule], m: &Message) -> Option<Message> {
    let matching: Vec<&Rule> = rules.iter().filter(|r| r.matches(m)).collect();
    if matching.is_empty() {
        return None;
    }
    let mut copy = m.clone();
    for r in matching {
        r.apply(&mut copy);
    }
    Some(copy)
}
