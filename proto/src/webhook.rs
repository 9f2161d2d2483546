//! Webhooks: how a registry push or a CI job asks for a deploy. A webhook
//! belongs to one service and may only move it to an image of the same
//! repository whose reference matches its allow-pattern.

use serde::{Deserialize, Serialize};

use crate::{FieldError, Millis, auth::check_name};

pub const WEBHOOK_NAME_MAX: usize = 64;
pub const PATTERN_MAX: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: String,
    pub service_id: String,
    pub name: String,
    /// Where deliveries go, relative to the server: `/hooks/{id}`.
    pub path: String,
    /// Glob over `repository:tag`, `*` matching any run of characters.
    pub allow: String,
    /// Whether deliveries must carry `X-Hub-Signature-256`.
    pub signed: bool,
    pub enabled: bool,
    pub created_at: Millis,
    pub created_by: String,
    pub last_delivery_at: Option<Millis>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    pub name: String,
    /// Defaults to the service's repository with any tag.
    #[serde(default)]
    pub allow: Option<String>,
    /// Whether to generate an HMAC signing secret that deliveries must use.
    #[serde(default)]
    pub signed: bool,
}

/// Any field left out stays as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChange {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub allow: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// What creation and rotation return: the only time the secrets are shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedWebhook {
    pub webhook: Webhook,
    /// Sent as `Authorization: Bearer <secret>` or `?token=<secret>`.
    pub secret: String,
    /// The HMAC-SHA256 key for `X-Hub-Signature-256`, when the webhook is signed.
    pub signing_secret: Option<String>,
}

/// How a delivery ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new revision was made and its rollout started.
    Deployed,
    /// The service already runs that image.
    Unchanged,
    /// The same delivery id came before; nothing new was started.
    Duplicate,
    /// Valid, but nothing in it was for this service (a pull, another repository).
    Ignored,
    /// Not authenticated, disabled, malformed, too large, too many, or not allowed.
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployed => "deployed",
            Self::Unchanged => "unchanged",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
            Self::Refused => "refused",
        }
    }
}

impl std::str::FromStr for Outcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::Deployed,
            Self::Unchanged,
            Self::Duplicate,
            Self::Ignored,
            Self::Refused,
        ]
        .into_iter()
        .find(|outcome| outcome.as_str() == s)
        .ok_or_else(|| format!("unknown delivery outcome {s:?}"))
    }
}

/// One request to a webhook's URL, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub webhook_id: String,
    pub received_at: Millis,
    /// The sender's address.
    pub source: String,
    /// The sender's delivery id, when it gave one.
    pub delivery_id: Option<String>,
    /// The payload format recognised, when it was read.
    pub format: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    pub outcome: Outcome,
    pub reason: String,
    pub image: Option<String>,
    pub rollout_id: Option<String>,
}

/// The answer to a delivery, for the sender (a CI job polls `status_url`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReceipt {
    pub delivery: String,
    pub outcome: Outcome,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_url: Option<String>,
}

pub fn check_webhook_name(name: &str) -> Result<String, FieldError> {
    check_name("webhook", name, WEBHOOK_NAME_MAX, "registry")
}

/// An allow-pattern must name the service's repository (a `*` may stand for
/// part of it) and say which tags, e.g. `registry.local/web:v*`.
pub fn check_pattern(pattern: &str, service_image: &str) -> Result<String, FieldError> {
    let pattern = pattern.trim();
    let example = format!("{}:v*", ImageRef::parse(service_image).repository);
    if pattern.is_empty() || pattern.len() > PATTERN_MAX || pattern.chars().any(char::is_whitespace) {
        return Err(FieldError::new(
            "allow",
            format!(
                "an allow-pattern is repository:tag with `*` for any characters, without spaces, at most {PATTERN_MAX} characters, e.g. {example}"
            ),
        ));
    }
    let Some((repository, _tag)) = pattern.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) else {
        return Err(FieldError::new(
            "allow",
            format!("say which tags are allowed after a colon, e.g. {example} (or :* for any tag)"),
        ));
    };
    let service_repository = ImageRef::parse(service_image).repository;
    if !glob_matches(&normalize_repository(repository), &service_repository) {
        return Err(FieldError::new(
            "allow",
            format!(
                "the pattern's repository {repository:?} does not cover the service's repository {service_repository:?}, so it could never deploy; e.g. {example}"
            ),
        ));
    }
    Ok(pattern.to_owned())
}

/// The pattern a webhook gets when none is given: the service's repository, any tag.
pub fn default_pattern(service_image: &str) -> String {
    format!("{}:*", ImageRef::parse(service_image).repository)
}

/// `*` matches any run of characters (including none); everything else
/// matches itself.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// An image reference split into its normalized repository and its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// Without Docker Hub's implied `docker.io/` and `library/`.
    pub repository: String,
    /// `latest` when none is given; empty for a reference by digest alone.
    pub tag: String,
}

