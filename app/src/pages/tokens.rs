use leptos::{ev::SubmitEvent, html::Input, prelude::*};
use leptos_meta::Title;
use shoal_proto::{
    Millis,
    auth::{ApiToken, CreatedApiToken, Role, TOKEN_MAX_DAYS, check_token_name},
};

use crate::{
    browser,
    components::{
        auth::use_auth,
        badge::{RoleBadge, Status, StatusBadge},
        confirm::ConfirmButton,
        form_error::{FormError, failure, sentence},
        loaded::loaded,
        table::{Column, DataTable},
    },
    format::{utc, utc_or},
    rpc::{CreateToken, RevokeToken, list_tokens},
};

/// The API tokens of the logged-in user: scripts and CI act with them.
#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_tokens(),
    );
    let my_role = use_auth().current().map_or(Role::Viewer, |me| me.role);

    view! {
        <Title text="My tokens" />
        <section class="page">
            <div class="page-head">
                <h1>"My tokens"</h1>
            </div>
            <p class="lead muted">
                "API tokens let scripts and CI systems call the Shoal API as you, with a role no higher than yours."
            </p>
            {move || match create.value().get() {
                Some(Ok(created)) => Some(view! { <NewSecret created on_done=move || create.clear() /> }),
                _ => None,
            }}
            <NewTokenForm create my_role />
            <FormError message=failure(revoke.value()) id="tokens-error" />
            {loaded("Loading tokens…", tokens, move |tokens| view! { <TokensTable tokens revoke /> }.into_any())}
        </section>
    }
}

/// The token's secret, in the only answer that carries it.
#[component]
fn NewSecret(created: CreatedApiToken, #[prop(into)] on_done: Callback<()>) -> impl IntoView {
    let CreatedApiToken { token, secret } = created;
    let input = NodeRef::<Input>::new();
    let copied = RwSignal::new(None::<bool>);
    let curl = format!(
        "curl -H \"Authorization: Bearer {secret}\" {}/api/v1/me",
        browser::origin()
    );
    let copy = {
        let secret = secret.clone();
        move |_| {
            // Selected either way, so Ctrl+C works where the clipboard API is refused.
            if let Some(input) = input.get() {
                input.select();
            }
            copied.set(Some(browser::copy_to_clipboard(&secret)));
        }
    };

    view! {
        <div class="secret-box" id="token-created" role="status">
            <p>
                <strong>{format!("Token \"{}\" created. ", token.name)}</strong>
                "Copy this token now: it will not be shown again."
            </p>
            <div class="secret-row">
                <input
                    id="token-secret"
                    class="secret"
                    readonly
                    value=secret
                    node_ref=input
                    aria-label="The new token"
                />
                <button type="button" id="token-copy" class="button" on:click=copy>
                    {move || match copied.get() {
                        None => "Copy",
                        Some(true) => "Copied",
                        Some(false) => "Press Ctrl+C",
                    }}
                </button>
            </div>
            <p class="muted">"Try it:"</p>
            <pre class="code-block" id="token-curl">{curl}</pre>
            <button type="button" id="token-done" class="button secondary" on:click=move |_| on_done.run(())>
                "I have copied it"
            </button>
        </div>
    }
}

/// How many days the token lives (`None`: forever), from the form's field.
fn expiry_days(field: &str) -> Result<Option<u32>, String> {
    let field = field.trim();
    if field.is_empty() {
        return Ok(None);
    }
    match field.parse::<u32>() {
        Ok(days) if (1..=TOKEN_MAX_DAYS).contains(&days) => Ok(Some(days)),
        _ => Err(format!(
            "Expiry: enter a number of days from 1 to {TOKEN_MAX_DAYS}, or choose Never."
        )),
    }
}

const EXPIRY_PRESETS: [(&str, &str); 4] = [
    ("30 days", "30"),
    ("90 days", "90"),
    ("1 year", "365"),
    ("Never", ""),
];

