//! The agent protocol's frames over a byte stream (a TLS connection): a
//! 4-byte big-endian length, then one JSON message (see [`crate::wire`]).

use std::{io, marker::PhantomData};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::{Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use crate::wire::{
    AgentMessage, DecodeError, MAX_FRAME_BYTES, OPENING_FRAME_BYTES, ServerMessage, decode, encode,
};

/// One end of a connection, receiving `In` and sending `Out`.
pub struct Frames<S, In, Out> {
    inner: Framed<S, LengthDelimitedCodec>,
    messages: PhantomData<fn(Out) -> In>,
}

/// The agent's end.
pub type AgentFrames<S> = Frames<S, ServerMessage, AgentMessage>;
/// The server's end.
pub type ServerFrames<S> = Frames<S, AgentMessage, ServerMessage>;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Decode(#[from] DecodeError),
}

impl<S: AsyncRead + AsyncWrite + Unpin, In: DeserializeOwned, Out: Serialize> Frames<S, In, Out> {
    pub fn new(stream: S) -> Self {
        Self::with_limit(stream, MAX_FRAME_BYTES)
    }

    /// A connection whose peer has not said who it is: frames up to
    /// [`OPENING_FRAME_BYTES`] until [`Self::identified`]. The codec reserves
    /// a frame's declared length as soon as it reads it.
    pub fn opening(stream: S) -> Self {
        Self::with_limit(stream, OPENING_FRAME_BYTES)
    }

    /// The peer is known now: frames up to [`MAX_FRAME_BYTES`].
    pub fn identified(&mut self) {
        self.inner.codec_mut().set_max_frame_length(MAX_FRAME_BYTES);
    }

    fn with_limit(stream: S, limit: usize) -> Self {
        let codec = LengthDelimitedCodec::builder()
            .max_frame_length(limit)
            .new_codec();
        Self {
            inner: Framed::new(stream, codec),
            messages: PhantomData,
        }
    }

    /// Sends one message and flushes it.
    pub async fn send(&mut self, message: &Out) -> io::Result<()> {
        self.inner.send(Bytes::from(encode(message))).await
    }

    /// The next message; `None` when the peer closed the connection.
    pub async fn recv(&mut self) -> Option<Result<In, FrameError>> {
        let frame = self.inner.next().await?;
        Some(
            frame
                .map_err(FrameError::from)
                .and_then(|bytes| Ok(decode(&bytes)?)),
        )
    }

    /// Closes the connection after what was sent (a TLS close-notify).
    pub async fn close(mut self) -> io::Result<()> {
        SinkExt::<Bytes>::close(&mut self.inner).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_cross_a_stream_in_frames() {
        let (agent_end, server_end) = tokio::io::duplex(4096);
        let mut agent = AgentFrames::new(agent_end);
        let mut server = ServerFrames::new(server_end);
        agent.send(&AgentMessage::Hello { protocol: 1 }).await.unwrap();
        agent.send(&AgentMessage::Heartbeat).await.unwrap();
        assert_eq!(
            server.recv().await.unwrap().unwrap(),
            AgentMessage::Hello { protocol: 1 }
        );
        assert_eq!(server.recv().await.unwrap().unwrap(), AgentMessage::Heartbeat);
        server.send(&ServerMessage::Heartbeat).await.unwrap();
        assert_eq!(agent.recv().await.unwrap().unwrap(), ServerMessage::Heartbeat);
        agent.close().await.unwrap();
        assert!(server.recv().await.is_none());
    }

    #[tokio::test]
    async fn an_oversized_frame_is_an_error_not_an_allocation() {
        use tokio::io::AsyncWriteExt;
        let (mut raw, server_end) = tokio::io::duplex(64);
        let mut server = ServerFrames::new(server_end);
        let claimed = u32::try_from(MAX_FRAME_BYTES + 1).unwrap();
        raw.write_all(&claimed.to_be_bytes()).await.unwrap();
        assert!(matches!(server.recv().await, Some(Err(FrameError::Io(_)))));
    }

    #[tokio::test]
    async fn an_unidentified_peer_is_held_to_small_frames_until_it_is_known() {
        use tokio::io::AsyncWriteExt;
        let claim = |bytes: usize| u32::try_from(bytes).unwrap().to_be_bytes();
        let (mut raw, server_end) = tokio::io::duplex(64);
        let mut server = ServerFrames::opening(server_end);
        raw.write_all(&claim(OPENING_FRAME_BYTES + 1)).await.unwrap();
        assert!(matches!(server.recv().await, Some(Err(FrameError::Io(_)))));

        let (agent_end, server_end) = tokio::io::duplex(1 << 16);
        let mut agent = AgentFrames::new(agent_end);
        let mut server = ServerFrames::opening(server_end);
        server.identified();
        let big = AgentMessage::Inventory(crate::wire::Inventory {
            hostname: "node-1".into(),
            os: "x".repeat(OPENING_FRAME_BYTES),
            ..Default::default()
        });
        let (sent, received) = tokio::join!(agent.send(&big), server.recv());
        sent.unwrap();
        assert_eq!(received.unwrap().unwrap(), big);
    }

    #[tokio::test]
    async fn garbage_is_a_decode_error() {
        let (raw_end, server_end) = tokio::io::duplex(64);
        let mut raw = Framed::new(raw_end, LengthDelimitedCodec::new());
        raw.send(Bytes::from_static(b"{\"type\":\"nonsense\"}"))
            .await
            .unwrap();
        let mut server = ServerFrames::new(server_end);
        assert!(matches!(server.recv().await, Some(Err(FrameError::Decode(_)))));
    }
}
