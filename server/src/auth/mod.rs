//! Who is calling and what they may do. The role check for every REST route
//! and every server function is [`authorize`], applied by the router from
//! the route tables, before any handler runs.

pub mod origin;
pub mod password;
pub mod proxy;
pub mod secret;
pub mod session;
pub mod throttle;

use std::net::IpAddr;

use serde_json::json;
use shoal_proto::auth::{Role, User};
use tower_sessions::Session;

use crate::error::AppError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorKind {
    User,
    ApiToken,
    Webhook,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ApiToken => "api_token",
            Self::Webhook => "webhook",
            Self::System => "system",
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Actor {
    pub kind: ActorKind,
    pub user_id: String,
    pub username: String,
    /// The role in effect: for a token, the lower of its role and its user's.
    pub role: Role,
    pub token_id: Option<String>,
    /// The account behind a user or token actor, as authentication loaded
    /// it for this request: who-am-I answers need no second lookup.
    pub account: Option<User>,
}

impl Actor {
    /// The id the audit log records: the token's for token calls.
    pub fn audit_id(&self) -> &str {
        self.token_id.as_deref().unwrap_or(&self.user_id)
    }
}

/// Everything known about one request's caller, resolved once per request by
/// `http::authenticate` and read by REST handlers and server functions.
#[derive(Clone)]
pub struct Caller {
    pub actor: Option<Actor>,
    pub source: Option<IpAddr>,
    pub session: Option<Session>,
}

impl Caller {
    pub fn system() -> Self {
        Self {
            actor: None,
            source: None,
            session: None,
        }
    }

    pub fn actor(&self) -> Result<&Actor, AppError> {
        self.actor.as_ref().ok_or(AppError::Unauthenticated)
    }

    pub fn session(&self) -> Result<&Session, AppError> {
        self.session
            .as_ref()
            .ok_or_else(|| AppError::BadRequest("this call needs a browser session (cookies)".into()))
    }

    /// Who made a change, as revisions and rollouts record it.
    pub fn name(&self) -> String {
        self.actor
            .as_ref()
            .map_or_else(|| "system".to_owned(), |actor| actor.username.clone())
    }

    /// The actor as the audit log describes it.
    pub fn audit_actor(&self) -> (&'static str, Option<String>, Option<String>) {
        match &self.actor {
            Some(actor) => (
                actor.kind.as_str(),
                Some(actor.audit_id().to_owned()),
                Some(actor.username.clone()),
            ),
            None if self.source.is_none() => (ActorKind::System.as_str(), None, None),
            None => ("anonymous", None, None),
        }
    }

    pub fn audit_source(&self) -> Option<String> {
        self.source.map(|ip| ip.to_string())
    }
}

/// Who may call a route or a server function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, logged in or not (login, first-admin setup, health).
    Public,
    /// A logged-in user or a token whose role is at least this one.
    Min(Role),
}

/// The single role check: 401 for nobody, 403 for a role too low.
pub fn authorize(caller: &Caller, access: Access) -> Result<(), AppError> {
    match access {
        Access::Public => Ok(()),
        Access::Min(needed) => {
            let actor = caller.actor()?;
            if actor.role >= needed {
                Ok(())
            } else {
                Err(AppError::Forbidden(format!(
                    "this needs the {needed} role; {} has the {} role",
                    actor.username, actor.role
                )))
            }
        }
    }
}

/// Detail for an audit entry about an access decision.
pub fn denial_detail(access: Access) -> serde_json::Value {
    match access {
        Access::Public => json!({}),
        Access::Min(role) => json!({ "needed_role": role }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Option<Role>) -> Caller {
        Caller {
            actor: role.map(|role| Actor {
                kind: ActorKind::User,
                user_id: "u1".into(),
                username: "alice".into(),
                role,
                token_id: None,
                account: None,
            }),
            source: Some([127, 0, 0, 1].into()),
            session: None,
        }
    }

    #[test]
    fn authorize_walks_the_role_ladder() {
        use Role::*;
        for (have, need, allowed) in [
            (Viewer, Viewer, true),
            (Viewer, Operator, false),
            (Operator, Operator, true),
            (Operator, Admin, false),
            (Admin, Viewer, true),
            (Admin, Admin, true),
        ] {
            assert_eq!(
                authorize(&caller(Some(have)), Access::Min(need)).is_ok(),
                allowed,
                "{have} for {need}"
            );
        }
        assert!(matches!(
            authorize(&caller(None), Access::Min(Viewer)),
            Err(AppError::Unauthenticated)
        ));
        assert!(authorize(&caller(None), Access::Public).is_ok());
    }
}
