//! Blob trigger path patterns: `container/name pattern`, where `{parameters}` in the name
//! pattern take parts of a blob's name (`images/{name}.{ext}`) and become the trigger's
//! metadata, usable by the function's other bindings. The catalog checks a pattern at
//! declaration with this parser, and the host matches blob names with it.

use std::collections::HashMap;

/// A blob trigger path that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobPathError {
    pub path: String,
    pub why: String,
}

impl std::fmt::Display for BlobPathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the blob trigger's path `{}` is not valid: {}", self.path, self.why)
    }
}

impl std::error::Error for BlobPathError {}

/// A blob path pattern: a container and a name pattern whose `{parameters}` become trigger
/// metadata (`images/{name}.{ext}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobPathPattern {
    pub container: String,
    parts: Vec<PatternPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternPart {
    Literal(String),
    Parameter(String),
}

impl BlobPathPattern {
    pub fn parse(path: &str) -> Result<Self, BlobPathError> {
        let bad = |why: &str| BlobPathError { path: path.to_string(), why: why.to_string() };
        let trimmed = path.trim().trim_start_matches('/');
        let (container, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        if container.is_empty() {
            return Err(bad("it names no container; write `<container>/<name pattern>`"));
        }
        if container.contains(['{', '}']) {
            return Err(bad("the container must be a plain name, without {parameters}"));
        }
        if container == "." || container == ".." || container.contains('\\') {
            return Err(bad("the container must be a plain name"));
        }
        let mut parts = Vec::new();
        let mut chars = rest.char_indices().peekable();
        let mut literal = String::new();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' => {
                    let end = rest[at..].find('}').ok_or_else(|| bad("a `{` has no closing `}`"))?;
                    let name = rest[at + 1..at + end].trim();
                    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        return Err(bad(&format!(
                            "`{{{name}}}` is not a parameter name (letters, digits and `_`)"
                        )));
                    }
                    if matches!(parts.last(), Some(PatternPart::Parameter(_))) && literal.is_empty() {
                        return Err(bad("two parameters must be separated by text, as in `{name}.{ext}`"));
                    }
                    if !literal.is_empty() {
                        parts.push(PatternPart::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(PatternPart::Parameter(name.to_string()));
                    while chars.next_if(|(i, _)| *i <= at + end).is_some() {}
                }
                '}' => return Err(bad("a `}` has no opening `{`")),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(PatternPart::Literal(literal));
        }
        Ok(BlobPathPattern { container: container.to_string(), parts })
    }

    /// The parameter names, in order.
    pub fn parameters(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            PatternPart::Parameter(name) => Some(name.as_str()),
            PatternPart::Literal(_) => None,
        })
    }

    /// The parameters' values when `name` (the blob name inside the container) fits the
    /// pattern. A pattern without a name part takes every blob of the container; a parameter
    /// takes as much as it can (`{name}.{ext}` on `a.b.png` gives `a.b` and `png`).
    pub fn matches(&self, name: &str) -> Option<HashMap<String, String>> {
        if self.parts.is_empty() {
            return Some(HashMap::new());
        }
        let mut values = HashMap::new();
        match_parts(&self.parts, name, &mut values).then_some(values)
    }
}

fn match_parts(parts: &[PatternPart], text: &str, values: &mut HashMap<String, String>) -> bool {
    match parts.split_first() {
        None => text.is_empty(),
        Some((PatternPart::Literal(l), rest)) => {
            text.strip_prefix(l.as_str()).is_some_and(|after| match_parts(rest, after, values))
        }
        Some((PatternPart::Parameter(p), rest)) => {
            // Longest first; a parameter is never empty.
            let ends: Vec<usize> = text
                .char_indices()
                .map(|(i, _)| i)
                .skip(1)
                .chain([text.len()])
                .filter(|&end| end > 0)
                .collect();
            for &end in ends.iter().rev() {
                if match_parts(rest, &text[end..], values) {
                    values.insert(p.clone(), text[..end].to_string());
                    return true;
                }
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_blob_names_and_name_their_parameters() {
        let p = BlobPathPattern::parse("images/{name}.{ext}").unwrap();
        assert_eq!(p.container, "images");
        assert_eq!(p.parameters().collect::<Vec<_>>(), ["name", "ext"]);
        let m = p.matches("cat.b.png").unwrap();
        assert_eq!((m["name"].as_str(), m["ext"].as_str()), ("cat.b", "png"));
        assert!(p.matches("noextension").is_none());
        let sub = BlobPathPattern::parse("uploads/{name}").unwrap();
        assert_eq!(sub.matches("2027/a.txt").unwrap()["name"], "2027/a.txt", "a name may hold folders");
        let prefixed = BlobPathPattern::parse("in/original-{name}").unwrap();
        assert_eq!(prefixed.matches("original-x").unwrap()["name"], "x");
        assert!(prefixed.matches("copy-x").is_none());
        assert!(prefixed.matches("original-").is_none(), "a parameter is never empty");
        let whole = BlobPathPattern::parse("data").unwrap();
        assert!(whole.matches("anything/at/all").unwrap().is_empty());
        let literal = BlobPathPattern::parse("cfg/settings.json").unwrap();
        assert!(literal.matches("settings.json").is_some() && literal.matches("other.json").is_none());
        for (bad, says) in [
            ("{c}/x", "container"),
            ("/", "no container"),
            ("../x", "plain name"),
            ("c/{name", "closing"),
            ("c/name}", "opening"),
            ("c/{}", "not a parameter name"),
            ("c/{a}{b}", "separated"),
        ] {
            let e = BlobPathPattern::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains(bad), "{bad}: {e}");
        }
    }
}
