//! Helper programs that a test starts (chromedriver and the Chromium it
//! launches, nginx with its workers) run in a process group of their own,
//! and the whole group is stopped when the test lets go of it, so nothing
//! outlives the test binary. Killing only the child we spawned is not
//! enough: chromedriver's Chromium (and Chromium's own helpers) or nginx's
//! workers would be left behind, adopted by init.
//!
//! `scripts/test.sh` checks after the run that no process the tests started
//! is left (it marks the run with `MXAUTH_TEST_RUN`, which every child
//! inherits).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output};
use std::time::Duration;

/// A child leading a process group of its own; on drop the group gets
/// SIGTERM, then SIGKILL for whatever has not gone after a grace period.
pub struct ProcessGroup {
    child: Child,
    stopped: bool,
}

impl ProcessGroup {
    /// Starts `cmd` as the leader of a new process group.
    pub fn spawn(cmd: &mut Command) -> std::io::Result<ProcessGroup> {
        let child = cmd.process_group(0).spawn()?;
        Ok(ProcessGroup {
            child,
            stopped: false,
        })
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Stops the whole group and reaps the leader (once).
    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let group = self.child.id();
        signal_group("TERM", group);
        // Real time: the programs get a moment to close their own children
        // (chromedriver its Chromium, nginx its workers).
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whatever is left in the group (the leader too, if it ignored
        // SIGTERM); a group that is already empty makes `kill` fail, fine.
        signal_group("KILL", group);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `cmd` to completion in a process group of its own, then kills
/// whatever it left in that group (a one-shot headless Chromium's helpers).
pub fn output(cmd: &mut Command) -> std::io::Result<Output> {
    let child = cmd
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let group = child.id();
    let out = child.wait_with_output();
    signal_group("KILL", group);
    out
}

/// `kill -SIG -- -PGID`: the `kill` program, as the tests forbid `unsafe`
/// (and with it `libc::killpg`).
fn signal_group(signal: &str, group: u32) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{group}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}
