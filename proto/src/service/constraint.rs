//! Placement constraints (`node.role!=manager`) and preferences
//! (`spread=node.labels.zone`): parsed once, matched against nodes.

use crate::node::Node;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConstraintAttr {
    NodeId,
    Hostname,
    Role,
    Label(String),
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

impl Constraint {
    /// Parses one constraint; the error names the bad token and lists the
    /// valid attributes and operators.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let _ = raw;
        todo!("constraint grammar")
    }

    pub fn matches(&self, node: &Node) -> bool {
        let _ = node;
        todo!("constraint matching")
    }
}

/// `spread=node.labels.K`: spread tasks evenly over the values of label K.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preference {
    pub label: String,
}

impl Preference {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let _ = raw;
        todo!("preference grammar")
    }

    /// The node's value of the label, if it has one.
    pub fn value_of<'n>(&self, node: &'n Node) -> Option<&'n str> {
        node.labels.get(&self.label).map(String::as_str)
    }
}
