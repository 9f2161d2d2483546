//! Nodes as the console and the REST API see them, the changes users make to
//! them, and the join tokens that admit new ones.

use std::{collections::BTreeMap, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{FieldError, Millis};

/// What a node is for. Managers and workers both run tasks; constraints such
/// as `node.role!=manager` tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    Worker,
    Manager,
}

/// Whether the scheduler may place tasks on a node: `active` takes new tasks,
/// `pause` keeps its tasks but takes no new ones, `drain` moves its tasks away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Availability {
    Active,
    Pause,
    Drain,
}

/// Whether a node's agent is in touch: `ready` while its heartbeats arrive,
/// `down` once it missed too many, `unknown` after a server restart until it
/// reconnects (or the time for a heartbeat has passed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    Ready,
    Down,
    Unknown,
}

macro_rules! text_enum {
    ($type:ident, $field:literal, $($variant:ident => $text:literal),+) => {
        impl $type {
            pub const ALL: &[$type] = &[$($type::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($type::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $type {
            type Err = FieldError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let known: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    FieldError::new($field, format!("unknown {} {s:?}: use {}", $field, known.join(", ")))
                })
            }
        }
    };
}

text_enum!(NodeRole, "role", Worker => "worker", Manager => "manager");
text_enum!(Availability, "availability", Active => "active", Pause => "pause", Drain => "drain");
text_enum!(NodeStatus, "status", Ready => "ready", Down => "down", Unknown => "unknown");

/// Platform in Go's terms (`linux`, `amd64`), as image platforms use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub arch: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub cpus: u64,
    pub memory_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    pub hostname: String,
    pub role: NodeRole,
    pub availability: Availability,
    /// The operator's labels (`PATCH /api/v1/nodes/{id}`): what
    /// `node.labels.*` constraints and spread preferences read.
    pub labels: BTreeMap<String, String>,
    /// What the node said about itself when it joined (`shoal-agent join
    /// --label`), read by `engine.labels.*` constraints. The node picks
    /// them, so they cannot keep a service off a node that wants it.
    #[serde(default)]
    pub engine_labels: BTreeMap<String, String>,
    pub status: NodeStatus,
    /// Where the node can be reached: the address it asked to be known by
    /// when it joined, or the address its join connection came from. Fixed
    /// from then on, since the mesh sends other nodes' traffic there; an
    /// admin changes it (`PATCH`, `address`).
    pub address: String,
    pub platform: Platform,
    pub resources: Resources,
    pub engine_version: String,
    pub agent_version: String,
    pub last_heartbeat_at: Option<Millis>,
    pub joined_at: Millis,
}

/// A change an operator makes to a node (`PATCH /api/v1/nodes/{id}`); absent
/// fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeChange {
    #[serde(default)]
    pub availability: Option<Availability>,
    #[serde(default)]
    pub labels: Option<LabelsPatch>,
    /// The IP address other nodes reach this one at, an admin's call: a
    /// node's address is otherwise fixed when it joins.
    #[serde(default)]
    pub address: Option<String>,
}

/// Labels to set (adding or overwriting) and to remove.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelsPatch {
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// Promotion or demotion (`POST /api/v1/nodes/{id}/role`), an admin's call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub role: NodeRole,
}

/// `DELETE /api/v1/nodes/{id}?force=true`: a ready node is removed only with force.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveNode {
    #[serde(default)]
    pub force: bool,
}

/// One join token as an admin sees it, with the command to run on a new node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinToken {
    pub role: NodeRole,
    pub token: String,
    /// Ready to paste on the new node, e.g.
    /// `shoal-agent join --token SHOAL-1-… manager.example:8302`.
    pub command: String,
    pub rotated_at: Millis,
}

/// `GET /api/v1/join-tokens`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTokens {
    pub worker: JoinToken,
    pub manager: JoinToken,
    /// The address agents dial, as the join commands name it.
    pub server_address: String,
}

pub const LABEL_KEY_MAX: usize = 128;
pub const LABEL_VALUE_MAX: usize = 256;
pub const LABELS_MAX: usize = 64;
pub const HOSTNAME_MAX: usize = 253;

