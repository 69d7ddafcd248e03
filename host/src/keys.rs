//! HTTP auth levels and keys.
//!
//! * A **master key** and a **default function key** are generated on first start (32 random
//!   bytes from the OS, base64url without padding) and stored in `<app>/.fnwire/keys.json`,
//!   readable only by the owner (file 0600, directory 0700 on Unix).
//! * `local.settings.json` `Values` (or the environment) can set them instead:
//!   [`MASTER_KEY_SETTING`] (`FNWIRE_MASTER_KEY`) and [`FUNCTION_KEY_SETTING`]
//!   (`FNWIRE_FUNCTION_KEY`). A set value wins over the file and is not written to it.
//! * A request carries a key in the `x-functions-key` header or the `code` query parameter.
//!   `anonymous` needs none; `function` accepts the function key or the master key; `admin`
//!   accepts only the master key. A trigger without `authLevel` is `function`, as in Azure.
//! * Keys are compared in constant time; a refusal never says which keys exist.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// App setting (or environment variable) that sets the master key.
pub const MASTER_KEY_SETTING: &str = "FNWIRE_MASTER_KEY";
/// App setting (or environment variable) that sets the default function key.
pub const FUNCTION_KEY_SETTING: &str = "FNWIRE_FUNCTION_KEY";
/// The request header that carries a key.
pub const KEY_HEADER: &str = "x-functions-key";
/// The query parameter that carries a key.
pub const KEY_QUERY: &str = "code";

/// The app's keys could not be created or read.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("the OS random number generator failed ({0}); cannot create keys")]
    Random(getrandom::Error),
    #[error("could not read the keys file `{}`; check its permissions", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the keys file `{}` is not valid ({{\"masterKey\": …, \"defaultFunctionKey\": …}} expected); fix it, or \
         delete it to get new keys",
        path.display()
    )]
    Invalid {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the keys file `{}` has an empty key; delete it to get new keys", path.display())]
    EmptyKey { path: PathBuf },
    /// The app's keys live in its shared database (AzureWebJobsStorage is a PostgreSQL URL).
    #[error("the app's keys could not be read from its database: {0}")]
    Shared(Box<fnwire_storage::StorageError>),
    #[error(
        "the app's keys in its database ({store}) are not valid; delete the `{SHARED_KEYS_NAME}` row of \
         fnwire_secrets to get new keys"
    )]
    SharedInvalid { store: String },
    /// Creating, securing or writing the keys file or its directory failed (`what` says which).
    #[error("could not {what}")]
    Write {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn write_failed(what: String) -> impl FnOnce(std::io::Error) -> KeysError {
    move |source| KeysError::Write { what, source }
}

/// A trigger's `authLevel` is none of Azure's levels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an authLevel; use anonymous, function or admin")]
pub struct UnknownAuthLevel(pub String);

/// An HTTP trigger's `authLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthLevel {
    Anonymous,
    #[default]
    Function,
    Admin,
}

impl AuthLevel {
    /// Parses `authLevel` (case-insensitive); `None` (absent) is `function`, as in Azure.
    pub fn parse(value: Option<&str>) -> Result<Self, UnknownAuthLevel> {
        match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("function") => Ok(AuthLevel::Function),
            Some("anonymous") => Ok(AuthLevel::Anonymous),
            Some("admin") => Ok(AuthLevel::Admin),
            Some(other) => Err(UnknownAuthLevel(other.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthLevel::Anonymous => "anonymous",
            AuthLevel::Function => "function",
            AuthLevel::Admin => "admin",
        }
    }
}

/// The app's keys.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Keys {
    pub master_key: String,
    pub default_function_key: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs and panic messages.
        f.write_str("Keys { .. }")
    }
}

impl Keys {
    /// The keys file's content. Written with `json!` (which cannot fail) under the names the
    /// `Deserialize` derive reads (`file_is_created_private_reused_and_overridden` reads it back).
    fn to_json(&self) -> String {
        format!(
            "{:#}",
            serde_json::json!({"masterKey": self.master_key, "defaultFunctionKey": self.default_function_key})
        )
    }

    /// Whether `presented` (the request's key, if any) satisfies `level`.
    pub fn allows(&self, level: AuthLevel, presented: Option<&str>) -> bool {
        match level {
            AuthLevel::Anonymous => true,
            AuthLevel::Function => presented.is_some_and(|k| {
                // Both comparisons always run, so timing does not tell which key matched.
                let master = constant_time_eq(k.as_bytes(), self.master_key.as_bytes());
                let function = constant_time_eq(k.as_bytes(), self.default_function_key.as_bytes());
                master | function
            }),
            AuthLevel::Admin => {
                presented.is_some_and(|k| constant_time_eq(k.as_bytes(), self.master_key.as_bytes()))
            }
        }
    }
}

