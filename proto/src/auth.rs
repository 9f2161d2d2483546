//! Users, roles, API tokens and the audit log, as the console and the REST
//! API see them, with the validation both apply.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{FieldError, Millis};

/// What a user (or a token) may do. Ordered: a higher role can do everything
/// a lower one can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Services, deploys, rollbacks, node availability and labels.
    Operator,
    /// Everything, including users, join tokens and webhooks.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| {
                FieldError::new(
                    "role",
                    format!("unknown role {s:?}: use viewer, operator or admin"),
                )
            })
    }
}

pub const USERNAME_MAX: usize = 64;
pub const PASSWORD_MIN: usize = 12;
/// Bounds the work one login can cause: argon2 cost grows with input length.
pub const PASSWORD_MAX: usize = 1024;
pub const TOKEN_NAME_MAX: usize = 100;

/// A valid username: 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a
/// letter or digit. Case-insensitive: stored lower-case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim().to_ascii_lowercase();
        let err = |message: &str| Err(FieldError::new("username", message));
        if name.is_empty() {
            return err("a username is required");
        }
        if name.chars().count() > USERNAME_MAX {
            return err("a username has at most 64 characters");
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return err("use only letters a-z, digits, '.', '_' and '-'");
        }
        if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return err("a username starts with a letter or a digit");
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = FieldError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Username> for String {
    fn from(value: Username) -> Self {
        value.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a new password's length; the strength beyond that is the user's.
pub fn check_new_password(password: &str) -> Result<(), FieldError> {
    let length = password.chars().count();
    if length < PASSWORD_MIN {
        return Err(FieldError::new(
            "password",
            format!("a password needs at least {PASSWORD_MIN} characters (this one has {length})"),
        ));
    }
    if password.len() > PASSWORD_MAX {
        return Err(FieldError::new(
            "password",
            format!("a password has at most {PASSWORD_MAX} bytes"),
        ));
    }
    Ok(())
}

pub fn check_token_name(name: &str) -> Result<String, FieldError> {
    check_name("token", name, TOKEN_NAME_MAX, "ci-deploy")
}

/// A name users give a thing (a token, a webhook): trimmed, not empty, at
/// most `max` characters, no control characters.
pub fn check_name(thing: &str, name: &str, max: usize, example: &str) -> Result<String, FieldError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(FieldError::new(
            "name",
            format!("a {thing} needs a name, e.g. \"{example}\""),
        ));
    }
    if name.chars().count() > max {
        return Err(FieldError::new(
            "name",
            format!("a {thing} name has at most {max} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            "name",
            format!("a {thing} name cannot contain control characters"),
        ));
    }
    Ok(name.to_owned())
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: Millis,
    pub last_login_at: Option<Millis>,
}

/// Who is calling, as `GET /api/v1/me` and the console's user menu show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub user: User,
    /// The role in effect for this call: a token's role can be lower than
    /// its user's.
    pub role: Role,
    /// `session` or `api_token`.
    pub via: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub role: Role,
}

/// A change to a user; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub last_used_at: Option<Millis>,
    pub revoked: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    pub name: String,
    pub role: Role,
    /// Days until the token stops working; none means it never expires.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

pub const TOKEN_MAX_DAYS: u32 = 3650;

/// The secret is in this answer only; the server keeps a hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedApiToken {
    pub token: ApiToken,
    pub secret: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: Millis,
    /// `user`, `api_token`, `webhook`, `system` or `anonymous`.
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub source: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Matches the actor's id or name.
    #[serde(default)]
    pub actor: Option<String>,
    /// An exact action, or a prefix ending in `.` (e.g. `user.`).
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub since: Option<Millis>,
    #[serde(default)]
    pub until: Option<Millis>,
    /// Entries older than this id (the previous page's `next_before`).
    #[serde(default)]
    pub before: Option<i64>,
    #[serde(default)]
    pub limit: Option<u32>,
}

pub const AUDIT_PAGE_MAX: u32 = 200;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_before: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!("operator".parse::<Role>().unwrap(), Role::Operator);
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .message
                .contains("viewer, operator or admin")
        );
    }

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(Username::parse("  Alice.B ").unwrap().as_str(), "alice.b");
        for bad in ["", "-x", "a b", "x'; DROP TABLE users;--", &"a".repeat(65), "zoë"] {
            let error = Username::parse(bad).unwrap_err();
            assert_eq!(error.field, "username", "{bad:?}");
        }
    }

    #[test]
    fn passwords_need_a_minimum_length() {
        let error = check_new_password("short").unwrap_err();
        assert!(error.message.contains("at least 12"), "{error}");
        assert!(check_new_password("correct horse battery").is_ok());
        assert!(check_new_password(&"x".repeat(PASSWORD_MAX + 1)).is_err());
    }
}
