//! Exclusive ownership of a data directory, so two processes never write the same store.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::error::OpenError;

/// Name of the lock file inside the data directory.
pub const LOCK_FILE: &str = "shopd.lock";

/// Held for as long as the store is open; the OS releases it if the process dies.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock or explains who holds it.
    pub fn acquire(dir: &Path) -> Result<Self, OpenError> {
        let io = |source| OpenError::Io {
            dir: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut s = String::new();
                let _ = file.read_to_string(&mut s);
                let holder = s
                    .trim()
                    .parse::<u32>()
                    .map(|pid| format!(", pid {pid}"))
                    .unwrap_or_default();
                return Err(OpenError::Locked {
                    dir: dir.display().to_string(),
                    lock: path.display().to_string(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DataDirLock { _file: file, path })
    }

    /// Path of the lock file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
