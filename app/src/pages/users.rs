use leptos::{ev::SubmitEvent, prelude::*};
use leptos_meta::Title;
use shoal_proto::auth::{Role, User, UserChange, Username, check_new_password};

use crate::{
    components::{
        auth::use_auth,
        badge::{Status, StatusBadge},
        confirm::ConfirmButton,
        form_error::{FormError, failure, sentence},
        loaded::loaded,
        table::{Column, DataTable},
    },
    format::{utc, utc_or},
    rpc::{CreateUser, delete_user, list_users, update_user},
};

/// One change to an existing account, as the table's controls make them.
#[derive(Clone)]
enum Edit {
    Change { id: String, change: UserChange },
    Delete { id: String },
}

type EditAction = Action<Edit, Result<(), ServerFnError>>;

/// The team's accounts (admins only).
#[component]
pub fn UsersPage() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    // One action for every row so the table shows the latest refusal, and
    // one version to refetch after.
    let edit: EditAction = Action::new(|edit: &Edit| {
        let edit = edit.clone();
        async move {
            match edit {
                Edit::Change { id, change } => update_user(id, change).await.map(drop),
                Edit::Delete { id } => delete_user(id).await,
            }
        }
    });
    let users = Resource::new(
        move || (create.version().get(), edit.version().get()),
        |_| list_users(),
    );
    let my_id = use_auth().current().map(|me| me.user.id);

    view! {
        <Title text="Users" />
        <section class="page">
            <div class="page-head">
                <h1>"Users"</h1>
            </div>
            <NewUserForm create />
            <FormError message=failure(edit.value()) id="users-error" />
            {loaded("Loading users…", users, move |users| view! { <UsersTable users edit my_id=my_id.clone() /> }.into_any())}
        </section>
    }
}

#[component]
fn NewUserForm(create: ServerAction<CreateUser>) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer);
    let problem = RwSignal::new(None::<String>);
    let server_error = failure(create.value());
    let created = move || match create.value().get() {
        Some(Ok(user)) => Some(format!("Created {}.", user.username)),
        _ => None,
    };
    Effect::new(move |_| {
        if matches!(create.value().get(), Some(Ok(_))) {
            username.set(String::new());
            password.set(String::new());
        }
    });

    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        let checked = Username::parse(&username.get_untracked())
            .and_then(|name| check_new_password(&password.get_untracked()).map(|()| name))
            .map_err(|error| sentence(&error.message));
        match checked {
            Ok(name) => {
                problem.set(None);
                create.dispatch(CreateUser {
                    username: name.to_string(),
                    password: password.get_untracked(),
                    role: role.get_untracked(),
                });
            }
            Err(message) => problem.set(Some(message)),
        }
    };

    view! {
        <form class="panel form-grid" on:submit=on_submit novalidate>
            <h2>"Add a user"</h2>
            <div class="field">
                <label for="new-user-username">"Username"</label>
                <input
                    id="new-user-username"
                    autocomplete="off"
                    autocapitalize="none"
                    spellcheck="false"
                    bind:value=username
                />
            </div>
            <div class="field">
                <label for="new-user-password">"Initial password"</label>
                <input id="new-user-password" type="password" autocomplete="new-password" bind:value=password />
            </div>
            <div class="field">
                <label for="new-user-role">"Role"</label>
                <RoleSelect id="new-user-role" current=role.get_untracked() on_pick=move |picked| role.set(picked) />
            </div>
            <FormError message=Signal::derive(move || problem.get().or_else(|| server_error.get())) id="new-user-error" />
            {move || created().map(|message| view! { <p class="form-ok" role="status">{message}</p> })}
            <div class="form-actions">
                <button type="submit" id="new-user-submit" class="button" disabled=create.pending()>
                    "Add user"
                </button>
            </div>
        </form>
    }
}

#[component]
fn RoleSelect(
    #[prop(optional)] id: &'static str,
    #[prop(optional)] class: &'static str,
    current: Role,
    #[prop(into)] on_pick: Callback<Role>,
) -> impl IntoView {
    view! {
        <select
            id=(!id.is_empty()).then_some(id)
            class=class
            aria-label="Role"
            on:change=move |event| {
                if let Ok(picked) = event_target_value(&event).parse() {
                    on_pick.run(picked);
                }
            }
        >
            {Role::ALL
                .into_iter()
                .map(|role| view! { <option value=role.as_str() selected=role == current>{role.as_str()}</option> })
                .collect_view()}
        </select>
    }
}

