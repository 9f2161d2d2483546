use leptos::{ev::SubmitEvent, prelude::*};
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_query_map},
    params::ParamsMap,
};
use shoal_proto::auth::{AuditEntry, AuditPage, AuditQuery};

use crate::{
    components::{
        form_error::user_message,
        table::{Column, DataTable},
    },
    format::{parse_datetime_local, utc},
    rpc::get_audit,
    url,
};

const PAGE_SIZE: u32 = 50;
const FILTERS: [&str; 4] = ["actor", "action", "since", "until"];

/// The question the address asks: filters and page live in the query string,
/// so a filtered view can be bookmarked, shared and gone back to.
fn audit_query(params: &ParamsMap) -> Result<AuditQuery, String> {
    let text = |key: &'static str| {
        params
            .get_str(key)
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    let moment = |key: &'static str| match text(key) {
        None => Ok(None),
        Some(value) => parse_datetime_local(value)
            .map(Some)
            .ok_or_else(|| format!("{key}: use the date and time picker (YYYY-MM-DDTHH:MM, UTC)")),
    };
    Ok(AuditQuery {
        actor: text("actor").map(str::to_owned),
        action: text("action").map(str::to_owned),
        since: moment("since")?,
        until: moment("until")?,
        before: text("before").and_then(|before| before.parse().ok()),
        limit: Some(PAGE_SIZE),
    })
}

/// This view's address with its filters, one page further back when `before`.
fn audit_href(params: &ParamsMap, before: Option<i64>) -> String {
    let before = before.map(|id| id.to_string()).unwrap_or_default();
    let mut pairs: Vec<(&str, &str)> = FILTERS
        .iter()
        .map(|key| (*key, params.get_str(key).unwrap_or_default()))
        .collect();
    pairs.push(("before", &before));
    url::with_query("/audit", &pairs)
}

