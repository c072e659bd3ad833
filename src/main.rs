//! The `shopd` executable: everything lives in the library; this only runs the CLI.
#![deny(clippy::unwrap_used)]

/// mimalloc instead of glibc's malloc: the storage writer allocates and frees B-tree pages on
/// every commit, and glibc kept growing and trimming its heap for them (about a tenth of the
/// writer thread's time in the checkout benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tune_allocator();
    shopd::cli::run()
}

/// Password hashing allocates ~19 MiB per hash. glibc's adaptive mmap threshold would keep
/// those blocks in its arenas after the first free (≈200 MiB RSS after a burst of logins);
/// a fixed threshold returns them to the OS at once.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any other thread exists.
    #[allow(unsafe_code)]
    unsafe {
        let _ = libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
