use leptos::prelude::*;

/// What a failed server call means to the person who made it. The server
/// words its refusals for users ("the last admin cannot be demoted"), so
/// those pass through untouched; transport failures get a plain sentence.
pub fn user_message(error: &ServerFnError) -> String {
    match error {
        ServerFnError::ServerError(message) => message.clone(),
        ServerFnError::Request(_) => {
            "Cannot reach the server. Check the connection and try again.".to_owned()
        }
        other => other.to_string(),
    }
}

/// A validation message (`a username is required`) as a sentence for a form.
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut sentence: String = first.to_uppercase().chain(chars).collect();
    if !sentence.ends_with(['.', '!', '?']) {
        sentence.push('.');
    }
    sentence
}

/// The message of an action's last failure, if it failed.
pub fn failure<T: Clone + Send + Sync + 'static>(
    result: impl Get<Value = Option<Result<T, ServerFnError>>> + Send + Sync + 'static,
) -> Signal<Option<String>> {
    Signal::derive(move || match result.get() {
        Some(Err(error)) => Some(user_message(&error)),
        _ => None,
    })
}

/// A form's or a table's error line; nothing while there is no error.
#[component]
pub fn FormError(
    #[prop(into)] message: Signal<Option<String>>,
    #[prop(optional)] id: &'static str,
) -> impl IntoView {
    move || {
        message.get().map(|message| {
            view! {
                <p class="form-error" role="alert" id=(!id.is_empty()).then_some(id)>
                    {message}
                </p>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::sentence;

    #[test]
    fn validation_messages_become_sentences() {
        assert_eq!(sentence("a username is required"), "A username is required.");
        assert_eq!(sentence("Done."), "Done.");
        assert_eq!(sentence(""), "");
    }
}
