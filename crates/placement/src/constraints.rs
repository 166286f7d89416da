//! Constraints compiled against the cluster. Attribute values are interned per attribute in
//! Marathon's canonical form (numbers as `0.###`, ranges and sets sorted), so a rule compares
//! small integers. Static rules (value, negated, `is`, `cluster`, `like`, `unlike`, dedicated)
//! become a pass/fail table per value and never change within a round; count rules (`limit`,
//! `unique`, `max_per`, `group_by`) count the job's instances per value and are updated as the
//! round places them. A host lacking the attribute passes only negated values and `unlike`.

use std::collections::BTreeMap;
use std::rc::Rc;

use atoll_model::constraint::DEDICATED_ATTRIBUTE;
use atoll_model::{Constraint, ConstraintRule};

use crate::input::AgentSnapshot;
use crate::reasons::Veto;

/// An interned attribute value.
type ValueId = u32;

/// One attribute's values across the agents of the round (agents in id order).
pub(crate) struct Column {
    by_agent: Rc<[Option<ValueId>]>,
    /// Id → canonical value.
    names: Vec<String>,
}

impl Column {
    fn build(agents: &[&AgentSnapshot], attribute: &str) -> Column {
        let mut ids: BTreeMap<String, ValueId> = BTreeMap::new();
        let mut names = Vec::new();
        let by_agent = agents
            .iter()
            .map(|agent| {
                let value = canonical(agent.attributes.0.get(attribute)?);
                let next = names.len() as ValueId;
                let id = *ids.entry(value.clone()).or_insert(next);
                if id == next {
                    names.push(value);
                }
                Some(id)
            })
            .collect();
        Column { by_agent, names }
    }

    fn table(&self, passes: impl Fn(&str) -> bool) -> Vec<bool> {
        self.names.iter().map(|name| passes(name)).collect()
    }
}

/// The columns of the attributes the round's constraints name, each built on first use.
#[derive(Default)]
pub(crate) struct AttributeIndex {
    columns: BTreeMap<String, Rc<Column>>,
}

impl AttributeIndex {
    fn column(&mut self, agents: &[&AgentSnapshot], attribute: &str) -> Rc<Column> {
        if let Some(column) = self.columns.get(attribute) {
            return Rc::clone(column);
        }
        let column = Rc::new(Column::build(agents, attribute));
        self.columns.insert(attribute.to_owned(), Rc::clone(&column));
        column
    }
}

/// Marathon's rendering of an attribute value: a number as `0.###` (half-even), ranges
/// `[b-e,...]` and sets `{a,b}` sorted; anything else as written.
pub(crate) fn canonical(value: &str) -> String {
    let value = value.trim();
    let is_number = {
        let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
        !whole.is_empty() && !fraction.is_empty() && (whole.bytes().chain(fraction.bytes())).all(|b| b.is_ascii_digit())
    };
    if is_number && let Ok(number) = value.parse::<f64>() {
        let text = format!("{number:.3}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        return if text == "-0" { "0".to_owned() } else { text.to_owned() };
    }
    if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        let ranges: Option<Vec<(u64, u64)>> = inner
            .split(',')
            .map(|r| {
                let (b, e) = r.trim().split_once('-')?;
                Some((b.trim().parse().ok()?, e.trim().parse().ok()?))
            })
            .collect();
        if let Some(mut ranges) = ranges {
            ranges.sort_unstable();
            let parts: Vec<String> = ranges.iter().map(|(b, e)| format!("{b}-{e}")).collect();
            return format!("[{}]", parts.join(","));
        }
    }
    if let Some(inner) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
        let mut items: Vec<&str> = inner.split(',').map(str::trim).collect();
        items.sort_unstable();
        return format!("{{{}}}", items.join(","));
    }
    value.to_owned()
}

/// The static half of a job's constraints in a canonical order; jobs with equal keys share one
/// set of eligible agents per round.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct StaticKey {
    /// The job's dedicated `role/name` pools.
    pools: Vec<String>,
    /// `(attribute, rule)` of every static rule, sorted.
    rules: Vec<(String, String)>,
}

