//! Process isolation details.

/// Ask the kernel to SIGKILL the child when the worker dies, so a worker killed with SIGKILL
/// leaves no orphan still writing to the task; the re-run happens on another worker.
#[allow(unsafe_code)]
pub fn die_with_parent(cmd: &mut tokio::process::Command) {
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() == 1 {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}
