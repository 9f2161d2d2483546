//! The few browser facilities the console needs beyond what Leptos wraps.
//! They are called from event handlers and effects, which only run in the
//! browser; the server build keeps stand-ins so the same components compile.

use leptos::prelude::window;
use shoal_proto::{Millis, event::Event};

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
/// server-sent events); closed when dropped and when the browser hides the
/// page (another page loads in the tab, or the tab is frozen): a browser
/// keeps only six connections to a server, and streams held by pages kept
/// for the back button would leave none for the page being opened. A page
/// shown again from that cache is reloaded, since its stream is gone. The
/// browser's `EventSource` reconnects by itself after network loss.
pub struct EventStream {
    #[cfg(target_arch = "wasm32")]
    source: events::EventSource,
    #[cfg(target_arch = "wasm32")]
    _handler: leptos::wasm_bindgen::closure::Closure<dyn FnMut(events::MessageEvent)>,
    #[cfg(target_arch = "wasm32")]
    on_hide: leptos::wasm_bindgen::closure::Closure<dyn FnMut()>,
    #[cfg(target_arch = "wasm32")]
    on_show: leptos::wasm_bindgen::closure::Closure<dyn FnMut(events::PageTransitionEvent)>,
}

#[cfg(target_arch = "wasm32")]
mod events {
    use leptos::wasm_bindgen::prelude::*;

