use fnwire_deploy::{DeployError, Language, Trigger, render};
use serde_json::json;

use crate::support::*;

#[test]
fn a_queue_app_scales_to_zero_on_a_postgresql_query_per_queue() {
    let app = app(
        Language::Python,
        vec![
            function("take", Trigger::Queue { queue: "orders".into() }),
            function("audit", Trigger::Queue { queue: "orders".into() }),
            function("ship", Trigger::Queue { queue: "shipping".into() }),
        ],
        Some(PG_URL),
    );
    let rendered = render(&app, &options(), &queries(&["orders", "shipping"])).unwrap();
    let scaled = kind(&rendered.objects, "ScaledObject").expect("a ScaledObject");
    assert_eq!(scaled["apiVersion"], "keda.sh/v1alpha1");
    assert_eq!(scaled["metadata"]["namespace"], "shop");
    assert_eq!(scaled["spec"]["scaleTargetRef"]["name"], "orders");
    assert_eq!(scaled["spec"]["minReplicaCount"], 0, "nothing needs a replica when no work waits");
    let triggers = scaled["spec"]["triggers"].as_array().unwrap();
    assert_eq!(triggers.len(), 2, "one trigger per queue, not per function: {triggers:?}");
    assert_eq!(
        triggers[0],
        json!({
            "type": "postgresql",
            "name": "queue-orders",
            "metadata": {
                "connectionFromEnv": "AzureWebJobsStorage",
                "query": "SELECT count_of('orders')",
                "targetQueryValue": "8",
                "activationTargetQueryValue": "0",
            }
        })
    );
    assert_eq!(triggers[1]["metadata"]["query"], "SELECT count_of('shipping')");
    assert!(kind(&rendered.objects, "Service").is_none(), "no HTTP functions, no Service");
    let deployment = kind(&rendered.objects, "Deployment").unwrap();
    assert!(deployment["spec"].get("replicas").is_none(), "KEDA owns the replica count");
}

#[test]
fn a_mixed_app_keeps_one_replica_for_http_and_timers_and_scales_durable_work() {
    let rendered = render(&mixed_app(), &options(), &queries(&["orders", "shipping"])).unwrap();
    let kinds: Vec<&str> = rendered.objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Secret", "Deployment", "Service", "ScaledObject"]);
    let scaled = kind(&rendered.objects, "ScaledObject").unwrap();
    assert_eq!(scaled["spec"]["minReplicaCount"], 1);
    let triggers = scaled["spec"]["triggers"].as_array().unwrap();
    let names: Vec<&str> = triggers.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["queue-orders", "queue-shipping", "durable-task-hub"]);
    assert_eq!(triggers[2]["metadata"]["query"], "SELECT durable_count()");

    let service = kind(&rendered.objects, "Service").unwrap();
    assert_eq!(service["spec"]["selector"], json!({ "app": "orders" }));
    assert_eq!(service["spec"]["ports"][0]["targetPort"], 80);

    let secret = kind(&rendered.objects, "Secret").unwrap();
    assert_eq!(secret["stringData"]["AzureWebJobsStorage"], PG_URL);
    assert_eq!(secret["stringData"]["FNWIRE_MASTER_KEY"], "master-secret");
}

#[test]
fn the_deployment_probes_the_health_endpoints_and_outwaits_the_drain() {
    let mut options = options();
    options.drain_timeout_secs = 45;
    let rendered = render(&mixed_app(), &options, &queries(&["orders", "shipping"])).unwrap();
    let deployment = kind(&rendered.objects, "Deployment").unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["terminationGracePeriodSeconds"], 5 + 45 + 10);
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "registry.example/orders:1");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/admin/host/ping");
    assert_eq!(container["startupProbe"]["httpGet"]["path"], "/admin/host/ping");
    assert_eq!(container["livenessProbe"]["tcpSocket"]["port"], 80);
    assert_eq!(container["envFrom"][0]["secretRef"]["name"], "orders");
    assert_eq!(container["env"][0], json!({ "name": "FNWIRE_DRAIN_TIMEOUT", "value": "45" }));
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"]["app"],
        deployment["spec"]["template"]["metadata"]["labels"]["app"]
    );
}

