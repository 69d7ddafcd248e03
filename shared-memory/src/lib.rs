//! FunctionRpc shared-memory data transfer.
//!
//! When the app setting [`ENABLED_SETTING`] is on and the worker declares [`CAPABILITY`], a
//! `ParameterBinding` whose value is bytes or a string of at least [`MIN_BYTES`] travels as an
//! `RpcSharedMemory{name, offset, count, type}` instead of inline data: the writer puts the value
//! in a file under `/dev/shm/AzureFunctions/` (or the directories of [`DIRECTORIES_SETTING`]),
//! the reader opens the file by name. The layout is the one Azure's host and Python worker use:
//!
//! ```text
//! byte 0      1 once the map is initialized
//! bytes 1..9  content length, little-endian i64
//! bytes 9..   content (UTF-8 for strings)
//! ```
//!
//! Who frees what: the host deletes the maps it wrote for an invocation's inputs once the
//! response arrives; the worker keeps the maps of its outputs until the host, having read them,
//! names them in a `CloseSharedMemoryResourcesRequest`. A [`SharedMemory`] deletes whatever it
//! still owns when dropped, so a stopping process leaves nothing in `/dev/shm`.
//!
//! The maps are read and written with plain file I/O rather than `mmap`: a mapping of a file
//! another process may change or truncate cannot be a safe Rust slice, and the value is copied
//! once into the `Bytes` handed on either way. The files are on tmpfs, so that copy is the only
//! one: nothing passes through protobuf or the gRPC stream.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use fnwire_protocol::rpc::{
    ParameterBinding, RpcDataType, RpcSharedMemory, TypedData, parameter_binding, typed_data,
};

/// The worker capability that says it reads and writes shared memory.
pub const CAPABILITY: &str = "SharedMemoryDataTransfer";
/// The app setting that turns the transfer on (`true` or `1`), for the host and the worker.
pub const ENABLED_SETTING: &str = "FUNCTIONS_WORKER_SHARED_MEMORY_DATA_TRANSFER_ENABLED";
/// Comma-separated directories that replace `/dev/shm`, in order of preference.
pub const DIRECTORIES_SETTING: &str = "FUNCTIONS_UNIX_SHARED_MEMORY_DIRECTORIES";
/// Where maps go when [`DIRECTORIES_SETTING`] is not set.
pub const DEFAULT_DIRECTORY: &str = "/dev/shm";
/// Added to each directory: the maps live in `<directory>/AzureFunctions/<name>`.
pub const DIRECTORY_SUFFIX: &str = "AzureFunctions";
/// The initialized flag and the content length.
pub const HEADER_BYTES: u64 = 9;
/// Smaller values travel inline (Azure's `MinObjectBytesForSharedMemoryTransfer`).
pub const MIN_BYTES: usize = 1024 * 1024;
/// Larger values travel inline (Azure's `MaxObjectBytesForSharedMemoryTransfer`).
pub const MAX_BYTES: usize = 2 * 1024 * 1024 * 1024 - 1;
/// Longest map name accepted from the other side (Azure's names are 36-character UUIDs).
const MAX_NAME_LEN: usize = 128;

/// Whether an app setting's value turns something on, as Azure reads booleans here.
pub fn setting_is_on(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("true") || value.trim() == "1"
}

/// Where maps are created and looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Each already ends in [`DIRECTORY_SUFFIX`]; maps are created in the first usable one.
    pub directories: Vec<PathBuf>,
}

impl Settings {
    /// The settings when the transfer is on in the app settings `get` looks up, else `None`.
    pub fn from_app_settings(get: impl Fn(&str) -> Option<String>) -> Option<Settings> {
        if !get(ENABLED_SETTING).is_some_and(|v| setting_is_on(&v)) {
            return None;
        }
        Some(Settings::locations(get))
    }

    /// Where maps are, whether or not the transfer is on: a worker reads the maps a host sends
    /// even when its own outputs go inline.
    pub fn locations(get: impl Fn(&str) -> Option<String>) -> Settings {
        let configured = get(DIRECTORIES_SETTING).filter(|v| !v.trim().is_empty());
        let roots: Vec<PathBuf> = match configured {
            Some(list) => {
                list.split(',').map(str::trim).filter(|d| !d.is_empty()).map(PathBuf::from).collect()
            }
            None => vec![PathBuf::from(DEFAULT_DIRECTORY)],
        };
        Settings::in_roots(roots)
    }

