//! What a delivery's body says was pushed. Pure: bytes (and GitHub's event
//! header) in, pushes out, so every format is tested on plain data.

use serde_json::Value;
use shoal_proto::webhook::ImageRef;

/// The formats a webhook understands, as the error for anything else lists them.
pub const ACCEPTED: &str = "a JSON object {\"image\": \"repository:tag\"} or {\"tag\": \"v2\"}, \
    a Docker registry notification envelope ({\"events\": [...]}), a Docker Hub push payload, \
    or a GitHub package / registry_package event";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Generic,
    Registry,
    DockerHub,
    GitHub,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::Registry => "registry",
            Self::DockerHub => "docker-hub",
            Self::GitHub => "github",
        }
    }

    /// A registry notifies every endpoint of every event in it (pulls,
    /// other repositories) and retries anything but a success, blocking the
    /// events behind it; what is not for this service must be answered 2xx.
    pub fn is_broadcast(self) -> bool {
        self == Self::Registry
    }
}

/// One image pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Push {
    /// Normalized; `None` when the sender named only a tag of the service's own.
    pub repository: Option<String>,
    pub tag: String,
    /// The sender's id for this event, when it has one.
    pub event_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    pub format: Format,
    pub pushes: Vec<Push>,
    /// What else the delivery held, for the record (e.g. "2 pull events").
    pub skipped: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("the body is not JSON ({0}); send {ACCEPTED}")]
    NotJson(String),
    #[error("the body is JSON but not a format Shoal understands; send {ACCEPTED}")]
    Unknown,
    #[error("{0}")]
    Invalid(String),
}

/// `github_event` is the `X-GitHub-Event` header, when present. Every
/// format's tags are held to Docker's tag grammar, so nothing else (a
/// digest, a path) rides past a webhook's allow-pattern inside a tag.
pub fn parse(body: &[u8], github_event: Option<&str>) -> Result<Payload, PayloadError> {
    let mut payload = parse_format(body, github_event)?;
    let (valid, invalid): (Vec<Push>, Vec<Push>) =
        payload.pushes.into_iter().partition(|push| is_tag(&push.tag));
    payload.pushes = valid;
    if let Some(push) = invalid.first() {
        if payload.pushes.is_empty() && !payload.format.is_broadcast() {
            return Err(PayloadError::Invalid(format!(
                "{:?} is not a tag: a tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'",
                push.tag
            )));
        }
        let n = invalid.len();
        payload.skipped.push(format!(
            "{n} push{} with an invalid tag",
            if n == 1 { "" } else { "es" }
        ));
    }
    Ok(payload)
}

/// Docker's tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphanumeric() || first == '_')
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn parse_format(body: &[u8], github_event: Option<&str>) -> Result<Payload, PayloadError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let object = value.as_object().ok_or(PayloadError::Unknown)?;
    if let Some(event) = github_event {
        return github(event, &value);
    }
    if let Some(events) = object.get("events") {
        return registry(events);
    }
    if object.contains_key("push_data") {
        return docker_hub(&value);
    }
    if object.contains_key("package") || object.contains_key("registry_package") {
        let event = if object.contains_key("package") {
            "package"
        } else {
            "registry_package"
        };
        return github(event, &value);
    }
    generic(&value)
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn generic(value: &Value) -> Result<Payload, PayloadError> {
    let push = match (text(value, "/image"), text(value, "/tag")) {
        (Some(image), None) => {
            let reference = ImageRef::parse(image);
            if !image.contains(':') || reference.tag.is_empty() {
                return Err(PayloadError::Invalid(format!(
                    "\"image\" must name a tag, e.g. {}:v2",
                    reference.repository
                )));
            }
            Push {
                repository: Some(reference.repository),
                tag: reference.tag,
                event_id: None,
            }
        }
        (None, Some(tag)) => {
            if tag.contains(['/', ':']) {
                return Err(PayloadError::Invalid(format!(
                    "\"tag\" is a tag alone, like v2, not {tag:?}; to name the repository too send \"image\""
                )));
            }
            Push {
                repository: None,
                tag: tag.to_owned(),
                event_id: None,
            }
        }
        (Some(_), Some(_)) => {
            return Err(PayloadError::Invalid(
                "send either \"image\" (repository:tag) or \"tag\", not both".into(),
            ));
        }
        (None, None) => return Err(PayloadError::Unknown),
    };
    Ok(Payload {
        format: Format::Generic,
        pushes: vec![push],
        skipped: Vec::new(),
    })
}

