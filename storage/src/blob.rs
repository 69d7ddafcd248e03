//! Blobs as files: blob `container/dir/name` is the file `<root>/container/dir/name`.

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

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
