//! Command line and environment configuration.

use std::{net::SocketAddr, path::PathBuf};

use clap::Parser;

/// Shoal control plane: serves the web console and the REST API, and keeps the
/// cluster's state in a database (SQLite in the data directory by default).
#[derive(Debug, Parser)]
#[command(name = "shoal-server", version, about, long_about = None)]
pub struct Cli {
    /// Address the console and the REST API listen on. Use 0.0.0.0:8300 to
    /// reach the console from other hosts.
    #[arg(
        long,
        env = "SHOAL_LISTEN",
        default_value = "127.0.0.1:8300",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,

    /// Directory for the server's state: the SQLite database (unless
    /// --database-url points elsewhere) and, later, the cluster CA. Created if
    /// missing.
    #[arg(long, env = "SHOAL_DATA_DIR", default_value = "./data", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Database to keep the cluster state in. Defaults to
    /// sqlite://DATA_DIR/shoal.db. Only sqlite:// URLs are supported yet.
    #[arg(long, env = "SHOAL_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,

    /// Directory holding the console's compiled assets (the `pkg/` folder with
    /// the wasm bundle, script and stylesheet). Found automatically next to
    /// the binary (../site or ./site) or in ./target/site; set this when the
    /// assets live elsewhere.
    #[arg(long, env = "SHOAL_SITE_ROOT", value_name = "DIR")]
    pub site_root: Option<PathBuf>,
}

/// Everything the server needs to start, resolved from the command line.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub site_root: Option<PathBuf>,
}

impl Cli {
    pub fn into_config(self) -> Config {
        let database_url = self
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("shoal.db").display()));
        Config {
            listen: self.listen,
            data_dir: self.data_dir,
            database_url,
            site_root: self.site_root,
        }
    }
}
