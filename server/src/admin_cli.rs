//! `shoal-server admin …`: user administration from a shell on the server.

use std::io::{BufRead, IsTerminal};

use crate::{
    config::{AdminCommand, Config},
    error::StartupError,
    ops, startup,
};

pub async fn run(command: AdminCommand, config: Config) -> Result<(), StartupError> {
    match command {
        AdminCommand::Create { username } => {
            let password = read_password().map_err(StartupError::Admin)?;
            let ctx = startup::open_context(&config).await?;
            let created = ops::setup::create_admin_from_cli(&ctx, &username, password).await;
            ctx.store.close().await;
            let record = created.map_err(|error| StartupError::Admin(error.to_string()))?;
            println!("created admin {} (id {})", record.user.username, record.user.id);
            Ok(())
        }
        AdminCommand::JoinToken { role } => {
            let ctx = startup::open_context(&config).await?;
            let tokens = ops::join_tokens::view(&ctx).await;
            ctx.store.close().await;
            let tokens = tokens.map_err(|error| StartupError::Admin(error.to_string()))?;
            let token = if role == "manager" {
                tokens.manager
            } else {
                tokens.worker
            };
            println!("{}", token.token);
            Ok(())
        }
    }
}

/// A prompt without echo in a terminal; otherwise the first line of stdin,
/// so scripts can pipe the password in.
fn read_password() -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        let first =
            rpassword::prompt_password("Password: ").map_err(|e| format!("reading the password: {e}"))?;
        let again =
            rpassword::prompt_password("Repeat it: ").map_err(|e| format!("reading the password: {e}"))?;
        if first != again {
            return Err("the two passwords differ".into());
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("reading the password from stdin: {e}"))?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}