    /// The settings of this process's environment (a worker gets the app settings there).
    pub fn from_env() -> Option<Settings> {
        Settings::from_app_settings(|key| std::env::var(key).ok())
    }

    /// Maps under `<root>/AzureFunctions` for each root.
    pub fn in_roots(roots: impl IntoIterator<Item = PathBuf>) -> Settings {
        Settings { directories: roots.into_iter().map(|root| root.join(DIRECTORY_SUFFIX)).collect() }
    }
}

/// Why a map could not be written or read. Each names the map and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SharedMemoryError {
    #[error(
        "shared memory map name `{0}` is not a plain file name (letters, digits, `-`, `_`, `.`, at most \
         {MAX_NAME_LEN}); refusing to open it"
    )]
    BadName(String),
    #[error("shared memory map `{name}` is not in {searched}: it was freed early or never written")]
    NotFound { name: String, searched: String },
    #[error("shared memory map `{name}` cannot be used: {message}")]
    Invalid { name: String, message: String },
    #[error("shared memory map `{name}` could not be {action}: {source}")]
    Io {
        name: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no directory for shared memory maps could be used (tried {tried}): {message}. Set {DIRECTORIES_SETTING} \
         to a writable directory on tmpfs, or turn {ENABLED_SETTING} off"
    )]
    NoDirectory { tried: String, message: String },
}

/// Whether a value goes through shared memory: bytes or a string within the size bounds. A
/// string is measured as .NET measures it (two bytes per UTF-16 unit), so host and workers agree
/// on which strings qualify.
pub fn qualifies(data: &TypedData) -> bool {
    match &data.data {
        Some(typed_data::Data::Bytes(b)) => (MIN_BYTES..=MAX_BYTES).contains(&b.len()),
        // A UTF-16 unit never takes fewer UTF-8 bytes than one, so short strings skip the count.
        Some(typed_data::Data::String(s)) if s.len() * 2 >= MIN_BYTES => {
            (MIN_BYTES..=MAX_BYTES).contains(&(s.encode_utf16().count() * 2))
        }
        _ => false,
    }
}

/// The maps one process writes and reads. Maps it wrote stay until [`SharedMemory::free`] or
/// until this is dropped.
#[derive(Debug)]
pub struct SharedMemory {
    settings: Settings,
    owned: Mutex<HashMap<String, PathBuf>>,
}

