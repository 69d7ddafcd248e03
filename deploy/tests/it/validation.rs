//! The manifests against the schemas Kubernetes and KEDA publish. The validator runs in a
//! virtualenv that `deploy/scripts/validate-setup.sh` makes under target/ (from PyPI).

use std::path::{Path, PathBuf};
use std::process::Command;

use fnwire_deploy::{Language, Trigger, render};

use crate::support::*;

fn validator_python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/validate-setup.sh");
            let out = Command::new("bash").arg(script).output().expect("run validate-setup.sh");
            assert!(
                out.status.success(),
                "validate-setup.sh failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
        })
        .clone()
}

/// Runs the validator on a YAML stream; returns (success, output).
fn validate(yaml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("manifests.yaml");
    std::fs::write(&file, yaml).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validate.py");
    let out = Command::new(validator_python()).arg(script).arg(&file).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn every_object_of_every_kind_of_app_is_valid() {
    let apps = [
        mixed_app(),
        app(Language::Node, vec![function("hello", Trigger::Http)], None),
        app(
            Language::Python,
            vec![function("take", Trigger::Queue { queue: "orders".into() })],
            Some(PG_URL),
        ),
    ];
    for app in apps {
        let rendered = render(&app, &options(), &queries(&["orders", "shipping"])).unwrap();
        let (ok, out) = validate(&rendered.manifests);
        assert!(ok, "{out}\n{}", rendered.manifests);
        assert_eq!(out.lines().filter(|l| l.starts_with("valid ")).count(), rendered.objects.len(), "{out}");
    }
}

#[test]
fn the_validator_refuses_what_kubernetes_and_keda_would() {
    let rendered = render(&mixed_app(), &options(), &queries(&["orders", "shipping"])).unwrap();
    let cases = [
        // A misspelt Deployment field (strict: unknown fields fail).
        ("terminationGracePeriodSeconds", "terminationGracePeriodSecond"),
        // A container port that is not a number.
        ("containerPort: 80", "containerPort: eighty"),
        // A KEDA trigger field KEDA does not document.
        ("activationTargetQueryValue", "activationTargetQueryValu"),
        // KEDA metadata values are strings.
        ("targetQueryValue: '8'", "targetQueryValue: 8"),
    ];
    for (from, to) in cases {
        assert!(rendered.manifests.contains(from), "{from}");
        let broken = rendered.manifests.replacen(from, to, 1);
        let (ok, out) = validate(&broken);
        assert!(!ok, "`{to}` should be refused:\n{out}");
        assert!(out.contains("INVALID"), "{out}");
    }
}
