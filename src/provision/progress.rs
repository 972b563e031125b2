//! Telling a person what the run is doing: one line per step, and a spinner while waiting
//! on replication (only on a terminal; logs and pipes get the step lines alone).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Receives progress from the provisioning flow.
pub trait Progress: Send + Sync {
    /// A step is starting or has finished (one line).
    fn step(&self, message: &str);
    /// Still waiting (called on every poll while waiting on replication or throttling).
    fn waiting(&self, message: &str);
    /// The wait is over.
    fn done_waiting(&self);
}

/// Says nothing (library use, `--silent`, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn step(&self, _message: &str) {}
    fn waiting(&self, _message: &str) {}
    fn done_waiting(&self) {}
}

/// Progress on stderr: step lines, and a spinner when stderr is a terminal.
#[derive(Debug)]
pub struct StderrProgress {
    spinner: bool,
    frame: AtomicUsize,
    spinning: AtomicBool,
}

const FRAMES: &[char] = &['|', '/', '-', '\\'];

impl StderrProgress {
    /// Spinner only if stderr is a terminal.
    pub fn new() -> StderrProgress {
        StderrProgress::with_spinner(std::io::stderr().is_terminal())
    }

    pub fn with_spinner(spinner: bool) -> StderrProgress {
        StderrProgress {
            spinner,
            frame: AtomicUsize::new(0),
            spinning: AtomicBool::new(false),
        }
    }

    fn clear_spinner(&self, err: &mut impl Write) {
        if self.spinning.swap(false, Ordering::SeqCst) {
            // Carriage return, erase line: the next output starts on a clean line.
            let _ = write!(err, "\r\x1b[2K");
        }
    }
}

impl Default for StderrProgress {
    fn default() -> Self {
        StderrProgress::new()
    }
}

impl Progress for StderrProgress {
    fn step(&self, message: &str) {
        let mut err = std::io::stderr().lock();
        self.clear_spinner(&mut err);
        let _ = writeln!(err, "{message}");
    }

    fn waiting(&self, message: &str) {
        if !self.spinner {
            return;
        }
        let frame = FRAMES[self.frame.fetch_add(1, Ordering::SeqCst) % FRAMES.len()];
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{frame} {message}");
        let _ = err.flush();
        self.spinning.store(true, Ordering::SeqCst);
    }

    fn done_waiting(&self) {
        let mut err = std::io::stderr().lock();
        self.clear_spinner(&mut err);
        let _ = err.flush();
    }
}
