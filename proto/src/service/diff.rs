//! What changed between two revisions, field by field.
//!
//! The specs are compared as their JSON forms, so paths and values read as
//! users write them (`"1m30s"`, not milliseconds), and a field added to the
//! spec later is covered without touching this code.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{MASKED_PASSWORD, ServiceSpec};

/// One changed field: `path` is dotted (`update_config.parallelism`,
/// `environment.GREETING`, `ports[0].published`); a missing side means the
/// field was added or removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

const PASSWORD_PATH: &str = "registry_auth.password";

/// Changes in path order: object keys alphabetically at each level, array
/// elements by index. The registry password never appears: both sides are
/// masked, and a changed password is listed with masked values so the change
/// itself stays visible.
pub fn diff(before: &ServiceSpec, after: &ServiceSpec) -> Vec<FieldChange> {
    let password_changed = match (&before.registry_auth, &after.registry_auth) {
        (Some(before), Some(after)) => before.password != after.password,
        _ => false,
    };
    let mut walk = Walk {
        password_changed,
        changes: Vec::new(),
    };
    walk.compare("", &json(before), &json(after));
    walk.changes
}

fn json(spec: &ServiceSpec) -> Value {
    // Plain structs with string map keys: serializing cannot fail.
    serde_json::to_value(spec.masked()).expect("a service spec serializes to JSON")
}

struct Walk {
    password_changed: bool,
    changes: Vec<FieldChange>,
}

impl Walk {
    fn compare(&mut self, path: &str, before: &Value, after: &Value) {
        match (before, after) {
            (Value::Object(before), Value::Object(after)) => {
                // Sorted whatever serde_json's map order, so diffs are stable.
                let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
                for key in keys {
                    let path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    self.entry(path, before.get(key), after.get(key));
                }
            }
            (Value::Array(before), Value::Array(after)) => {
                for i in 0..before.len().max(after.len()) {
                    self.entry(format!("{path}[{i}]"), before.get(i), after.get(i));
                }
            }
            _ if before == after => {
                if path == PASSWORD_PATH && self.password_changed {
                    let masked = Value::from(MASKED_PASSWORD);
                    self.push(path.to_owned(), Some(masked.clone()), Some(masked));
                }
            }
            _ => self.push(path.to_owned(), Some(before.clone()), Some(after.clone())),
        }
    }

    fn entry(&mut self, path: String, before: Option<&Value>, after: Option<&Value>) {
        match (before, after) {
            (Some(before), Some(after)) => self.compare(&path, before, after),
            (before, after) => self.push(path, before.cloned(), after.cloned()),
        }
    }

    fn push(&mut self, path: String, before: Option<Value>, after: Option<Value>) {
        self.changes.push(FieldChange { path, before, after });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::service::{PortConfig, RegistryAuth};

    fn spec() -> ServiceSpec {
        serde_json::from_value(json!({
            "name": "web",
            "image": "shoal-demo:v1",
            "replicas": 6,
            "environment": {"GREETING": "hi", "OLD": "x"},
            "ports": [{"target": 8080, "published": 18080}],
            "constraints": ["node.role!=manager", "node.labels.zone==a"],
        }))
        .unwrap()
    }

    fn change(path: &str, before: Option<Value>, after: Option<Value>) -> FieldChange {
        FieldChange {
            path: path.into(),
            before,
            after,
        }
    }

    #[test]
    fn equal_specs_have_no_changes() {
        assert_eq!(diff(&spec(), &spec()), []);
    }

    #[test]
    fn changes_are_listed_by_path() {
        let before = spec();
        let mut after = spec();
        after.image = "shoal-demo:v2".into();
        after.replicas = None;
        after.entrypoint = Some(vec!["/app".into()]);
        after.environment.insert("GREETING".into(), "hello".into());
        after.environment.insert("NEW".into(), "y".into());
        after.environment.remove("OLD");
        after.ports[0].published = Some(18081);
        after.ports.push(PortConfig {
            target: 9090,
            published: None,
            protocol: Default::default(),
            mode: Default::default(),
        });
        after.constraints.remove(0);
        after.update_config.parallelism = 2;
        after.update_config.monitor = crate::service::Duration::from_secs(90);
        assert_eq!(
            diff(&before, &after),
            [
                change(
                    "constraints[0]",
                    Some(json!("node.role!=manager")),
                    Some(json!("node.labels.zone==a"))
                ),
                change("constraints[1]", Some(json!("node.labels.zone==a")), None),
                change("entrypoint", None, Some(json!(["/app"]))),
                change("environment.GREETING", Some(json!("hi")), Some(json!("hello"))),
                change("environment.NEW", None, Some(json!("y"))),
                change("environment.OLD", Some(json!("x")), None),
                change(
                    "image",
                    Some(json!("shoal-demo:v1")),
                    Some(json!("shoal-demo:v2"))
                ),
                change("ports[0].published", Some(json!(18080)), Some(json!(18081))),
                change(
                    "ports[1]",
                    None,
                    Some(json!({"target": 9090, "protocol": "tcp", "mode": "ingress"}))
                ),
                change("replicas", Some(json!(6)), None),
                change("update_config.monitor", Some(json!("5s")), Some(json!("1m30s"))),
                change("update_config.parallelism", Some(json!(1)), Some(json!(2))),
            ]
        );
    }

    #[test]
    fn a_value_changing_shape_is_one_change() {
        let before = spec();
        let mut after = spec();
        after.healthcheck = Some(serde_json::from_value(json!({"test": ["NONE"]})).unwrap());
        assert_eq!(
            diff(&before, &after),
            [change("healthcheck", None, Some(json!({"test": ["NONE"]})))]
        );
        assert_eq!(
            diff(&after, &before),
            [change("healthcheck", Some(json!({"test": ["NONE"]})), None)]
        );
    }

    #[test]
    fn the_registry_password_never_leaks_but_its_change_shows() {
        let with_password = |username: &str, password: &str| {
            let mut spec = spec();
            spec.registry_auth = Some(RegistryAuth {
                username: username.into(),
                password: password.into(),
            });
            spec
        };
        let masked = || Some(json!(MASKED_PASSWORD));
        let changes = diff(
            &with_password("ci", "old-secret"),
            &with_password("ci", "new-secret"),
        );
        assert_eq!(changes, [change("registry_auth.password", masked(), masked())]);
        assert_eq!(
            diff(&with_password("ci", "same"), &with_password("ci", "same")),
            []
        );
        assert_eq!(
            diff(&with_password("ci", "same"), &with_password("bot", "same")),
            [change(
                "registry_auth.username",
                Some(json!("ci")),
                Some(json!("bot"))
            )]
        );
        let added = diff(&spec(), &with_password("ci", "new-secret"));
        assert_eq!(
            added,
            [change(
                "registry_auth",
                None,
                Some(json!({"username": "ci", "password": MASKED_PASSWORD}))
            )]
        );
        let removed = diff(&with_password("ci", "old-secret"), &spec());
        let all = serde_json::to_string(&[changes, added, removed]).unwrap();
        assert!(!all.contains("secret"), "{all}");
    }
}