impl ImageRef {
    pub fn parse(reference: &str) -> Self {
        let without_digest = reference.split_once('@').map_or(reference, |(name, _)| name);
        let by_digest = without_digest.len() != reference.len();
        // A colon after the last slash separates the tag; one before it is a
        // registry's port.
        let (repository, tag) = match without_digest.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, tag.to_owned()),
            _ if by_digest => (without_digest, String::new()),
            _ => (without_digest, "latest".to_owned()),
        };
        Self {
            repository: normalize_repository(repository),
            tag,
        }
    }

    pub fn with_tag(&self, tag: &str) -> String {
        format!("{}:{tag}", self.repository)
    }

    /// The registry that serves the image: the first part of the name when
    /// it looks like a host (`registry.example.com`, `localhost:5000`),
    /// Docker Hub otherwise.
    pub fn registry(&self) -> &str {
        match self.repository.split_once('/') {
            Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
            _ => "docker.io",
        }
    }
}

/// Docker Hub's long forms (`docker.io/library/x`) name the same repository as `x`.
pub fn normalize_repository(repository: &str) -> String {
    let lower = repository.to_ascii_lowercase();
    let short = ["docker.io/", "index.docker.io/", "registry-1.docker.io/"]
        .iter()
        .find_map(|prefix| lower.strip_prefix(prefix))
        .unwrap_or(&lower);
    short.strip_prefix("library/").unwrap_or(short).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_the_first_part_only_when_it_names_a_host() {
        let registry = |image: &str| ImageRef::parse(image).registry().to_owned();
        assert_eq!(registry("nginx:1.27"), "docker.io");
        assert_eq!(registry("team/api:v1"), "docker.io");
        assert_eq!(registry("docker.io/team/api"), "docker.io");
        assert_eq!(
            registry("registry.example.com/team/api:v1"),
            "registry.example.com"
        );
        assert_eq!(registry("localhost:5000/api"), "localhost:5000");
        assert_eq!(registry("localhost/api"), "localhost");
    }

    #[test]
    fn references_split_at_the_tag_not_at_a_registry_port() {
        let cases = [
            ("web", "web", "latest"),
            ("web:v2", "web", "v2"),
            ("127.0.0.1:5000/shoal-demo:v2", "127.0.0.1:5000/shoal-demo", "v2"),
            ("127.0.0.1:5000/shoal-demo", "127.0.0.1:5000/shoal-demo", "latest"),
            ("docker.io/library/nginx:1.27", "nginx", "1.27"),
            ("index.docker.io/team/api:v1", "team/api", "v1"),
            ("ghcr.io/Team/api:v1@sha256:abc", "ghcr.io/team/api", "v1"),
            ("ghcr.io/team/api@sha256:abc", "ghcr.io/team/api", ""),
        ];
        for (reference, repository, tag) in cases {
            assert_eq!(
                ImageRef::parse(reference),
                ImageRef {
                    repository: repository.into(),
                    tag: tag.into()
                },
                "{reference}"
            );
        }
    }

    #[test]
    fn globs_match_whole_references() {
        for (pattern, text, expected) in [
            ("web:v*", "web:v2", true),
            ("web:v*", "web:latest", false),
            ("web:v*", "webx:v2", false),
            ("registry.local/web:v*", "registry.local/web:v1.2.3", true),
            ("*/web:*", "127.0.0.1:5000/web:v2", true),
            ("web:*-rc", "web:v2-rc", true),
            ("web:*-rc", "web:v2-rc1", false),
            ("web:v2", "web:v2", true),
            ("web:v2", "web:v20", false),
            ("web:a*a", "web:a", false),
            ("web:a*a", "web:aa", true),
        ] {
            assert_eq!(glob_matches(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn a_pattern_must_cover_the_services_repository_and_name_tags() {
        let image = "registry.local/web:v1";
        assert_eq!(
            check_pattern(" registry.local/web:v* ", image).unwrap(),
            "registry.local/web:v*"
        );
        assert!(check_pattern("*/web:*", image).is_ok());
        let other = check_pattern("registry.local/api:*", image).unwrap_err();
        assert!(other.message.contains("does not cover"), "{}", other.message);
        let tagless = check_pattern("registry.local/web", image).unwrap_err();
        assert!(tagless.message.contains("after a colon"), "{}", tagless.message);
        assert!(check_pattern("web :v*", image).is_err());
        assert_eq!(default_pattern(image), "registry.local/web:*");
        assert_eq!(default_pattern("docker.io/library/nginx"), "nginx:*");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_webhook_name("  ci ").unwrap(), "ci");
        assert!(check_webhook_name(" ").is_err());
        assert!(check_webhook_name(&"x".repeat(WEBHOOK_NAME_MAX + 1)).is_err());
    }
}
