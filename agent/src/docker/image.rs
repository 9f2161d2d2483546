//! Asking Docker to pull an image.

use bollard::{auth::DockerCredentials, query_parameters::CreateImageOptions};
use shoal_proto::service::RegistryAuth;

/// The engine pulls every tag of a repository when asked for one without a
/// tag, so a reference without tag or digest means `latest`, as `docker
/// pull` reads it.
pub fn pull_options(image: &str) -> CreateImageOptions {
    let last_part = image.rsplit('/').next().unwrap_or(image);
    let (from_image, tag) = if image.contains('@') {
        (image, None)
    } else if last_part.contains(':') {
        let (repository, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
        (repository, Some(tag))
    } else {
        (image, Some("latest"))
    };
    CreateImageOptions {
        from_image: Some(from_image.to_owned()),
        tag: tag.map(str::to_owned),
        ..CreateImageOptions::default()
    }
}

pub fn credentials(auth: &RegistryAuth) -> DockerCredentials {
    DockerCredentials {
        username: Some(auth.username.clone()),
        password: Some(auth.password.clone()),
        ..DockerCredentials::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pull(image: &str) -> (String, Option<String>) {
        let options = pull_options(image);
        (options.from_image.unwrap(), options.tag)
    }

    #[test]
    fn a_pull_names_one_tag_or_digest() {
        let tagged = |repository: &str, tag: &str| (repository.to_owned(), Some(tag.to_owned()));
        assert_eq!(pull("shoal-demo:v1"), tagged("shoal-demo", "v1"));
        assert_eq!(pull("shoal-demo"), tagged("shoal-demo", "latest"));
        assert_eq!(
            pull("registry.lan:5000/team/app"),
            tagged("registry.lan:5000/team/app", "latest")
        );
        assert_eq!(
            pull("registry.lan:5000/team/app:2.1"),
            tagged("registry.lan:5000/team/app", "2.1")
        );
        let pinned = "registry.lan:5000/app@sha256:0123";
        assert_eq!(pull(pinned), (pinned.to_owned(), None));
    }
}
