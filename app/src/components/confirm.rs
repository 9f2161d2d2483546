use leptos::prelude::*;

/// A destructive button that asks once more in place ("Really delete
/// alice? [Delete] [Cancel]") instead of a browser dialog, which tests and
/// keyboard users handle badly. The buttons carry `class`, `class-confirm`
/// and `class-cancel` so tests can find them. `on_confirm` is a `Callback`,
/// not a generic closure: one copy of this component in the wasm serves
/// every caller.
#[component]
pub fn ConfirmButton(
    label: &'static str,
    question: String,
    class: &'static str,
    #[prop(into)] on_confirm: Callback<()>,
) -> impl IntoView {
    let asking = RwSignal::new(false);
    move || {
        if asking.get() {
            view! {
                <span class="confirm">
                    <span class="confirm-question">{question.clone()}</span>
                    <button
                        type="button"
                        class=format!("button small danger {class}-confirm")
                        on:click=move |_| {
                            asking.set(false);
                            on_confirm.run(());
                        }
                    >
                        {label}
                    </button>
                    <button
                        type="button"
                        class=format!("button small secondary {class}-cancel")
                        on:click=move |_| asking.set(false)
                    >
                        "Cancel"
                    </button>
                </span>
            }
            .into_any()
        } else {
            view! {
                <button
                    type="button"
                    class=format!("button small danger-outline {class}")
                    on:click=move |_| asking.set(true)
                >
                    {label}
                </button>
            }
            .into_any()
        }
    }
}