#[component]
fn NewTokenForm(create: ServerAction<CreateToken>, my_role: Role) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer);
    let days = RwSignal::new("90".to_owned());
    let problem = RwSignal::new(None::<String>);
    let server_error = failure(create.value());
    Effect::new(move |_| {
        if matches!(create.value().get(), Some(Ok(_))) {
            name.set(String::new());
        }
    });

    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        let checked = check_token_name(&name.get_untracked())
            .map_err(|error| sentence(&error.message))
            .and_then(|name| Ok((name, expiry_days(&days.get_untracked())?)));
        match checked {
            Ok((name, expires_in_days)) => {
                problem.set(None);
                create.dispatch(CreateToken {
                    name,
                    role: role.get_untracked(),
                    expires_in_days,
                });
            }
            Err(message) => problem.set(Some(message)),
        }
    };

    view! {
        <form class="panel form-grid" on:submit=on_submit novalidate>
            <h2>"New token"</h2>
            <div class="field">
                <label for="new-token-name">"Name"</label>
                <input id="new-token-name" placeholder="ci-deploy" bind:value=name />
            </div>
            <div class="field">
                <label for="new-token-role">"Role"</label>
                <select
                    id="new-token-role"
                    on:change=move |event| {
                        if let Ok(chosen) = event_target_value(&event).parse() {
                            role.set(chosen);
                        }
                    }
                >
                    {Role::ALL
                        .into_iter()
                        .filter(|candidate| *candidate <= my_role)
                        .map(|candidate| {
                            view! {
                                <option value=candidate.as_str() selected=move || role.get() == candidate>
                                    {candidate.as_str()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="new-token-expiry">"Expires after (days)"</label>
                <input
                    id="new-token-expiry"
                    type="number"
                    min="1"
                    max=TOKEN_MAX_DAYS
                    placeholder="never"
                    bind:value=days
                />
                <div class="chips">
                    {EXPIRY_PRESETS
                        .into_iter()
                        .map(|(label, value)| {
                            view! {
                                <button
                                    type="button"
                                    class="chip expiry-preset"
                                    class:active=move || days.with(|days| days.trim() == value)
                                    on:click=move |_| days.set(value.to_owned())
                                >
                                    {label}
                                </button>
                            }
                        })
                        .collect_view()}
                </div>
            </div>
            <FormError message=Signal::derive(move || problem.get().or_else(|| server_error.get())) id="new-token-error" />
            <div class="form-actions">
                <button type="submit" id="new-token-submit" class="button" disabled=create.pending()>
                    "Create token"
                </button>
            </div>
        </form>
    }
}

fn token_status(token: &ApiToken, now: Millis) -> Status {
    match token.expires_at {
        _ if token.revoked => Status::Revoked,
        Some(expires_at) if expires_at <= now => Status::Expired,
        _ => Status::Active,
    }
}

#[component]
fn TokensTable(tokens: Vec<ApiToken>, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    let now = browser::now_millis();
    let rows = tokens
        .into_iter()
        .map(|token| {
            let status = token_status(&token, now);
            let ApiToken {
                id,
                name,
                role,
                created_at,
                expires_at,
                last_used_at,
                ..
            } = token;
            let question = format!("Revoke {name}? Scripts using it stop working.");
            let row_name = name.clone();
            view! {
                <tr data-token=row_name>
                    <td class="strong">{name}</td>
                    <td><RoleBadge role /></td>
                    <td class="time">{utc(created_at)}</td>
                    <td class="time">{utc_or(expires_at, "never")}</td>
                    <td class="time">{utc_or(last_used_at, "never")}</td>
                    <td><StatusBadge status /></td>
                    <td class="actions">
                        {(status == Status::Active)
                            .then(|| {
                                view! {
                                    <ConfirmButton
                                        label="Revoke"
                                        question
                                        class="token-revoke"
                                        on_confirm=move || {
                                            revoke.dispatch(RevokeToken { id: id.clone() });
                                        }
                                    />
                                }
                            })}
                    </td>
                </tr>
            }
            .into_any()
        })
        .collect();
    view! {
        <DataTable
            id="tokens-table"
            columns=TOKEN_COLUMNS
            rows
            empty="You have no API tokens yet."
            empty_id="tokens-empty"
        />
    }
}

const TOKEN_COLUMNS: &[Column] = &[
    Column::new("Name"),
    Column::new("Role"),
    Column::new("Created"),
    Column::new("Expires"),
    Column::new("Last used"),
    Column::new("Status"),
    Column::ACTIONS,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn token(revoked: bool, expires_at: Option<Millis>) -> ApiToken {
        ApiToken {
            id: "t1".into(),
            name: "ci".into(),
            role: Role::Operator,
            created_at: 0,
            expires_at,
            last_used_at: None,
            revoked,
        }
    }

    #[test]
    fn status_follows_revocation_then_expiry() {
        assert_eq!(token_status(&token(false, None), 1000), Status::Active);
        assert_eq!(token_status(&token(false, Some(2000)), 1000), Status::Active);
        assert_eq!(token_status(&token(false, Some(1000)), 1000), Status::Expired);
        assert_eq!(token_status(&token(true, Some(2000)), 1000), Status::Revoked);
    }

    #[test]
    fn expiry_is_empty_or_a_day_count_in_range() {
        assert_eq!(expiry_days(" "), Ok(None));
        assert_eq!(expiry_days("90"), Ok(Some(90)));
        for bad in ["0", "-1", "3651", "1.5", "soon"] {
            assert!(expiry_days(bad).is_err(), "{bad:?}");
        }
    }
}
