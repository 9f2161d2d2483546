//! Which of this node's containers are on service networks, and the
//! process each runs as: what [`Networks`] serves. Looked up again whenever
//! the engine says one of them started or ended, and every 30 s in case an
//! event was missed.

use std::{collections::HashMap, future::Future, time::Duration};

use bollard::{
    Docker,
    query_parameters::{EventsOptions, ListContainersOptions},
};
use futures_util::StreamExt;
use tokio::time::sleep;

use super::labels::{self, NETWORKS, NODE_ID};
use crate::{
    backoff::RECONNECT,
    engine::Engine,
    network::{Container, Networks},
};

/// The safety net behind the engine's events.
const RESYNC: Duration = Duration::from_secs(30);
/// What can start or end a container's namespace.
const EVENTS: [&str; 3] = ["start", "die", "destroy"];

/// Keeps `networks` serving this node's running networked containers, for
/// as long as the returned future runs (the agent's life).
pub fn watch(
    engine: &Engine,
    node_id: &str,
    networks: Networks,
) -> impl Future<Output = ()> + Send + 'static {
    let docker = engine.client().clone();
    let mine = vec![labels::filter(NODE_ID, node_id), NETWORKS.to_owned()];
    async move {
        let mut attempt = 0;
        loop {
            // Subscribed before the first look, so that nothing between the
            // two goes unseen.
            let filters = HashMap::from([
                ("type".to_owned(), vec!["container".to_owned()]),
                ("label".to_owned(), mine.clone()),
                ("event".to_owned(), EVENTS.map(str::to_owned).to_vec()),
            ]);
            let mut events = docker.events(Some(EventsOptions {
                filters: Some(filters),
                ..EventsOptions::default()
            }));
            look(&docker, &mine, &networks).await;
            loop {
                tokio::select! {
                    event = events.next() => match event {
                        Some(Ok(_)) => {
                            attempt = 0;
                            look(&docker, &mine, &networks).await;
                        }
                        Some(Err(error)) => {
                            tracing::warn!("service networks: the engine's events failed: {error}");
                            break;
                        }
                        None => break,
                    },
                    () = sleep(RESYNC) => look(&docker, &mine, &networks).await,
                }
            }
            sleep(RECONNECT.delay(attempt, rand::random())).await;
            attempt = attempt.saturating_add(1);
        }
    }
}

/// Tells `networks` which containers run now. A failed look changes
/// nothing: containers keep being served until the engine says otherwise.
async fn look(docker: &Docker, mine: &[String], networks: &Networks) {
    match running(docker, mine).await {
        Ok(containers) => networks.set_containers(&containers),
        Err(error) => tracing::warn!("service networks: cannot list the node's containers: {error}"),
    }
}

async fn running(docker: &Docker, mine: &[String]) -> Result<Vec<Container>, bollard::errors::Error> {
    let options = ListContainersOptions {
        filters: Some(HashMap::from([
            ("label".to_owned(), mine.to_vec()),
            ("status".to_owned(), vec!["running".to_owned()]),
        ])),
        ..ListContainersOptions::default()
    };
    let mut found = Vec::new();
    for summary in docker.list_containers(Some(options)).await? {
        let Some(id) = summary.id else { continue };
        let networks = summary
            .labels
            .as_ref()
            .and_then(|labels| labels.get(NETWORKS))
            .map(|label| labels::networks(label))
            .unwrap_or_default();
        // The listing has no process id; a container gone since has none.
        let Ok(inspection) = docker.inspect_container(&id, None).await else {
            continue;
        };
        let pid = inspection
            .state
            .and_then(|state| state.pid)
            .and_then(|pid| u32::try_from(pid).ok())
            .filter(|&pid| pid > 0);
        if let Some(pid) = pid {
            found.push(Container { id, pid, networks });
        }
    }
    Ok(found)
}