#[test]
fn an_http_only_app_gets_a_fixed_replica_count_and_no_scaled_object() {
    let app = app(Language::Node, vec![function("hello", Trigger::Http)], None);
    let mut options = options();
    options.http_replicas = 3;
    let rendered = render(&app, &options, &queries(&[])).unwrap();
    assert!(kind(&rendered.objects, "ScaledObject").is_none());
    assert_eq!(kind(&rendered.objects, "Deployment").unwrap()["spec"]["replicas"], 3);
    assert!(kind(&rendered.objects, "Service").is_some());
}

#[test]
fn queue_timer_and_durable_apps_need_the_shared_store() {
    for (trigger, storage) in [
        (Trigger::Queue { queue: "q".into() }, None),
        (Trigger::Timer, Some("UseDevelopmentStorage=true")),
        (Trigger::Durable, Some("  ")),
    ] {
        let app = app(Language::Python, vec![function("work", trigger.clone())], storage);
        let err = render(&app, &options(), &queries(&["q"])).unwrap_err();
        assert!(matches!(err, DeployError::NoSharedStore { .. }), "{trigger:?}: {err}");
        let text = err.to_string();
        assert!(
            text.contains("`work`") && text.contains("AzureWebJobsStorage") && text.contains("postgres://"),
            "{text}"
        );
    }
    let app = app(
        Language::Python,
        vec![function("work", Trigger::Queue { queue: "q".into() })],
        Some("postgresql://h/d"),
    );
    assert!(render(&app, &options(), &queries(&["q"])).is_ok(), "postgresql:// selects it too");
}

#[test]
fn bad_names_images_and_missing_queries_are_refused_with_what_to_pass() {
    let mut bad = mixed_app();
    bad.name = "Orders_App".into();
    let err = render(&bad, &options(), &queries(&["orders", "shipping"])).unwrap_err().to_string();
    assert!(err.contains("Orders_App") && err.contains("--name"), "{err}");

    let mut options_bad = options();
    options_bad.image = "not an image".into();
    let err = render(&mixed_app(), &options_bad, &queries(&["orders", "shipping"])).unwrap_err().to_string();
    assert!(err.contains("--image"), "{err}");

    let err = render(&mixed_app(), &options(), &queries(&["orders"])).unwrap_err().to_string();
    assert!(err.contains("shipping") && err.contains("ship"), "{err}");
}

#[test]
fn the_yaml_stream_holds_the_same_objects() {
    let rendered = render(&mixed_app(), &options(), &queries(&["orders", "shipping"])).unwrap();
    let parsed = fnwire_deploy::parse_manifests(&rendered.manifests).unwrap();
    assert_eq!(parsed, rendered.objects);
    // Strings KEDA reads as numbers stay strings in YAML (quoted), not integers.
    assert!(rendered.manifests.contains("targetQueryValue: '8'"), "{}", rendered.manifests);
}

#[test]
fn each_language_gets_its_own_image_build() {
    let rust = render(&mixed_app(), &options(), &queries(&["orders", "shipping"])).unwrap().dockerfile;
    assert!(rust.contains("FROM rust:1-slim-bookworm AS build"), "{rust}");
    assert!(rust.contains("RUN fnwire pack . --out /out"), "{rust}");
    assert!(rust.contains("COPY deploy/fnwire /usr/local/bin/fnwire"), "{rust}");
    assert!(rust.contains("FROM debian:bookworm-slim"), "{rust}");
    assert!(rust.contains("COPY --from=build /out /home/site/wwwroot"), "{rust}");

    let python =
        render(&app(Language::Python, vec![function("h", Trigger::Http)], None), &options(), &queries(&[]))
            .unwrap()
            .dockerfile;
    assert!(python.contains("FROM python:3.13-slim-bookworm"), "{python}");
    assert!(python.contains("-r requirements.txt"), "{python}");

    let node =
        render(&app(Language::Node, vec![function("h", Trigger::Http)], None), &options(), &queries(&[]))
            .unwrap();
    assert!(node.dockerfile.contains("RUN npm ci --omit=dev"), "{}", node.dockerfile);
    assert!(node.dockerignore.contains("node_modules/"));
    for dockerfile in [&rust, &python, &node.dockerfile] {
        assert!(
            dockerfile.contains(
                r#"CMD ["fnwire", "start", "/home/site/wwwroot", "--host", "0.0.0.0", "--port", "80"]"#
            ),
            "exec form, so fnwire gets SIGTERM: {dockerfile}"
        );
    }
}
