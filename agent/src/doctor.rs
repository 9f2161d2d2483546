//! `shoal-agent doctor`: checks the engine and shows what this node offers,
//! then what the host offers service networks, with how to fix what is
//! missing.

use std::io::{self, Write};

use clap::Args;
use serde::Serialize;

use crate::{
    engine::{Engine, EngineInfo},
    error::Error,
    network::host::{self, Check},
};

// The command's options live with the command, so that the command line
// (`cli`) depends on `doctor` and not the other way round. A plain comment:
// clap would take a doc comment here for the subcommand's help.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the facts as one JSON object instead of a table, for scripts.
    #[arg(long)]
    pub json: bool,
}

/// The JSON form: the engine's facts at the top level, as before there were
/// checks, and the checks beside them.
#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    info: &'a EngineInfo,
    service_networks: &'a [Check],
}

/// The checks fail nothing: a host without them still runs tasks and
/// publishes ports, and the rows say what service networks lack.
pub async fn run(engine: &Engine, args: &DoctorArgs) -> Result<(), Error> {
    let info = engine.info().await?;
    let checks = tokio::task::spawn_blocking(host::checks)
        .await
        .map_err(io::Error::other)?;
    // A closed stdout (`| head`) must become an error message, not the panic
    // that `println!` would raise.
    let mut out = io::stdout().lock();
    if args.json {
        let report = Report {
            info: &info,
            service_networks: &checks,
        };
        serde_json::to_writer_pretty(&mut out, &report).map_err(io::Error::from)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", table(&engine.host().to_string(), &info))?;
        write!(out, "{}", checks_table(&checks))?;
    }
    out.flush()?;
    Ok(())
}

fn table(host: &str, info: &EngineInfo) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    let rows = [
        ("Engine", host.to_owned()),
        ("Version", known(&info.engine_version)),
        (
            "API version",
            format!(
                "{} (engine accepts {} to {})",
                info.api_version,
                known(&info.engine_min_api_version),
                known(&info.engine_max_api_version)
            ),
        ),
        ("Hostname", known(&info.hostname)),
        ("OS/Arch", format!("{}/{}", known(&info.os), known(&info.arch))),
        ("Operating system", known(&info.operating_system)),
        ("Kernel", known(&info.kernel_version)),
        ("CPUs", info.cpus.to_string()),
        ("Memory", format!("{:.1} GiB", info.memory_bytes as f64 / GIB)),
        (
            "Containers",
            format!("{} ({} running)", info.containers, info.containers_running),
        ),
        ("Images", info.images.to_string()),
    ];
    rows.iter()
        .map(|(label, value)| format!("{:<18}{value}\n", format!("{label}:")))
        .collect()
}

/// One row per check, under a heading, "ok" or "MISSING" first so that a
/// glance finds what to fix.
fn checks_table(checks: &[Check]) -> String {
    let mut text = "\nService networks:\n".to_owned();
    for check in checks {
        let verdict = if check.ok { "ok" } else { "MISSING" };
        text.push_str(&format!(
            "  {:<16}{verdict}: {}\n",
            format!("{}:", check.name),
            check.detail
        ));
    }
    text
}

/// Engines may leave a fact out; say so rather than print an empty cell.
fn known(value: &str) -> String {
    match value {
        "" => "unknown".to_owned(),
        value => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_one_aligned_row_per_fact() {
        let info = EngineInfo {
            engine_version: "20.10.24".into(),
            api_version: "1.41".into(),
            engine_min_api_version: "1.12".into(),
            engine_max_api_version: "1.41".into(),
            hostname: "node-1".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            operating_system: String::new(),
            kernel_version: "6.1.0".into(),
            cpus: 4,
            memory_bytes: 8 << 30,
            containers: 3,
            containers_running: 1,
            images: 7,
        };
        assert_eq!(
            table("unix:///var/run/docker.sock", &info),
            "\
Engine:           unix:///var/run/docker.sock
Version:          20.10.24
API version:      1.41 (engine accepts 1.12 to 1.41)
Hostname:         node-1
OS/Arch:          linux/amd64
Operating system: unknown
Kernel:           6.1.0
CPUs:             4
Memory:           8.0 GiB
Containers:       3 (1 running)
Images:           7
"
        );
    }

    #[test]
    fn checks_say_ok_or_missing_with_the_fix() {
        let checks = [
            Check {
                name: "Namespaces",
                ok: true,
                detail: "fine".into(),
            },
            Check {
                name: "NAT rules",
                ok: false,
                detail: "install iptables".into(),
            },
        ];
        assert_eq!(
            checks_table(&checks),
            "
Service networks:
  Namespaces:     ok: fine
  NAT rules:      MISSING: install iptables
"
        );
    }
}
