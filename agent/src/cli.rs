//! Command line and environment configuration.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use shoal_proto::{
    join_token::JoinToken,
    node::{check_hostname, parse_label},
    wire::check_address,
};

use crate::{
    connection::ServerAddr,
    docker_host::{DEFAULT_DOCKER_HOST, DockerHost},
    doctor::{self, DoctorArgs},
    engine::Engine,
    error::Error,
    identity::Identity,
    ingress::{self, Limits},
    join::{self, JoinSpec},
    session,
};

/// Shoal node agent: joins a Shoal cluster and runs its tasks as containers
/// on this host's Docker engine.
///
/// Every command talks to the local Docker engine; the options below choose
/// which engine and how long to wait for it. Logs go to stderr and are
/// filtered by RUST_LOG (default: info), e.g. RUST_LOG=debug.
#[derive(Debug, Parser)]
#[command(name = "shoal-agent", version)]
pub struct Cli {
    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// How to reach the Docker engine; shared by every command.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Docker engine to drive: unix:///PATH or tcp://HOST:PORT.
    ///
    /// unix:///PATH is the engine's local socket; the user running the agent
    /// needs access to it (root, or a member of the docker group).
    /// tcp://HOST:PORT, or http://HOST:PORT, is an engine listening for plain
    /// HTTP; the port defaults to 2375. TLS (https://, DOCKER_TLS_VERIFY) is
    /// not supported.
    #[arg(
        long,
        global = true,
        env = "DOCKER_HOST",
        default_value = DEFAULT_DOCKER_HOST,
        value_name = "URL"
    )]
    pub docker_host: DockerHost,

    /// Seconds to wait for each answer from the Docker engine.
    ///
    /// Past this, the command fails instead of hanging on an engine that
    /// accepts connections but does not answer. 1 to 3600.
    #[arg(
        long,
        global = true,
        env = "SHOAL_DOCKER_TIMEOUT",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        value_name = "SECONDS"
    )]
    pub docker_timeout: u64,
}

