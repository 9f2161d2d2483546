use leptos::prelude::*;
use leptos_router::components::A;
use shoal_proto::auth::Me;

use crate::{browser, components::badge::RoleBadge, rpc::Logout};

/// The logged-in user in the top bar. Logging out is a form, so it works
/// before the page is interactive too.
#[component]
pub fn UserMenu(me: Me) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    // A full page load rather than client-side navigation: nothing the old
    // session loaded stays in memory.
    Effect::new(move |_| {
        if matches!(logout.value().get(), Some(Ok(()))) {
            browser::load_page("/login");
        }
    });

    view! {
        <div class="user-menu" id="user-menu">
            <span class="user-name" id="user-name" title=format!("Logged in as {}", me.user.username)>
                {me.user.username.clone()}
            </span>
            <RoleBadge role=me.role id="user-role" />
            <A href="/tokens" attr:class="topbar-link" attr:id="user-tokens">
                "My tokens"
            </A>
            <ActionForm action=logout>
                <button type="submit" class="topbar-button" id="logout-button" disabled=logout.pending()>
                    "Log out"
                </button>
            </ActionForm>
        </div>
    }
}
