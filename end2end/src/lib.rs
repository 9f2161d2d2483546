//! Browser and whole-cluster tests live in `tests/`.
