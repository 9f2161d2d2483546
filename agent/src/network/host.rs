//! What service networks need from the host, checked for `shoal-agent
//! doctor`: each check says what it found and, when something is missing,
//! how to fix it. The agent runs without them (published ports and tasks
//! work), but containers on a network then cannot resolve or reach
//! services.

use std::{net::SocketAddr, process::Command};

use serde::Serialize;

use super::{
    nat::IPTABLES,
    netns::{Namespace, NetnsError},
    resolver::{HOST_RESOLV_CONF, host_nameservers},
};

/// Capabilities the agent uses, by number (linux/capability.h): entering a
/// namespace, and opening the namespace of a process of another user (a
/// container's), which the kernel checks as it checks tracing one.
const CAPABILITIES: [(u32, &str, &str); 2] = [
    (21, "CAP_SYS_ADMIN", "to enter namespaces"),
    (19, "CAP_SYS_PTRACE", "to open other users' processes' namespaces"),
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// What was found, or what is wrong and how to fix it.
    pub detail: String,
}

/// Every check, run now.
pub fn checks() -> Vec<Check> {
    // Its own namespace: entering one needs the same capability whichever
    // it is, and a container to try is not at hand.
    let entered = Namespace::of_process(std::process::id()).and_then(|namespace| namespace.run(|| ()));
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let iptables = Command::new(IPTABLES)
        .args(["-w", "5", "-t", "nat", "-S", "OUTPUT"])
        .output()
        .map_err(|error| error.to_string())
        .and_then(|output| {
            if output.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
            }
        });
    vec![
        capabilities(&status),
        namespaces(entered),
        nat(iptables),
        upstreams(&host_nameservers()),
    ]
}

/// From the `CapEff` line of `/proc/self/status`.
fn capabilities(status: &str) -> Check {
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    let missing: Vec<String> = CAPABILITIES
        .iter()
        .filter(|(bit, _, _)| effective & (1 << bit) == 0)
        .map(|(_, name, why)| format!("{name} ({why})"))
        .collect();
    Check {
        name: "Capabilities",
        ok: missing.is_empty(),
        detail: if missing.is_empty() {
            "CAP_SYS_ADMIN and CAP_SYS_PTRACE".to_owned()
        } else {
            format!(
                "lacks {}: run the agent as root, without a capability bounding set that drops them \
                 (systemd: no CapabilityBoundingSet=)",
                missing.join(" and ")
            )
        },
    }
}

fn namespaces(entered: Result<(), NetnsError>) -> Check {
    Check {
        name: "Namespaces",
        ok: entered.is_ok(),
        detail: match entered {
            Ok(()) => "can open and enter a network namespace (setns)".to_owned(),
            Err(error) => error.to_string(),
        },
    }
}

fn nat(outcome: Result<(), String>) -> Check {
    Check {
        name: "NAT rules",
        ok: outcome.is_ok(),
        detail: match outcome {
            Ok(()) => format!("{IPTABLES} can change NAT rules"),
            Err(cause) => format!(
                "`{IPTABLES} -t nat` failed ({cause}): install iptables (Debian: apt-get install iptables), \
                 with NAT in the kernel (nf_nat, as Docker needs), and run the agent as root"
            ),
        },
    }
}

fn upstreams(found: &[SocketAddr]) -> Check {
    let list: Vec<String> = found.iter().map(ToString::to_string).collect();
    Check {
        name: "Upstream DNS",
        ok: !found.is_empty(),
        detail: if found.is_empty() {
            format!(
                "{HOST_RESOLV_CONF} names no usable nameserver: containers on service networks will resolve \
                 only cluster names; add a `nameserver IP` line"
            )
        } else {
            format!("other names are asked of {}", list.join(", "))
        },
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn capabilities_come_from_the_effective_set() {
        let root = "Name:\tshoal-agent\nCapEff:\t000001ffffffffff\n";
        assert!(capabilities(root).ok);
        // CAP_SYS_ADMIN (bit 21) only.
        let admin = "CapEff:\t0000000000200000\n";
        let check = capabilities(admin);
        assert!(!check.ok);
        assert!(
            check.detail.starts_with("lacks CAP_SYS_PTRACE"),
            "{}",
            check.detail
        );
        let none = capabilities("");
        assert!(none.detail.contains("CAP_SYS_ADMIN") && none.detail.contains("CAP_SYS_PTRACE"));
    }

    #[test]
    fn a_namespace_that_cannot_be_entered_says_to_run_as_root() {
        let refused = Namespace::of_process(u32::MAX).map(drop);
        let check = namespaces(refused);
        assert!(!check.ok);
        assert!(check.detail.contains("root"), "{}", check.detail);
        let denied = NetnsError::Enter {
            path: "/proc/1/ns/net".into(),
            source: io::Error::from_raw_os_error(libc::EPERM),
        };
        assert!(namespaces(Err(denied)).detail.contains("CAP_SYS_ADMIN"));
        assert!(namespaces(Ok(())).ok);
    }

    #[test]
    fn missing_iptables_says_what_to_install() {
        let check = nat(Err("No such file or directory (os error 2)".into()));
        assert!(!check.ok);
        assert!(
            check.detail.contains("apt-get install iptables"),
            "{}",
            check.detail
        );
        assert!(nat(Ok(())).ok);
    }

    #[test]
    fn no_nameserver_says_what_containers_lose() {
        assert!(!upstreams(&[]).ok);
        let found = upstreams(&["10.0.0.2:53".parse().unwrap()]);
        assert!(found.ok);
        assert_eq!(found.detail, "other names are asked of 10.0.0.2:53");
    }
}
