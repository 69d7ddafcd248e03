//! The worker command line.
//!
//! Hosts since 4.28 pass two equivalent flag sets; older hosts pass only the first:
//!
//! ```text
//! --host 127.0.0.1 --port P --workerId W --requestId R --grpcMaxMessageLength N
//! --functions-uri http://127.0.0.1:P/ --functions-worker-id W --functions-request-id R
//! --functions-grpc-max-message-length N
//! ```
//!
//! The `--functions-*` forms win when both are present, and unknown flags are ignored, because
//! hosts have added flags before and strict parsers broke on them.

use std::fmt;

/// What a worker needs from its command line to connect to its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerArgs {
    /// Where the host's gRPC server listens, e.g. `http://127.0.0.1:50051/`.
    pub host_uri: String,
    /// Sent back in `StartStream`; the host only accepts the worker it launched.
    pub worker_id: String,
    /// Identifies this process start.
    pub request_id: String,
    /// Largest gRPC message the host accepts; `None` means unlimited.
    pub grpc_max_message_length: Option<usize>,
}

/// The command line could not be turned into [`WorkerArgs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerArgsError {
    /// Required flags are absent from both flag sets.
    Missing(Vec<&'static str>),
    /// A flag was given without a value or with a value that does not parse.
    Invalid { flag: String, value: String, reason: String },
}

impl fmt::Display for WorkerArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerArgsError::Missing(flags) => write!(
                f,
                "missing worker arguments: {}. A Functions host starts workers with \
                 `--functions-uri <url> --functions-worker-id <id> --functions-request-id <id>` \
                 (or `--host <addr> --port <n> --workerId <id> --requestId <id>`); run the app \
                 with `fnwire start` rather than running the worker by hand",
                flags.join(", ")
            ),
            WorkerArgsError::Invalid { flag, value, reason } => {
                write!(f, "invalid worker argument {flag} {value:?}: {reason}")
            }
        }
    }
}

impl std::error::Error for WorkerArgsError {}

#[derive(Default)]
struct Raw {
    host: Option<String>,
    port: Option<String>,
    worker_id: Option<String>,
    request_id: Option<String>,
    max_len: Option<String>,
    functions_uri: Option<String>,
    functions_worker_id: Option<String>,
    functions_request_id: Option<String>,
    functions_max_len: Option<String>,
}

impl WorkerArgs {
    /// Parses the process's own arguments (skipping the program name).
    pub fn from_env() -> Result<Self, WorkerArgsError> {
        Self::parse(std::env::args().skip(1))
    }

    /// Parses arguments (without the program name). Accepts `--flag value` and `--flag=value`.
    pub fn parse<I, S>(args: I) -> Result<Self, WorkerArgsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let args: Vec<String> = args.into_iter().map(Into::into).collect();
        let mut raw = Raw::default();
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            i += 1;
            let Some(flag) = arg.strip_prefix("--") else { continue };
            let (name, inline_value) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (flag, None),
            };
            let slot = match name {
                "host" => &mut raw.host,
                "port" => &mut raw.port,
                "workerId" => &mut raw.worker_id,
                "requestId" => &mut raw.request_id,
                "grpcMaxMessageLength" => &mut raw.max_len,
                "functions-uri" => &mut raw.functions_uri,
                "functions-worker-id" => &mut raw.functions_worker_id,
                "functions-request-id" => &mut raw.functions_request_id,
                "functions-grpc-max-message-length" => &mut raw.functions_max_len,
                // Unknown flags are ignored; so is their value, if one follows.
                _ => {
                    if inline_value.is_none() && args.get(i).is_some_and(|a| !a.starts_with("--")) {
                        i += 1;
                    }
                    continue;
                }
            };
            let value = match inline_value {
                Some(v) => v,
                None => match args.get(i) {
                    Some(v) if !v.starts_with("--") => {
                        i += 1;
                        v.clone()
                    }
                    _ => {
                        return Err(WorkerArgsError::Invalid {
                            flag: format!("--{name}"),
                            value: String::new(),
                            reason: "the flag needs a value".into(),
                        });
                    }
                },
            };
            *slot = Some(value);
        }
        raw.resolve()
    }

    /// The arguments a host passes, both flag sets, in the order Azure hosts send them.
    pub fn to_args(&self, port: u16) -> Vec<String> {
        let max = self.grpc_max_message_length.map_or_else(|| i32::MAX.to_string(), |n| n.to_string());
        let host = host_of(&self.host_uri).unwrap_or_else(|| "127.0.0.1".to_string());
        [
            "--host",
            &host,
            "--port",
            &port.to_string(),
            "--workerId",
            &self.worker_id,
            "--requestId",
            &self.request_id,
            "--grpcMaxMessageLength",
            &max,
            "--functions-uri",
            &self.host_uri,
            "--functions-worker-id",
            &self.worker_id,
            "--functions-request-id",
            &self.request_id,
            "--functions-grpc-max-message-length",
            &max,
        ]
        .into_iter()
        .map(String::from)
        .collect()
    }
}

fn host_of(uri: &str) -> Option<String> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    };
    Some(host.trim_start_matches('[').trim_end_matches(']').to_string())
}

impl Raw {
    fn resolve(self) -> Result<WorkerArgs, WorkerArgsError> {
        let host_uri = match (self.functions_uri, &self.host, &self.port) {
            (Some(uri), _, _) => {
                if !(uri.starts_with("http://") || uri.starts_with("https://")) {
                    return Err(WorkerArgsError::Invalid {
                        flag: "--functions-uri".into(),
                        value: uri,
                        reason: "expected an http:// URL such as http://127.0.0.1:50051/".into(),
                    });
                }
                Some(uri)
            }
            (None, Some(host), Some(port)) => {
                port.parse::<u16>().map_err(|e| WorkerArgsError::Invalid {
                    flag: "--port".into(),
                    value: port.clone(),
                    reason: e.to_string(),
                })?;
                let host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
                Some(format!("http://{host}:{port}/"))
            }
            _ => None,
        };
        let worker_id = self.functions_worker_id.or(self.worker_id);
        let request_id = self.functions_request_id.or(self.request_id);
        let mut missing = Vec::new();
        if host_uri.is_none() {
            missing.push("--functions-uri (or --host and --port)");
        }
        if worker_id.is_none() {
            missing.push("--functions-worker-id (or --workerId)");
        }
        if request_id.is_none() {
            missing.push("--functions-request-id (or --requestId)");
        }
        if !missing.is_empty() {
            return Err(WorkerArgsError::Missing(missing));
        }
        let max = match self.functions_max_len.or(self.max_len) {
            None => None,
            Some(v) => {
                let n: i64 = v.parse().map_err(|_| WorkerArgsError::Invalid {
                    flag: "--functions-grpc-max-message-length".into(),
                    value: v.clone(),
                    reason: "expected a whole number of bytes".into(),
                })?;
                // 0 and negative values mean "no limit" (a host once sent 0 and broke workers).
                usize::try_from(n).ok().filter(|n| *n > 0)
            }
        };
        Ok(WorkerArgs {
            host_uri: host_uri.unwrap_or_default(),
            worker_id: worker_id.unwrap_or_default(),
            request_id: request_id.unwrap_or_default(),
            grpc_max_message_length: max,
        })
    }
}
