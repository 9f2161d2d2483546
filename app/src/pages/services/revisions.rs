//! A service's history: every revision with who made it, what changed from
//! the one before, and its whole spec.

use leptos::prelude::*;
use shoal_proto::service::{FieldChange, Revision};

use super::rollout::RollbackButton;
use crate::{
    components::{
        form_error::user_message,
        loaded::loaded,
        table::{Column, DataTable},
    },
    format::utc,
    rpc::{get_revision_diff, list_service_revisions},
};

/// What is unfolded under a revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unfolded {
    /// The changes from revision `from`.
    Diff {
        from: u64,
    },
    Spec,
}

/// The revisions of service `id`, newest first, reloaded when `changes`
/// moves. Operators may roll back to any but the newest.
#[component]
pub fn RevisionsPanel(id: String, operator: bool, #[prop(into)] changes: Signal<u64>) -> impl IntoView {
    let revisions = {
        let id = id.clone();
        Resource::new(move || changes.get(), move |_| list_service_revisions(id.clone()))
    };
    // Outside the reloading part, so a new revision does not fold what the
    // user opened.
    let unfolded = RwSignal::new(None::<(u64, Unfolded)>);
    let id = StoredValue::new(id);
    view! {
        <section class="service-section" id="service-revisions">
            <h2>"Revisions"</h2>
            {loaded("Loading revisions…", revisions, move |revisions| view! { <RevisionList id=id.get_value() revisions operator unfolded /> }.into_any())}
        </section>
    }
}

#[component]
fn RevisionList(
    id: String,
    revisions: Vec<Revision>,
    operator: bool,
    unfolded: RwSignal<Option<(u64, Unfolded)>>,
) -> impl IntoView {
    // Newest first, so the one before a revision is the next in the list.
    let previous: Vec<Option<u64>> = revisions
        .iter()
        .skip(1)
        .map(|revision| Some(revision.number))
        .chain([None])
        .collect();
    let rows = revisions
        .into_iter()
        .zip(previous)
        .enumerate()
        .map(|(index, (revision, previous))| {
            let rollback = operator && index > 0;
            view! { <RevisionRow id=id.clone() revision previous rollback unfolded /> }.into_any()
        })
        .collect();
    view! { <DataTable id="revisions-table" class="revisions" columns=REVISION_COLUMNS rows row_groups=true /> }
}

const REVISION_COLUMNS: &[Column] = &[
    Column::new("Revision"),
    Column::new("Author"),
    Column::new("Created"),
    Column::ACTIONS,
];

/// One revision, as a `<tbody>` of its own so its unfolded part sits right
/// under it.
#[component]
fn RevisionRow(
    id: String,
    revision: Revision,
    previous: Option<u64>,
    rollback: bool,
    unfolded: RwSignal<Option<(u64, Unfolded)>>,
) -> impl IntoView {
    let number = revision.number;
    let toggle = move |what: Unfolded| {
        unfolded.update(|open| {
            *open = (*open != Some((number, what))).then_some((number, what));
        })
    };
    let pressed = move |what: Unfolded| move || (unfolded.get() == Some((number, what))).to_string();
    let spec = serde_json::to_string_pretty(&revision.spec).unwrap_or_default();
    let rollback = rollback.then(|| view! { <RollbackButton id=id.clone() revision=number /> });
    let details = move || {
        let shown = match unfolded.get() {
            Some((open, Unfolded::Diff { from })) if open == number => {
                view! { <RevisionDiff id=id.clone() from to=number /> }.into_any()
            }
            Some((open, Unfolded::Spec)) if open == number => {
                view! { <pre class="code-block spec-json">{spec.clone()}</pre> }.into_any()
            }
            _ => return None,
        };
        Some(view! {
            <tr class="revision-details">
                <td colspan="4">{shown}</td>
            </tr>
        })
    };
    view! {
        <tbody data-revision=number>
            <tr>
                <td class="strong">{number}</td>
                <td>{revision.author.clone()}</td>
                <td class="time">{utc(revision.created_at)}</td>
                <td class="actions">
                    {previous.map(|from| {
                        let diff = Unfolded::Diff { from };
                        view! {
                            <button type="button" class="button small secondary revision-diff" aria-pressed=pressed(diff) on:click=move |_| toggle(diff)>
                                {format!("Diff with {from}")}
                            </button>
                        }
                    })}
                    <button type="button" class="button small secondary revision-spec" aria-pressed=pressed(Unfolded::Spec) on:click=move |_| toggle(Unfolded::Spec)>
                        "Spec"
                    </button>
                    {rollback}
                </td>
            </tr>
            {details}
        </tbody>
    }
}

#[component]
fn RevisionDiff(id: String, from: u64, to: u64) -> impl IntoView {
    let diff = Resource::new(|| (), move |_| get_revision_diff(id.clone(), from, to));
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Comparing…"</p> }>
            {move || Suspend::new(async move {
                match diff.await {
                    Ok(diff) if diff.changes.is_empty() => {
                        view! { <p class="muted">"No field changed."</p> }.into_any()
                    }
                    Ok(diff) => view! { <ChangesTable changes=diff.changes /> }.into_any(),
                    Err(error) => view! { <p class="form-error">{user_message(&error)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ChangesTable(changes: Vec<FieldChange>) -> impl IntoView {
    let shown = |value: Option<serde_json::Value>| match value {
        Some(value) => view! { <code>{value.to_string()}</code> }.into_any(),
        None => view! { <span class="muted">"(none)"</span> }.into_any(),
    };
    let rows = changes
        .into_iter()
        .map(|change| {
            view! {
                <tr>
                    <td><code>{change.path}</code></td>
                    <td class="before">{shown(change.before)}</td>
                    <td class="after">{shown(change.after)}</td>
                </tr>
            }
            .into_any()
        })
        .collect();
    view! { <DataTable class="changes" columns=CHANGE_COLUMNS rows /> }
}

const CHANGE_COLUMNS: &[Column] = &[Column::new("Field"), Column::new("Before"), Column::new("After")];