impl EngineArgs {
    async fn connect(&self) -> Result<Engine, Error> {
        Engine::connect(self.docker_host.clone(), Duration::from_secs(self.docker_timeout)).await
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that the Docker engine answers, and show what this node offers.
    ///
    /// Connects to the engine chosen by --docker-host, agrees on the Docker
    /// API version both sides speak, and prints the engine's version, the API
    /// version in use, the host's OS, architecture, kernel, CPUs and memory,
    /// and how many containers and images the engine holds: the facts the
    /// agent reports to the cluster about this node. Then checks what
    /// service networks need from the host (root's capabilities, entering
    /// network namespaces, iptables with NAT, a nameserver in
    /// /etc/resolv.conf) and says how to fix what is missing. Exits with a
    /// non-zero status and one line on stderr when the engine cannot be
    /// reached; a missing service-network need is reported, not an error.
    Doctor(DoctorArgs),

    /// Join a Shoal cluster with a join token, then stay connected like `run`.
    ///
    /// Fetches the cluster CA certificate from SERVER_ADDR and goes on only
    /// if its digest is the one in the token; otherwise it stops with a
    /// possible man-in-the-middle warning. Then it generates this node's
    /// private key (which never leaves the data directory), trades the
    /// token's secret and a certificate request for the node's identity (a
    /// node id and a certificate signed by the cluster CA), and stores it in
    /// --data-dir. The worker or manager token decides the node's role. From
    /// then on the agent connects with that identity and never needs the
    /// token again.
    Join(JoinArgs),

    /// Connect to the cluster with the identity `join` stored, and stay connected.
    ///
    /// Reports this node's inventory and sends a heartbeat at the interval
    /// the server asks for, runs the tasks the server assigns, and listens
    /// on every port published in ingress mode, forwarding connections to
    /// the service's tasks on any node (the routing mesh; --metrics-listen
    /// shows its counters). Inside each of its containers on a service
    /// network it answers the names of the services sharing a network and
    /// forwards their virtual addresses the same way (this needs root;
    /// `doctor` checks what else). After network loss or a server restart it
    /// reconnects, waiting longer after each failed attempt (up to 30 s).
    /// It exits with an error only when the server refuses the node for
    /// good, e.g. after an admin removed it.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct DataDirArg {
    /// Directory for the node's identity: its private key (readable only by
    /// this user), its certificate, the cluster CA certificate and node.json
    /// (node id, hostname, server address). `join` creates it.
    #[arg(
        long,
        env = "SHOAL_AGENT_DATA_DIR",
        default_value = "./agent-data",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,
}

/// Observability of the node's routing mesh; `join` and `run` serve it alike.
#[derive(Debug, Args)]
pub struct MetricsArg {
    /// Serve the ingress (routing mesh) counters for Prometheus at
    /// http://ADDR/metrics, e.g. 127.0.0.1:9102: connections, active
    /// connections, bytes each way, errors and retries per published port.
    /// Off unless given. The endpoint has no authentication: bind it to an
    /// address only your monitoring can reach.
    #[arg(long, env = "SHOAL_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
}

/// Bounds on the routing mesh's connections; `join` and `run` take them alike.
#[derive(Debug, Args)]
pub struct MeshArgs {
    /// Most client connections the routing mesh proxies at once on one
    /// published port. Connections past it are closed as they arrive
    /// (shoal_ingress_refused_connections_total counts them), so one busy
    /// port cannot take every connection the node can hold.
    #[arg(
        long,
        env = "SHOAL_MESH_MAX_CONNECTIONS_PER_PORT",
        default_value_t = ingress::PORT_CONNECTIONS,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..),
        value_name = "N"
    )]
    pub mesh_max_connections_per_port: usize,

    /// Most client connections the routing mesh proxies at once on all
    /// published ports together; past it, connections are closed as they
    /// arrive. Defaults to what the open-file limit (ulimit -n) allows
    /// after keeping 256 descriptors for the agent itself (its connection
    /// to the server, the Docker engine, health probes): two per
    /// connection. A larger value risks the agent's own connections
    /// failing when the mesh is full, and the node going down.
    #[arg(
        long,
        env = "SHOAL_MESH_MAX_CONNECTIONS",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..),
        value_name = "N"
    )]
    pub mesh_max_connections: Option<usize>,

    /// Seconds a proxied connection may go without a byte in either
    /// direction before the mesh closes it. 1 to 604800 (a week).
    #[arg(
        long,
        env = "SHOAL_MESH_IDLE_TIMEOUT",
        default_value_t = ingress::IDLE_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=604_800),
        value_name = "SECONDS"
    )]
    pub mesh_idle_timeout: u64,
}

impl MeshArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            per_port: self.mesh_max_connections_per_port,
            total: self.mesh_max_connections.unwrap_or_else(ingress::default_total),
            idle_timeout: Duration::from_secs(self.mesh_idle_timeout),
        }
    }
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The worker or manager join token, as the console shows it (Nodes,
    /// Join tokens). The environment variable keeps it out of the process list.
    #[arg(
        long,
        env = "SHOAL_JOIN_TOKEN",
        hide_env_values = true,
        value_parser = parse_token,
        value_name = "TOKEN"
    )]
    pub token: JoinToken,

    /// The server's agent gateway, HOST[:PORT] (port 8302 unless given), as
    /// the join command names it.
    #[arg(value_name = "SERVER_ADDR")]
    pub server: ServerAddr,

    #[command(flatten)]
    pub data: DataDirArg,

    /// This node's name in the cluster. Defaults to the hostname the Docker
    /// engine reports.
    #[arg(long, value_parser = parse_hostname, value_name = "NAME")]
    pub hostname: Option<String>,

    /// The address (IP or host name) at which other nodes and users reach
    /// this node. Defaults to the address the server sees the agent
    /// connect from.
    #[arg(long, value_parser = parse_advertise_addr, value_name = "ADDR")]
    pub advertise_addr: Option<String>,

    /// A label for this node, KEY=VALUE; repeat the flag for more.
    /// Operators can change labels later.
    #[arg(long = "label", value_parser = parse_label_flag, value_name = "KEY=VALUE")]
    pub labels: Vec<(String, String)>,

    #[command(flatten)]
    pub metrics: MetricsArg,

    #[command(flatten)]
    pub mesh: MeshArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub data: DataDirArg,

    #[command(flatten)]
    pub metrics: MetricsArg,

    #[command(flatten)]
    pub mesh: MeshArgs,
}

