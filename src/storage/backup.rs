//! Offline backup and restore as a logical dump (table, key, value records with a checksum),
//! independent of redb's file format so a backup can be restored into another backend.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use std::sync::Arc;

use redb::TableDefinition;

use super::error::{OpenError, StorageError};
use super::lock::DataDirLock;
use super::postgres::load::{Existing, Loader};
use super::postgres::{Pg, PgOptions};
use super::{Backend, DB_FILE, ReadTx, StoreOptions, stored_version};

/// Rows read per page while dumping a table.
const PAGE: usize = 10_000;

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

/// A consistent snapshot of a whole store to copy from: the embedded store offline (its data
/// dir locked), or a PostgreSQL database online (a REPEATABLE READ snapshot).
struct Source {
    r: ReadTx,
    schema_version: u32,
    _db: Option<redb::Database>,
    _lock: Option<DataDirLock>,
}

impl Source {
    fn open(opts: &StoreOptions) -> Result<Source, BackupError> {
        let empty = |what: String| BackupError::Invalid {
            path: what,
            reason: "no shopd data there".into(),
        };
        match &opts.backend {
            Backend::Embedded => {
                let dir = &opts.data_dir;
                let lock = DataDirLock::acquire(dir)?;
                let path = dir.join(DB_FILE);
                if !path.exists() {
                    return Err(empty(dir.display().to_string()));
                }
                let db = redb::Database::open(&path).map_err(|e| OpenError::Database {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                let r = redb::ReadableDatabase::begin_read(&db)
                    .map(ReadTx::new)
                    .map_err(StorageError::io)?;
                let schema_version =
                    stored_version(&r)?.ok_or_else(|| empty(dir.display().to_string()))?;
                Ok(Source {
                    r,
                    schema_version,
                    _db: Some(db),
                    _lock: Some(lock),
                })
            }
            Backend::Postgres(pg) => {
                let r = ReadTx::postgres(Pg::connect(pg)?.snapshot());
                let schema_version =
                    stored_version(&r)?.ok_or_else(|| empty("the PostgreSQL database".into()))?;
                Ok(Source {
                    r,
                    schema_version,
                    _db: None,
                    _lock: None,
                })
            }
        }
    }

    /// Rows across every table (progress totals).
    fn total(&self) -> Result<u64, BackupError> {
        Ok(self.r.total_entries(&self.r.table_names()?)?)
    }

    /// Feeds every table and row, in order, to `each`.
    fn feed(
        &self,
        each: &mut dyn FnMut(Item) -> Result<(), BackupError>,
    ) -> Result<(), BackupError> {
        for n in self.r.table_names()? {
            each(Item::Table(n.clone()))?;
            let mut after: Option<Vec<u8>> = None;
            loop {
                let page = self.r.dump_page(&n, after.as_deref(), PAGE)?;
                let full = page.len() == PAGE;
                after = page.last().map(|(k, _)| k.clone());
                for (k, v) in page {
                    each(Item::Entry(k, v))?;
                }
                if !full {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// Writes every table of the store `opts` names into `to`: an embedded data dir must not be
/// in use (its lock is taken); a PostgreSQL database is copied online from one snapshot.
/// `progress(done, total)` is called as entries are copied.
pub fn backup(
    opts: &StoreOptions,
    to: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<BackupStats, BackupError> {
    let source = Source::open(opts)?;
    let schema_version = source.schema_version;
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
    let total = source.total()?;
    source.feed(&mut |item| {
        match item {
            Item::Table(n) => {
                w.write_all(&[TAG_TABLE]).map_err(file_err)?;
                put_bytes(&mut w, n.as_bytes()).map_err(file_err)?;
                stats.tables += 1;
            }
            Item::Entry(k, v) => {
                w.write_all(&[TAG_ENTRY]).map_err(file_err)?;
                put_bytes(&mut w, &k).map_err(file_err)?;
                put_bytes(&mut w, &v).map_err(file_err)?;
                stats.entries += 1;
                if stats.entries.is_multiple_of(1024) {
                    progress(stats.entries, total);
                }
            }
        }
        Ok(())
    })?;
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

/// Everything a load reads from: a backup file or a live source, item by item.
type Feed<'a> =
    &'a mut dyn FnMut(&mut dyn FnMut(Item) -> Result<(), BackupError>) -> Result<(), BackupError>;

/// Replaces the contents of the store `opts` names with the backup `from`, after verifying the
/// whole file. The previous contents are kept: the embedded database as
/// `shopd.redb.before-restore` (or `.before-restore.N`), a PostgreSQL database's rows in the table
/// `shopd_kv_before_restore_<unix seconds>`. Every node must be stopped first.
pub fn restore(
    opts: &StoreOptions,
    from: &Path,
    supported_schema: u32,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<BackupStats, BackupError> {
    // First pass: validate everything before touching the store.
    let checked = read_backup(from, supported_schema, |_| Ok(()))?;
    let total = checked.entries;
    let mut feed = |each: &mut dyn FnMut(Item) -> Result<(), BackupError>| {
        read_backup(from, supported_schema, each).map(|_| ())
    };
    match &opts.backend {
        Backend::Embedded => load_redb(&opts.data_dir, true, total, &mut feed, progress)?,
        Backend::Postgres(pg) => {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
            load_pg(pg, Existing::KeepAside(stamp), total, &mut feed, progress)?;
        }
    }
    Ok(checked)
}

/// What a copy between stores moved, and the digest both sides agreed on.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// Tables, entries and schema version copied.
    pub stats: BackupStats,
    /// SHA-256 over every (table, key, value) in order, the same on both sides.
    pub digest: String,
}

/// Copies the whole store `from` into the empty store `to` (embedded → PostgreSQL or back),
/// then reads both again and compares entry counts and a SHA-256 over every table, key and
/// value: a copy that differs is reported, never silently kept.
pub fn migrate_storage(
    from: &StoreOptions,
    to: &StoreOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Transfer, BackupError> {
    let source = Source::open(from)?;
    let total = source.total()?;
    let mut feed = |each: &mut dyn FnMut(Item) -> Result<(), BackupError>| source.feed(each);
    match &to.backend {
        Backend::Embedded => {
            if to.data_dir.join(DB_FILE).exists() {
                return Err(BackupError::Invalid {
                    path: to.data_dir.display().to_string(),
                    reason: "the target data directory already holds a shopd database".into(),
                });
            }
            std::fs::create_dir_all(&to.data_dir).map_err(|source| BackupError::File {
                path: to.data_dir.display().to_string(),
                source,
            })?;
            load_redb(&to.data_dir, false, total, &mut feed, progress)?;
        }
        Backend::Postgres(pg) => load_pg(pg, Existing::MustBeEmpty, total, &mut feed, progress)?,
    }
    let (want, digest) = digest_of(&source)?;
    drop(source);
    let (got, copied) = digest_of(&Source::open(to)?)?;
    if (got.tables, got.entries, &copied) != (want.tables, want.entries, &digest) {
        return Err(BackupError::Invalid {
            path: "the copy".into(),
            reason: format!(
                "verification failed: {} tables / {} entries / {digest} at the source, {} / {} / {copied} in the copy",
                want.tables, want.entries, got.tables, got.entries
            ),
        });
    }
    Ok(Transfer {
        stats: want,
        digest,
    })
}

/// Counts and a SHA-256 over every table name, key and value of `source`, in order.
fn digest_of(source: &Source) -> Result<(BackupStats, String), BackupError> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut stats = BackupStats {
        schema_version: source.schema_version,
        ..Default::default()
    };
    let mut frame = |tag: u8, parts: &[&[u8]]| {
        h.update([tag]);
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
    };
    source.feed(&mut |item| {
        match item {
            Item::Table(n) => {
                stats.tables += 1;
                frame(TAG_TABLE, &[n.as_bytes()]);
            }
            Item::Entry(k, v) => {
                stats.entries += 1;
                frame(TAG_ENTRY, &[&k, &v]);
            }
        }
        Ok(())
    })?;
    Ok((stats, crate::core::secret::hex(&h.finalize())))
}

fn load_pg(
    opts: &PgOptions,
    existing: Existing,
    total: u64,
    feed: Feed<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), BackupError> {
    let pg: Arc<Pg> = Pg::connect(opts)?;
    let mut loader = Loader::begin(pg, existing)?;
    let mut done = 0u64;
    feed(&mut |item| {
        match item {
            Item::Table(name) => loader.table(&name)?,
            Item::Entry(k, v) => {
                loader.row(k, v)?;
                done += 1;
                if done.is_multiple_of(1024) {
                    progress(done, total);
                }
            }
        }
        Ok(())
    })?;
    loader.commit()?;
    progress(done, total);
    Ok(())
}

/// Builds a new redb file from `feed` beside the live one, then swaps it in atomically,
/// keeping the old one when `keep_old`.
fn load_redb(
    data_dir: &Path,
    keep_old: bool,
    total: u64,
    feed: Feed<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), BackupError> {
    let _lock = DataDirLock::acquire(data_dir)?;
    let tmp = data_dir.join(format!("{DB_FILE}.restoring"));
    let _ = std::fs::remove_file(&tmp);
    let db = redb::Database::create(&tmp).map_err(|e| OpenError::Database {
        path: tmp.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut txn = db.begin_write().map_err(StorageError::io)?;
    let _ = txn.set_durability(redb::Durability::Immediate);
    {
        let mut current: Option<redb::Table<'_, &[u8], &[u8]>> = None;
        let mut done = 0u64;
        feed(&mut |item| {
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
    if keep_old && live.exists() {
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
    Ok(())
}
