//! Exclusions: scenarios a particular worker is known not to pass, each with a one-line reason.
//! They are reported as `skip` and do not fail the run.
//!
//! File format (TOML), one entry per scenario; quote the names (they contain dots), `*` matches
//! any characters:
//! ```toml
//! "shutdown.worker_terminate" = "does not handle WorkerTerminate; hosts kill it instead"
//! "http_large.*" = "no large messages yet"
//! ```

use std::path::Path;

/// A loaded exclusions file.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    /// Where it came from, for the report.
    pub source: String,
    entries: Vec<(String, String)>,
}

impl Exclusions {
    pub fn parse(text: &str, source: &str) -> Result<Self, String> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| format!("exclusions file `{source}` is not valid TOML: {e}"))?;
        let mut entries = Vec::new();
        for (name, value) in table {
            match value {
                toml::Value::String(reason) if !reason.trim().is_empty() => entries.push((name, reason)),
                toml::Value::String(_) => {
                    return Err(format!(
                        "exclusions file `{source}`: `{name}` needs a reason (a non-empty string)"
                    ));
                }
                toml::Value::Table(_) => {
                    return Err(format!(
                        "exclusions file `{source}`: `{name}` is a table; quote scenario names, e.g. \
                         \"{name}.something\" = \"reason\""
                    ));
                }
                other => {
                    return Err(format!(
                        "exclusions file `{source}`: `{name}` must map to a reason string, found {other}"
                    ));
                }
            }
        }
        Ok(Exclusions { source: source.to_string(), entries })
    }

    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the exclusions file `{}`: {e}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The exclusions shipped with the runner for a known app directory (matched by the
    /// directory's name, e.g. `azure-python` → `exclusions/azure-python.toml`).
    pub fn for_app(app_dir: &Path) -> Result<Option<Self>, String> {
        let Some(name) = app_dir.file_name().and_then(|n| n.to_str()) else { return Ok(None) };
        let wanted = format!("{name}.toml");
        match crate::embedded::EXCLUSION_FILES.iter().find(|(file, _)| *file == wanted) {
            Some((file, text)) => Self::parse(text, &format!("conformance/exclusions/{file}")).map(Some),
            None => Ok(None),
        }
    }

    /// The reason `scenario` is excluded, if it is.
    pub fn reason(&self, scenario: &str) -> Option<&str> {
        self.entries.iter().find(|(pattern, _)| glob_match(pattern, scenario)).map(|(_, r)| r.as_str())
    }

    /// Patterns that match none of `names` (probably stale or misspelt).
    pub fn unmatched<'a>(&'a self, names: &[String]) -> Vec<&'a str> {
        self.entries
            .iter()
            .filter(|(pattern, _)| !names.iter().any(|n| glob_match(pattern, n)))
            .map(|(p, _)| p.as_str())
            .collect()
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("a.b", "a.b"));
        assert!(!glob_match("a.b", "a.bc"));
        assert!(glob_match("http_*", "http_echo.x"));
        assert!(glob_match("*.empty_body", "http_binary.empty_body"));
        assert!(glob_match("h*o.*y", "http_echo.get_body_only"));
        assert!(!glob_match("a*a", "a"));
    }

    #[test]
    fn parses_and_rejects_unquoted_names() {
        let e = Exclusions::parse("\"x.y\" = \"because\"\n\"z.*\" = \"all of z\"", "t").unwrap();
        assert_eq!(e.reason("x.y"), Some("because"));
        assert_eq!(e.reason("z.q"), Some("all of z"));
        assert_eq!(e.reason("x"), None);
        assert!(Exclusions::parse("x.y = \"r\"", "t").unwrap_err().contains("quote"));
        assert!(Exclusions::parse("\"x\" = \"\"", "t").unwrap_err().contains("reason"));
    }

    #[test]
    fn shipped_files_parse() {
        for (file, text) in crate::embedded::EXCLUSION_FILES {
            Exclusions::parse(text, file).unwrap();
        }
    }
}
