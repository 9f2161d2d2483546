//! The `shoal-server` binary as a user meets it.

use std::process::Command;

fn shoal_server() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shoal-server"))
}

#[test]
fn help_explains_every_flag_and_its_environment_variable() {
    let output = shoal_server().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "--listen",
        "SHOAL_LISTEN",
        "--data-dir",
        "SHOAL_DATA_DIR",
        "--database-url",
        "SHOAL_DATABASE_URL",
        "--site-root",
        "SHOAL_SITE_ROOT",
    ] {
        assert!(help.contains(needle), "--help does not mention {needle}:\n{help}");
    }
}

/// Runs the server expecting it to refuse to start, and returns its one line.
fn startup_failure(args: &[&str]) -> String {
    let output = shoal_server().args(args).env("RUST_LOG", "off").output().unwrap();
    assert!(!output.status.success(), "the server started with {args:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{stderr}");
    lines[0].to_owned()
}

#[test]
fn an_unusable_data_dir_is_one_clear_line() {
    let file = tempfile::NamedTempFile::new().unwrap();
    // A directory cannot be created below a regular file, even as root.
    let below_a_file = file.path().join("data");
    let line = startup_failure(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        below_a_file.to_str().unwrap(),
    ]);
    assert!(
        line.starts_with("shoal-server: error: the data directory"),
        "{line}"
    );
    assert!(
        line.contains("--data-dir"),
        "the message says what to change: {line}"
    );
}

#[test]
fn an_unsupported_database_url_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let line = startup_failure(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--database-url",
        "mysql://localhost/shoal",
    ]);
    assert!(line.contains("only sqlite:// URLs"), "{line}");
}

#[test]
fn a_taken_listen_address_is_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let line = startup_failure(&["--listen", &addr, "--data-dir", dir.path().to_str().unwrap()]);
    assert!(line.contains(&format!("cannot listen on {addr}")), "{line}");
}

#[test]
fn admin_create_reads_the_password_from_stdin_and_checks_it() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let run = |username: &str, password: &str| {
        let mut child = shoal_server()
            .args([
                "admin",
                "create",
                "--username",
                username,
                "--data-dir",
                dir.path().to_str().unwrap(),
            ])
            .env("RUST_LOG", "off")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let output = run("ops-admin", "a long enough password");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("created admin ops-admin"));

    let output = run("second", "short");
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("at least 12 characters"), "{stderr}");

    let output = run("ops-admin", "another long password");
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("already exists")
    );
}