/// The distribution registry's envelope: pushes of manifests by tag count;
/// blob pushes, pulls and deletes do not.
fn registry(events: &Value) -> Result<Payload, PayloadError> {
    let events = events
        .as_array()
        .ok_or_else(|| PayloadError::Invalid("\"events\" must be a list of registry events".into()))?;
    let mut pushes = Vec::new();
    let mut skipped = std::collections::BTreeMap::<String, usize>::new();
    for event in events {
        let action = text(event, "/action").unwrap_or("unknown");
        match (
            action,
            text(event, "/target/repository"),
            text(event, "/target/tag"),
        ) {
            ("push", Some(repository), Some(tag)) => {
                let full = match text(event, "/request/host") {
                    Some(host) => format!("{host}/{repository}"),
                    None => repository.to_owned(),
                };
                pushes.push(Push {
                    repository: Some(ImageRef::parse(&full).repository),
                    tag: tag.to_owned(),
                    event_id: text(event, "/id").map(str::to_owned),
                });
            }
            ("push", _, _) => *skipped.entry("untagged push".into()).or_default() += 1,
            (other, _, _) => *skipped.entry(other.to_owned()).or_default() += 1,
        }
    }
    Ok(Payload {
        format: Format::Registry,
        pushes,
        skipped: skipped
            .into_iter()
            .map(|(action, n)| format!("{n} {action} event{}", if n == 1 { "" } else { "s" }))
            .collect(),
    })
}

fn docker_hub(value: &Value) -> Result<Payload, PayloadError> {
    let (Some(repository), Some(tag)) = (
        text(value, "/repository/repo_name"),
        text(value, "/push_data/tag"),
    ) else {
        return Err(PayloadError::Invalid(
            "a Docker Hub payload needs repository.repo_name and push_data.tag".into(),
        ));
    };
    Ok(Payload {
        format: Format::DockerHub,
        pushes: vec![Push {
            repository: Some(ImageRef::parse(repository).repository),
            tag: tag.to_owned(),
            event_id: None,
        }],
        skipped: Vec::new(),
    })
}

/// GitHub's `package` and `registry_package` events; only a published
/// container version deploys.
fn github(event: &str, value: &Value) -> Result<Payload, PayloadError> {
    let root = match event {
        "package" => "/package",
        "registry_package" => "/registry_package",
        "ping" => {
            return Ok(Payload {
                format: Format::GitHub,
                pushes: Vec::new(),
                skipped: vec!["a ping".into()],
            });
        }
        other => {
            return Err(PayloadError::Invalid(format!(
                "GitHub event {other:?} is not one Shoal deploys from; subscribe the webhook to \"package\" or \"registry_package\" events"
            )));
        }
    };
    let action = text(value, "/action").unwrap_or("unknown");
    if action != "published" {
        return Ok(Payload {
            format: Format::GitHub,
            pushes: Vec::new(),
            skipped: vec![format!("a package {action} event")],
        });
    }
    let version = format!("{root}/package_version");
    let tag = text(value, &format!("{version}/container_metadata/tag/name"));
    let reference = match (text(value, &format!("{version}/package_url")), tag) {
        (Some(url), _) if names_tag(url) => ImageRef::parse(url),
        (_, Some(tag)) => {
            let owner = text(value, &format!("{root}/namespace"))
                .or_else(|| text(value, &format!("{root}/owner/login")))
                .ok_or_else(|| PayloadError::Invalid("the GitHub package names no owner".into()))?;
            let name = text(value, &format!("{root}/name"))
                .ok_or_else(|| PayloadError::Invalid("the GitHub package has no name".into()))?;
            ImageRef::parse(&format!("ghcr.io/{owner}/{name}:{tag}"))
        }
        _ => {
            return Ok(Payload {
                format: Format::GitHub,
                pushes: Vec::new(),
                skipped: vec!["a package version without a tag".into()],
            });
        }
    };
    Ok(Payload {
        format: Format::GitHub,
        pushes: vec![Push {
            repository: Some(reference.repository),
            tag: reference.tag,
            event_id: None,
        }],
        skipped: Vec::new(),
    })
}

