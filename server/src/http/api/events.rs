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

use crate::ctx::Ctx;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub async fn stream(State(ctx): State<Ctx>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
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
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
