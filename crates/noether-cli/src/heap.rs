//! Process-wide heap policy.
//!
//! glibc's allocator serves large requests with `mmap` and returns them to the OS on `free`,
//! but only below a *dynamic* threshold: the first time an mmapped block of, say, 20 MB is
//! freed, the threshold rises to 20 MB and from then on blocks of that size come from the
//! per-thread arenas, which glibc does not trim. A suite worker that has computed one dense
//! 1600×1600 Hessian and its eigendecomposition (≈ 120 MB at peak in f64) therefore keeps
//! most of it resident for the rest of the run, and two workers doing E08 and E12 reached
//! 460 MB of RSS although no more than two such jobs were ever alive at once (measured with
//! heaptrack and /usr/bin/time on `noether run E08`: 462 MB → 218 MB with a fixed threshold;
//! one job's resident set after it finishes: 92 MB → 12 MB).
//!
//! Fixing the threshold (which also disables the dynamic adjustment) makes every block of
//! 256 KiB or more an `mmap` that goes back on `free`. The training loops allocate their
//! buffers once per run, so the extra system calls are few; E04's 28k-parameter job ran in
//! the same time within the machine's noise with and without it.

/// Blocks at least this large are mmapped and unmapped on free (glibc `M_MMAP_THRESHOLD`).
const MMAP_THRESHOLD_BYTES: i32 = 256 * 1024;

/// Applies the policy above; a no-op on platforms without glibc.
pub fn return_large_frees_to_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is called before any worker
        // thread exists. A zero return means the parameter was refused, which costs memory,
        // not correctness, so it is only logged.
        let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) };
        if ok == 0 {
            tracing::warn!("mallopt(M_MMAP_THRESHOLD) was refused; freed memory may stay resident");
        }
    }
}
