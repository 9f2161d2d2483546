//! Command line and environment configuration.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use crate::{
    auth::{proxy::Cidr, session::SessionSettings},
    presence::Heartbeat,
};

/// Shoal control plane: serves the web console and the REST API, and keeps the
/// cluster's state in a database (SQLite in the data directory by default).
///
/// On first start with an empty database it prints a one-time link where the
/// first admin chooses a username and password.
#[derive(Debug, Parser)]
#[command(name = "shoal-server", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub server: ServerArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Administer users from a shell on the server host.
    Admin {
        #[command(subcommand)]
        action: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin user, for headless installs. The password is read from
    /// standard input (one line) or asked for when run in a terminal.
    Create {
        /// The new admin's username.
        #[arg(long)]
        username: String,
    },
    /// Print the current join token for `worker` or `manager` nodes (like
    /// `docker swarm join-token -q`), e.g. for scripts that start agents on
    /// this host.
    JoinToken {
        /// Which token: worker or manager.
        #[arg(value_parser = ["worker", "manager"])]
        role: String,
    },
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address the console and the REST API listen on. Use 0.0.0.0:8300 to
    /// reach the console from other hosts.
    #[arg(
        long,
        env = "SHOAL_LISTEN",
        default_value = "127.0.0.1:8300",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,

    /// Directory for the server's state: the cluster CA (ca.crt, and ca.key
    /// readable only by this user) and the SQLite database (unless
    /// --database-url points elsewhere). Created if missing.
    #[arg(
        long,
        global = true,
        env = "SHOAL_DATA_DIR",
        default_value = "./data",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,

    /// Database to keep the cluster state in. Defaults to
    /// sqlite://DATA_DIR/shoal.db. Only sqlite:// URLs are supported yet.
    #[arg(long, global = true, env = "SHOAL_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,

    /// Directory holding the console's compiled assets (the `pkg/` folder with
    /// the wasm bundle, script and stylesheet). Found automatically next to
    /// the binary (../site or ./site) or in ./target/site; set this when the
    /// assets live elsewhere.
    #[arg(long, env = "SHOAL_SITE_ROOT", value_name = "DIR")]
    pub site_root: Option<PathBuf>,

    /// A console session unused for this long ends (e.g. 30m, 2h).
    #[arg(long, env = "SHOAL_SESSION_IDLE_TIMEOUT", default_value = "2h", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub session_idle_timeout: Duration,

    /// A console session ends this long after login, however busy (e.g. 12h, 7d).
    #[arg(long, env = "SHOAL_SESSION_MAX_LIFETIME", default_value = "12h", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub session_max_lifetime: Duration,

    /// A reverse proxy in front of the console (an address or a range such
    /// as 10.0.0.0/8; repeat it or separate with commas). Requests from it
    /// are taken to come from the address it puts in X-Forwarded-For, for
    /// login throttling and the audit log; from anywhere else that header is
    /// ignored.
    #[arg(long, env = "SHOAL_TRUSTED_PROXY", value_delimiter = ',', value_name = "CIDR")]
    pub trusted_proxy: Vec<Cidr>,

    /// Mark the session cookie Secure. Set this when users reach the console
    /// over HTTPS (e.g. through a TLS-terminating proxy).
    #[arg(long, env = "SHOAL_SECURE_COOKIE")]
    pub secure_cookie: bool,

    /// Address the agent gateway listens on: nodes connect here, over TLS
    /// with the cluster CA, to join and to stay in touch. Agents dial out to
    /// it, so only the server needs an open port.
    #[arg(
        long,
        env = "SHOAL_AGENT_LISTEN",
        default_value = "0.0.0.0:8302",
        value_name = "ADDR"
    )]
    pub agent_listen: SocketAddr,

    /// The address agents dial to reach the gateway, as the join commands
    /// show it (the port defaults to --agent-listen's). Defaults to
    /// --agent-listen, or this host's name when that listens on all
    /// interfaces. Set it when nodes know the server by another name or
    /// address (DNS name, NAT, load balancer).
    #[arg(long, env = "SHOAL_AGENT_ADVERTISE_ADDR", value_name = "HOST[:PORT]")]
    pub agent_advertise_addr: Option<String>,

    /// How often agents send a heartbeat (e.g. 5s, 1s; 100ms to 1h). The
    /// server tells each agent when it connects.
    #[arg(long, env = "SHOAL_HEARTBEAT_INTERVAL", default_value = "5s", value_parser = parse_heartbeat_interval, value_name = "DURATION")]
    pub heartbeat_interval: Duration,

    /// How many heartbeats in a row a node may miss before it is marked
    /// down (1 to 100).
    #[arg(long, env = "SHOAL_HEARTBEAT_MISSES", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100), value_name = "COUNT")]
    pub heartbeat_misses: u32,

    /// How long a node may stay down, after it missed its heartbeats, before
    /// its tasks are started on other nodes (e.g. 30s, 5m). Short moves
    /// tasks sooner; long rides out brief network trouble without churn.
    #[arg(long, env = "SHOAL_RESCHEDULE_AFTER", default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub reschedule_after: Duration,
}

fn parse_heartbeat_interval(raw: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(raw).map_err(|e| e.to_string())?;
    if (Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&interval) {
        Ok(interval)
    } else {
        Err("choose between 100ms and 1h".into())
    }
}

/// Everything the server needs to start, resolved from the command line.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub site_root: Option<PathBuf>,
    pub sessions: SessionSettings,
    pub trusted_proxies: Vec<Cidr>,
    pub agents: AgentSettings,
}

/// The agent gateway's settings.
#[derive(Clone, Debug)]
pub struct AgentSettings {
    pub listen: SocketAddr,
    pub advertise: Option<String>,
    pub heartbeat: Heartbeat,
    pub reschedule_after: Duration,
}

impl ServerArgs {
    pub fn into_config(self) -> Config {
        let database_url = self
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("shoal.db").display()));
        Config {
            listen: self.listen,
            data_dir: self.data_dir,
            database_url,
            site_root: self.site_root,
            sessions: SessionSettings {
                idle_timeout: self.session_idle_timeout,
                max_lifetime: self.session_max_lifetime,
                secure_cookie: self.secure_cookie,
            },
            trusted_proxies: self.trusted_proxy,
            agents: AgentSettings {
                listen: self.agent_listen,
                advertise: self.agent_advertise_addr,
                heartbeat: Heartbeat {
                    interval: self.heartbeat_interval,
                    misses: self.heartbeat_misses,
                },
                reschedule_after: self.reschedule_after,
            },
        }
    }
}

impl Config {
    /// Defaults for tests and embedding: loopback on free ports, for the
    /// console and for agents.
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        let database_url = format!("sqlite://{}", data_dir.join("shoal.db").display());
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            database_url,
            site_root: None,
            sessions: SessionSettings {
                idle_timeout: Duration::from_secs(2 * 3600),
                max_lifetime: Duration::from_secs(12 * 3600),
                secure_cookie: false,
            },
            trusted_proxies: Vec::new(),
            agents: AgentSettings {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                advertise: None,
                heartbeat: Heartbeat::default(),
                reschedule_after: Duration::from_secs(30),
            },
        }
    }
}