impl StaticKey {
    pub(crate) fn of(constraints: &[Constraint]) -> StaticKey {
        let mut key = StaticKey { pools: Vec::new(), rules: Vec::new() };
        for constraint in constraints {
            match &constraint.rule {
                ConstraintRule::Dedicated(pool) => key.pools.push(pool.clone()),
                rule if is_static(rule) => key.rules.push((constraint.attribute.clone(), constraint.rule_text())),
                _ => {}
            }
        }
        key.pools.sort();
        key.rules.sort();
        key.rules.dedup();
        key
    }
}

fn is_static(rule: &ConstraintRule) -> bool {
    matches!(
        rule,
        ConstraintRule::Value { .. }
            | ConstraintRule::Is(_)
            | ConstraintRule::Cluster(_)
            | ConstraintRule::Like(_)
            | ConstraintRule::Unlike(_)
    )
}

/// One static rule as a table: which values pass.
struct StaticRule {
    attribute: Rc<str>,
    column: Rc<Column>,
    passes: Vec<bool>,
    missing_passes: bool,
}

impl StaticRule {
    fn compile(constraint: &Constraint, column: Rc<Column>) -> Option<StaticRule> {
        let full_match = |pattern: &str| regex_lite::Regex::new(&format!("^(?:{pattern})$")).ok();
        let (passes, missing_passes) = match &constraint.rule {
            ConstraintRule::Value { values, negated } => {
                let wanted: Vec<String> = values.iter().map(|v| canonical(v)).collect();
                (column.table(|name| wanted.iter().any(|w| w == name) != *negated), *negated)
            }
            ConstraintRule::Is(value) | ConstraintRule::Cluster(value) => {
                let wanted = canonical(value);
                (column.table(|name| name == wanted), false)
            }
            // A pattern that does not compile (the model refuses those) matches no host.
            ConstraintRule::Like(pattern) => match full_match(pattern) {
                Some(re) => (column.table(|name| re.is_match(name)), false),
                None => (column.table(|_| false), false),
            },
            ConstraintRule::Unlike(pattern) => match full_match(pattern) {
                Some(re) => (column.table(|name| !re.is_match(name)), true),
                None => (column.table(|_| false), false),
            },
            _ => return None,
        };
        Some(StaticRule { attribute: constraint.attribute.as_str().into(), column, passes, missing_passes })
    }

    fn allows(&self, agent: usize) -> bool {
        match self.column.by_agent[agent] {
            Some(value) => self.passes[value as usize],
            None => self.missing_passes,
        }
    }
}

/// Whether a job's dedicated pool `role/name` matches a host's: names equal, roles equal or `*`.
fn pool_matches(job: &str, host: &str) -> bool {
    match (job.split_once('/'), host.split_once('/')) {
        (Some((job_role, job_name)), Some((host_role, host_name))) => {
            job_name == host_name && (job_role == host_role || job_role == "*" || host_role == "*")
        }
        _ => job == host,
    }
}

/// A job's static rules, compiled against the round's agents.
pub(crate) struct StaticRules {
    dedicated: Rc<Column>,
    /// Per dedicated value: whether the job may use hosts dedicated to it.
    pool_allowed: Vec<bool>,
    job_is_dedicated: bool,
    rules: Vec<StaticRule>,
}

impl StaticRules {
    pub(crate) fn compile(
        constraints: &[Constraint],
        agents: &[&AgentSnapshot],
        index: &mut AttributeIndex,
    ) -> StaticRules {
        let pools: Vec<&str> = constraints
            .iter()
            .filter_map(|c| match &c.rule {
                ConstraintRule::Dedicated(pool) => Some(pool.as_str()),
                _ => None,
            })
            .collect();
        let dedicated = index.column(agents, DEDICATED_ATTRIBUTE);
        let pool_allowed = dedicated.table(|host| pools.iter().all(|pool| pool_matches(pool, host)));
        let mut sorted: Vec<&Constraint> = constraints.iter().filter(|c| is_static(&c.rule)).collect();
        sorted.sort_by_cached_key(|c| (c.attribute.clone(), c.rule_text()));
        let rules =
            sorted.into_iter().filter_map(|c| StaticRule::compile(c, index.column(agents, &c.attribute))).collect();
        StaticRules { dedicated, pool_allowed, job_is_dedicated: !pools.is_empty(), rules }
    }