#[component]
fn UsersTable(users: Vec<User>, edit: EditAction, my_id: Option<String>) -> impl IntoView {
    let rows = users
        .into_iter()
        .map(|user| {
            let is_me = my_id.as_deref() == Some(user.id.as_str());
            view! { <UserRow user is_me edit /> }.into_any()
        })
        .collect();
    view! { <DataTable id="users-table" columns=USER_COLUMNS rows /> }
}

const USER_COLUMNS: &[Column] = &[
    Column::new("Username"),
    Column::new("Role"),
    Column::new("Status"),
    Column::new("Created"),
    Column::new("Last login"),
    Column::ACTIONS,
];

/// One account. Disabling or deleting yourself is not offered: it would
/// end the session that is doing it.
#[component]
fn UserRow(user: User, is_me: bool, edit: EditAction) -> impl IntoView {
    let User {
        id,
        username,
        role,
        disabled,
        created_at,
        last_login_at,
    } = user;
    let resetting = RwSignal::new(false);
    let change = {
        let id = id.clone();
        move |change: UserChange| {
            edit.dispatch(Edit::Change {
                id: id.clone(),
                change,
            });
        }
    };
    let status = if disabled {
        Status::Disabled
    } else {
        Status::Active
    };
    let toggle = {
        let change = change.clone();
        move |_| {
            change(UserChange {
                disabled: Some(!disabled),
                ..Default::default()
            })
        }
    };
    let delete = {
        let id = id.clone();
        move || {
            edit.dispatch(Edit::Delete { id: id.clone() });
        }
    };
    let pick_role = {
        let change = change.clone();
        move |role| {
            change(UserChange {
                role: Some(role),
                ..Default::default()
            })
        }
    };

    view! {
        <tr data-user=username.clone()>
            <td class="strong">
                {username.clone()} {is_me.then(|| view! { <span class="tag">"you"</span> })}
            </td>
            <td>
                <RoleSelect class="user-role" current=role on_pick=pick_role />
            </td>
            <td>
                <StatusBadge status />
            </td>
            <td class="time">{utc(created_at)}</td>
            <td class="time">{utc_or(last_login_at, "never")}</td>
            <td class="actions">
                {move || {
                    if resetting.get() {
                        let change = change.clone();
                        view! {
                            <PasswordReset
                                on_save=move |password| change(UserChange { password: Some(password), ..Default::default() })
                                on_cancel=move || resetting.set(false)
                            />
                        }
                            .into_any()
                    } else {
                        view! {
                            <button type="button" class="button small secondary user-reset" on:click=move |_| resetting.set(true)>
                                "Reset password"
                            </button>
                        }
                            .into_any()
                    }
                }}
                {(!is_me)
                    .then(|| {
                        view! {
                            <button type="button" class="button small secondary user-toggle" on:click=toggle>
                                {if disabled { "Enable" } else { "Disable" }}
                            </button>
                            <ConfirmButton
                                label="Delete"
                                question=format!("Really delete {username}?")
                                class="user-delete"
                                on_confirm=delete
                            />
                        }
                    })}
            </td>
        </tr>
    }
}

/// The new password for someone who lost theirs, asked for in the row.
#[component]
fn PasswordReset(
    #[prop(into)] on_save: Callback<String>,
    #[prop(into)] on_cancel: Callback<()>,
) -> impl IntoView {
    let password = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        let new_password = password.get_untracked();
        match check_new_password(&new_password) {
            Ok(()) => {
                on_save.run(new_password);
                on_cancel.run(());
            }
            Err(error) => problem.set(Some(sentence(&error.message))),
        }
    };

    view! {
        <form class="inline-form" on:submit=on_submit novalidate>
            <input
                type="password"
                class="user-new-password"
                placeholder="New password"
                aria-label="New password"
                autocomplete="new-password"
                bind:value=password
                autofocus
            />
            <button type="submit" class="button small user-reset-save">
                "Save"
            </button>
            <button type="button" class="button small secondary user-reset-cancel" on:click=move |_| on_cancel.run(())>
                "Cancel"
            </button>
            <FormError message=problem />
        </form>
    }
}
