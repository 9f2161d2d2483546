pub mod auth;
pub mod badge;
pub mod confirm;
pub mod filters;
pub mod form_error;
pub mod layout;
pub mod live;
pub mod user_menu;
