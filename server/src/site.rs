//! Finding the console's compiled assets, so the server works from whatever
//! directory it is started in.

use std::path::{Path, PathBuf};

use leptos::config::{Env, LeptosOptions};

/// The output name cargo-leptos gives the bundle (`pkg/shoal.js`, …); it is
/// the `name` of the workspace's `[[workspace.metadata.leptos]]` entry.
const OUTPUT_NAME: &str = "shoal";
const PKG_DIR: &str = "pkg";

pub fn leptos_options(explicit_root: Option<&Path>) -> LeptosOptions {
    let site_root = locate(explicit_root);
    // cargo-leptos sets LEPTOS_ENV=DEV for `cargo leptos watch`, where the
    // page reconnects to its reload socket; a user running the binary gets PROD.
    let env = match std::env::var("LEPTOS_ENV").as_deref() {
        Ok("DEV") => Env::DEV,
        _ => Env::PROD,
    };
    let mut options = LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(site_root.display().to_string())
        .site_pkg_dir(PKG_DIR)
        .env(env)
        .build();
    if let Some(port) = std::env::var("LEPTOS_RELOAD_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
    {
        options.reload_port = port;
    }
    options
}

fn locate(explicit_root: Option<&Path>) -> PathBuf {
    if let Some(root) = explicit_root {
        if !has_bundle(root) {
            tracing::warn!(
                site_root = %root.display(),
                "no console bundle (pkg/{OUTPUT_NAME}.js) in the given site root; the console will not be interactive"
            );
        }
        return root.to_path_buf();
    }
    let candidates = candidates();
    if let Some(found) = candidates.iter().find(|dir| has_bundle(dir)) {
        return found.clone();
    }
    let looked_in: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    tracing::warn!(
        looked_in = %looked_in.join(", "),
        "console assets not found; build them with `cargo leptos build --release` or point --site-root at them"
    );
    PathBuf::from("target/site")
}

fn candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(root) = std::env::var("LEPTOS_SITE_ROOT") {
        dirs.push(PathBuf::from(root));
    }
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        dirs.push(exe_dir.join("site"));
        dirs.push(exe_dir.join("../site"));
    }
    dirs.push(PathBuf::from("target/site"));
    dirs
}

fn has_bundle(root: &Path) -> bool {
    root.join(PKG_DIR).join(format!("{OUTPUT_NAME}.js")).is_file()
}
