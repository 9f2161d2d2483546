pub mod audit;
pub mod dashboard;
pub mod login;
pub mod nodes;
pub mod not_found;
pub mod setup;
pub mod tokens;
pub mod users;
