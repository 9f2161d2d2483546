//! Placement constraints (`node.role!=manager`) and preferences
//! (`spread=node.labels.zone`): parsed once, matched against nodes.
//!
//! Matching follows Swarm: values compare case-insensitively, and a node
//! without a label has the empty value for it, so `node.labels.K!=v` holds on
//! such a node while `node.labels.K==v` does not.
//!
//! `node.labels.*` are the operator's labels; `engine.labels.*` are the ones
//! a node reported about itself when it joined. A node chooses its own
//! engine labels, so only operator labels can keep a service off a node
//! that wants it (Swarm separates them the same way).

use std::fmt;

use super::ServiceSpec;
use crate::node::{Node, NodeRole, check_label_key};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConstraintAttr {
    NodeId,
    Hostname,
    Role,
    Label(String),
    EngineLabel(String),
    PlatformOs,
    PlatformArch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstraintOp {
    Eq,
    Ne,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constraint {
    pub attr: ConstraintAttr,
    pub op: ConstraintOp,
    pub value: String,
}

const ATTRIBUTES: &str = "node.id, node.hostname, node.role, node.labels.<key>, engine.labels.<key>, \
     node.platform.os, node.platform.arch";
const LABEL_PREFIX: &str = "node.labels.";
const ENGINE_LABEL_PREFIX: &str = "engine.labels.";

/// Swarm's (and `uname -m`'s) names for the Go architecture names nodes report.
const ARCH_ALIASES: [(&str, &str); 2] = [("x86_64", "amd64"), ("aarch64", "arm64")];

impl Constraint {
    /// Parses one constraint; the error names the bad token and lists the
    /// valid attributes and operators.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (at, op) = [("==", ConstraintOp::Eq), ("!=", ConstraintOp::Ne)]
            .into_iter()
            .filter_map(|(token, op)| raw.find(token).map(|at| (at, op)))
            .min_by_key(|(at, _)| *at)
            .ok_or_else(|| format!("no operator in {raw:?}: use == or !="))?;
        let name = raw[..at].trim();
        let value = raw[at + 2..].trim();
        let attr = ConstraintAttr::parse(name, raw)?;
        if value.is_empty() {
            return Err(format!("no value in {raw:?}: write a value after == or !="));
        }
        // `node.role===manager` and `a==b==c` are typos, not values.
        if value.starts_with('=') || value.contains("==") || value.contains("!=") {
            return Err(format!(
                "more than one operator in {raw:?}: write one attribute, == or !=, and a value"
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(format!("the value in {raw:?} contains control characters"));
        }
        let value = if attr == ConstraintAttr::Role {
            let role: NodeRole = value
                .to_ascii_lowercase()
                .parse()
                .map_err(|_| format!("unknown role {value:?} in {raw:?}: use worker or manager"))?;
            role.as_str().to_owned()
        } else {
            value.to_owned()
        };
        Ok(Self { attr, op, value })
    }

    pub fn matches(&self, node: &Node) -> bool {
        let actual = match &self.attr {
            ConstraintAttr::NodeId => Some(node.id.as_str()),
            ConstraintAttr::Hostname => Some(node.hostname.as_str()),
            ConstraintAttr::Role => Some(node.role.as_str()),
            ConstraintAttr::Label(key) => node.labels.get(key).map(String::as_str),
            ConstraintAttr::EngineLabel(key) => node.engine_labels.get(key).map(String::as_str),
            ConstraintAttr::PlatformOs => Some(node.platform.os.as_str()),
            ConstraintAttr::PlatformArch => Some(node.platform.arch.as_str()),
        };
        let equal = actual.is_some_and(|actual| match self.attr {
            ConstraintAttr::PlatformArch => {
                canonical_arch(actual).eq_ignore_ascii_case(canonical_arch(&self.value))
            }
            _ => actual.eq_ignore_ascii_case(&self.value),
        });
        match self.op {
            ConstraintOp::Eq => equal,
            ConstraintOp::Ne => !equal,
        }
    }
}

fn canonical_arch(arch: &str) -> &str {
    ARCH_ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(arch))
        .map_or(arch, |(_, go)| go)
}

impl ConstraintAttr {
    /// `constraint` is the whole text, for the error message.
    fn parse(name: &str, constraint: &str) -> Result<Self, String> {
        if name.is_empty() {
            return Err(format!("no attribute in {constraint:?}: use {ATTRIBUTES}"));
        }
        // Swarm reads attribute names case-insensitively; label keys are
        // case-sensitive.
        let attr = match name.to_ascii_lowercase().as_str() {
            "node.id" => Self::NodeId,
            "node.hostname" => Self::Hostname,
            "node.role" => Self::Role,
            "node.platform.os" => Self::PlatformOs,
            "node.platform.arch" => Self::PlatformArch,
            _ => {
                if let Some(key) = strip_prefix(name, LABEL_PREFIX) {
                    Self::Label(label_key(key, constraint)?)
                } else if let Some(key) = strip_prefix(name, ENGINE_LABEL_PREFIX) {
                    Self::EngineLabel(label_key(key, constraint)?)
                } else {
                    return Err(format!(
                        "unknown attribute {name:?} in {constraint:?}: use {ATTRIBUTES}"
                    ));
                }
            }
        };
        Ok(attr)
    }
}

fn strip_prefix<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let head = name.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &name[prefix.len()..])
}