    #[wasm_bindgen(wasm_bindgen = leptos::wasm_bindgen)]
    extern "C" {
        #[derive(Clone)]
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

        pub type PageTransitionEvent;

        /// Whether the page came back from the back/forward cache.
        #[wasm_bindgen(method, getter)]
        pub fn persisted(this: &PageTransitionEvent) -> bool;
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
            use leptos::wasm_bindgen::{JsCast, closure::Closure};
            let mut on_event = on_event;
            let source = events::EventSource::new(url).ok()?;
            // The open event carries no data, so it decodes as a resync.
            let handler =
                Closure::<dyn FnMut(events::MessageEvent)>::new(move |message: events::MessageEvent| {
                    let event = message
                        .data()
                        .as_string()
                        .and_then(|data| decode_event(&data))
                        .unwrap_or(Event::Resync);
                    on_event(event);
                });
            source.set_onmessage(&handler);
            source.set_onopen(&handler);
            let on_hide = {
                let source = source.clone();
                Closure::<dyn FnMut()>::new(move || source.close())
            };
            let on_show = Closure::<dyn FnMut(events::PageTransitionEvent)>::new(
                |event: events::PageTransitionEvent| {
                    if event.persisted() {
                        let _ = window().location().reload();
                    }
                },
            );
            let window = window();
            let _ = window.add_event_listener_with_callback("pagehide", on_hide.as_ref().unchecked_ref());
            let _ = window.add_event_listener_with_callback("pageshow", on_show.as_ref().unchecked_ref());
            Some(Self {
                source,
                _handler: handler,
                on_hide,
                on_show,
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
        {
            use leptos::wasm_bindgen::JsCast;
            self.source.close();
            let window = window();
            let _ =
                window.remove_event_listener_with_callback("pagehide", self.on_hide.as_ref().unchecked_ref());
            let _ =
                window.remove_event_listener_with_callback("pageshow", self.on_show.as_ref().unchecked_ref());
        }
    }
}

/// Reads one server-sent event as `Event`'s derived `Deserialize` does, but
/// without serde's buffering of internally tagged enums, whose code for every
/// payload type (services, nodes, tasks, rollouts) cost the wasm bundle over
/// 100 KB: the tag first, then the payload straight from the same text.
/// `None` where the derived `Deserialize` fails.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn decode_event(data: &str) -> Option<Event> {
    use serde::Deserialize;
    use shoal_proto::{
        dashboard::ClusterEvent,
        network::Network,
        node::Node,
        service::{Rollout, Service, Task},
    };

    #[derive(Deserialize)]
    struct Tag {
        #[serde(rename = "type")]
        kind: String,
    }
    #[derive(Deserialize)]
    struct NodeBody {
        node: Node,
    }
    #[derive(Deserialize)]
    struct ServiceBody {
        service: Box<Service>,
    }
    #[derive(Deserialize)]
    struct RemovedBody {
        id: String,
        name: String,
    }
    #[derive(Deserialize)]
    struct TaskBody {
        task: Task,
    }
    #[derive(Deserialize)]
    struct RolloutBody {
        rollout: Box<Rollout>,
    }
    #[derive(Deserialize)]
    struct ClusterBody {
        event: ClusterEvent,
    }
    #[derive(Deserialize)]
    struct NetworkBody {
        network: Network,
    }
    fn body<'a, T: Deserialize<'a>>(data: &'a str) -> Option<T> {
        serde_json::from_str(data).ok()
    }

    let tag: Tag = body(data)?;
    Some(match tag.kind.as_str() {
        "node.joined" => Event::NodeJoined {
            node: body::<NodeBody>(data)?.node,
        },
        "node.status" => Event::NodeStatus {
            node: body::<NodeBody>(data)?.node,
        },
        "node.updated" => Event::NodeUpdated {
            node: body::<NodeBody>(data)?.node,
        },
        "node.removed" => Event::NodeRemoved {
            node: body::<NodeBody>(data)?.node,
        },
        "service.updated" => Event::ServiceUpdated {
            service: body::<ServiceBody>(data)?.service,
        },
        "service.removed" => {
            let RemovedBody { id, name } = body(data)?;
            Event::ServiceRemoved { id, name }
        }
        "task.updated" => Event::TaskUpdated {
            task: body::<TaskBody>(data)?.task,
        },
        "rollout.updated" => Event::RolloutUpdated {
            rollout: body::<RolloutBody>(data)?.rollout,
        },
        "cluster.event" => Event::ClusterEvent {
            event: body::<ClusterBody>(data)?.event,
        },
        "network.created" => Event::NetworkCreated {
            network: body::<NetworkBody>(data)?.network,
        },
        "network.removed" => {
            let RemovedBody { id, name } = body(data)?;
            Event::NetworkRemoved { id, name }
        }
        "resync" => Event::Resync,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same answer as `Event`'s own `Deserialize` for every kind.
    #[test]
    fn decodes_events_like_serde() {
        let node = r#"{"id":"n1","hostname":"h","role":"worker","availability":"active","labels":{},
            "status":"down","address":"10.0.0.1","platform":{"os":"linux","arch":"amd64"},
            "resources":{"cpus":2,"memory_bytes":1024},"engine_version":"20.10.24","agent_version":"0.1.0",
            "last_heartbeat_at":null,"joined_at":1}"#;
        let mut samples = vec![
            r#"{"type":"resync"}"#.to_string(),
            r#"{"type":"service.removed","id":"s1","name":"web"}"#.to_string(),
            r#"{"name":"web","type":"service.removed","id":"s1"}"#.to_string(),
            r#"{"type":"nothing.known"}"#.to_string(),
            r#"{"type":"service.removed","id":"s1"}"#.to_string(),
            r#"{"type":"network.removed","id":"n1","name":"backend"}"#.to_string(),
            r#"{"type":"network.created","network":{"id":"n1","name":"backend","encrypted":true,
                "proxy_protocol":false,"created_at":1,"services":["api"]}}"#
                .to_string(),
            r#"{"type":"network.created","network":{"id":"n1","name":"backend"}}"#.to_string(),
            r#"{"id":"s1"}"#.to_string(),
            "not json".to_string(),
        ];
        for kind in ["node.joined", "node.status", "node.updated", "node.removed"] {
            samples.push(format!(r#"{{"type":"{kind}","node":{node}}}"#));
        }
        for sample in &samples {
            let ours = decode_event(sample);
            let serde = serde_json::from_str::<Event>(sample).ok();
            assert_eq!(ours, serde, "{sample}");
        }
        assert!(matches!(
            decode_event(&samples[10]),
            Some(Event::NodeJoined { .. })
        ));
    }
}
