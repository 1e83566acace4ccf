//! The high-water mark of `iat`: the latest issue time of a certificate this consumer has
//! accepted, kept across restarts, so that a clock turned back (to revive an expired
//! certificate) is noticed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// Where the highest accepted `iat` (Unix seconds) is kept.
pub trait HighWaterMark: Send + Sync + 'static {
    /// The highest `iat` recorded, `None` before the first accepted certificate.
    fn get(&self) -> Option<i64>;

    /// Records `iat` if it is higher than the mark (never lowers it).
    ///
    /// # Errors
    /// The mark could not be persisted; the in-memory value is raised regardless.
    fn raise(&self, iat: i64) -> std::io::Result<()>;
}

/// A mark in memory only: lost on restart (tests, or consumers that re-fetch at start).
#[derive(Debug)]
pub struct MemoryHighWaterMark(AtomicI64);

impl MemoryHighWaterMark {
    /// An empty mark.
    #[must_use]
    pub fn new() -> Self {
        Self(AtomicI64::new(i64::MIN))
    }
}

impl Default for MemoryHighWaterMark {
    fn default() -> Self {
        Self::new()
    }
}

impl HighWaterMark for MemoryHighWaterMark {
    fn get(&self) -> Option<i64> {
        Some(self.0.load(Ordering::Acquire)).filter(|v| *v != i64::MIN)
    }

    fn raise(&self, iat: i64) -> std::io::Result<()> {
        self.0.fetch_max(iat, Ordering::AcqRel);
        Ok(())
    }
}

/// A mark persisted in a file holding the decimal `iat`. Each raise writes a temporary file
/// next to it, syncs it and renames it over the mark, so a crash leaves the old or the new
/// value, never a torn one.
#[derive(Debug)]
pub struct FileHighWaterMark {
    path: PathBuf,
    value: MemoryHighWaterMark,
    write: Mutex<()>,
}

impl FileHighWaterMark {
    /// Opens the mark at `path`; a missing file is an empty mark (created at the first raise).
    ///
    /// # Errors
    /// The file exists but cannot be read, or does not hold a number (`InvalidData`): a
    /// consumer must not silently forget its mark, so the operator decides (delete the file
    /// only after checking the clock).
    pub fn open(path: impl Into<PathBuf>) -> std::io::Result<Self> {
        let path = path.into();
        let value = MemoryHighWaterMark::new();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let iat = text.trim().parse::<i64>().map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "`{}` does not hold a certificate high-water mark",
                            path.display()
                        ),
                    )
                })?;
                value.0.store(iat, Ordering::Release);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Self {
            path,
            value,
            write: Mutex::new(()),
        })
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl HighWaterMark for FileHighWaterMark {
    fn get(&self) -> Option<i64> {
        self.value.get()
    }

    fn raise(&self, iat: i64) -> std::io::Result<()> {
        if self.value.get().is_some_and(|v| v >= iat) {
            return Ok(());
        }
        let _one_writer = self
            .write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.value.raise(iat)?;
        let current = self.value.get().unwrap_or(iat);
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".tmp");
        let tmp = self.path.with_file_name(name);
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(current.to_string().as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_mark_only_rises() {
        let mark = MemoryHighWaterMark::new();
        assert_eq!(mark.get(), None);
        mark.raise(100).unwrap();
        mark.raise(50).unwrap();
        assert_eq!(mark.get(), Some(100));
    }

    #[test]
    fn the_file_mark_survives_a_reload_and_refuses_garbage() {
        let dir = std::env::temp_dir().join(format!("kisum-hwm-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mark");
        let mark = FileHighWaterMark::open(&path).unwrap();
        assert_eq!(mark.get(), None);
        mark.raise(1_000).unwrap();
        mark.raise(10).unwrap();
        assert_eq!(FileHighWaterMark::open(&path).unwrap().get(), Some(1_000));
        assert!(
            !dir.join("mark.tmp").exists(),
            "the temporary file was renamed"
        );
        std::fs::write(&path, "yesterday").unwrap();
        assert_eq!(
            FileHighWaterMark::open(&path).unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
