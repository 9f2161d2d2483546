//! The reconciler's runtime on a Docker engine, through bollard: every
//! request is limited to containers labelled with this node's id. Also
//! (`networked`) which of them the service networks serve.

mod create;
mod image;
mod labels;
mod networked;
mod observe;

use std::{collections::HashMap, net::IpAddr, time::Duration};

use bollard::{
    Docker,
    errors::Error as DockerError,
    query_parameters::{
        CreateContainerOptions, EventsOptions, ListContainersOptions, RemoveContainerOptions,
        StopContainerOptions,
    },
};
use futures_util::{StreamExt, TryStreamExt, stream::BoxStream};
use shoal_proto::{service::RegistryAuth, wire::Assignment};

pub use networked::watch as watch_networked;

use crate::{
    docker_host::DockerHost,
    engine::Engine,
    error::Error,
    tasks::{Observed, Runtime},
};

/// The node whose containers a runtime runs.
#[derive(Clone, Debug)]
pub struct Node {
    pub id: String,
    /// Where containers publish their ports on the host.
    pub host_ip: IpAddr,
}

/// Container events that can change what the reconciler sees; the others
/// (a health probe's every run, attach, …) would only wake it for nothing.
const EVENTS: [&str; 5] = ["start", "die", "oom", "health_status", "destroy"];

pub struct DockerRuntime {
    docker: Docker,
    host: DockerHost,
    node: Node,
}

impl DockerRuntime {
    pub fn new(engine: &Engine, node: Node) -> Self {
        Self {
            docker: engine.client().clone(),
            host: engine.host().clone(),
            node,
        }
    }

    fn error(&self, error: DockerError) -> Error {
        Error::engine(&self.host, self.docker.timeout(), error)
    }

    /// This node's containers, or only those of one task.
    async fn list(&self, task_id: Option<&str>) -> Result<Vec<String>, Error> {
        let mut label = vec![labels::filter(labels::NODE_ID, &self.node.id)];
        label.extend(task_id.map(|task_id| labels::filter(labels::TASK_ID, task_id)));
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_owned(), label)])),
            ..ListContainersOptions::default()
        };
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|error| self.error(error))?;
        Ok(containers
            .into_iter()
            .filter_map(|container| container.id)
            .collect())
    }
}

impl Runtime for DockerRuntime {
    async fn containers(&self) -> Result<Vec<Observed>, Error> {
        let mut containers = Vec::new();
        for id in self.list(None).await? {
            match self.docker.inspect_container(&id, None).await {
                Ok(inspection) => containers.push(observe::observed(inspection)),
                // Removed since the listing: it is no more.
                Err(error) if is_missing(&error) => {}
                Err(error) => return Err(self.error(error)),
            }
        }
        Ok(containers)
    }

    async fn containers_of(&self, task_id: &str) -> Result<Vec<String>, Error> {
        self.list(Some(task_id)).await
    }

    async fn has_image(&self, image: &str) -> Result<bool, Error> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(error) if is_missing(&error) => Ok(false),
            Err(error) => Err(self.error(error)),
        }
    }

    async fn pull(&self, image: &str, auth: Option<&RegistryAuth>) -> Result<(), Error> {
        self.docker
            .create_image(
                Some(image::pull_options(image)),
                None,
                auth.map(image::credentials),
            )
            .try_for_each(|_progress| async { Ok(()) })
            .await
            .map_err(|error| self.error(error))
    }

    async fn create(&self, assignment: &Assignment) -> Result<String, Error> {
        let options = CreateContainerOptions {
            name: Some(create::name(assignment, &self.node.id)),
            ..CreateContainerOptions::default()
        };
        let body = create::body(assignment, &self.node);
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|error| self.error(error))?;
        Ok(created.id)
    }

    async fn start(&self, id: &str) -> Result<(), Error> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(|error| self.error(error))
    }

    async fn stop(&self, id: &str, grace: Duration) -> Result<(), Error> {
        let seconds = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
        let options = StopContainerOptions {
            t: Some(i32::try_from(seconds).unwrap_or(i32::MAX)),
            signal: None,
        };
        // The engine answers only once the container has stopped, which may
        // take the whole grace period.
        let patient = self.docker.clone().with_timeout(self.docker.timeout() + grace);
        match patient.stop_container(id, Some(options)).await {
            Err(error) if !is_missing(&error) => Err(self.error(error)),
            _ => Ok(()),
        }
    }

    async fn remove(&self, id: &str) -> Result<(), Error> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..RemoveContainerOptions::default()
        };
        match self.docker.remove_container(id, Some(options)).await {
            Err(error) if !is_missing(&error) => Err(self.error(error)),
            _ => Ok(()),
        }
    }

    fn changes(&self) -> BoxStream<'static, Result<(), Error>> {
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            (
                "label".to_owned(),
                vec![labels::filter(labels::NODE_ID, &self.node.id)],
            ),
            ("event".to_owned(), EVENTS.map(str::to_owned).to_vec()),
        ]);
        let options = EventsOptions {
            filters: Some(filters),
            ..EventsOptions::default()
        };
        let (host, timeout) = (self.host.clone(), self.docker.timeout());
        self.docker
            .events(Some(options))
            .map(move |event| {
                event
                    .map(drop)
                    .map_err(|error| Error::engine(&host, timeout, error))
            })
            .boxed()
    }
}

fn is_missing(error: &DockerError) -> bool {
    matches!(
        error,
        DockerError::DockerResponseServerError { status_code: 404, .. }
    )
}
