//! The key directory convention shared by Auth's token keys and Core's certificate keys: one
//! private key per `<kid>.pem` file, the file stem its kid; `*.pem.retired` and other names are
//! skipped; symbolic links are followed (as in a mounted Kubernetes secret).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One `<kid>.pem` file of a key directory. Its text never appears in `Debug` output.
pub struct PemFile {
    /// The kid (the file stem).
    pub kid: String,
    /// The file.
    pub path: PathBuf,
    /// The file's text (a private key).
    pub pem: String,
    /// When the file was last modified, if the file system tells.
    pub modified: Option<SystemTime>,
}

impl fmt::Debug for PemFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PemFile")
            .field("kid", &self.kid)
            .field("path", &self.path)
            .field("modified", &self.modified)
            .finish_non_exhaustive()
    }
}

/// Why a key directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The directory or a file could not be read.
    #[error("key file `{path}`: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file stem is not a usable kid ([`valid_kid`]).
    #[error("`{0}` is not a valid key id (letters, digits, `-`, `_`, `.`; at most 64)")]
    InvalidKid(String),
}

/// Whether `kid` is a usable kid and file name: 1 to 64 letters, digits, `-`, `_` or `.`, not
/// starting with `.`.
#[must_use]
pub fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 64
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !kid.starts_with('.')
}

/// Reads every `<kid>.pem` of `dir`. All or nothing: one unreadable file or invalid kid fails
/// the whole read.
///
/// # Errors
/// [`KeyFileError::Io`], [`KeyFileError::InvalidKid`].
pub fn read_pem_files(dir: &Path) -> Result<Vec<PemFile>, KeyFileError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KeyFileError::Io { path, source }
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.extension().is_none_or(|e| e != "pem") || !path.is_file() {
            continue;
        }
        let Some(kid) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if !valid_kid(kid) {
            return Err(KeyFileError::InvalidKid(kid.to_owned()));
        }
        let pem = std::fs::read_to_string(&path).map_err(io(&path))?;
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        files.push(PemFile {
            kid: kid.to_owned(),
            path,
            pem,
            modified,
        });
    }
    Ok(files)
}
