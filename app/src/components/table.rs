//! The scaffold every console table shares: the scrolling box, the header
//! row, the empty state and the class names the style sheet and the browser
//! tests rely on. A page says only its columns and its rows. One component,
//! not one per page, also keeps the wasm small: its arguments are plain data
//! and erased views, so it is compiled once.

use leptos::prelude::*;

/// One column's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    title: &'static str,
    class: &'static str,
}

impl Column {
    pub const fn new(title: &'static str) -> Self {
        Self { title, class: "" }
    }

    /// A column that folds away on narrow screens (`col-optional`); its
    /// cells carry the same class.
    pub const fn optional(title: &'static str) -> Self {
        Self {
            title,
            class: "col-optional",
        }
    }

    /// The buttons at the end of a row: narrow, right-aligned, with a name
    /// for screen readers only.
    pub const ACTIONS: Self = Self {
        title: "",
        class: "actions",
    };
}

/// A `<table class="table {class}">` in its scrolling box, or the `empty`
/// sentence (as `<p class="empty" id={empty_id}>`) when there is no row.
/// Rows go into one `<tbody>`, or are `<tbody>`s themselves with
/// `row_groups` (a row that unfolds details right under itself).
#[component]
pub fn DataTable(
    #[prop(optional)] id: &'static str,
    /// Classes after `table`; `stack` turns rows into cards at phone width.
    #[prop(optional)]
    class: &'static str,
    columns: &'static [Column],
    rows: Vec<AnyView>,
    #[prop(optional)] empty: &'static str,
    #[prop(optional)] empty_id: &'static str,
    #[prop(optional)] row_groups: bool,
) -> impl IntoView {
    if rows.is_empty() && !empty.is_empty() {
        return view! { <p class="empty" id=(!empty_id.is_empty()).then_some(empty_id)>{empty}</p> }
            .into_any();
    }
    let class = if class.is_empty() {
        "table".to_owned()
    } else {
        format!("table {class}")
    };
    let headers = columns
        .iter()
        .map(|column| {
            let class = (!column.class.is_empty()).then_some(column.class);
            if column == &Column::ACTIONS {
                view! { <th scope="col" class=class><span class="visually-hidden">"Actions"</span></th> }
                    .into_any()
            } else {
                view! { <th scope="col" class=class>{column.title}</th> }.into_any()
            }
        })
        .collect_view();
    let body = if row_groups {
        rows.into_any()
    } else {
        view! { <tbody>{rows}</tbody> }.into_any()
    };
    view! {
        <div class="table-wrap">
            <table class=class id=(!id.is_empty()).then_some(id)>
                <thead>
                    <tr>{headers}</tr>
                </thead>
                {body}
            </table>
        </div>
    }
    .into_any()
}
