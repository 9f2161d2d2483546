//! Pages that follow the cluster as it changes, without reloading: they
//! listen to the server's event stream while they are shown. On the server
//! render nothing listens.

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use shoal_proto::event::Event;

use crate::browser::EventStream;

/// Calls `on_event` for every event the server reports while the calling
/// component is shown. One stream per page: browsers allow only a few open
/// connections to a server.
pub fn on_live_event(on_event: impl FnMut(Event) + Clone + 'static) {
    Effect::new(move |_| {
        let stream = EventStream::open("/api/v1/events", on_event.clone());
        let stream = SendWrapper::new(stream);
        on_cleanup(move || drop(stream));
    });
}

/// A counter that moves with every event `wanted` picks out, and with every
/// resync (the stream fell behind): resources that read it reload.
pub fn live_changes(wanted: impl Fn(&Event) -> bool + Clone + 'static) -> ReadSignal<u64> {
    let (changes, set_changes) = signal(0u64);
    on_live_event(move |event| {
        if matches!(event, Event::Resync) || wanted(&event) {
            set_changes.update(|n| *n += 1);
        }
    });
    changes
}
