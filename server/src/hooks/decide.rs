//! Which image, if any, a delivery deploys to the service. Pure: the
//! service's image, the webhook's allow-pattern and the parsed payload in,
//! a decision with its reason out.

use shoal_proto::webhook::{ImageRef, glob_matches};

use super::payload::{Payload, Push};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Roll the service to this image.
    Deploy { image: String, event_id: Option<String> },
    /// The service runs this image already.
    Unchanged { image: String, event_id: Option<String> },
    /// Nothing in it is for this service; a success for broadcast senders.
    Ignored(String),
    /// For this service, but not allowed.
    NotAllowed { image: Option<String>, reason: String },
}

pub fn decide(service_image: &str, allow: &str, payload: &Payload) -> Decision {
    let service = ImageRef::parse(service_image);
    if payload.pushes.is_empty() {
        let held = if payload.skipped.is_empty() {
            "nothing".to_owned()
        } else {
            payload.skipped.join(", ")
        };
        return Decision::Ignored(format!("no image push in this delivery (it held {held})"));
    }
    let repository_of = |push: &Push| {
        push.repository
            .clone()
            .unwrap_or_else(|| service.repository.clone())
    };
    let ours: Vec<&Push> = payload
        .pushes
        .iter()
        .filter(|push| repository_of(push) == service.repository)
        .collect();
    if ours.is_empty() {
        let seen: Vec<String> = payload
            .pushes
            .iter()
            .map(|p| format!("{}:{}", repository_of(p), p.tag))
            .collect();
        let reason = format!(
            "{} is not this service's repository {}",
            seen.join(", "),
            service.repository
        );
        return if payload.format.is_broadcast() {
            Decision::Ignored(reason)
        } else {
            Decision::NotAllowed {
                image: seen.last().cloned(),
                reason,
            }
        };
    }
    // The newest push the pattern allows wins when one delivery holds several.
    let Some(chosen) = ours
        .iter()
        .rev()
        .find(|push| glob_matches(allow, &service.with_tag(&push.tag)))
    else {
        let refused = service.with_tag(&ours[ours.len() - 1].tag);
        let reason = format!("{refused} is outside this webhook's allow-pattern {allow}");
        return if payload.format.is_broadcast() {
            Decision::Ignored(reason)
        } else {
            Decision::NotAllowed {
                image: Some(refused),
                reason,
            }
        };
    };
    let image = retag(service_image, &chosen.tag);
    let event_id = chosen.event_id.clone();
    if service.tag == chosen.tag {
        Decision::Unchanged { image, event_id }
    } else {
        Decision::Deploy { image, event_id }
    }
}

/// The service's image with another tag, keeping the repository as the
/// operator spelled it (a digest pin is dropped: the tag is what was pushed).
pub fn retag(image: &str, tag: &str) -> String {
    let name = image.split_once('@').map_or(image, |(name, _)| name);
    let repository = match name.rsplit_once(':') {
        Some((repository, old_tag)) if !old_tag.contains('/') => repository,
        _ => name,
    };
    format!("{repository}:{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::payload::Format;

    const IMAGE: &str = "127.0.0.1:5000/shoal-demo:v1";
    const ALLOW: &str = "127.0.0.1:5000/shoal-demo:v*";

    fn payload(format: Format, pushes: &[(Option<&str>, &str)]) -> Payload {
        Payload {
            format,
            pushes: pushes
                .iter()
                .map(|(repository, tag)| Push {
                    repository: repository.map(str::to_owned),
                    tag: (*tag).to_owned(),
                    event_id: Some(format!("id-{tag}")),
                })
                .collect(),
            skipped: vec!["3 pull events".into()],
        }
    }

    #[test]
    fn an_allowed_tag_of_the_services_repository_deploys() {
        let repo = Some("127.0.0.1:5000/shoal-demo");
        assert_eq!(
            decide(IMAGE, ALLOW, &payload(Format::Registry, &[(repo, "v2")])),
            Decision::Deploy {
                image: "127.0.0.1:5000/shoal-demo:v2".into(),
                event_id: Some("id-v2".into())
            }
        );
        // A bare tag means the service's own repository.
        assert!(matches!(
            decide(IMAGE, ALLOW, &payload(Format::Generic, &[(None, "v3")])),
            Decision::Deploy { image, .. } if image == "127.0.0.1:5000/shoal-demo:v3"
        ));
        // Several pushes: the last allowed one.
        assert!(matches!(
            decide(IMAGE, ALLOW, &payload(Format::Registry, &[(repo, "v2"), (repo, "v3"), (repo, "latest")])),
            Decision::Deploy { image, .. } if image.ends_with(":v3")
        ));
    }

    #[test]
    fn the_running_image_is_left_alone() {
        assert_eq!(
            decide(IMAGE, ALLOW, &payload(Format::Generic, &[(None, "v1")])),
            Decision::Unchanged {
                image: IMAGE.into(),
                event_id: Some("id-v1".into())
            }
        );
    }

    #[test]
    fn other_repositories_and_tags_are_refused_or_for_registries_ignored() {
        let other = payload(Format::Generic, &[(Some("127.0.0.1:5000/api"), "v2")]);
        let Decision::NotAllowed { reason, .. } = decide(IMAGE, ALLOW, &other) else {
            panic!("another repository must be refused");
        };
        assert!(reason.contains("not this service's repository"), "{reason}");

        let tag = payload(Format::Generic, &[(None, "latest")]);
        let Decision::NotAllowed { image, reason } = decide(IMAGE, ALLOW, &tag) else {
            panic!("a tag outside the pattern must be refused");
        };
        assert_eq!(image.as_deref(), Some("127.0.0.1:5000/shoal-demo:latest"));
        assert!(reason.contains("allow-pattern"), "{reason}");

        for pushes in [&[(Some("127.0.0.1:5000/api"), "v2")][..], &[(None, "latest")]] {
            assert!(matches!(
                decide(IMAGE, ALLOW, &payload(Format::Registry, pushes)),
                Decision::Ignored(_)
            ));
        }
    }

    #[test]
    fn a_delivery_without_pushes_is_ignored_and_says_what_it_held() {
        let Decision::Ignored(reason) = decide(IMAGE, ALLOW, &payload(Format::Registry, &[])) else {
            panic!("no pushes must be ignored");
        };
        assert!(reason.contains("3 pull events"), "{reason}");
    }

    #[test]
    fn retagging_keeps_the_repository_as_written() {
        assert_eq!(retag("127.0.0.1:5000/web:v1", "v2"), "127.0.0.1:5000/web:v2");
        assert_eq!(retag("127.0.0.1:5000/web", "v2"), "127.0.0.1:5000/web:v2");
        assert_eq!(
            retag("docker.io/library/web:v1@sha256:aa", "v2"),
            "docker.io/library/web:v2"
        );
    }
}
