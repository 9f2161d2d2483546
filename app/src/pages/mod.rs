pub mod dashboard;
pub mod not_found;