/// Compares without an early exit on the first differing byte (the length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The key a request presents: the `x-functions-key` header, else the `code` query parameter.
pub fn presented_key(headers: &http::HeaderMap, uri: &http::Uri) -> Option<String> {
    if let Some(v) = headers.get(KEY_HEADER).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()) {
        return Some(v.to_string());
    }
    let query = uri.query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == KEY_QUERY)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// A new random key: 32 bytes from the OS's secure generator, base64url without padding.
pub fn generate_key() -> Result<String, KeysError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(KeysError::Random)?;
    Ok(base64url(&bytes))
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// `<app>/.fnwire/keys.json`.
pub fn keys_path(app_dir: &Path) -> PathBuf {
    app_dir.join(".fnwire").join("keys.json")
}

/// Loads the app's keys, creating the keys file on first use, then applies overrides from
/// `settings` (app settings) and the environment.
pub fn load_or_create(app_dir: &Path, settings: &BTreeMap<String, String>) -> Result<Keys, KeysError> {
    let path = keys_path(app_dir);
    let mut keys = if let Some(url) = crate::triggers::backend::postgres_url(settings) {
        shared_keys(&url)?
    } else if path.exists() {
        read_keys_file(&path)?
    } else {
        let keys = Keys { master_key: generate_key()?, default_function_key: generate_key()? };
        if write_private(&path, &keys.to_json())? {
            tracing::info!("created the app's keys in {} (show them with `fnwire keys`)", path.display());
            keys
        } else {
            // Another fnwire process created them first: use theirs.
            read_keys_file(&path)?
        }
    };
    let setting = |name: &str| {
        settings.get(name).cloned().or_else(|| std::env::var(name).ok()).filter(|v| !v.trim().is_empty())
    };
    if let Some(k) = setting(MASTER_KEY_SETTING) {
        keys.master_key = k;
    }
    if let Some(k) = setting(FUNCTION_KEY_SETTING) {
        keys.default_function_key = k;
    }
    Ok(keys)
}

/// The name of the app's keys in a shared database.
pub const SHARED_KEYS_NAME: &str = "host-keys";

/// Every host on one database uses the same keys: the first host stores a new set, the others
/// read it.
fn shared_keys(url: &str) -> Result<Keys, KeysError> {
    let store = fnwire_storage_postgres::PgStore::open(url).map_err(|e| KeysError::Shared(Box::new(e)))?;
    let proposed = Keys { master_key: generate_key()?, default_function_key: generate_key()? };
    let text = store
        .get_or_insert_secret(SHARED_KEYS_NAME, &proposed.to_json())
        .map_err(|e| KeysError::Shared(Box::new(e)))?;
    let invalid = || KeysError::SharedInvalid { store: fnwire_storage_postgres::redact(url) };
    let keys: Keys = serde_json::from_str(&text).map_err(|_| invalid())?;
    if keys.master_key.is_empty() || keys.default_function_key.is_empty() {
        return Err(invalid());
    }
    Ok(keys)
}

fn read_keys_file(path: &Path) -> Result<Keys, KeysError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| KeysError::Read { path: path.to_path_buf(), source })?;
    let keys: Keys = serde_json::from_str(&text)
        .map_err(|source| KeysError::Invalid { path: path.to_path_buf(), source })?;
    if keys.master_key.is_empty() || keys.default_function_key.is_empty() {
        return Err(KeysError::EmptyKey { path: path.to_path_buf() });
    }
    Ok(keys)
}

