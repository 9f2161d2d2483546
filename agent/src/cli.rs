//! Command line and environment configuration.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::{
    doctor,
    engine::{DEFAULT_DOCKER_HOST, DockerHost, Engine},
    error::Error,
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
    /// agent reports to the cluster about this node. Exits with a non-zero
    /// status and one line on stderr when the engine cannot be reached.
    Doctor(DoctorArgs),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the facts as one JSON object instead of a table, for scripts.
    #[arg(long)]
    pub json: bool,
}

impl Cli {
    pub async fn run(self) -> Result<(), Error> {
        match self.command {
            Command::Doctor(args) => {
                let engine = self.engine.connect().await?;
                doctor::run(&engine, &args).await
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
