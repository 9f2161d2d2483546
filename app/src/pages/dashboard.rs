use leptos::prelude::*;
use leptos_meta::Title;
use shoal_proto::status::ServerStatus;

use crate::rpc::get_server_status;

#[component]
pub fn Dashboard() -> impl IntoView {
    let (refreshes, set_refreshes) = signal(0u32);
    let status = Resource::new(move || refreshes.get(), |_| get_server_status());

    view! {
        <Title text="Dashboard" />
        <section class="page">
            <div class="page-head">
                <h1>"Dashboard"</h1>
                <button
                    id="refresh-status"
                    class="button"
                    on:click=move |_| set_refreshes.update(|n| *n += 1)
                >
                    "Refresh"
                </button>
            </div>
            <div class="cards">
                <article class="card" id="server-card">
                    <h2>"Server"</h2>
                    <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                        {move || Suspend::new(async move {
                            match status.await {
                                Ok(status) => view! { <StatusFacts status /> }.into_any(),
                                Err(error) => {
                                    view! {
                                        <p class="error">
                                            "Cannot reach the server: " {error.to_string()}
                                        </p>
                                    }
                                        .into_any()
                                }
                            }
                        })}
                    </Transition>
                    <p class="muted" id="refresh-count">
                        {move || match refreshes.get() {
                            0 => "Loaded with the page.".to_string(),
                            1 => "Refreshed once.".to_string(),
                            n => format!("Refreshed {n} times."),
                        }}
                    </p>
                </article>
                <article class="card">
                    <h2>"Getting started"</h2>
                    <p>
                        "This cluster has no nodes and no services yet. Nodes join with "
                        <code>"shoal-agent join"</code>
                        "; services are spread across the nodes that match their constraints."
                    </p>
                </article>
            </div>
        </section>
    }
}

#[component]
fn StatusFacts(status: ServerStatus) -> impl IntoView {
    view! {
        <dl class="facts">
            <dt>"Version"</dt>
            <dd id="server-version">{status.version}</dd>
            <dt>"Cluster"</dt>
            <dd><code>{status.cluster_id}</code></dd>
            <dt>"Database"</dt>
            <dd>{status.database}</dd>
            <dt>"Up for"</dt>
            <dd id="server-uptime">{format_uptime(status.uptime_secs)}</dd>
        </dl>
    }
}

fn format_uptime(secs: u64) -> String {
    let (days, hours, minutes, seconds) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) => format!("{minutes}m {seconds}s"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::format_uptime;

    #[test]
    fn uptime_shows_the_two_largest_units() {
        assert_eq!(format_uptime(42), "42s");
        assert_eq!(format_uptime(61), "1m 1s");
        assert_eq!(format_uptime(3 * 3600 + 120), "3h 2m");
        assert_eq!(format_uptime(2 * 86_400 + 5 * 3600), "2d 5h");
    }
}
