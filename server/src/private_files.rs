//! What only the server's own user may read: the data directory (0700),
//! the database and the CA key (0600). They are created that way, and at
//! start a wider mode is reported with the command that fixes it, since a
//! readable database holds session ids and registry passwords.

use std::{
    fs, io,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::Path,
};

/// Creates the directory (and any missing parent) readable by this user only.
pub fn create_dir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// Creates an empty file readable by this user only, unless it exists.
pub fn create_file(path: &Path) -> io::Result<()> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// Logs a warning, with the fix, when others may read `path`.
pub fn warn_if_exposed(path: &Path, what: &str) {
    let Ok(metadata) = fs::metadata(path) else {
        return;
    };
    if let Some(fix) = fix_for(metadata.permissions().mode(), metadata.is_dir()) {
        tracing::warn!(
            path = %path.display(),
            "{what} is readable by other users; restrict it with `{fix} {}`",
            path.display()
        );
    }
}

/// The `chmod` that closes a mode open to the group or others.
fn fix_for(mode: u32, is_dir: bool) -> Option<&'static str> {
    if mode & 0o077 == 0 {
        None
    } else if is_dir {
        Some("chmod 700")
    } else {
        Some("chmod 600")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_directories_and_files_are_private_and_existing_files_are_kept() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data/nested");
        create_dir(&dir).unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("data")), 0o700);
        let file = dir.join("shoal.db");
        create_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        fs::write(&file, b"kept").unwrap();
        create_file(&file).unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"kept");
    }

    #[test]
    fn a_mode_open_to_others_gets_the_chmod_that_closes_it() {
        assert_eq!(fix_for(0o100600, false), None);
        assert_eq!(fix_for(0o100644, false), Some("chmod 600"));
        assert_eq!(fix_for(0o40755, true), Some("chmod 700"));
        assert_eq!(fix_for(0o40700, true), None);
    }
}
