//! The few browser facilities the console needs beyond what Leptos wraps.
//! They are called from event handlers and effects, which only run in the
//! browser; the server build keeps stand-ins so the same components compile.

use leptos::prelude::window;
use shoal_proto::{auth::Millis, event::Event};

#[cfg(target_arch = "wasm32")]
mod js {
    use leptos::wasm_bindgen::prelude::*;

    #[wasm_bindgen(wasm_bindgen = leptos::wasm_bindgen)]
    extern "C" {
        #[wasm_bindgen(js_namespace = Date, js_name = now)]
        pub fn date_now() -> f64;

        #[wasm_bindgen(catch, js_namespace = ["navigator", "clipboard"], js_name = writeText)]
        pub fn write_text(text: &str) -> Result<JsValue, JsValue>;

        #[wasm_bindgen(catch, js_namespace = performance, js_name = mark)]
        pub fn performance_mark(name: &str) -> Result<JsValue, JsValue>;
    }
}

/// The current time, for judging whether something has expired.
pub fn now_millis() -> Millis {
    #[cfg(target_arch = "wasm32")]
    {
        js::date_now() as Millis
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as Millis)
    }
}

/// Puts `text` on the clipboard; false where the browser refuses (the
/// clipboard API needs a secure context: HTTPS or localhost).
pub fn copy_to_clipboard(text: &str) -> bool {
    #[cfg(target_arch = "wasm32")]
    {
        js::write_text(text).is_ok()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = text;
        false
    }
}

/// Marks the moment the page became interactive in the browser's
/// performance timeline (`performance.getEntriesByName(name)`), where
/// developer tools and the browser tests read how long a first load took.
pub fn mark_timing(name: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        let _ = js::performance_mark(name);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = name;
    }
}

/// `https://shoal.example.com`, as the user reaches this console.
pub fn origin() -> String {
    window().location().origin().unwrap_or_default()
}

/// A full page load, which drops every piece of state the old session left
/// in memory.
pub fn load_page(path: &str) {
    let _ = window().location().set_href(path);
}

/// A subscription to the server's event stream (`GET /api/v1/events`,
/// server-sent events); closed when dropped. The browser's `EventSource`
/// reconnects by itself after network loss.
pub struct EventStream {
    #[cfg(target_arch = "wasm32")]
    source: events::EventSource,
    #[cfg(target_arch = "wasm32")]
    _handler: leptos::wasm_bindgen::closure::Closure<dyn FnMut(events::MessageEvent)>,
}

#[cfg(target_arch = "wasm32")]
mod events {
    use leptos::wasm_bindgen::prelude::*;

    #[wasm_bindgen(wasm_bindgen = leptos::wasm_bindgen)]
    extern "C" {
        pub type EventSource;

        #[wasm_bindgen(constructor, catch)]
        pub fn new(url: &str) -> Result<EventSource, JsValue>;

        #[wasm_bindgen(method, setter)]
        pub fn set_onmessage(this: &EventSource, handler: &Closure<dyn FnMut(MessageEvent)>);

        #[wasm_bindgen(method, setter)]
        pub fn set_onopen(this: &EventSource, handler: &Closure<dyn FnMut(MessageEvent)>);

        pub type MessageEvent;

        #[wasm_bindgen(method, getter)]
        pub fn data(this: &MessageEvent) -> JsValue;

        #[wasm_bindgen(method)]
        pub fn close(this: &EventSource);
    }
}

impl EventStream {
    /// Calls `on_event` for every event the server sends; `None` outside a
    /// browser or when the browser refuses the stream. An event this build
    /// cannot read arrives as [`Event::Resync`], so a page reloads rather
    /// than miss a change; so does every (re)opening of the stream, because
    /// what happened before it opened or while it was down is not replayed.
    pub fn open(url: &str, on_event: impl FnMut(Event) + 'static) -> Option<Self> {
        #[cfg(target_arch = "wasm32")]
        {
            use leptos::wasm_bindgen::closure::Closure;
            let mut on_event = on_event;
            let source = events::EventSource::new(url).ok()?;
            // The open event carries no data, so it decodes as a resync.
            let handler =
                Closure::<dyn FnMut(events::MessageEvent)>::new(move |message: events::MessageEvent| {
                    let event = message
                        .data()
                        .as_string()
                        .and_then(|data| serde_json::from_str(&data).ok())
                        .unwrap_or(Event::Resync);
                    on_event(event);
                });
            source.set_onmessage(&handler);
            source.set_onopen(&handler);
            Some(Self {
                source,
                _handler: handler,
            })
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = (url, on_event);
            None
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        #[cfg(target_arch = "wasm32")]
        self.source.close();
    }
}
