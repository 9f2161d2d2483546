//! Dialling the server's agent gateway: TCP, then TLS, then frames.

use std::{fmt, str::FromStr, sync::Arc, time::Duration};

use rustls::ClientConfig;
use shoal_proto::{
    framing::AgentFrames,
    wire::{AgentMessage, DEFAULT_PORT, ServerMessage, check_address},
};
use tokio::{net::TcpStream, time::timeout};
use tokio_rustls::{TlsConnector, client::TlsStream};

use crate::{error::Error, tls};

/// Connecting and the TLS handshake each give up after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The server answers a connection's first message at once, or not at all.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

pub type Connection = AgentFrames<TlsStream<TcpStream>>;

/// The gateway's address: `HOST:PORT`, the port defaulting to 8302.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerAddr(String);

impl FromStr for ServerAddr {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        check_address(raw).map_err(|_| "give the server as HOST or HOST:PORT".to_owned())?;
        let has_port = match raw.rsplit_once(':') {
            // A bare IPv6 address has colons but no port.
            Some((host, port)) => port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']')),
            None => false,
        };
        Ok(Self(
            match (has_port, raw.contains(':') && !raw.starts_with('[')) {
                (true, _) => raw.to_owned(),
                (false, true) => format!("[{raw}]:{DEFAULT_PORT}"),
                (false, false) => format!("{raw}:{DEFAULT_PORT}"),
            },
        ))
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub async fn dial(server: &ServerAddr, config: Arc<ClientConfig>) -> Result<Connection, Error> {
    let unreachable = |cause: String| Error::Connect {
        server: server.to_string(),
        cause,
    };
    let tcp = timeout(CONNECT_TIMEOUT, TcpStream::connect(server.0.as_str()))
        .await
        .map_err(|_| unreachable("no answer within 10 s".into()))?
        .map_err(|error| unreachable(error.to_string()))?;
    // Heartbeats are small and must not wait for more data to fill a packet.
    tcp.set_nodelay(true)
        .map_err(|error| unreachable(error.to_string()))?;
    let tls = timeout(
        CONNECT_TIMEOUT,
        TlsConnector::from(config).connect(tls::server_name(), tcp),
    )
    .await
    .map_err(|_| unreachable("the TLS handshake did not finish within 10 s".into()))?
    .map_err(|error| unreachable(format!("TLS: {error}")))?;
    Ok(Connection::new(tls))
}

/// The server's answer to a connection's first message.
pub async fn answer(connection: &mut Connection, server: &ServerAddr) -> Result<ServerMessage, Error> {
    let protocol = |cause: String| Error::Protocol {
        server: server.to_string(),
        cause,
    };
    match timeout(ANSWER_TIMEOUT, connection.recv()).await {
        Ok(Some(Ok(message))) => Ok(message),
        Ok(Some(Err(error))) => Err(protocol(error.to_string())),
        Ok(None) => Err(Error::Connect {
            server: server.to_string(),
            cause: "the server closed the connection without answering".into(),
        }),
        Err(_) => Err(Error::Connect {
            server: server.to_string(),
            cause: format!("no answer within {} s", ANSWER_TIMEOUT.as_secs()),
        }),
    }
}

pub async fn send(
    connection: &mut Connection,
    server: &ServerAddr,
    message: &AgentMessage,
) -> Result<(), Error> {
    connection.send(message).await.map_err(|error| Error::Connect {
        server: server.to_string(),
        cause: error.to_string(),
    })
}

pub fn unexpected(server: &ServerAddr, message: &ServerMessage) -> Error {
    Error::Protocol {
        server: server.to_string(),
        cause: format!("unexpected message {message:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> String {
        raw.parse::<ServerAddr>().unwrap().to_string()
    }

    #[test]
    fn the_port_defaults_to_the_gateways() {
        assert_eq!(parse("manager.lan"), "manager.lan:8302");
        assert_eq!(parse("10.0.0.5:9000"), "10.0.0.5:9000");
        assert_eq!(parse("fd00::1"), "[fd00::1]:8302");
        assert_eq!(parse("[fd00::1]:9000"), "[fd00::1]:9000");
        assert!("two words".parse::<ServerAddr>().is_err());
        assert!("".parse::<ServerAddr>().is_err());
    }
}
