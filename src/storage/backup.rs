//! Offline backup and restore as a logical dump (table, key, value records with a checksum),
//! independent of redb's file format so a backup can be restored into another backend.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::error::{OpenError, StorageError};
use super::lock::DataDirLock;
use super::tx::list_tables;
use super::{DB_FILE, schema_version_of};

const MAGIC: &[u8; 8] = b"SHOPDBAK";
const FORMAT: u32 = 1;
const TAG_TABLE: u8 = 1;
const TAG_ENTRY: u8 = 2;
const TAG_END: u8 = 0;

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Could not open or lock the data dir.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Storage read or write failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Reading or writing the backup file failed.
    #[error("backup file {path}: {source}")]
    File {
        /// File path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not a shopd backup, is truncated, or fails its checksum.
    #[error("{path} is not a valid shopd backup: {reason}")]
    Invalid {
        /// File path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The backup comes from a newer shopd.
    #[error(
        "backup {path} has schema version {found}, but this shopd supports schema versions up to {supported}; restore it with a newer shopd"
    )]
    NewerSchema {
        /// File path.
        path: String,
        /// Version in the backup.
        found: u32,
        /// Newest this build knows.
        supported: u32,
    },
}

/// Figures reported after a backup or restore.
#[derive(Debug, Clone, Copy, Default)]
pub struct BackupStats {
    /// Tables copied.
    pub tables: u64,
    /// Entries copied.
    pub entries: u64,
    /// Bytes in the backup file.
    pub bytes: u64,
    /// Schema version of the data.
    pub schema_version: u32,
}

struct Crc<W> {
    inner: W,
    crc: crc32fast::Hasher,
    bytes: u64,
}

