//! A server resource's place on a page: a line while it first loads, then
//! its value's view, or why it failed in words; a reload keeps the view
//! shown until the new value is in (a `Transition`). Pages call `loaded`
//! instead of writing their own `Transition` and `Suspend`: the suspending
//! part takes an erased future, so the wasm holds one copy of it rather than
//! one per page.

use std::{future::Future, pin::Pin, sync::Arc};

use leptos::prelude::*;

use super::form_error::user_message;

type ViewFuture = Pin<Box<dyn Future<Output = AnyView> + Send>>;

/// `show(value)` once `resource` has loaded, `loading` (in muted words, or
/// nothing when empty) until then, the error as a `.form-error` line if it failed. Call it where
/// the page is built, never inside another `Suspend`: the `Transition` it
/// makes must be made once on the server and in the browser alike.
pub fn loaded<T>(
    loading: &'static str,
    resource: Resource<Result<T, ServerFnError>>,
    show: impl Fn(T) -> AnyView + Send + Sync + 'static,
) -> AnyView
where
    T: Clone + Send + Sync + 'static,
    Result<T, ServerFnError>: serde::Serialize + serde::de::DeserializeOwned,
{
    let show = Arc::new(show);
    suspended(
        loading,
        Arc::new(move || -> ViewFuture {
            let show = Arc::clone(&show);
            Box::pin(async move {
                match resource.await {
                    Ok(value) => show(value),
                    Err(error) => view! { <p class="form-error">{user_message(&error)}</p> }.into_any(),
                }
            })
        }),
    )
}

fn suspended(loading: &'static str, view: Arc<dyn Fn() -> ViewFuture + Send + Sync>) -> AnyView {
    view! {
        <Transition fallback=move || (!loading.is_empty()).then(|| view! { <p class="muted">{loading}</p> })>
            {move || Suspend::new(view())}
        </Transition>
    }
    .into_any()
}