/// Who did what, newest first (admins only).
#[component]
pub fn AuditLogPage() -> impl IntoView {
    let params = use_query_map();
    let page = Resource::new(
        move || params.with(audit_query),
        |query| async move {
            match query {
                Ok(query) => get_audit(query).await.map_err(|error| user_message(&error)),
                Err(problem) => Err(problem),
            }
        },
    );

    view! {
        <Title text="Audit log" />
        <section class="page wide">
            <div class="page-head">
                <h1>"Audit log"</h1>
            </div>
            <AuditFilters />
            <Transition fallback=|| view! { <p class="muted">"Loading the audit log…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(page) => view! { <AuditEntries page /> }.into_any(),
                        Err(problem) => view! { <p class="form-error" id="audit-error">{problem}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// A plain GET form, so it filters before the page is interactive too;
/// afterwards it navigates in place and leaves empty fields out of the address.
#[component]
fn AuditFilters() -> impl IntoView {
    let params = use_query_map();
    let navigate = use_navigate();
    let fields = FILTERS.map(|key| {
        (
            key,
            RwSignal::new(params.with_untracked(|params| params.get(key).unwrap_or_default())),
        )
    });
    // Follows the address, including "Clear" and the browser's back button.
    Effect::new(move |_| {
        params.with(|params| {
            for (key, value) in fields {
                value.set(params.get(key).unwrap_or_default());
            }
        })
    });
    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        let values = fields.map(|(key, value)| (key, value.get_untracked()));
        let pairs: Vec<(&str, &str)> = values.iter().map(|(key, value)| (*key, value.as_str())).collect();
        navigate(&url::with_query("/audit", &pairs), Default::default());
    };
    let [(_, actor), (_, action), (_, since), (_, until)] = fields;

    view! {
        <form method="get" action="/audit" class="panel filters" id="audit-filters" on:submit=on_submit>
            <div class="field">
                <label for="audit-actor">"Actor"</label>
                <input id="audit-actor" name="actor" placeholder="name or id" bind:value=actor />
            </div>
            <div class="field">
                <label for="audit-action">"Action"</label>
                <input id="audit-action" name="action" placeholder="user. or user.create" bind:value=action />
            </div>
            <div class="field">
                <label for="audit-since">"Since (UTC)"</label>
                <input id="audit-since" name="since" type="datetime-local" bind:value=since />
            </div>
            <div class="field">
                <label for="audit-until">"Until (UTC)"</label>
                <input id="audit-until" name="until" type="datetime-local" bind:value=until />
            </div>
            <div class="form-actions">
                <button type="submit" id="audit-apply" class="button">
                    "Filter"
                </button>
                <A href="/audit" attr:class="button secondary" attr:id="audit-clear">
                    "Clear"
                </A>
            </div>
        </form>
    }
}

#[component]
fn AuditEntries(page: AuditPage) -> impl IntoView {
    let params = use_query_map();
    let paged = params.with_untracked(|params| params.get_str("before").is_some());
    let (newest, older) = params.with_untracked(|params| {
        (
            audit_href(params, None),
            page.next_before.map(|before| audit_href(params, Some(before))),
        )
    });
    let rows = page
        .entries
        .into_iter()
        .map(|entry| view! { <AuditRow entry /> }.into_any())
        .collect();

    view! {
        <DataTable id="audit-table" columns=AUDIT_COLUMNS rows empty="No entries match." empty_id="audit-empty" />
        <div class="pager">
            {paged.then(|| view! { <A href=newest attr:class="button secondary" attr:id="audit-newest">"Newest entries"</A> })}
            {older.map(|href| view! { <A href=href attr:class="button secondary" attr:id="audit-older">"Older entries"</A> })}
        </div>
    }
}

const AUDIT_COLUMNS: &[Column] = &[
    Column::new("Time"),
    Column::new("Actor"),
    Column::new("Source"),
    Column::new("Action"),
    Column::new("Target"),
    Column::new("Detail"),
];

#[component]
fn AuditRow(entry: AuditEntry) -> impl IntoView {
    let AuditEntry {
        at,
        actor_kind,
        actor_id,
        actor_name,
        source,
        action,
        target,
        detail,
        ..
    } = entry;
    let actor = actor_name.or(actor_id).unwrap_or_default();
    // Compact JSON: one line per entry keeps the table scannable.
    let detail = if detail.is_null() {
        String::new()
    } else {
        detail.to_string()
    };
    view! {
        <tr>
            <td class="time">{utc(at)}</td>
            <td>
                <span class="badge actor">{actor_kind}</span>
                " "
                {actor}
            </td>
            <td class="muted">{source.unwrap_or_default()}</td>
            <td>
                <code>{action}</code>
            </td>
            <td>{target.unwrap_or_default()}</td>
            <td class="detail">
                <code>{detail}</code>
            </td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&'static str, &str)]) -> ParamsMap {
        let mut params = ParamsMap::new();
        for (key, value) in pairs {
            params.insert(*key, (*value).to_owned());
        }
        params
    }

    #[test]
    fn the_address_becomes_a_query() {
        let query = audit_query(&params(&[
            ("actor", " alice "),
            ("action", ""),
            ("since", "2026-11-25T21:04"),
            ("before", "120"),
        ]))
        .unwrap();
        assert_eq!(query.actor.as_deref(), Some("alice"));
        assert_eq!(query.action, None);
        assert_eq!(query.since, Some(1_795_640_640_000));
        assert_eq!(query.until, None);
        assert_eq!(query.before, Some(120));
        assert_eq!(query.limit, Some(PAGE_SIZE));
        assert!(
            audit_query(&params(&[("until", "yesterday")]))
                .unwrap_err()
                .starts_with("until:")
        );
    }

    #[test]
    fn paging_keeps_the_filters() {
        let filtered = params(&[("actor", "alice"), ("action", "user."), ("before", "120")]);
        assert_eq!(
            audit_href(&filtered, Some(70)),
            "/audit?actor=alice&action=user.&before=70"
        );
        assert_eq!(audit_href(&filtered, None), "/audit?actor=alice&action=user.");
    }
}