/// Writes `text` to `path` so only the owner can read it (directory 0700, file 0600). The file
/// appears complete or not at all, and an existing one is never replaced: returns `false` if
/// `path` already existed (another process won the race).
fn write_private(path: &Path, text: &str) -> Result<bool, KeysError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(write_failed(format!("create `{}` for the app's keys", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(write_failed(format!("make `{}` private (mode 0700)", dir.display())))?;
        let temp = dir.join(format!(".keys-{}.tmp", uuid::Uuid::new_v4()));
        let result = (|| -> Result<bool, KeysError> {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)
                .map_err(write_failed(format!("create `{}`", temp.display())))?;
            std::io::Write::write_all(&mut file, text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(write_failed(format!("write `{}`", temp.display())))?;
            // A hard link publishes the finished file and fails if one is already there.
            match std::fs::hard_link(&temp, path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(write_failed(format!("create the keys file `{}`", path.display()))(e)),
            }
        })();
        let _ = std::fs::remove_file(&temp);
        result
    }
    #[cfg(not(unix))]
    {
        if path.exists() {
            return Ok(false);
        }
        std::fs::write(path, text)
            .map_err(write_failed(format!("write the keys file `{}`", path.display())))?;
        Ok(true)
    }
}

/// What `fnwire keys` prints.
pub fn render(keys: &Keys, app_dir: &Path, settings: &BTreeMap<String, String>) -> String {
    let stored_in = match crate::triggers::backend::postgres_url(settings) {
        Some(url) => format!("the app's database {}", fnwire_storage_postgres::redact(&url)),
        None => keys_path(app_dir).display().to_string(),
    };
    format!(
        "master key:           {}\ndefault function key: {}\n\nSend one in the `{KEY_HEADER}` header or the `{KEY_QUERY}` \
         query parameter. `function` routes accept either key, `admin` routes only the master key.\nStored in {} \
         (set {MASTER_KEY_SETTING} / {FUNCTION_KEY_SETTING} in local.settings.json Values to choose your own).\n",
        keys.master_key, keys.default_function_key, stored_in
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_keys() {
        let keys = Keys { master_key: "m".repeat(8), default_function_key: "f".repeat(8) };
        let m = keys.master_key.clone();
        let f = keys.default_function_key.clone();
        assert!(keys.allows(AuthLevel::Anonymous, None));
        assert!(!keys.allows(AuthLevel::Function, None));
        assert!(keys.allows(AuthLevel::Function, Some(&f)));
        assert!(keys.allows(AuthLevel::Function, Some(&m)));
        assert!(!keys.allows(AuthLevel::Function, Some("ffffffff0")));
        assert!(!keys.allows(AuthLevel::Admin, Some(&f)));
        assert!(keys.allows(AuthLevel::Admin, Some(&m)));
        assert_eq!(AuthLevel::parse(None), Ok(AuthLevel::Function));
        assert_eq!(AuthLevel::parse(Some("ADMIN")), Ok(AuthLevel::Admin));
        assert!(AuthLevel::parse(Some("system")).unwrap_err().to_string().contains("system"));
        assert_eq!(format!("{keys:?}"), "Keys { .. }");
    }

    #[test]
    fn generated_keys_are_url_safe_and_distinct() {
        let a = generate_key().unwrap();
        let b = generate_key().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{a}");
        assert_eq!(base64url(b"\xfb\xff"), "-_8");
        assert_eq!(base64url(b"Man"), "TWFu");
    }

    #[test]
    fn key_from_header_then_query() {
        let mut headers = http::HeaderMap::new();
        let uri: http::Uri = "/api/x?a=1&code=q%2Bk".parse().unwrap();
        assert_eq!(presented_key(&headers, &uri).as_deref(), Some("q+k"));
        headers.insert(KEY_HEADER, "h".parse().unwrap());
        assert_eq!(presented_key(&headers, &uri).as_deref(), Some("h"));
        assert_eq!(presented_key(&http::HeaderMap::new(), &"/x".parse().unwrap()), None);
    }

    #[test]
    fn processes_starting_together_agree_on_one_set_of_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || load_or_create(&path, &BTreeMap::new()).unwrap())
            })
            .collect();
        let keys: Vec<Keys> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(keys.iter().all(|k| *k == keys[0]));
        let leftovers: Vec<_> = std::fs::read_dir(path.join(".fnwire")).unwrap().flatten().collect();
        assert_eq!(leftovers.len(), 1, "only keys.json remains: {leftovers:?}");
    }

    #[test]
    fn file_is_created_private_reused_and_overridden() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), &BTreeMap::new()).unwrap();
        let again = load_or_create(dir.path(), &BTreeMap::new()).unwrap();
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&keys_path(dir.path())), 0o600);
            assert_eq!(mode(&dir.path().join(".fnwire")), 0o700);
        }
        let settings = BTreeMap::from([(MASTER_KEY_SETTING.to_string(), "mine".to_string())]);
        let overridden = load_or_create(dir.path(), &settings).unwrap();
        assert_eq!(overridden.master_key, "mine");
        assert_eq!(overridden.default_function_key, first.default_function_key);
        std::fs::write(keys_path(dir.path()), "{").unwrap();
        let e = load_or_create(dir.path(), &BTreeMap::new()).unwrap_err();
        assert!(format!("{e:#}").contains("delete it"), "{e:#}");
    }
}