/// Only keys a node can carry are accepted, so a typo cannot make a
/// constraint that silently never (or always) holds.
fn label_key(key: &str, raw: &str) -> Result<String, String> {
    if key.is_empty() {
        return Err(format!(
            "no label key in {raw:?}: write node.labels.<key> or engine.labels.<key>"
        ));
    }
    check_label_key(key).map_err(|error| format!("{} in {raw:?}", error.message))?;
    Ok(key.to_owned())
}

impl fmt::Display for ConstraintAttr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NodeId => f.write_str("node.id"),
            Self::Hostname => f.write_str("node.hostname"),
            Self::Role => f.write_str("node.role"),
            Self::Label(key) => write!(f, "{LABEL_PREFIX}{key}"),
            Self::EngineLabel(key) => write!(f, "{ENGINE_LABEL_PREFIX}{key}"),
            Self::PlatformOs => f.write_str("node.platform.os"),
            Self::PlatformArch => f.write_str("node.platform.arch"),
        }
    }
}

impl fmt::Display for ConstraintOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Eq => "==",
            Self::Ne => "!=",
        })
    }
}

/// The canonical form, e.g. `node.role!=manager`, as reasons quote it.
impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.attr, self.op, self.value)
    }
}

/// `spread=node.labels.K`: spread tasks evenly over the values of label K.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preference {
    pub label: String,
}

impl Preference {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let usage = "the only placement preference is spread=node.labels.<key>";
        let (strategy, target) = raw
            .split_once('=')
            .ok_or_else(|| format!("{raw:?} is not a placement preference: {usage}"))?;
        if !strategy.trim().eq_ignore_ascii_case("spread") {
            return Err(format!(
                "unknown strategy {:?} in {raw:?}: {usage}",
                strategy.trim()
            ));
        }
        let target = target.trim();
        let key = strip_prefix(target, LABEL_PREFIX)
            .ok_or_else(|| format!("cannot spread over {target:?} in {raw:?}: {usage}"))?;
        Ok(Self {
            label: label_key(key, raw)?,
        })
    }

    /// The node's value of the label, if it has one.
    pub fn value_of<'n>(&self, node: &'n Node) -> Option<&'n str> {
        node.labels.get(&self.label).map(String::as_str)
    }
}

impl fmt::Display for Preference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spread={LABEL_PREFIX}{}", self.label)
    }
}

/// Parsed placement rules. Meant for validated specs, where every entry
/// parses; an entry that does not is skipped rather than reported, since
/// `validate` is where users learn about it.
impl ServiceSpec {
    pub fn constraints(&self) -> Vec<Constraint> {
        self.constraints
            .iter()
            .filter_map(|raw| Constraint::parse(raw).ok())
            .collect()
    }