impl SharedMemory {
    pub fn new(settings: Settings) -> Self {
        SharedMemory { settings, owned: Mutex::default() }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn owned(&self) -> std::sync::MutexGuard<'_, HashMap<String, PathBuf>> {
        // A panic while holding the lock leaves a valid map.
        self.owned.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many maps this process wrote and has not freed.
    pub fn owned_count(&self) -> usize {
        self.owned().len()
    }

    /// Writes `content` into a new map; returns its name.
    pub fn put(&self, content: &[u8]) -> Result<String, SharedMemoryError> {
        let name = uuid::Uuid::new_v4().to_string();
        let mut problems = Vec::new();
        for directory in &self.settings.directories {
            match create_map(directory, &name, content) {
                Ok(path) => {
                    self.owned().insert(name.clone(), path);
                    return Ok(name);
                }
                Err(e) => problems.push(format!("{}: {e}", directory.display())),
            }
        }
        Err(SharedMemoryError::NoDirectory {
            tried: self.searched(),
            message: if problems.is_empty() { "none is configured".into() } else { problems.join("; ") },
        })
    }

    /// Reads `count` bytes from `offset` of the content of the map `name` (`count` 0: the rest
    /// of the content, as Azure's Python worker reads it).
    pub fn get(&self, name: &str, offset: i64, count: i64) -> Result<Vec<u8>, SharedMemoryError> {
        check_name(name)?;
        let invalid = |message: String| SharedMemoryError::Invalid { name: name.to_string(), message };
        let (offset, count) = match (u64::try_from(offset), u64::try_from(count)) {
            (Ok(o), Ok(c)) => (o, c),
            _ => return Err(invalid(format!("offset {offset} and count {count} must not be negative"))),
        };
        let io = |action| move |source| SharedMemoryError::Io { name: name.to_string(), action, source };
        let mut file = self.open(name)?;
        let mut header = [0u8; HEADER_BYTES as usize];
        file.read_exact(&mut header).map_err(io("read (its header)"))?;
        let content_length = i64::from_le_bytes(header[1..9].try_into().unwrap_or_default());
        let content_length = u64::try_from(content_length)
            .map_err(|_| invalid(format!("its header gives a negative content length ({content_length})")))?;
        let file_length = file.metadata().map_err(io("inspected"))?.len();
        if content_length > file_length.saturating_sub(HEADER_BYTES) {
            return Err(invalid(format!(
                "its header gives {content_length} bytes of content but the file holds {}",
                file_length.saturating_sub(HEADER_BYTES)
            )));
        }
        let count = if count == 0 { content_length.saturating_sub(offset) } else { count };
        if offset.checked_add(count).is_none_or(|end| end > content_length) || count > MAX_BYTES as u64 {
            return Err(invalid(format!(
                "{count} bytes from offset {offset} do not fit its {content_length} bytes of content"
            )));
        }
        file.seek(SeekFrom::Start(HEADER_BYTES + offset)).map_err(io("read"))?;
        let mut content = Vec::with_capacity(count as usize);
        file.take(count).read_to_end(&mut content).map_err(io("read"))?;
        if content.len() as u64 != count {
            return Err(invalid(format!("it ended after {} of {count} bytes", content.len())));
        }
        Ok(content)
    }

    /// Deletes a map this process wrote; false if it owns no map of that name.
    pub fn free(&self, name: &str) -> bool {
        let Some(path) = self.owned().remove(name) else { return false };
        // Already gone is as good as deleted.
        std::fs::remove_file(&path).is_ok_or_missing()
    }

    fn open(&self, name: &str) -> Result<File, SharedMemoryError> {
        for directory in &self.settings.directories {
            match File::open(directory.join(name)) {
                Ok(file) => return Ok(file),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(SharedMemoryError::Io { name: name.into(), action: "opened", source });
                }
            }
        }
        Err(SharedMemoryError::NotFound { name: name.into(), searched: self.searched() })
    }

    fn searched(&self) -> String {
        let dirs: Vec<String> = self.settings.directories.iter().map(|d| d.display().to_string()).collect();
        if dirs.is_empty() { "no directory".into() } else { dirs.join(", ") }
    }

    /// Moves a binding's value into a new map when it [`qualifies`]; returns the map's name.
    /// The binding keeps its inline value when writing fails, so the caller can still send it.
    pub fn offload(&self, binding: &mut ParameterBinding) -> Result<Option<String>, SharedMemoryError> {
        let Some(parameter_binding::RpcData::Data(data)) = &binding.rpc_data else { return Ok(None) };
        if !qualifies(data) {
            return Ok(None);
        }
        let (content, kind): (&[u8], RpcDataType) = match &data.data {
            Some(typed_data::Data::Bytes(b)) => (b, RpcDataType::Bytes),
            Some(typed_data::Data::String(s)) => (s.as_bytes(), RpcDataType::String),
            _ => return Ok(None),
        };
        let count = content.len() as i64;
        let name = self.put(content)?;
        binding.rpc_data = Some(parameter_binding::RpcData::RpcSharedMemory(RpcSharedMemory {
            name: name.clone(),
            offset: 0,
            count,
            r#type: kind as i32,
        }));
        Ok(Some(name))
    }

