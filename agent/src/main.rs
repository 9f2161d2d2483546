use std::process::ExitCode;

use clap::Parser;
use shoal_agent::{cli::Cli, error::Error};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match cli.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("shoal-agent: error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, so that stdout carries only a command's report and
/// can be piped; `RUST_LOG` filters them (default: info).
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours help a terminal and garble a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Messages quoted from the engine may span lines; scripts and log collectors
/// expect one line per error.
fn one_line(error: &Error) -> String {
    error.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}
