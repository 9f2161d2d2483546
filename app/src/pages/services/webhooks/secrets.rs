//! A webhook's secrets, shown once after creation or rotation, with a CI
//! step that uses them.

use leptos::{
    html::{Input, Textarea},
    prelude::*,
};
use shoal_proto::webhook::CreatedWebhook;

use crate::browser;

/// The answer that carries a webhook's secrets, kept until the user has
/// copied them.
#[derive(Clone)]
pub(super) struct Revealed {
    pub created: CreatedWebhook,
    pub rotated: bool,
}

/// The secrets of a new or rotated webhook, in the only answer that carries
/// them, with a CI step that uses them.
#[component]
pub(super) fn SecretsOnce(
    revealed: Revealed,
    origin: String,
    #[prop(into)] on_done: Callback<()>,
) -> impl IntoView {
    let Revealed {
        created:
            CreatedWebhook {
                webhook,
                secret,
                signing_secret,
            },
        rotated,
    } = revealed;
    let url = format!("{origin}{}", webhook.path);
    let example = ci_example(&url, signing_secret.is_some());
    let headline = if rotated {
        format!(
            "New secrets for \"{}\"; the old ones no longer work. ",
            webhook.name
        )
    } else {
        format!("Webhook \"{}\" created. ", webhook.name)
    };
    let stored_as = if signing_secret.is_some() {
        "A CI step, with the secrets stored as SHOAL_WEBHOOK_SECRET and SHOAL_WEBHOOK_SIGNING_SECRET and the tag to deploy in TAG:"
    } else {
        "A CI step, with the secret stored as SHOAL_WEBHOOK_SECRET and the tag to deploy in TAG:"
    };
    view! {
        <div class="secret-box webhook-secrets" id="webhook-created" role="status" data-webhook=webhook.name.clone()>
            <p>
                <strong>{headline}</strong>
                "Copy the secrets now: they will not be shown again."
            </p>
            <Copyable id="webhook-url" label="Address" value=url />
            <Copyable id="webhook-secret" label="Secret (Authorization: Bearer, or ?token=)" value=secret />
            {signing_secret
                .map(|signing_secret| {
                    view! {
                        <Copyable id="webhook-signing-secret" label="Signing secret (HMAC-SHA256 key)" value=signing_secret />
                    }
                })}
            <p class="muted">{stored_as}</p>
            <Copyable id="webhook-curl" aria_label="A CI step" value=example block=true />
            <button type="button" id="webhook-done" class="button secondary" on:click=move |_| on_done.run(())>
                "I have copied them"
            </button>
        </div>
    }
}

/// A read-only value with a Copy button; `block` for several lines. Without
/// a visible `label`, `aria_label` names it.
#[component]
fn Copyable(
    id: &'static str,
    #[prop(optional)] label: &'static str,
    #[prop(optional)] aria_label: &'static str,
    value: String,
    #[prop(optional)] block: bool,
) -> impl IntoView {
    let aria_label = (!aria_label.is_empty()).then_some(aria_label);
    let line = NodeRef::<Input>::new();
    let lines = NodeRef::<Textarea>::new();
    let copied = RwSignal::new(None::<bool>);
    let copy = {
        let value = value.clone();
        move |_| {
            // Selected either way, so Ctrl+C works where the clipboard API is refused.
            if let Some(line) = line.get() {
                line.select();
            }
            if let Some(lines) = lines.get() {
                lines.select();
            }
            copied.set(Some(browser::copy_to_clipboard(&value)));
        }
    };
    let shown = if block {
        // One more for the scroll bar of a long line.
        let rows = value.lines().count() + 1;
        view! {
            <textarea
                id=id
                class="secret code-block"
                readonly
                rows=rows
                spellcheck="false"
                aria-label=aria_label
                node_ref=lines
            >
                {value}
            </textarea>
        }
        .into_any()
    } else {
        view! { <input id=id class="secret" readonly value=value node_ref=line aria-label=aria_label /> }
            .into_any()
    };
    view! {
        {(!label.is_empty()).then(|| view! { <label class="copy-label" for=id>{label}</label> })}
        <div class="secret-row" class:block=block>
            {shown}
            <button type="button" id=format!("{id}-copy") class="button" on:click=copy>
                {move || match copied.get() {
                    None => "Copy",
                    Some(true) => "Copied",
                    Some(false) => "Press Ctrl+C",
                }}
            </button>
        </div>
    }
}

/// A shell step that asks webhook `url` to deploy `$TAG`, signing the body
/// with `openssl` when the webhook wants signatures. The body is made once
/// and sent byte for byte, because the signature covers exactly those bytes.
fn ci_example(url: &str, signed: bool) -> String {
    let mut lines = vec![r#"body=$(printf '{"tag":"%s"}' "$TAG")"#.to_owned()];
    if signed {
        lines.push(
            r#"signature=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$SHOAL_WEBHOOK_SIGNING_SECRET" | sed 's/^.*= //')"#
                .to_owned(),
        );
    }
    lines.push(format!("curl --fail-with-body -sS -X POST '{url}' \\"));
    lines.push(r#"  -H "Authorization: Bearer $SHOAL_WEBHOOK_SECRET" \"#.to_owned());
    lines.push(r#"  -H 'Content-Type: application/json' \"#.to_owned());
    if signed {
        lines.push(r#"  -H "X-Hub-Signature-256: sha256=$signature" \"#.to_owned());
    }
    lines.push(r#"  --data-binary "$body""#.to_owned());
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ci_step_signs_only_signed_webhooks() {
        let plain = ci_example("https://shoal.example/hooks/h1", false);
        assert!(plain.contains("curl --fail-with-body -sS -X POST 'https://shoal.example/hooks/h1' \\"));
        assert!(plain.contains("Bearer $SHOAL_WEBHOOK_SECRET"));
        assert!(!plain.contains("openssl") && !plain.contains("X-Hub-Signature-256"));
        assert!(plain.ends_with(r#"--data-binary "$body""#));

        let signed = ci_example("https://shoal.example/hooks/h1", true);
        assert!(signed.contains(r#"openssl dgst -sha256 -hmac "$SHOAL_WEBHOOK_SIGNING_SECRET""#));
        assert!(signed.contains(r#"-H "X-Hub-Signature-256: sha256=$signature" \"#));
        // Every line but the last continues the command.
        let curl: Vec<&str> = signed
            .lines()
            .skip_while(|line| !line.starts_with("curl"))
            .collect();
        assert!(curl[..curl.len() - 1].iter().all(|line| line.ends_with(" \\")));
    }
}