impl<W: Write> Write for Crc<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn put_bytes(w: &mut impl Write, b: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(b.len()).map_err(|_| std::io::Error::other("record too large"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(b)
}

/// Writes every table of the (not running) data dir at `data_dir` into `to`.
/// `progress(done, total)` is called as entries are copied.
pub fn backup(
    data_dir: &Path,
    to: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<BackupStats, BackupError> {
    let _lock = DataDirLock::acquire(data_dir)?;
    let schema_version = schema_version_of(data_dir)?.ok_or_else(|| BackupError::Invalid {
        path: data_dir.display().to_string(),
        reason: "no shopd database in this data directory".into(),
    })?;
    let db = redb::Database::open(data_dir.join(DB_FILE)).map_err(|e| OpenError::Database {
        path: data_dir.join(DB_FILE).display().to_string(),
        reason: e.to_string(),
    })?;
    let txn = db.begin_read().map_err(StorageError::io)?;
    let names = list_tables(&txn)?;
    let mut total = 0u64;
    for n in &names {
        let t = txn
            .open_table(TableDefinition::<&[u8], &[u8]>::new(n))
            .map_err(StorageError::io)?;
        total += t.len().map_err(StorageError::io)?;
    }
    let file_err = |source| BackupError::File {
        path: to.display().to_string(),
        source,
    };
    let tmp = to.with_extension("partial");
    let f = File::create(&tmp).map_err(file_err)?;
    let mut w = Crc {
        inner: BufWriter::new(f),
        crc: crc32fast::Hasher::new(),
        bytes: 0,
    };
    let mut stats = BackupStats {
        schema_version,
        ..Default::default()
    };
    (|| -> std::io::Result<()> {
        w.write_all(MAGIC)?;
        w.write_all(&FORMAT.to_le_bytes())?;
        w.write_all(&schema_version.to_le_bytes())?;
        Ok(())
    })()
    .map_err(file_err)?;
    for n in &names {
        let t = txn
            .open_table(TableDefinition::<&[u8], &[u8]>::new(n))
            .map_err(StorageError::io)?;
        w.write_all(&[TAG_TABLE]).map_err(file_err)?;
        put_bytes(&mut w, n.as_bytes()).map_err(file_err)?;
        stats.tables += 1;
        for item in t.iter().map_err(StorageError::io)? {
            let (k, v) = item.map_err(StorageError::io)?;
            w.write_all(&[TAG_ENTRY]).map_err(file_err)?;
            put_bytes(&mut w, k.value()).map_err(file_err)?;
            put_bytes(&mut w, v.value()).map_err(file_err)?;
            stats.entries += 1;
            if stats.entries.is_multiple_of(1024) {
                progress(stats.entries, total);
            }
        }
    }
    w.write_all(&[TAG_END]).map_err(file_err)?;
    w.write_all(&stats.entries.to_le_bytes())
        .map_err(file_err)?;
    let crc = w.crc.clone().finalize();
    let Crc { inner, bytes, .. } = w;
    let mut inner = inner;
    inner.write_all(&crc.to_le_bytes()).map_err(file_err)?;
    let f = inner.into_inner().map_err(|e| file_err(e.into_error()))?;
    f.sync_all().map_err(file_err)?;
    std::fs::rename(&tmp, to).map_err(file_err)?;
    progress(stats.entries, total);
    stats.bytes = bytes + 4;
    Ok(stats)
}

struct Input<R> {
    r: R,
    crc: crc32fast::Hasher,
}

impl<R: Read> Input<R> {
    fn exact(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        self.r.read_exact(buf)?;
        self.crc.update(buf);
        Ok(())
    }
    fn u8(&mut self) -> std::io::Result<u8> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }
    fn u32(&mut self) -> std::io::Result<u32> {
        let mut b = [0u8; 4];
        self.exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn u64(&mut self) -> std::io::Result<u64> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn bytes(&mut self) -> std::io::Result<Vec<u8>> {
        let n = self.u32()? as usize;
        if n > 1 << 30 {
            return Err(std::io::Error::other("record length out of range"));
        }
        let mut v = vec![0u8; n];
        self.exact(&mut v)?;
        Ok(v)
    }
}

enum Item {
    Table(String),
    Entry(Vec<u8>, Vec<u8>),
}

/// Streams a backup, verifying its header, and its checksum at the end.
fn read_backup(
    from: &Path,
    supported: u32,
    mut each: impl FnMut(Item) -> Result<(), BackupError>,
) -> Result<BackupStats, BackupError> {
    let path = from.display().to_string();
    let invalid = |reason: String| BackupError::Invalid {
        path: path.clone(),
        reason,
    };
    let f = File::open(from).map_err(|source| BackupError::File {
        path: path.clone(),
        source,
    })?;
    let bytes = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut inp = Input {
        r: BufReader::new(f),
        crc: crc32fast::Hasher::new(),
    };
    let io = |e: std::io::Error| invalid(format!("truncated or unreadable ({e})"));
    let mut magic = [0u8; 8];
    inp.exact(&mut magic).map_err(io)?;
    if &magic != MAGIC {
        return Err(invalid("missing SHOPDBAK header".into()));
    }
    let format = inp.u32().map_err(io)?;
    if format != FORMAT {
        return Err(invalid(format!("unknown backup format {format}")));
    }
    let schema_version = inp.u32().map_err(io)?;
    if schema_version > supported {
        return Err(BackupError::NewerSchema {
            path,
            found: schema_version,
            supported,
        });
    }
    let mut stats = BackupStats {
        schema_version,
        bytes,
        ..Default::default()
    };
    let mut in_table = false;
    loop {
        match inp.u8().map_err(io)? {
            TAG_TABLE => {
                let name = String::from_utf8(inp.bytes().map_err(io)?)
                    .map_err(|_| invalid("table name is not UTF-8".into()))?;
                stats.tables += 1;
                in_table = true;
                each(Item::Table(name))?;
            }
            TAG_ENTRY if in_table => {
                let k = inp.bytes().map_err(io)?;
                let v = inp.bytes().map_err(io)?;
                stats.entries += 1;
                each(Item::Entry(k, v))?;
            }
            TAG_END => break,
            t => return Err(invalid(format!("unexpected record tag {t}"))),
        }
    }
    let count = inp.u64().map_err(io)?;
    if count != stats.entries {
        return Err(invalid(format!(
            "entry count {} does not match trailer {count}",
            stats.entries
        )));
    }
    let expected = inp.crc.clone().finalize();
    let mut c = [0u8; 4];
    inp.r.read_exact(&mut c).map_err(io)?;
    if u32::from_le_bytes(c) != expected {
        return Err(invalid("checksum mismatch".into()));
    }
    Ok(stats)
}

/// Replaces the database in `data_dir` with the contents of `from`, after verifying the whole
/// file. The old database is kept as `shopd.redb.before-restore` (or `.before-restore.N`).
pub fn restore(
    data_dir: &Path,
    from: &Path,
    supported_schema: u32,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<BackupStats, BackupError> {
    let _lock = DataDirLock::acquire(data_dir)?;
    // First pass: validate everything before touching the data dir.
    let checked = read_backup(from, supported_schema, |_| Ok(()))?;
    let tmp = data_dir.join(format!("{DB_FILE}.restoring"));
    let _ = std::fs::remove_file(&tmp);
    let db = redb::Database::create(&tmp).map_err(|e| OpenError::Database {
        path: tmp.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut txn = db.begin_write().map_err(StorageError::io)?;
    let _ = txn.set_durability(redb::Durability::Immediate);
    let total = checked.entries;
    {
        let mut current: Option<redb::Table<'_, &[u8], &[u8]>> = None;
        let mut done = 0u64;
        read_backup(from, supported_schema, |item| {
            match item {
                Item::Table(name) => {
                    current = None;
                    let leaked: &'static str = Box::leak(name.into_boxed_str());
                    current = Some(
                        txn.open_table(TableDefinition::<&[u8], &[u8]>::new(leaked))
                            .map_err(StorageError::io)?,
                    );
                }
                Item::Entry(k, v) => {
                    if let Some(t) = current.as_mut() {
                        t.insert(k.as_slice(), v.as_slice())
                            .map_err(StorageError::io)?;
                    }
                    done += 1;
                    if done.is_multiple_of(1024) {
                        progress(done, total);
                    }
                }
            }
            Ok(())
        })?;
        progress(done, total);
    }
    txn.commit().map_err(StorageError::io)?;
    drop(db);
    let live = data_dir.join(DB_FILE);
    let file_err = |source| BackupError::File {
        path: live.display().to_string(),
        source,
    };
    // Keep the old database under a unique name (hard link, so `live` stays in place), then
    // atomically replace `live`: a crash at any point leaves either the old or the new store.
    if live.exists() {
        let mut kept = data_dir.join(format!("{DB_FILE}.before-restore"));
        let mut n = 1;
        while kept.exists() {
            kept = data_dir.join(format!("{DB_FILE}.before-restore.{n}"));
            n += 1;
        }
        std::fs::hard_link(&live, &kept)
            .or_else(|_| std::fs::copy(&live, &kept).map(|_| ()))
            .map_err(file_err)?;
    }
    std::fs::rename(&tmp, &live).map_err(file_err)?;
    if let Ok(d) = File::open(data_dir) {
        let _ = d.sync_all();
    }
    Ok(checked)
}
