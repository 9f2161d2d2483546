//! SIGTERM and SIGINT, turned into an ordinary blocking call.
//!
//! As PID 1 in a container the process gets no default signal behaviour: the
//! kernel drops a signal whose disposition is the default, so `docker stop`
//! would wait its full timeout and then SIGKILL. Blocked signals are never
//! dropped, though; they queue until `sigwait` takes them. Waiting on a thread
//! instead of in a handler also lets shutdown run normal code (wait for
//! in-flight requests, print) without async-signal-safety rules.

use std::io;
use std::mem::MaybeUninit;

pub struct Termination(libc::sigset_t);

impl Termination {
    /// Blocks SIGTERM and SIGINT for the calling thread and every thread it
    /// starts afterwards, so call it before starting any.
    pub fn block() -> io::Result<Self> {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the set before it is read; the
        // signal numbers are valid; pthread_sigmask reads an initialised set
        // and accepts a null pointer for the old mask.
        unsafe {
            if libc::sigemptyset(set.as_mut_ptr()) != 0
                || libc::sigaddset(set.as_mut_ptr(), libc::SIGTERM) != 0
                || libc::sigaddset(set.as_mut_ptr(), libc::SIGINT) != 0
            {
                return Err(io::Error::last_os_error());
            }
            let set = set.assume_init();
            match libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) {
                0 => Ok(Termination(set)),
                error => Err(io::Error::from_raw_os_error(error)),
            }
        }
    }

    /// Blocks until SIGTERM or SIGINT arrives and returns its name.
    pub fn wait(&self) -> io::Result<&'static str> {
        let mut signal = 0;
        // SAFETY: the set was initialised in `block`; `signal` is a valid
        // out-pointer.
        match unsafe { libc::sigwait(&self.0, &mut signal) } {
            0 if signal == libc::SIGINT => Ok("SIGINT"),
            0 => Ok("SIGTERM"),
            error => Err(io::Error::from_raw_os_error(error)),
        }
    }
}