fn parse_token(raw: &str) -> Result<JoinToken, String> {
    raw.parse()
        .map_err(|error: shoal_proto::join_token::JoinTokenError| error.to_string())
}

fn parse_hostname(raw: &str) -> Result<String, String> {
    check_hostname(raw)
        .map(|()| raw.to_owned())
        .map_err(|e| e.message)
}

fn parse_advertise_addr(raw: &str) -> Result<String, String> {
    check_address(raw).map(|()| raw.to_owned()).map_err(|e| e.message)
}

fn parse_label_flag(raw: &str) -> Result<(String, String), String> {
    parse_label(raw).map_err(|e| e.message)
}

impl Cli {
    pub async fn run(self) -> Result<(), Error> {
        match self.command {
            Command::Doctor(args) => {
                let engine = self.engine.connect().await?;
                doctor::run(&engine, &args).await
            }
            Command::Join(args) => {
                let engine = self.engine.connect().await?;
                let data_dir = args.data.data_dir;
                let spec = JoinSpec {
                    token: args.token,
                    server: args.server,
                    data_dir: data_dir.clone(),
                    hostname: args.hostname,
                    advertise_addr: args.advertise_addr,
                    labels: args.labels.into_iter().collect(),
                };
                let identity = join::join(&engine, spec).await?;
                let never = session::keep(
                    &engine,
                    &identity,
                    &data_dir,
                    args.metrics.metrics_listen,
                    args.mesh.limits(),
                )
                .await?;
                match never {}
            }
            Command::Run(args) => {
                let identity = Identity::load(&args.data.data_dir)?;
                let engine = self.engine.connect().await?;
                let never = session::keep(
                    &engine,
                    &identity,
                    &args.data.data_dir,
                    args.metrics.metrics_listen,
                    args.mesh.limits(),
                )
                .await?;
                match never {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn mesh_limits_default_to_the_documented_values_and_follow_the_flags() {
        let defaults = Cli::parse_from(["shoal-agent", "run"]);
        let Command::Run(run) = defaults.command else {
            panic!("not run");
        };
        assert_eq!(run.mesh.limits(), Limits::default());
        let set = Cli::parse_from([
            "shoal-agent",
            "run",
            "--mesh-max-connections-per-port",
            "8",
            "--mesh-max-connections",
            "100",
            "--mesh-idle-timeout",
            "30",
        ]);
        let Command::Run(run) = set.command else {
            panic!("not run");
        };
        assert_eq!(
            run.mesh.limits(),
            Limits {
                per_port: 8,
                total: 100,
                idle_timeout: Duration::from_secs(30),
            }
        );
        assert!(Cli::try_parse_from(["shoal-agent", "run", "--mesh-idle-timeout", "0"]).is_err());
        assert!(Cli::try_parse_from(["shoal-agent", "run", "--mesh-max-connections", "0"]).is_err());
    }

    #[test]
    fn every_flag_and_subcommand_is_explained() {
        let root = Cli::command();
        let commands = std::iter::once(&root).chain(root.get_subcommands());
        for command in commands {
            assert!(
                command.get_about().is_some(),
                "{} has no help",
                command.get_name()
            );
            for arg in command.get_arguments() {
                assert!(
                    arg.get_help().is_some(),
                    "{} --{} has no help",
                    command.get_name(),
                    arg.get_id()
                );
            }
        }
    }
}