    pub fn spread_preferences(&self) -> Vec<Preference> {
        self.preferences
            .iter()
            .filter_map(|raw| Preference::parse(raw).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::node::{Availability, NodeStatus, Platform, Resources};

    fn node(role: NodeRole, labels: &[(&str, &str)], os: &str, arch: &str) -> Node {
        Node {
            id: "n1abc".into(),
            hostname: "Node-1".into(),
            role,
            availability: Availability::Active,
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            engine_labels: BTreeMap::from([("tier".to_owned(), "secure".to_owned())]),
            status: NodeStatus::Ready,
            address: "10.0.0.1".into(),
            platform: Platform {
                os: os.into(),
                arch: arch.into(),
            },
            resources: Resources::default(),
            engine_version: "27.0".into(),
            agent_version: "0.1.0".into(),
            last_heartbeat_at: None,
            joined_at: 0,
        }
    }

    fn worker() -> Node {
        node(NodeRole::Worker, &[("zone", "a")], "linux", "amd64")
    }

    fn holds(constraint: &str, node: &Node) -> bool {
        Constraint::parse(constraint).unwrap().matches(node)
    }

    #[test]
    fn every_attribute_and_operator_parses() {
        let parsed = Constraint::parse("node.role!=manager").unwrap();
        assert_eq!(
            parsed,
            Constraint {
                attr: ConstraintAttr::Role,
                op: ConstraintOp::Ne,
                value: "manager".into()
            }
        );
        let cases = [
            ("node.id==n1", ConstraintAttr::NodeId),
            ("node.hostname == web-1", ConstraintAttr::Hostname),
            (
                "node.labels.com.example/rack-1==r1",
                ConstraintAttr::Label("com.example/rack-1".into()),
            ),
            ("node.platform.os==linux", ConstraintAttr::PlatformOs),
            ("node.platform.arch!=arm64", ConstraintAttr::PlatformArch),
            ("Node.Role==Worker", ConstraintAttr::Role),
        ];
        for (raw, attr) in cases {
            assert_eq!(Constraint::parse(raw).unwrap().attr, attr, "{raw}");
        }
    }

    #[test]
    fn display_is_canonical() {
        for (raw, canonical) in [
            ("node.role!=manager", "node.role!=manager"),
            ("  NODE.ROLE  ==  Manager ", "node.role==manager"),
            ("node.labels.zone == a", "node.labels.zone==a"),
            ("node.platform.arch==x86_64", "node.platform.arch==x86_64"),
        ] {
            let parsed = Constraint::parse(raw).unwrap();
            assert_eq!(parsed.to_string(), canonical);
            assert_eq!(Constraint::parse(canonical).unwrap(), parsed);
        }
    }

    #[test]
    fn errors_name_the_bad_token_and_the_choices() {
        let error = Constraint::parse("node.colour==red").unwrap_err();
        assert_eq!(
            error,
            "unknown attribute \"node.colour\" in \"node.colour==red\": use node.id, node.hostname, \
             node.role, node.labels.<key>, engine.labels.<key>, node.platform.os, node.platform.arch"
        );
        assert_eq!(
            Constraint::parse("node.role=manager").unwrap_err(),
            "no operator in \"node.role=manager\": use == or !="
        );
        assert!(Constraint::parse("node.role==").unwrap_err().contains("no value"));
        assert!(
            Constraint::parse("node.role==  ")
                .unwrap_err()
                .contains("no value")
        );
        assert!(
            Constraint::parse("==worker")
                .unwrap_err()
                .contains("no attribute")
        );
        let error = Constraint::parse("node.role==boss").unwrap_err();
        assert!(
            error.contains("\"boss\"") && error.contains("worker or manager"),
            "{error}"
        );
        assert!(
            Constraint::parse("node.labels.==a")
                .unwrap_err()
                .contains("no label key")
        );
        let error = Constraint::parse("node.labels.a b==c").unwrap_err();
        assert!(error.contains("\"a b\""), "{error}");
        assert!(
            Constraint::parse("node.role===manager")
                .unwrap_err()
                .contains("more than one operator")
        );
        assert!(
            Constraint::parse("node.labels.a==b!=c")
                .unwrap_err()
                .contains("more than one operator")
        );
        assert!(
            Constraint::parse("node.labels.a==b\nc")
                .unwrap_err()
                .contains("control")
        );
        assert!(Constraint::parse("").unwrap_err().contains("no operator"));
    }

    #[test]
    fn role_id_and_hostname_match() {
        let worker = worker();
        let manager = node(NodeRole::Manager, &[], "linux", "amd64");
        assert!(holds("node.role!=manager", &worker));
        assert!(!holds("node.role!=manager", &manager));
        assert!(holds("node.role==manager", &manager));
        assert!(holds("node.id==n1abc", &worker));
        assert!(!holds("node.id==n1", &worker));
        // Swarm compares values case-insensitively.
        assert!(holds("node.hostname==node-1", &worker));
        assert!(!holds("node.hostname!=NODE-1", &worker));
    }

    #[test]
    fn labels_match_with_swarm_semantics_for_missing_ones() {
        let worker = worker();
        assert!(holds("node.labels.zone==a", &worker));
        assert!(!holds("node.labels.zone==b", &worker));
        assert!(holds("node.labels.zone!=b", &worker));
        assert!(!holds("node.labels.zone!=a", &worker));
        // No `disk` label: `!=` holds, `==` does not.
        assert!(holds("node.labels.disk!=ssd", &worker));
        assert!(!holds("node.labels.disk==ssd", &worker));
        // Label keys are case-sensitive.
        assert!(!holds("node.labels.Zone==a", &worker));
    }

    #[test]
    fn a_label_the_node_reported_itself_matches_engine_labels_only() {
        let worker = worker();
        assert!(holds("engine.labels.tier==secure", &worker));
        assert!(holds("Engine.Labels.tier==SECURE", &worker));
        assert!(!holds("node.labels.tier==secure", &worker));
        assert!(!holds("engine.labels.zone==a", &worker));
        assert_eq!(
            Constraint::parse("engine.labels.tier==secure")
                .unwrap()
                .to_string(),
            "engine.labels.tier==secure"
        );
    }

    #[test]
    fn platform_matches_with_aliases_and_any_case() {
        let amd = node(NodeRole::Worker, &[], "linux", "amd64");
        let arm = node(NodeRole::Worker, &[], "linux", "arm64");
        assert!(holds("node.platform.os==Linux", &amd));
        assert!(!holds("node.platform.os==windows", &amd));
        assert!(holds("node.platform.arch==amd64", &amd));
        assert!(holds("node.platform.arch==x86_64", &amd));
        assert!(holds("node.platform.arch==X86_64", &amd));
        assert!(!holds("node.platform.arch==x86_64", &arm));
        assert!(holds("node.platform.arch==aarch64", &arm));
        assert!(!holds("node.platform.arch!=aarch64", &arm));
        // A node reporting the alias matches the Go name too.
        let uname = node(NodeRole::Worker, &[], "linux", "aarch64");
        assert!(holds("node.platform.arch==arm64", &uname));
    }

    #[test]
    fn preferences_parse_only_the_spread_form() {
        let preference = Preference::parse("spread=node.labels.zone").unwrap();
        assert_eq!(preference.label, "zone");
        assert_eq!(preference.to_string(), "spread=node.labels.zone");
        assert_eq!(
            Preference::parse(" spread = node.labels.zone ").unwrap(),
            preference
        );
        assert_eq!(preference.value_of(&worker()), Some("a"));
        assert_eq!(
            Preference::parse("spread=node.labels.rack")
                .unwrap()
                .value_of(&worker()),
            None
        );
        for (bad, expected) in [
            ("node.labels.zone", "is not a placement preference"),
            ("pack=node.labels.zone", "unknown strategy \"pack\""),
            ("spread=node.role", "cannot spread over \"node.role\""),
            ("spread=node.labels.", "no label key"),
        ] {
            let error = Preference::parse(bad).unwrap_err();
            assert!(error.contains(expected), "{bad}: {error}");
            assert!(
                error.contains("spread=node.labels.<key>") || expected == "no label key",
                "{error}"
            );
        }
    }
}
