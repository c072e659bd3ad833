//! Files every node must hold the same copy of (token signing keys, the order-link key). The
//! embedded store has one node: the file in its data dir is the copy. On PostgreSQL the first
//! node to start stores its copy in the database, and every node writes the stored copy into
//! its own data dir before reading it, so tokens and links made by one node hold on all.

use std::io::Write;
use std::path::Path;

use super::{Engine, Reader, StorageError, Store, Table};

/// Shared files by name.
const SHARED: Table<String, Vec<u8>> = Table::new("shared_files");

impl Store {
    /// Makes `<dir>/<name>` this store's copy of a shared file, creating it with `make` when
    /// neither the store nor the node has one. Written with mode 0600.
    pub async fn share_file(
        &self,
        dir: &Path,
        name: &str,
        make: impl FnOnce() -> Vec<u8> + Send + 'static,
    ) -> Result<(), StorageError> {
        let path = dir.join(name);
        let local = std::fs::read(&path).ok();
        let copy = match &self.inner.engine {
            Engine::Redb(_) => match local.clone() {
                Some(v) => v,
                None => make(),
            },
            Engine::Postgres(_) => {
                let key = name.to_owned();
                let mine = local.clone();
                let stored = self.read()?.get(&SHARED, &key)?;
                match stored {
                    Some(v) => v,
                    None => {
                        self.write(move |tx| {
                            if let Some(v) = tx.get(&SHARED, &key)? {
                                return Ok(v);
                            }
                            let v = mine.unwrap_or_else(make);
                            tx.insert(&SHARED, &key, &v)?;
                            Ok::<_, StorageError>(v)
                        })
                        .await?
                    }
                }
            }
        };
        if local.as_ref() != Some(&copy) {
            write_private(dir, name, &copy)
                .map_err(|e| StorageError::Io(format!("{}: {e}", path.display())))?;
        }
        Ok(())
    }
}

/// Writes `bytes` to `<dir>/<name>` atomically (temporary file, fsync, rename), mode 0600.
fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))
}
