//! The node's whole routing mesh: the listener of every published port, made
//! to match each table the server sends. One [`Ingress`] lives as long as
//! the agent, across reconnections: clients keep being served while the
//! server is away, and the next table simply replaces the last.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex, PoisonError},
};

use shoal_proto::{
    service::Protocol,
    wire::{IngressPort, IngressStatus, IngressTable, ListenerStatus, PortMetrics},
};

use super::{
    balance::Route,
    exposition::{Sample, render},
    limits::Limits,
    listener::Listener,
    plan::{PortKey, plan},
    slots::Slots,
};

pub const UDP_UNSUPPORTED: &str = "udp ingress is not supported yet";

/// A cheap handle: clones share one mesh (the session applies tables, the
/// metrics endpoint reads counters).
#[derive(Clone, Debug)]
pub struct Ingress {
    mesh: Arc<Mutex<Mesh>>,
}

#[derive(Debug)]
struct Mesh {
    host_ip: IpAddr,
    /// The last table applied; none before the first.
    version: Option<u64>,
    ports: BTreeMap<PortKey, Port>,
    limits: Limits,
    /// The node-wide cap, which every port's connections count against.
    slots: Arc<Slots>,
}

#[derive(Debug)]
struct Port {
    service: String,
    /// None for a protocol the mesh cannot serve.
    listener: Option<Listener>,
}

impl Ingress {
    /// Ports are published on `host_ip`, the address containers publish on,
    /// so that several agents sharing a host (each with its own address)
    /// do not take each other's ports. `limits` bound the connections of
    /// every port this mesh ever opens.
    pub fn new(host_ip: IpAddr, limits: Limits) -> Self {
        Self {
            mesh: Arc::new(Mutex::new(Mesh {
                host_ip,
                version: None,
                ports: BTreeMap::new(),
                limits,
                slots: Slots::new(limits.total),
            })),
        }
    }

    /// The node-wide cap, which the service networks' connections count
    /// against too: they spend the same descriptors.
    pub(crate) fn node_slots(&self) -> Arc<Slots> {
        Arc::clone(&self.lock().slots)
    }

    pub(crate) fn limits(&self) -> Limits {
        self.lock().limits
    }

    /// Where the mesh listens for `published`.
    pub fn listen_addr(&self, published: u16) -> SocketAddr {
        SocketAddr::new(self.lock().host_ip, published)
    }

    /// Makes the listeners match `table` and returns the status to report.
    /// Must run inside the tokio runtime: new listeners bind here, so the
    /// status already tells whether they could.
    pub fn apply(&self, table: IngressTable) -> IngressStatus {
        let mut mesh = self.lock();
        let current: BTreeSet<PortKey> = mesh.ports.keys().copied().collect();
        let plan = plan(&current, &table.ports);
        for key in &plan.close {
            // Dropping the listener stops it; its connections run on.
            mesh.ports.remove(key);
        }
        for port in plan.duplicates {
            tracing::warn!(
                published = port.published,
                service = %port.service_name,
                "ingress table publishes the port twice; the first entry wins"
            );
        }
        for port in plan.keep {
            let key = PortKey::of(port);
            if let Some(existing) = mesh.ports.get_mut(&key) {
                existing.service.clone_from(&port.service_name);
                if let Some(listener) = &existing.listener {
                    listener.set_route(route(port, Some(&listener.route())));
                }
            }
        }
        for port in plan.open {
            let listener = match port.protocol {
                Protocol::Tcp => {
                    let addr = SocketAddr::new(mesh.host_ip, port.published);
                    let node = Arc::clone(&mesh.slots);
                    Some(Listener::open(addr, route(port, None), &mesh.limits, node))
                }
                Protocol::Udp => {
                    tracing::warn!(published = port.published, service = %port.service_name, "{UDP_UNSUPPORTED}");
                    None
                }
            };
            let entry = Port {
                service: port.service_name.clone(),
                listener,
            };
            mesh.ports.insert(PortKey::of(port), entry);
        }
        mesh.version = Some(table.version);
        tracing::debug!(
            version = table.version,
            ports = mesh.ports.len(),
            "ingress table applied"
        );
        mesh.status(table.version)
    }

    /// The status as of now; none before the first table.
    pub fn status(&self) -> Option<IngressStatus> {
        let mesh = self.lock();
        mesh.version.map(|version| mesh.status(version))
    }

    /// Every port's counters in Prometheus' text format.
    pub fn metrics_text(&self) -> String {
        let mesh = self.lock();
        let samples: Vec<Sample> = mesh
            .ports
            .iter()
            .map(|(key, port)| Sample {
                published: key.published,
                protocol: key.protocol,
                service: port.service.clone(),
                listening: port.listener.as_ref().is_some_and(|l| l.error().is_none()),
                backends: port.listener.as_ref().map_or(0, |l| l.route().targets.len()),
                metrics: port.listener.as_ref().map(Listener::metrics).unwrap_or_default(),
                limits: port
                    .listener
                    .as_ref()
                    .map(Listener::limit_metrics)
                    .unwrap_or_default(),
            })
            .collect();
        render(&samples)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mesh> {
        // Nothing panics while holding it; a poisoned mesh is still whole.
        self.mesh.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Mesh {
    fn status(&self, version: u64) -> IngressStatus {
        let ports = self
            .ports
            .iter()
            .map(|(key, port)| match &port.listener {
                Some(listener) => ListenerStatus {
                    published: key.published,
                    protocol: key.protocol,
                    addr: listener.addr().to_string(),
                    error: listener.error(),
                    backends: listener.route().task_ids(),
                    metrics: listener.metrics(),
                },
                None => ListenerStatus {
                    published: key.published,
                    protocol: key.protocol,
                    addr: SocketAddr::new(self.host_ip, key.published).to_string(),
                    error: Some(UDP_UNSUPPORTED.to_owned()),
                    backends: Vec::new(),
                    metrics: PortMetrics::default(),
                },
            })
            .collect();
        IngressStatus { version, ports }
    }
}

fn route(port: &IngressPort, previous: Option<&Route>) -> Route {
    let (route, rejected) = Route::build(&port.service_name, &port.backends, previous);
    for backend in rejected {
        tracing::warn!(
            published = port.published,
            task = %backend.task_id,
            addr = %backend.addr,
            "ingress backend is not an ip:port address; skipping it"
        );
    }
    route
}
