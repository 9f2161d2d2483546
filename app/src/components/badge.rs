use leptos::prelude::*;
use shoal_proto::auth::Role;

#[component]
pub fn RoleBadge(role: Role, #[prop(optional)] id: &'static str) -> impl IntoView {
    view! {
        <span class=format!("badge role-{role}") id=(!id.is_empty()).then_some(id)>
            {role.as_str()}
        </span>
    }
}

/// How usable an account or a token is, as a coloured word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    Disabled,
    Expired,
    Revoked,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
            Status::Expired => "expired",
            Status::Revoked => "revoked",
        }
    }
}

#[component]
pub fn StatusBadge(status: Status) -> impl IntoView {
    view! { <span class=format!("badge status-{}", status.as_str())>{status.as_str()}</span> }
}
