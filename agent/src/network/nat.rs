//! How connections to virtual and task addresses reach the agent inside a
//! container.
//!
//! The agent does not listen on each virtual address and port: a container
//! whose own program listens on a port on all addresses (`0.0.0.0:8080`,
//! the usual way) would then either keep the agent from listening on
//! `VIRTUAL:8080` or, if the agent came first, fail to start with "address
//! in use". Instead two rules in the container's own namespace redirect
//! every TCP connection to the virtual range and to the task range
//! (`tasks::TASK_RANGE`) to the agent's one listener
//! there (the resolver's address and port), and the agent reads where each
//! connection was going from the kernel's connection tracking.

use std::{
    io, mem,
    net::{Ipv4Addr, SocketAddrV4},
    os::fd::AsRawFd,
    process::Command,
};

use shoal_proto::network::RESOLVER;

use super::tasks::TASK_RANGE;

/// The range of every virtual address (`network::virtual_address`).
pub const VIRTUAL_RANGE: &str = "127.128.0.0/9";
/// Where the resolver and the redirected connections are received.
pub const LISTEN: SocketAddrV4 = SocketAddrV4::new(RESOLVER, 53);

/// The agent runs this program inside each container's namespace.
pub const IPTABLES: &str = "iptables";

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot redirect the container's connections to virtual and task addresses ({command}): {cause}. Install iptables \
     on the host (Docker needs it too) with NAT support in the kernel; check with `shoal-agent doctor`"
)]
pub struct NatError {
    command: String,
    cause: String,
}

/// The rules' `iptables` arguments after the action (`-C` checks, `-A`
/// adds): one for each range, since no one prefix holds both without
/// holding 127.0.0.0/9, the resolver's address with it.
pub fn rules() -> [Vec<String>; 2] {
    [VIRTUAL_RANGE, TASK_RANGE].map(rule)
}

fn rule(range: &str) -> Vec<String> {
    [
        "OUTPUT",
        "-d",
        range,
        "-p",
        "tcp",
        "-j",
        "DNAT",
        "--to-destination",
        &LISTEN.to_string(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Adds each rule unless it is there (an agent restarted, finding its
/// containers running). Must run inside the container's namespace.
pub fn redirect() -> Result<(), NatError> {
    for rule in rules() {
        if iptables("-C", &rule).is_err() {
            iptables("-A", &rule)?;
        }
    }
    Ok(())
}

fn iptables(action: &str, rule: &[String]) -> Result<(), NatError> {
    // -w: Docker and other agents change rules too; wait for the lock
    // rather than fail.
    let mut args = vec![
        "-w".to_owned(),
        "5".to_owned(),
        "-t".to_owned(),
        "nat".to_owned(),
        action.to_owned(),
    ];
    args.extend_from_slice(rule);
    let command = format!("{IPTABLES} {}", args.join(" "));
    let output = Command::new(IPTABLES)
        .args(&args)
        .output()
        .map_err(|error| NatError {
            command: command.clone(),
            cause: error.to_string(),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        let said = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        Err(NatError {
            command,
            cause: if said.is_empty() {
                output.status.to_string()
            } else {
                said
            },
        })
    }
}

/// Where a connection accepted by the listener was going before the rule
/// redirected it; the listener's own address for one that was not
/// redirected (a DNS query over TCP).
pub fn original_destination(stream: &impl AsRawFd) -> io::Result<SocketAddrV4> {
    // SAFETY: an all-zero `sockaddr_in` is a valid value of the type.
    let mut address: libc::sockaddr_in = unsafe { mem::zeroed() };
    let mut length = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `getsockopt` writes at most `length` bytes through the
    // pointer, which points to a live `sockaddr_in` of exactly that size,
    // and updates `length`, a live local; the descriptor is borrowed from a
    // socket that outlives the call.
    let found = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_IP,
            libc::SO_ORIGINAL_DST,
            (&raw mut address).cast(),
            &raw mut length,
        )
    };
    if found != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(address.sin_addr.s_addr)),
        u16::from_be(address.sin_port),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_send_the_virtual_and_task_ranges_to_the_resolvers_address() {
        assert_eq!(
            rules().map(|rule| rule.join(" ")),
            [
                "OUTPUT -d 127.128.0.0/9 -p tcp -j DNAT --to-destination 127.0.0.53:53",
                "OUTPUT -d 127.64.0.0/10 -p tcp -j DNAT --to-destination 127.0.0.53:53",
            ]
        );
    }

    #[test]
    fn a_connection_that_was_not_redirected_has_no_original_destination_or_its_own() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        // Without a NAT rule the kernel may not track the connection at all.
        match original_destination(&accepted) {
            Ok(original) => assert_eq!(std::net::SocketAddr::V4(original), listener.local_addr().unwrap()),
            Err(error) => assert_eq!(error.raw_os_error(), Some(libc::ENOENT), "{error}"),
        }
        drop(client);
    }
}
