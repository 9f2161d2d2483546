//! The wasm entry point: takes over the server-rendered console in the browser.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Asynchronously: a lazy route's code must arrive before its page can
    // hydrate.
    leptos::mount::hydrate_lazy(shoal_app::App);
}
