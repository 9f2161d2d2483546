//! Filters of a list kept in the address (`/services?q=web&state=paused`),
//! so a reload or a shared link shows the same filtered list. The address is
//! read once when the page is built — the server render and the browser's
//! first render see the same address, so they agree — and the filters then
//! live in signals the inputs change; each change replaces the address
//! without adding a history entry or reloading anything.

use leptos::prelude::*;
use leptos_router::{
    NavigateOptions,
    hooks::{use_navigate, use_query_map},
};

use crate::url;

/// One signal per query key, in the order given, for the list at `path`.
pub fn url_filters<const N: usize>(path: &'static str, keys: [&'static str; N]) -> [RwSignal<String>; N] {
    let query = use_query_map();
    let fields =
        keys.map(|key| RwSignal::new(query.with_untracked(|query| query.get(key).unwrap_or_default())));
    let navigate = use_navigate();
    Effect::watch(
        move || fields.map(|field| field.get()),
        move |values, _, _| {
            let pairs: Vec<(&str, &str)> = keys
                .iter()
                .zip(values.iter())
                .map(|(key, value)| (*key, value.trim()))
                .collect();
            navigate(
                &url::with_query(path, &pairs),
                NavigateOptions {
                    replace: true,
                    scroll: false,
                    ..Default::default()
                },
            );
        },
        false,
    );
    fields
}

/// A plain GET form to `action`, so Enter filters before the page is
/// interactive too; afterwards every change filters in place.
#[component]
pub fn FilterForm(id: &'static str, action: &'static str, children: Children) -> impl IntoView {
    view! {
        <form
            method="get"
            action=action
            class="panel filters list-filters"
            id=id
            role="search"
            on:submit=move |event: leptos::ev::SubmitEvent| event.prevent_default()
        >
            {children()}
        </form>
    }
}

/// A labelled search box bound to `value`, sent as `name`.
#[component]
pub fn FilterText(
    id: &'static str,
    name: &'static str,
    label: &'static str,
    placeholder: &'static str,
    value: RwSignal<String>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input id=id name=name type="search" placeholder=placeholder autocomplete="off" bind:value=value />
        </div>
    }
}

/// A labelled choice of `options` (value, words) bound to `value`, with
/// `any` (the empty value) first.
#[component]
pub fn FilterSelect(
    id: &'static str,
    name: &'static str,
    label: &'static str,
    any: &'static str,
    options: Vec<(&'static str, &'static str)>,
    value: RwSignal<String>,
) -> impl IntoView {
    let options = options
        .into_iter()
        .map(|(key, words)| view! { <option value=key selected=move || value.get() == key>{words}</option> })
        .collect_view();
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <select
                id=id
                name=name
                prop:value=move || value.get()
                on:change=move |event| value.set(event_target_value(&event))
            >
                <option value="" selected=move || value.get().is_empty()>{any}</option>
                {options}
            </select>
        </div>
    }
}

/// How many of a list's `total` rows the filters let through, told to
/// screen readers as it changes.
#[component]
pub fn FilterCount(
    id: &'static str,
    /// What one row is, in the singular ("node").
    noun: &'static str,
    total: usize,
    #[prop(into)] shown: Signal<usize>,
) -> impl IntoView {
    view! {
        <p class="muted small list-count" id=id aria-live="polite">
            {move || count_words(noun, total, shown.get())}
        </p>
    }
}

/// "3 nodes", "1 of 3 nodes match.", "No node matches these filters."
fn count_words(noun: &str, total: usize, shown: usize) -> String {
    let plural = if total == 1 { "" } else { "s" };
    match shown {
        n if n == total => format!("{total} {noun}{plural}"),
        0 => format!("No {noun} matches these filters."),
        n => format!("{n} of {total} {noun}{plural} match."),
    }
}

/// Whether `text` contains what was typed, ignoring case and the blanks
/// around it; an empty filter matches everything.
pub fn matches_text(typed: &str, texts: &[&str]) -> bool {
    let typed = typed.trim().to_lowercase();
    typed.is_empty() || texts.iter().any(|text| text.to_lowercase().contains(&typed))
}

/// Whether a choice filter (empty for "any") lets `value` through.
pub fn matches_choice(chosen: &str, value: &str) -> bool {
    chosen.is_empty() || chosen == value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_text_matches_any_field_ignoring_case() {
        assert!(matches_text("", &["web"]));
        assert!(matches_text("  WEB ", &["api", "my-web-1"]));
        assert!(matches_text("demo:v2", &["web", "shoal-demo:v2"]));
        assert!(!matches_text("db", &["web", "shoal-demo:v2"]));
    }

    #[test]
    fn the_count_says_how_many_rows_the_filters_let_through() {
        assert_eq!(count_words("node", 1, 1), "1 node");
        assert_eq!(count_words("node", 3, 3), "3 nodes");
        assert_eq!(count_words("node", 3, 1), "1 of 3 nodes match.");
        assert_eq!(count_words("service", 3, 0), "No service matches these filters.");
    }

    #[test]
    fn an_empty_choice_lets_everything_through() {
        assert!(matches_choice("", "paused"));
        assert!(matches_choice("paused", "paused"));
        assert!(!matches_choice("running", "paused"));
    }
}
