//! Blobs as files: blob `container/dir/name` is the file `<root>/container/dir/name`.

use std::io::{Read as _, Write as _};
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};

/// What a store knows of one blob version, as Azure's blob properties give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobProperties {
    /// `container/name…`.
    pub path: String,
    /// Identifies this version of the blob: any write gives a new one. Azure's form
    /// (`0x` and hex digits), without the quotes of the HTTP header.
    pub etag: String,
    pub length: u64,
    pub last_modified: DateTime<Utc>,
    /// Guessed from the name's extension (`application/octet-stream` when unknown), as a
    /// client uploading a file usually sets it.
    pub content_type: String,
}

impl BlobProperties {
    /// The container, the part before the first `/`.
    pub fn container(&self) -> &str {
        self.path.split_once('/').map_or(self.path.as_str(), |(c, _)| c)
    }

    /// The blob's name inside its container.
    pub fn name(&self) -> &str {
        self.path.split_once('/').map_or("", |(_, n)| n)
    }
}

/// The content type a blob named `path` is given.
pub fn content_type_of(path: &str) -> String {
    mime_guess::from_path(path).first_or_octet_stream().essence_str().to_string()
}

/// An ETag for a file version, from what changes whenever the file is written: its
/// modification time (nanoseconds), size and inode (a whole write is a rename, so a new inode).
/// FNV-1a rather than the standard hasher, whose output may change between Rust releases: a
/// changed ETag would run every blob trigger again.
fn file_etag(meta: &std::fs::Metadata) -> String {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0u64;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for word in [modified, meta.len(), inode] {
        for byte in word.to_le_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("0x{hash:016X}")
}

fn file_properties(path: &str, meta: &std::fs::Metadata) -> BlobProperties {
    let last_modified = meta.modified().map(DateTime::<Utc>::from).unwrap_or_default();
    BlobProperties {
        path: path.to_string(),
        etag: file_etag(meta),
        length: meta.len(),
        last_modified,
        content_type: content_type_of(path),
    }
}

/// A blob path that cannot be stored (it would leave the blob folder, or names no blob).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("blob path `{path}` is not valid: {why}")]
pub struct BlobPathError {
    pub path: String,
    pub why: String,
}

/// A blob path as every store keeps it: `container/name…`, without a leading `/` or `.`
/// parts. Paths that would leave their container (`..`, absolute) or name no blob are refused.
pub fn normalize_blob_path(blob_path: &str) -> Result<String, BlobPathError> {
    let bad = |why: &str| BlobPathError { path: blob_path.to_string(), why: why.to_string() };
    let trimmed = blob_path.trim_start_matches('/');
    let mut parts = Vec::new();
    for c in Path::new(trimmed).components() {
        match c {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => return Err(bad("it may not contain `..` or be absolute")),
        }
    }
    if parts.len() < 2 || trimmed.ends_with('/') {
        return Err(bad("expected `<container>/<blob name>`"));
    }
    Ok(parts.join("/"))
}

/// Blobs stored under one folder.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    /// Blobs under `root` (created when the first blob is written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        BlobStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of a blob path `container/name…`. Paths that would escape the folder are refused.
    pub fn file_of(&self, blob_path: &str) -> Result<PathBuf, BlobPathError> {
        Ok(self.root.join(normalize_blob_path(blob_path)?))
    }

    /// Reads a blob; `Ok(None)` when it does not exist.
    pub fn read(&self, blob_path: &str) -> Result<Option<Vec<u8>>, std::io::Error> {
        let file = self.file_of(blob_path).map_err(std::io::Error::other)?;
        match std::fs::read(&file) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(std::io::Error::new(e.kind(), format!("reading `{}`: {e}", file.display()))),
        }
    }

    /// Writes a blob whole: readers see the old or the new content, never a part.
    ///
    /// When this returns, the blob survives the end of this process, however it ends: the
    /// content is in the kernel's page cache and the rename has put it under its name, so a
    /// host killed right after (even with `kill -9`) loses nothing. That is the promise the
    /// queue trigger needs, since it completes a message only after its blobs are written.
    ///
    /// It does not `fsync`: a power loss or an operating-system crash may lose a blob written
    /// in the last seconds before it (until the kernel writes it back), as it may lose the
    /// queue store's last commits, which run with SQLite's `synchronous = NORMAL`. Syncing
    /// each blob cost more than everything else a queue message does and still did not make
    /// the blob's name durable (that needs a sync of its folder too).
    pub fn write(&self, blob_path: &str, bytes: &[u8]) -> Result<PathBuf, std::io::Error> {
        let file = self.file_of(blob_path).map_err(std::io::Error::other)?;
        let dir = file.parent().unwrap_or(&self.root);
        let context =
            |e: std::io::Error| std::io::Error::new(e.kind(), format!("writing `{}`: {e}", file.display()));
        // The folder almost always exists: creating it only when it is missing saves two
        // system calls per blob.
        let mut tmp = match tempfile_in(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(context)?;
                tempfile_in(dir)
            }
            other => other,
        }
        .map_err(context)?;
        tmp.1.write_all(bytes).map_err(context)?;
        drop(tmp.1);
        std::fs::rename(&tmp.0, &file).map_err(|e| {
            let _ = std::fs::remove_file(&tmp.0);
            context(e)
        })?;
        Ok(file)
    }

    /// Reads a blob and the properties of the version read (taken from the open file, so they
    /// belong to the content even when the blob is replaced meanwhile); `Ok(None)` when it does
    /// not exist.
    pub fn read_with_properties(
        &self,
        blob_path: &str,
    ) -> Result<Option<(Vec<u8>, BlobProperties)>, std::io::Error> {
        let path = normalize_blob_path(blob_path).map_err(std::io::Error::other)?;
        let file = self.root.join(&path);
        let context =
            |e: std::io::Error| std::io::Error::new(e.kind(), format!("reading `{}`: {e}", file.display()));
        let mut opened = match std::fs::File::open(&file) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(context(e)),
        };
        let meta = opened.metadata().map_err(context)?;
        if meta.is_dir() {
            return Ok(None);
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        opened.read_to_end(&mut bytes).map_err(context)?;
        Ok(Some((bytes, file_properties(&path, &meta))))
    }

    /// The properties of a blob; `Ok(None)` when it does not exist.
    pub fn properties(&self, blob_path: &str) -> Result<Option<BlobProperties>, std::io::Error> {
        let path = normalize_blob_path(blob_path).map_err(std::io::Error::other)?;
        match std::fs::metadata(self.root.join(&path)) {
            Ok(meta) if meta.is_file() => Ok(Some(file_properties(&path, &meta))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every blob under a container (or `container/prefix`) with its properties, sorted by
    /// path. A file removed while the folder is read is left out.
    pub fn list_properties(&self, prefix: &str) -> Result<Vec<BlobProperties>, std::io::Error> {
        let mut out = Vec::new();
        for path in self.list(prefix)? {
            match std::fs::metadata(self.root.join(&path)) {
                Ok(meta) if meta.is_file() => out.push(file_properties(&path, &meta)),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Deletes a blob; false when there was none.
    pub fn delete(&self, blob_path: &str) -> Result<bool, std::io::Error> {
        let file = self.file_of(blob_path).map_err(std::io::Error::other)?;
        match std::fs::remove_file(&file) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(std::io::Error::new(e.kind(), format!("deleting `{}`: {e}", file.display()))),
        }
    }

    /// Blob paths under a container (or `container/prefix`), sorted.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, std::io::Error> {
        let mut out = Vec::new();
        let base = self.root.join(prefix.trim_matches('/'));
        walk(&self.root, &base, &mut out)?;
        out.sort();
        Ok(out)
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), std::io::Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            walk(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let name = rel.to_string_lossy().replace('\\', "/");
            if !name.rsplit('/').next().is_some_and(|n| n.starts_with(".fnwire-tmp-")) {
                out.push(name);
            }
        }
    }
    Ok(())
}

/// A new file next to the target, so the final rename stays on one file system.
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let path = dir.join(format!(".fnwire-tmp-{}", uuid::Uuid::new_v4().simple()));
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
    Ok((path, file))
}