    /// Aurora's dedicated check: a dedicated host takes only jobs of its pool ("Host is
    /// dedicated"), and a dedicated job only hosts of its pool (its constraint is not satisfied).
    pub(crate) fn dedication_veto(&self, agent: usize) -> Option<Veto> {
        match (self.dedicated.by_agent[agent], self.job_is_dedicated) {
            (Some(_), false) => Some(Veto::Dedicated),
            (Some(pool), true) if self.pool_allowed[pool as usize] => None,
            (_, true) => Some(Veto::Constraint(DEDICATED_ATTRIBUTE.into())),
            (None, false) => None,
        }
    }

    /// The first static rule the agent breaks.
    pub(crate) fn rule_veto(&self, agent: usize) -> Option<Veto> {
        self.rules.iter().find(|r| !r.allows(agent)).map(|r| Veto::Constraint(Rc::clone(&r.attribute)))
    }
}

/// How a count rule limits instances per attribute value.
#[derive(Clone, Copy, Debug)]
enum CountKind {
    /// Aurora's `limit:N` and Marathon's `max_per:N`: at most N per value.
    AtMost(u32),
    Unique,
    /// Marathon's `group_by`: the job's instances split evenly over `groups` values.
    GroupBy {
        groups: u32,
        per_group: u32,
        remainder: u32,
    },
}

/// A count rule with the job's instances counted per value.
pub(crate) struct CountRule {
    attribute: Rc<str>,
    by_agent: Rc<[Option<ValueId>]>,
    kind: CountKind,
    counts: BTreeMap<ValueId, u32>,
    /// Values with at least one instance.
    in_use: u32,
    /// `group_by`: values holding more than `per_group` instances (each used one remainder).
    over: u32,
}

impl CountRule {
    /// Compiles every count rule of a job. `group_by` without a count divides among the values
    /// the cluster's agents have.
    pub(crate) fn compile_all(
        constraints: &[Constraint],
        instances: u32,
        agents: &[&AgentSnapshot],
        index: &mut AttributeIndex,
    ) -> Vec<CountRule> {
        let mut rules = Vec::new();
        for constraint in constraints {
            let mut column = || index.column(agents, &constraint.attribute);
            let (column, kind) = match constraint.rule {
                ConstraintRule::Limit(n) | ConstraintRule::MaxPer(n) => (column(), CountKind::AtMost(n)),
                ConstraintRule::Unique => (column(), CountKind::Unique),
                ConstraintRule::GroupBy(n) => {
                    let column = column();
                    let groups = n.unwrap_or(column.names.len() as u32);
                    let per_group = instances.checked_div(groups).unwrap_or(0);
                    let remainder = instances.checked_rem(groups).unwrap_or(0);
                    (column, CountKind::GroupBy { groups, per_group, remainder })
                }
                _ => continue,
            };
            rules.push(CountRule {
                attribute: constraint.attribute.as_str().into(),
                by_agent: Rc::clone(&column.by_agent),
                kind,
                counts: BTreeMap::new(),
                in_use: 0,
                over: 0,
            });
        }
        rules
    }

    /// Whether one more instance may go to `agent`.
    pub(crate) fn allows(&self, agent: usize) -> bool {
        let Some(value) = self.by_agent[agent] else { return false };
        let count = self.counts.get(&value).copied().unwrap_or(0);
        match self.kind {
            CountKind::AtMost(n) => count < n,
            CountKind::Unique => count == 0,
            CountKind::GroupBy { groups, per_group, remainder } => {
                if count == 0 && self.in_use >= groups {
                    return false;
                }
                count < per_group || (count == per_group && self.over < remainder)
            }
        }
    }

    /// Counts an instance on `agent`.
    pub(crate) fn record(&mut self, agent: usize) {
        let Some(value) = self.by_agent[agent] else { return };
        let count = self.counts.entry(value).or_insert(0);
        *count += 1;
        if *count == 1 {
            self.in_use += 1;
        }
        if let CountKind::GroupBy { per_group, .. } = self.kind
            && *count == per_group + 1
        {
            self.over += 1;
        }
    }

    pub(crate) fn veto(&self) -> Veto {
        Veto::Limit(Rc::clone(&self.attribute))
    }
}
