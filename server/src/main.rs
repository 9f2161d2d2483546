use std::process::ExitCode;

use clap::Parser;
use shoal_server::{config::Cli, startup::Application, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    let result = async {
        let app = Application::build(cli.into_config()).await?;
        app.run_until_stopped(shoal_server::shutdown::signal()).await
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("shoal-server: error: {error}");
            ExitCode::FAILURE
        }
    }
}
