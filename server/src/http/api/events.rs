//! `GET /api/v1/events`: the event bus as server-sent events, one JSON
//! object per event (`data:`), with its `type` inside. Keep-alive comments
//! keep proxies from closing an idle stream.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::State,
    response::sse::{Event as SseEvent, KeepAlive, Sse},
};
use futures_util::{Stream, StreamExt};
use shoal_proto::event::Event;
use tokio_stream::wrappers::{BroadcastStream, errors::BroadcastStreamRecvError};

use crate::{auth::Caller, ctx::Ctx, http::authenticate::still_valid};

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How often an open stream checks that its caller may still listen.
const RECHECK: Duration = Duration::from_secs(2);

/// Runs until the caller no longer stands (logged out, disabled, deleted,
/// another role, a token revoked or expired): then the stream ends, and a
/// client that reconnects is asked who it is again.
pub async fn stream(
    State(ctx): State<Ctx>,
    caller: Caller,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let ended = {
        let ctx = ctx.clone();
        async move {
            loop {
                tokio::time::sleep(RECHECK).await;
                if !still_valid(&ctx, &caller).await {
                    return;
                }
            }
        }
    };
    let events = BroadcastStream::new(ctx.events.subscribe()).filter_map(|received| async move {
        let event = match received {
            Ok(event) => event,
            // Fell behind: the listener reloads rather than miss changes.
            Err(BroadcastStreamRecvError::Lagged(_)) => Event::Resync,
        };
        match SseEvent::default().json_data(&event) {
            Ok(sse) => Some(Ok(sse)),
            Err(error) => {
                tracing::error!(%error, "cannot encode an event");
                None
            }
        }
    });
    Sse::new(events.take_until(Box::pin(ended))).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