    /// Replaces a binding that refers to a map with the map's content; returns the map's name.
    pub fn resolve(&self, binding: &mut ParameterBinding) -> Result<Option<String>, SharedMemoryError> {
        let Some(parameter_binding::RpcData::RpcSharedMemory(shared)) = &binding.rpc_data else {
            return Ok(None);
        };
        let content = self.get(&shared.name, shared.offset, shared.count)?;
        let data = match RpcDataType::try_from(shared.r#type) {
            Ok(RpcDataType::Bytes) => typed_data::Data::Bytes(Bytes::from(content)),
            Ok(RpcDataType::String) => typed_data::Data::String(String::from_utf8(content).map_err(|e| {
                SharedMemoryError::Invalid {
                    name: shared.name.clone(),
                    message: format!("it is declared a string but is not UTF-8 ({e})"),
                }
            })?),
            _ => {
                return Err(SharedMemoryError::Invalid {
                    name: shared.name.clone(),
                    message: format!(
                        "its type {} cannot travel through shared memory (only bytes and string)",
                        RpcDataType::try_from(shared.r#type).map_or("unknown", |t| t.as_str_name())
                    ),
                });
            }
        };
        let name = shared.name.clone();
        binding.rpc_data = Some(parameter_binding::RpcData::Data(TypedData { data: Some(data) }));
        Ok(Some(name))
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        for (_, path) in self.owned().drain() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn check_name(name: &str) -> Result<(), SharedMemoryError> {
    let plain = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if plain { Ok(()) } else { Err(SharedMemoryError::BadName(name.chars().take(MAX_NAME_LEN).collect())) }
}

/// Writes header and content into a new file (never over an existing one).
fn create_map(directory: &Path, name: &str, content: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(directory)?;
    let path = directory.join(name);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        // Only this user's processes (the host and its workers) may read the values.
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path)?;
    let written = (|| {
        let mut header = [0u8; HEADER_BYTES as usize];
        header[0] = 1;
        header[1..].copy_from_slice(&(content.len() as i64).to_le_bytes());
        file.write_all(&header)?;
        file.write_all(content)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}

trait OkOrMissing {
    fn is_ok_or_missing(&self) -> bool;
}

impl OkOrMissing for std::io::Result<()> {
    fn is_ok_or_missing(&self) -> bool {
        match self {
            Ok(()) => true,
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(dir: &Path) -> SharedMemory {
        SharedMemory::new(Settings::in_roots([dir.to_path_buf()]))
    }

    fn bytes_binding(len: usize) -> ParameterBinding {
        ParameterBinding {
            name: "blob".into(),
            rpc_data: Some(parameter_binding::RpcData::Data(TypedData {
                data: Some(typed_data::Data::Bytes(Bytes::from(
                    (0..len).map(|i| i as u8).collect::<Vec<u8>>(),
                ))),
            })),
        }
    }

    #[test]
    fn the_file_has_azures_layout() {
        let dir = tempfile::tempdir().unwrap();
        let shm = memory(dir.path());
        let name = shm.put(b"hello").unwrap();
        let raw = std::fs::read(dir.path().join("AzureFunctions").join(&name)).unwrap();
        assert_eq!(raw[0], 1, "initialized flag");
        assert_eq!(&raw[1..9], &5i64.to_le_bytes(), "content length, little-endian");
        assert_eq!(&raw[9..], b"hello");
        assert_eq!(shm.get(&name, 0, 5).unwrap(), b"hello");
        assert_eq!(shm.get(&name, 1, 3).unwrap(), b"ell");
        assert_eq!(shm.get(&name, 0, 0).unwrap(), b"hello", "count 0 reads the whole content");
    }

    #[test]
    fn reads_a_map_another_process_wrote_by_hand() {
        let dir = tempfile::tempdir().unwrap();
        let maps = dir.path().join("AzureFunctions");
        std::fs::create_dir_all(&maps).unwrap();
        let mut raw = vec![1u8];
        raw.extend_from_slice(&3i64.to_le_bytes());
        raw.extend_from_slice(b"abc");
        std::fs::write(maps.join("3b4f6c8e-0000-4000-8000-000000000001"), raw).unwrap();
        let got = memory(dir.path()).get("3b4f6c8e-0000-4000-8000-000000000001", 0, 3).unwrap();
        assert_eq!(got, b"abc");
    }

    #[test]
    fn bad_names_and_bounds_are_refused_with_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let shm = memory(dir.path());
        for name in ["../../etc/passwd", "", ".hidden", "a/b", &"x".repeat(200)] {
            assert!(matches!(shm.get(name, 0, 1), Err(SharedMemoryError::BadName(_))), "{name}");
        }
        let e = shm.get("missing", 0, 1).unwrap_err();
        assert!(e.to_string().contains("`missing`") && e.to_string().contains("AzureFunctions"), "{e}");
        let name = shm.put(b"four").unwrap();
        let e = shm.get(&name, 2, 3).unwrap_err();
        assert!(e.to_string().contains("do not fit its 4 bytes"), "{e}");
        assert!(shm.get(&name, -1, 1).is_err());
        // A header that claims more than the file holds.
        let path = dir.path().join("AzureFunctions").join(&name);
        let mut raw = std::fs::read(&path).unwrap();
        raw[1..9].copy_from_slice(&1000i64.to_le_bytes());
        std::fs::write(&path, raw).unwrap();
        let e = shm.get(&name, 0, 4).unwrap_err();
        assert!(e.to_string().contains("1000 bytes of content but the file holds 4"), "{e}");
    }

    #[test]
    fn only_large_bytes_and_strings_qualify() {
        let data = |d| TypedData { data: Some(d) };
        assert!(!qualifies(&data(typed_data::Data::Bytes(Bytes::from(vec![0; MIN_BYTES - 1])))));
        assert!(qualifies(&data(typed_data::Data::Bytes(Bytes::from(vec![0; MIN_BYTES])))));
        // Strings count two bytes per UTF-16 unit, as .NET does.
        assert!(qualifies(&data(typed_data::Data::String("a".repeat(MIN_BYTES / 2)))));
        assert!(!qualifies(&data(typed_data::Data::String("a".repeat(MIN_BYTES / 2 - 1)))));
        assert!(!qualifies(&data(typed_data::Data::Json("a".repeat(MIN_BYTES)))));
    }

    #[test]
    fn offload_then_resolve_round_trips_and_free_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let shm = memory(dir.path());
        let original = bytes_binding(MIN_BYTES + 7);
        let mut binding = original.clone();
        let name = shm.offload(&mut binding).unwrap().expect("large enough");
        let Some(parameter_binding::RpcData::RpcSharedMemory(shared)) = &binding.rpc_data else {
            panic!("expected a shared memory reference: {binding:?}")
        };
        assert_eq!(
            (shared.offset, shared.count, shared.r#type),
            (0, MIN_BYTES as i64 + 7, RpcDataType::Bytes as i32)
        );
        assert_eq!(shm.resolve(&mut binding).unwrap(), Some(name.clone()));
        assert_eq!(binding, original);
        assert_eq!(shm.owned_count(), 1);
        assert!(shm.free(&name));
        assert!(!shm.free(&name), "only once");
        assert!(!dir.path().join("AzureFunctions").join(&name).exists());

        let mut small = bytes_binding(10);
        assert_eq!(shm.offload(&mut small).unwrap(), None);
        assert_eq!(small, bytes_binding(10));
    }

    #[test]
    fn dropping_deletes_what_was_not_freed() {
        let dir = tempfile::tempdir().unwrap();
        let shm = memory(dir.path());
        let name = shm.put(b"left over").unwrap();
        let path = dir.path().join("AzureFunctions").join(name);
        assert!(path.exists());
        drop(shm);
        assert!(!path.exists());
    }

    #[test]
    fn settings_follow_the_app_settings() {
        let get = |pairs: &'static [(&'static str, &'static str)]| {
            move |key: &str| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
        };
        assert_eq!(Settings::from_app_settings(get(&[])), None);
        assert_eq!(Settings::from_app_settings(get(&[(ENABLED_SETTING, "false")])), None);
        assert_eq!(
            Settings::from_app_settings(get(&[(ENABLED_SETTING, "1")])).unwrap().directories,
            [PathBuf::from("/dev/shm/AzureFunctions")]
        );
        assert_eq!(
            Settings::from_app_settings(get(&[(ENABLED_SETTING, "True"), (DIRECTORIES_SETTING, "/a, /b")]))
                .unwrap()
                .directories,
            [PathBuf::from("/a/AzureFunctions"), PathBuf::from("/b/AzureFunctions")]
        );
    }
}
