//! A container engine in memory, for tests of the reconciler: containers
//! change only when the reconciler or the test says so.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use futures_util::{StreamExt, stream::BoxStream};
use shoal_proto::{
    service::RegistryAuth,
    wire::{Assignment, PortBinding},
};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use super::runtime::{Health, Observed, Runtime, Status};
use crate::{docker_host::DockerHost, error::Error};

#[derive(Clone, Default)]
pub struct Fake {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    containers: BTreeMap<String, Observed>,
    images: BTreeSet<String>,
    /// Images a pull finds in the registry.
    registry: BTreeSet<String>,
    /// Task id of every container ever created, in order.
    created: Vec<String>,
    watchers: Vec<UnboundedSender<Result<(), Error>>>,
}

impl Fake {
    pub fn with_images(images: &[&str]) -> Self {
        let fake = Self::default();
        fake.state().images = images.iter().map(|&image| image.to_owned()).collect();
        fake
    }

    pub fn in_registry(&self, image: &str) {
        self.state().registry.insert(image.to_owned());
    }

    /// A container left by an earlier agent.
    pub fn existing(&self, id: &str, task_id: &str, status: Status) {
        let container = Observed {
            id: id.to_owned(),
            task_id: task_id.to_owned(),
            status,
            health: None,
            error: None,
            ports: Vec::new(),
            stop_grace: Duration::from_secs(10),
        };
        self.state().containers.insert(id.to_owned(), container);
    }

    /// The task's containers, oldest first.
    pub fn containers_for(&self, task_id: &str) -> Vec<Observed> {
        let state = self.state();
        state
            .containers
            .values()
            .filter(|container| container.task_id == task_id)
            .cloned()
            .collect()
    }

    pub fn created(&self) -> Vec<String> {
        self.state().created.clone()
    }

    /// The task's container ends by itself, or is removed by hand.
    pub fn exit(&self, task_id: &str, code: i64) {
        self.change(task_id, |container| {
            container.status = Status::Exited {
                code,
                out_of_memory: false,
            };
        });
    }

    pub fn set_health(&self, task_id: &str, health: Health) {
        self.change(task_id, |container| container.health = Some(health));
    }

    pub fn remove_by_hand(&self, task_id: &str) {
        self.state()
            .containers
            .retain(|_, container| container.task_id != task_id);
        self.announce();
    }

    fn change(&self, task_id: &str, change: impl Fn(&mut Observed)) {
        self.state()
            .containers
            .values_mut()
            .filter(|container| container.task_id == task_id)
            .for_each(change);
        self.announce();
    }

    fn set_status(&self, id: &str, status: Status) -> Result<(), Error> {
        let mut state = self.state();
        let container = state
            .containers
            .get_mut(id)
            .ok_or_else(|| refused(format!("No such container: {id}")))?;
        container.status = status;
        Ok(())
    }

    fn announce(&self) {
        self.state()
            .watchers
            .retain(|watcher| watcher.send(Ok(())).is_ok());
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("no test panicked while holding the fake engine")
    }
}

fn refused(message: String) -> Error {
    Error::EngineRefused {
        host: DockerHost::Unix("/fake.sock".into()),
        status: 404,
        message,
    }
}

impl Runtime for Fake {
    async fn containers(&self) -> Result<Vec<Observed>, Error> {
        Ok(self.state().containers.values().cloned().collect())
    }

    async fn containers_of(&self, task_id: &str) -> Result<Vec<String>, Error> {
        Ok(self
            .containers_for(task_id)
            .into_iter()
            .map(|container| container.id)
            .collect())
    }

    async fn has_image(&self, image: &str) -> Result<bool, Error> {
        Ok(self.state().images.contains(image))
    }

    async fn pull(&self, image: &str, _auth: Option<&RegistryAuth>) -> Result<(), Error> {
        let mut state = self.state();
        if !state.registry.contains(image) {
            return Err(refused(format!("pull access denied for {image}")));
        }
        state.images.insert(image.to_owned());
        Ok(())
    }

    async fn create(&self, assignment: &Assignment) -> Result<String, Error> {
        let mut state = self.state();
        let image = &assignment.container.image;
        if !state.images.contains(image) {
            return Err(refused(format!("No such image: {image}")));
        }
        let number = state.created.len();
        let id = format!("fake-{number}");
        let ports = assignment
            .container
            .ports
            .iter()
            .map(|port| PortBinding {
                target: port.target,
                protocol: port.protocol,
                host_ip: "0.0.0.0".into(),
                host_port: port.published.unwrap_or(32768 + number as u16),
            })
            .collect();
        let container = Observed {
            id: id.clone(),
            task_id: assignment.task_id.clone(),
            status: Status::Created,
            health: None,
            error: None,
            ports,
            stop_grace: assignment.container.stop_grace_period.as_std(),
        };
        state.containers.insert(id.clone(), container);
        state.created.push(assignment.task_id.clone());
        Ok(id)
    }

    async fn start(&self, id: &str) -> Result<(), Error> {
        self.set_status(id, Status::Running)
    }

    async fn stop(&self, id: &str, _grace: Duration) -> Result<(), Error> {
        let stopped = Status::Exited {
            code: 0,
            out_of_memory: false,
        };
        self.set_status(id, stopped)
    }

    async fn remove(&self, id: &str) -> Result<(), Error> {
        self.state().containers.remove(id);
        Ok(())
    }

    fn changes(&self) -> BoxStream<'static, Result<(), Error>> {
        let (sender, receiver) = unbounded_channel();
        self.state().watchers.push(sender);
        futures_util::stream::unfold(receiver, |mut receiver| async move {
            let change = receiver.recv().await?;
            Some((change, receiver))
        })
        .boxed()
    }
}
