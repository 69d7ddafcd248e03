//! The Kubernetes objects, as JSON values (serialized to YAML by the caller).

use serde_json::{Value, json};

use crate::{App, CONTAINER_PORT, DeployError, Options, STORAGE_SETTING, ScalerQueries, Trigger};

/// Labels every object carries; the Deployment selects its pods and the Service its endpoints
/// with them.
fn labels(app: &App) -> Value {
    json!({ "app": app.name, "app.kubernetes.io/managed-by": "fnwire" })
}

fn metadata(app: &App, options: &Options, name: &str) -> Value {
    let mut m = json!({ "name": name, "labels": labels(app) });
    if let Some(ns) = &options.namespace {
        m["namespace"] = json!(ns);
    }
    m
}

/// The app settings (keys included) as a `Secret`; the Deployment takes every entry as an
/// environment variable, and KEDA reads `AzureWebJobsStorage` from the same place.
pub fn secret(app: &App, options: &Options) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(app, options, &app.name),
        "type": "Opaque",
        // stringData: Kubernetes encodes it; the file stays readable for review.
        "stringData": app.settings,
    })
}

/// Seconds a pod waits after SIGTERM before it is killed: the pre-stop pause, the drain, and a
/// margin for the workers to end.
pub fn termination_grace_secs(options: &Options) -> u64 {
    PRE_STOP_SECS + options.drain_timeout_secs + 10
}

/// Endpoints are removed from Services at the same time as SIGTERM is sent, so a pod keeps
/// accepting for a moment before the host starts draining; otherwise requests routed in that
/// moment would be refused.
const PRE_STOP_SECS: u64 = 5;

pub fn deployment(app: &App, options: &Options) -> Value {
    let ping = json!({ "path": "/admin/host/ping", "port": CONTAINER_PORT });
    let container = json!({
        "name": app.name,
        "image": options.image,
        "ports": [{ "name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP" }],
        "envFrom": [{ "secretRef": { "name": app.name } }],
        "env": [{ "name": "FNWIRE_DRAIN_TIMEOUT", "value": options.drain_timeout_secs.to_string() }],
        // Ping answers 200 only while the host runs: not before its worker is loaded (a start
        // may build nothing but still launches the worker), and not while it drains.
        "startupProbe": { "httpGet": ping, "periodSeconds": 2, "failureThreshold": 90 },
        "readinessProbe": { "httpGet": ping, "periodSeconds": 5, "failureThreshold": 2 },
        // Liveness only asks whether the listener answers at all: a draining host must not be
        // restarted for refusing work.
        "livenessProbe": { "tcpSocket": { "port": CONTAINER_PORT }, "periodSeconds": 10, "failureThreshold": 3 },
        "lifecycle": { "preStop": { "exec": { "command": ["sleep", PRE_STOP_SECS.to_string()] } } },
    });
    let mut spec = json!({
        "selector": { "matchLabels": { "app": app.name } },
        "template": {
            "metadata": { "labels": labels(app) },
            "spec": {
                "terminationGracePeriodSeconds": termination_grace_secs(options),
                "containers": [container],
            },
        },
    });
    // KEDA owns the replica count of a scaled app; a fixed one here would fight it on every apply.
    if app.scaled_functions().next().is_none() {
        spec["replicas"] = json!(options.http_replicas);
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(app, options, &app.name),
        "spec": spec,
    })
}

/// A `LoadBalancer` Service for the HTTP functions, as `func kubernetes deploy` makes.
pub fn service(app: &App, options: &Options) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(app, options, &format!("{}-http", app.name)),
        "spec": {
            "type": "LoadBalancer",
            "selector": { "app": app.name },
            "ports": [{ "name": "http", "protocol": "TCP", "port": 80, "targetPort": CONTAINER_PORT }],
        },
    })
}

/// A KEDA `ScaledObject` with a `postgresql` trigger per queue and one for durable work, or
/// `None` for an app with nothing queued. The app scales to zero only when nothing else needs a
/// running replica (HTTP requests and timers do).
pub fn scaled_object(
    app: &App,
    options: &Options,
    queries: &ScalerQueries,
) -> Result<Option<Value>, DeployError> {
    let mut triggers = Vec::new();
    let mut queues_seen = std::collections::BTreeSet::new();
    let target = app.queue_batch_size.max(1).to_string();
    let trigger = |name: String, query: &str| {
        json!({
            "type": "postgresql",
            "name": name,
            "metadata": {
                "connectionFromEnv": STORAGE_SETTING,
                "query": query,
                // One replica per batch of waiting work: what one host takes at a time.
                "targetQueryValue": target,
                // Any waiting work wakes an app scaled to zero.
                "activationTargetQueryValue": "0",
            },
        })
    };
    let mut durable = false;
    for f in app.scaled_functions() {
        match &f.trigger {
            Trigger::Queue { queue } => {
                if !queues_seen.insert(queue.clone()) {
                    continue;
                }
                let query = queries.visible_messages.get(queue).ok_or_else(|| DeployError::MissingQuery {
                    queue: queue.clone(),
                    function: f.name.clone(),
                })?;
                triggers.push(trigger(trigger_name("queue", queue), query));
            }
            Trigger::Durable => durable = true,
            _ => {}
        }
    }
    if durable {
        triggers.push(trigger("durable-task-hub".into(), &queries.pending_durable_work));
    }
    if triggers.is_empty() {
        return Ok(None);
    }
    let min = u32::from(app.needs_a_running_replica());
    Ok(Some(json!({
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": metadata(app, options, &app.name),
        "spec": {
            "scaleTargetRef": { "name": app.name },
            "pollingInterval": 5,
            // Longer than the drain, so a replica is not removed while it could still be busy.
            "cooldownPeriod": 300.max(options.drain_timeout_secs * 2),
            "minReplicaCount": min,
            "maxReplicaCount": options.max_replicas.max(1),
            "triggers": triggers,
        },
    })))
}

/// A trigger name: KEDA makes metric names from it, so it stays a short DNS-style label.
fn trigger_name(kind: &str, queue: &str) -> String {
    let mut name = format!("{kind}-{queue}");
    name.truncate(63);
    name.trim_end_matches('-').to_string()
}
