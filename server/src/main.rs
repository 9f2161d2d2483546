use std::process::ExitCode;

use clap::Parser;
use shoal_server::{
    admin_cli,
    config::{Cli, Command},
    startup::Application,
    telemetry,
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    let config = cli.server.into_config();
    let result = match cli.command {
        Some(Command::Admin { action }) => admin_cli::run(action, config).await,
        None => {
            async {
                let app = Application::build(config).await?;
                app.run_until_stopped(shoal_server::shutdown::signal()).await
            }
            .await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("shoal-server: error: {error}");
            ExitCode::FAILURE
        }
    }
}
