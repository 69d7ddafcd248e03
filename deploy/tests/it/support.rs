use std::collections::BTreeMap;

use fnwire_deploy::{App, Function, Language, Options, ScalerQueries, Trigger};

pub const PG_URL: &str = "postgres://fnwire@db.example:5432/app";

pub fn function(name: &str, trigger: Trigger) -> Function {
    Function { name: name.into(), trigger }
}

pub fn app(language: Language, functions: Vec<Function>, storage: Option<&str>) -> App {
    let mut settings = BTreeMap::from([
        ("FUNCTIONS_WORKER_RUNTIME".to_string(), "custom".to_string()),
        ("FNWIRE_MASTER_KEY".to_string(), "master-secret".to_string()),
    ]);
    if let Some(url) = storage {
        settings.insert("AzureWebJobsStorage".into(), url.into());
    }
    App { name: "orders".into(), language, functions, settings, queue_batch_size: 8 }
}

pub fn options() -> Options {
    Options {
        image: "registry.example/orders:1".into(),
        namespace: Some("shop".into()),
        ..Options::default()
    }
}

/// Queries that name their queue, so a test can tell which trigger got which.
pub fn queries(queues: &[&str]) -> ScalerQueries {
    ScalerQueries {
        visible_messages: queues.iter().map(|q| (q.to_string(), format!("SELECT count_of('{q}')"))).collect(),
        pending_durable_work: "SELECT durable_count()".into(),
    }
}

/// The mixed app: HTTP, two queue functions on one queue and one on another, a timer, durable.
pub fn mixed_app() -> App {
    app(
        Language::Rust { bin: "orders".into() },
        vec![
            function("hello", Trigger::Http),
            function("take", Trigger::Queue { queue: "orders".into() }),
            function("audit", Trigger::Queue { queue: "orders".into() }),
            function("ship", Trigger::Queue { queue: "shipping".into() }),
            function("tick", Trigger::Timer),
            function("orchestrate", Trigger::Durable),
        ],
        Some(PG_URL),
    )
}

pub fn kind<'a>(objects: &'a [serde_json::Value], kind: &str) -> Option<&'a serde_json::Value> {
    objects.iter().find(|o| o["kind"] == kind)
}
