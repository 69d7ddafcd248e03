use std::fmt;

/// Something about a function's metadata that a Functions host would reject, or that fnwire
/// cannot read. The message names the function, the binding and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataError {
    /// The function the problem belongs to, when known.
    pub function: Option<String>,
    /// The binding the problem belongs to, when known.
    pub binding: Option<String>,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl MetadataError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        MetadataError { function: None, binding: None, message: message.into() }
    }

    pub(crate) fn in_function(mut self, function: &str) -> Self {
        self.function.get_or_insert_with(|| function.to_string());
        self
    }

    pub(crate) fn in_binding(mut self, binding: &str) -> Self {
        self.binding.get_or_insert_with(|| binding.to_string());
        self
    }
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.function, &self.binding) {
            (Some(func), Some(b)) => write!(f, "function `{func}`, binding `{b}`: {}", self.message),
            (Some(func), None) => write!(f, "function `{func}`: {}", self.message),
            (None, Some(b)) => write!(f, "binding `{b}`: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for MetadataError {}