/// Whether a reference carries its tag, rather than getting `latest` by default.
fn names_tag(reference: &str) -> bool {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    last.split('@').next().unwrap_or(last).contains(':')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parsed(body: Value) -> Payload {
        parse(body.to_string().as_bytes(), None).unwrap()
    }

    fn push(repository: Option<&str>, tag: &str, event_id: Option<&str>) -> Push {
        Push {
            repository: repository.map(str::to_owned),
            tag: tag.into(),
            event_id: event_id.map(str::to_owned),
        }
    }

    #[test]
    fn generic_bodies_name_an_image_or_a_tag() {
        let image = parsed(json!({ "image": "registry.local/web:v2" }));
        assert_eq!(image.format, Format::Generic);
        assert_eq!(image.pushes, [push(Some("registry.local/web"), "v2", None)]);
        assert_eq!(parsed(json!({ "tag": "v3" })).pushes, [push(None, "v3", None)]);

        for (body, says) in [
            (json!({ "image": "web" }), "must name a tag"),
            (json!({ "tag": "web:v2" }), "a tag alone"),
            (json!({ "tag": "v2", "image": "web:v2" }), "not both"),
        ] {
            let error = parse(body.to_string().as_bytes(), None).unwrap_err();
            assert!(error.to_string().contains(says), "{body}: {error}");
        }
    }

    #[test]
    fn tags_in_every_format_follow_dockers_grammar_so_no_digest_rides_inside_one() {
        let refused = |body: Value| match parse(body.to_string().as_bytes(), None) {
            Err(PayloadError::Invalid(message)) => message,
            other => panic!("{body}: {other:?}"),
        };
        assert!(refused(json!({ "tag": "-rc1" })).contains("not a tag"));
        let hub =
            json!({ "repository": { "repo_name": "team/web" }, "push_data": { "tag": "v7@sha256:ab" } });
        assert!(refused(hub).contains("not a tag"));
        let envelope = json!({ "events": [
            { "id": "e1", "action": "push", "target": { "repository": "web", "tag": "v2@sha256:ab" } },
            { "id": "e2", "action": "push", "target": { "repository": "web", "tag": "v3" } },
        ] });
        let payload = parsed(envelope);
        assert_eq!(payload.pushes, [push(Some("web"), "v3", Some("e2"))]);
        assert_eq!(payload.skipped, ["1 push with an invalid tag"]);
        assert!(
            is_tag("v1.2.3_rc-1")
                && is_tag("_x")
                && !is_tag("-x")
                && !is_tag(".x")
                && !is_tag(&"a".repeat(129))
        );
    }

    #[test]
    fn anything_else_is_refused_with_the_accepted_formats() {
        for body in [&b"{not json"[..], b"[1, 2]", b"{\"hello\": 1}", b""] {
            let error = parse(body, None).unwrap_err();
            assert!(
                error.to_string().contains("Docker registry notification"),
                "{error}"
            );
        }
    }

    #[test]
    fn registry_envelopes_yield_tagged_manifest_pushes_only() {
        let envelope = json!({ "events": [
            { "id": "e1", "action": "push",
              "target": { "mediaType": "application/octet-stream", "repository": "shoal-demo", "digest": "sha256:aa" },
              "request": { "host": "127.0.0.1:5000" } },
            { "id": "e2", "action": "push",
              "target": { "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                          "repository": "shoal-demo", "tag": "v2", "digest": "sha256:bb" },
              "request": { "host": "127.0.0.1:5000" } },
            { "id": "e3", "action": "pull", "target": { "repository": "shoal-demo", "tag": "v1" },
              "request": { "host": "127.0.0.1:5000" } },
            { "id": "e4", "action": "pull", "target": { "repository": "other" } },
        ]});
        let payload = parsed(envelope);
        assert_eq!(payload.format, Format::Registry);
        assert_eq!(
            payload.pushes,
            [push(Some("127.0.0.1:5000/shoal-demo"), "v2", Some("e2"))]
        );
        assert_eq!(payload.skipped, ["2 pull events", "1 untagged push event"]);
        assert!(Format::Registry.is_broadcast() && !Format::Generic.is_broadcast());
    }

    #[test]
    fn docker_hub_pushes_name_the_repository_and_tag() {
        let payload = parsed(json!({
            "callback_url": "https://registry.hub.docker.com/u/team/web/hook/x/",
            "push_data": { "pushed_at": 1_700_000_000, "pusher": "ci", "tag": "v7" },
            "repository": { "repo_name": "team/web", "namespace": "team", "name": "web" },
        }));
        assert_eq!(payload.format, Format::DockerHub);
        assert_eq!(payload.pushes, [push(Some("team/web"), "v7", None)]);
    }

    #[test]
    fn github_published_container_versions_deploy_and_others_are_skipped() {
        let published = json!({
            "action": "published",
            "registry_package": {
                "name": "web", "namespace": "team", "package_type": "CONTAINER",
                "package_version": {
                    "container_metadata": { "tag": { "name": "v5", "digest": "sha256:cc" } },
                    "package_url": "ghcr.io/team/web:v5",
                },
            },
        });
        let body = published.to_string();
        let payload = parse(body.as_bytes(), Some("registry_package")).unwrap();
        assert_eq!(payload.format, Format::GitHub);
        assert_eq!(payload.pushes, [push(Some("ghcr.io/team/web"), "v5", None)]);
        // Recognised from the body alone, too.
        assert_eq!(parsed(published).pushes, payload.pushes);

        let from_parts = json!({
            "action": "published",
            "package": { "name": "web", "owner": { "login": "Team" },
                         "package_version": { "container_metadata": { "tag": { "name": "v6" } } } },
        });
        assert_eq!(
            parse(from_parts.to_string().as_bytes(), Some("package"))
                .unwrap()
                .pushes,
            [push(Some("ghcr.io/team/web"), "v6", None)]
        );

        let updated = json!({ "action": "updated", "package": {} });
        let payload = parse(updated.to_string().as_bytes(), Some("package")).unwrap();
        assert!(payload.pushes.is_empty());
        assert_eq!(payload.skipped, ["a package updated event"]);

        assert!(parse(b"{}", Some("ping")).unwrap().pushes.is_empty());
        let push_event = parse(b"{}", Some("push")).unwrap_err();
        assert!(
            push_event.to_string().contains("registry_package"),
            "{push_event}"
        );
    }
}