/// A label key: letters, digits, '.', '_', '-' and '/', starting and ending
/// with a letter or digit, so that constraints (`node.labels.zone==a`) can
/// name it without quoting.
pub fn check_label_key(key: &str) -> Result<(), FieldError> {
    let err = |message: String| Err(FieldError::new("labels", message));
    if key.is_empty() || key.len() > LABEL_KEY_MAX {
        return err(format!("a label key has 1 to {LABEL_KEY_MAX} characters"));
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
    {
        return err(format!(
            "label key {key:?}: use only letters, digits, '.', '_', '-' and '/'"
        ));
    }
    let alnum = |c: char| c.is_ascii_alphanumeric();
    if !key.starts_with(alnum) || !key.ends_with(alnum) {
        return err(format!(
            "label key {key:?} must start and end with a letter or a digit"
        ));
    }
    Ok(())
}

pub fn check_label_value(key: &str, value: &str) -> Result<(), FieldError> {
    if value.len() > LABEL_VALUE_MAX {
        return Err(FieldError::new(
            "labels",
            format!("the value of label {key} has more than {LABEL_VALUE_MAX} bytes"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            "labels",
            format!("the value of label {key} contains control characters"),
        ));
    }
    Ok(())
}

/// Checks a whole label set, as given at join time.
pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), FieldError> {
    if labels.len() > LABELS_MAX {
        return Err(FieldError::new(
            "labels",
            format!("a node has at most {LABELS_MAX} labels"),
        ));
    }
    labels
        .iter()
        .try_for_each(|(key, value)| check_label_key(key).and_then(|()| check_label_value(key, value)))
}

/// Parses `KEY=VALUE` as the agent's `--label` flag takes it.
pub fn parse_label(raw: &str) -> Result<(String, String), FieldError> {
    let (key, value) = raw
        .split_once('=')
        .ok_or_else(|| FieldError::new("labels", format!("{raw:?}: write a label as KEY=VALUE")))?;
    check_label_key(key)?;
    check_label_value(key, value)?;
    Ok((key.to_owned(), value.to_owned()))
}

impl LabelsPatch {
    /// The labels after this patch. Removing an absent label is not an error
    /// (the outcome is what was asked); naming a key in both lists is, since
    /// the intent is unclear.
    pub fn apply(&self, current: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, FieldError> {
        if let Some(key) = self.remove.iter().find(|key| self.add.contains_key(*key)) {
            return Err(FieldError::new(
                "labels",
                format!("label {key} is both added and removed; choose one"),
            ));
        }
        let mut labels = current.clone();
        for key in &self.remove {
            labels.remove(key);
        }
        for (key, value) in &self.add {
            check_label_key(key)?;
            check_label_value(key, value)?;
            labels.insert(key.clone(), value.clone());
        }
        check_labels(&labels)?;
        Ok(labels)
    }
}

/// A node's hostname as the agent reports it: what users recognise a node by.
pub fn check_hostname(hostname: &str) -> Result<(), FieldError> {
    let err = |message: &str| Err(FieldError::new("hostname", message));
    if hostname.is_empty() {
        return err("a node needs a hostname; pass --hostname to the agent");
    }
    if hostname.len() > HOSTNAME_MAX {
        return err("a hostname has at most 253 characters");
    }
    if hostname.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return err("a hostname cannot contain spaces or control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_patch_adds_overwrites_and_removes() {
        let patch = LabelsPatch {
            add: labels(&[("zone", "b"), ("disk", "ssd")]),
            remove: vec!["old".into(), "never-there".into()],
        };
        let after = patch
            .apply(&labels(&[("zone", "a"), ("old", "x"), ("keep", "1")]))
            .unwrap();
        assert_eq!(after, labels(&[("disk", "ssd"), ("keep", "1"), ("zone", "b")]));
    }

    #[test]
    fn a_key_both_added_and_removed_is_refused() {
        let patch = LabelsPatch {
            add: labels(&[("zone", "b")]),
            remove: vec!["zone".into()],
        };
        let error = patch.apply(&BTreeMap::new()).unwrap_err();
        assert!(error.message.contains("both added and removed"), "{error}");
    }

    #[test]
    fn label_keys_and_values_are_checked() {
        for bad in ["", "a b", "zone=", ".zone", "zone-", "z!", &"k".repeat(129)] {
            assert!(check_label_key(bad).is_err(), "{bad:?} was accepted");
        }
        for good in ["zone", "a", "com.example/rack-1", "disk_type"] {
            assert!(check_label_key(good).is_ok(), "{good:?} was refused");
        }
        assert!(check_label_value("k", "line\nbreak").is_err());
        assert!(check_label_value("k", "").is_ok());
        let too_many: BTreeMap<_, _> = (0..=LABELS_MAX)
            .map(|n| (format!("k{n}"), String::new()))
            .collect();
        assert!(check_labels(&too_many).is_err());
    }

    #[test]
    fn labels_parse_from_the_command_line() {
        assert_eq!(parse_label("zone=a").unwrap(), ("zone".into(), "a".into()));
        assert_eq!(parse_label("empty=").unwrap(), ("empty".into(), String::new()));
        assert_eq!(parse_label("eq=a=b").unwrap(), ("eq".into(), "a=b".into()));
        assert!(parse_label("zone").unwrap_err().message.contains("KEY=VALUE"));
    }

    #[test]
    fn enums_read_and_write_their_names() {
        assert_eq!("drain".parse::<Availability>().unwrap(), Availability::Drain);
        assert_eq!(NodeRole::Manager.to_string(), "manager");
        let error = "boss".parse::<NodeRole>().unwrap_err();
        assert!(error.message.contains("worker, manager"), "{error}");
        assert_eq!(serde_json::to_string(&NodeStatus::Ready).unwrap(), "\"ready\"");
    }

    #[test]
    fn hostnames_are_checked() {
        assert!(check_hostname("node-1.example").is_ok());
        for bad in ["", "two words", "tab\t", &"h".repeat(254)] {
            assert!(check_hostname(bad).is_err(), "{bad:?}");
        }
    }
}
