//! The app's `Dockerfile`. Its build context is the app's directory; the host listens on
//! 0.0.0.0:80 in the container and drains on SIGTERM for `FNWIRE_DRAIN_TIMEOUT` seconds (set
//! by the Deployment).

use crate::{APP_ROOT, App, CONTAINER_PORT, Language, Options};

/// The file name of the host executable `fnwire kube` copies next to a Rust app's Dockerfile
/// (the image runs the same host that wrote it).
pub const FNWIRE_BINARY: &str = "fnwire";

fn start_command() -> String {
    format!(r#"CMD ["fnwire", "start", "{APP_ROOT}", "--host", "0.0.0.0", "--port", "{CONTAINER_PORT}"]"#)
}

/// The Dockerfile for `app`. `options.image` is not used here: the image is named when built.
pub fn dockerfile(app: &App, options: &Options) -> String {
    let release = &options.debian_release;
    let common_tail = format!(
        "EXPOSE {CONTAINER_PORT}\n# exec form: fnwire is PID 1 and gets SIGTERM itself, so it drains before exiting.\n{}\n",
        start_command()
    );
    match &app.language {
        Language::Rust { bin } => {
            let fnwire = format!("{}/{FNWIRE_BINARY}", options.context_dir);
            format!(
                "# Built by `fnwire kube` for `{name}` (Rust). Build from the app's directory:\n\
                 #   docker build -f {context_dir}/Dockerfile -t IMAGE .\n\
                 # Stage 1 compiles the worker `{bin}` and writes the app folder with `fnwire pack`\n\
                 # (worker.config.json, the binary, a function.json per function).\n\
                 FROM rust:1-slim-{release} AS build\n\
                 WORKDIR /src\n\
                 COPY {fnwire} /usr/local/bin/fnwire\n\
                 COPY . .\n\
                 RUN fnwire pack . --out /out\n\
                 \n\
                 # Stage 2 runs it: the host, the packed app, nothing of the toolchain.\n\
                 FROM debian:{release}-slim\n\
                 COPY {fnwire} /usr/local/bin/fnwire\n\
                 COPY --from=build /out {APP_ROOT}\n\
                 {common_tail}",
                name = app.name,
                context_dir = options.context_dir,
            )
        }
        Language::Python => format!(
            "# Built by `fnwire kube` for `{name}` (Python). Build from the app's directory:\n\
             #   docker build -f {context_dir}/Dockerfile -t IMAGE .\n\
             # The fnwire package (worker and host) comes from wheels/ when the app has one (the wheel\n\
             # `maturin build` makes in bindings-python), else from the package index.\n\
             FROM python:3.13-slim-{release}\n\
             WORKDIR {APP_ROOT}\n\
             COPY . {APP_ROOT}\n\
             RUN pip install --no-cache-dir --find-links {APP_ROOT}/wheels fnwire \\\n    \
             && if [ -f requirements.txt ]; then pip install --no-cache-dir --find-links {APP_ROOT}/wheels -r requirements.txt; fi\n\
             {common_tail}",
            name = app.name,
            context_dir = options.context_dir,
        ),
        Language::Node => format!(
            "# Built by `fnwire kube` for `{name}` (Node). Build from the app's directory:\n\
             #   docker build -f {context_dir}/Dockerfile -t IMAGE .\n\
             # `npm ci` installs the lock file's packages, the fnwire package and its addon among them;\n\
             # the addon is built for the image's platform when no prebuilt one matches.\n\
             FROM node:22-{release}-slim\n\
             WORKDIR {APP_ROOT}\n\
             COPY package.json package-lock.json {APP_ROOT}/\n\
             RUN npm ci --omit=dev\n\
             COPY . {APP_ROOT}\n\
             ENV PATH={APP_ROOT}/node_modules/.bin:$PATH\n\
             {common_tail}",
            name = app.name,
            context_dir = options.context_dir,
        ),
    }
}

/// Keeps build outputs and local state out of the build context.
pub fn dockerignore(language: &Language) -> String {
    let mut lines = vec![".fnwire/", ".git/", "local.settings.json"];
    match language {
        Language::Rust { .. } => lines.push("target/"),
        Language::Python => lines.extend([".venv/", "__pycache__/"]),
        Language::Node => lines.push("node_modules/"),
    }
    lines.join("\n") + "\n"
}
