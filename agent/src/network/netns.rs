//! Entering a container's network namespace to open sockets there.
//!
//! A socket belongs for its whole life to the namespace it was created in,
//! whichever thread later reads or writes it. So the agent creates a
//! container's sockets on a fresh OS thread that first joins the
//! container's namespace (`setns`), hands them back, and lets the thread
//! end: no thread of the runtime ever changes namespace, and none is reused
//! after it did, so every other socket the agent makes stays in its own.

use std::{
    fs::File,
    io,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    thread,
};

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error(
        "cannot open the network namespace {}: {source}. The agent must run as root (it opens the resolver \
         and virtual addresses inside each container on a service network); check with `shoal-agent doctor`",
        .path.display()
    )]
    Open { path: PathBuf, source: io::Error },

    #[error(
        "cannot enter the network namespace {}: {source}. Entering one needs CAP_SYS_ADMIN: run the agent \
         as root, not in a user namespace or a container without that capability; check with `shoal-agent doctor`",
        .path.display()
    )]
    Enter { path: PathBuf, source: io::Error },
}

/// A network namespace, held open: the descriptor keeps naming the same
/// namespace even if the process it was found through ends and its pid is
/// reused.
#[derive(Debug)]
pub struct Namespace {
    path: PathBuf,
    file: File,
}

impl Namespace {
    /// The namespace of process `pid`, as this host's `/proc` shows it.
    pub fn of_process(pid: u32) -> Result<Self, NetnsError> {
        Self::open(&Path::new("/proc").join(pid.to_string()).join("ns/net"))
    }

    pub fn open(path: &Path) -> Result<Self, NetnsError> {
        let file = File::open(path).map_err(|source| NetnsError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// Runs `work` inside the namespace, on a thread of its own that ends
    /// with it, and returns what it returned. Blocks the caller meanwhile.
    pub fn run<T: Send>(&self, work: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
        thread::scope(|scope| {
            let worker = scope.spawn(|| {
                self.enter()?;
                Ok(work())
            });
            match worker.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Moves the calling thread into the namespace, for good: only the
    /// threads `run` starts call it.
    fn enter(&self) -> Result<(), NetnsError> {
        // SAFETY: `setns` reads nothing through pointers: it takes a
        // descriptor, which `self.file` keeps open for the whole call, and a
        // flag. It changes the calling thread's namespace only, and that
        // thread is `run`'s own, which ends once its work is done.
        let entered = unsafe { libc::setns(self.file.as_raw_fd(), libc::CLONE_NEWNET) };
        if entered == 0 {
            Ok(())
        } else {
            Err(NetnsError::Enter {
                path: self.path.clone(),
                source: io::Error::last_os_error(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_process_says_to_run_as_root_and_names_the_path() {
        let error = Namespace::of_process(u32::MAX).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("/proc/4294967295/ns/net"), "{message}");
        assert!(message.contains("root"), "{message}");
    }

    #[test]
    fn work_in_the_agents_own_namespace_runs_and_returns() {
        // Entering the namespace one is in is allowed (to root), and shows
        // the thread plumbing without making a namespace.
        let own = Namespace::of_process(std::process::id()).unwrap();
        match own.run(|| 6 * 7) {
            Ok(answer) => assert_eq!(answer, 42),
            Err(NetnsError::Enter { .. }) => eprintln!("not root: setns is refused, as the message says"),
            Err(other) => panic!("{other}"),
        }
    }
}
