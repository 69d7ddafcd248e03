use std::time::Duration;

use fnwire_observe::Outcome;
use http_body_util::BodyExt;
use serde_json::json;

use crate::support::{call, fixture, run};

#[tokio::test]
async fn functions_carry_their_trigger_and_statistics() {
    let f = fixture(50);
    let history = f.dashboard.history();
    run(history, "hello", "1", "a", Outcome::Succeeded, Duration::from_millis(4));
    run(history, "hello", "2", "b", Outcome::Failed, Duration::from_millis(8));
    let (status, functions) = call(&f.dashboard, "GET", "/admin/api/functions").await;
    assert_eq!(status, 200);
    let hello = functions.as_array().unwrap().iter().find(|f| f["name"] == "hello").unwrap();
    assert_eq!(hello["trigger"], "httpTrigger");
    assert_eq!(hello["authLevel"], "anonymous");
    assert_eq!((hello["invocations"].as_u64(), hello["failures"].as_u64()), (Some(2), Some(1)));
    assert_eq!(hello["p50Ms"], 4.0);
    assert_eq!(hello["p99Ms"], 8.0);
    let work = functions.as_array().unwrap().iter().find(|f| f["name"] == "work").unwrap();
    assert_eq!(work["invocations"], 0);
    assert_eq!(work["p50Ms"], serde_json::Value::Null);
}

#[tokio::test]
async fn invocations_are_filtered_by_function_outcome_and_text() {
    let f = fixture(50);
    let history = f.dashboard.history();
    run(history, "hello", "h1", "apple", Outcome::Succeeded, Duration::from_millis(1));
    run(history, "hello", "h2", "banana", Outcome::Failed, Duration::from_millis(1));
    run(history, "work", "w1", "apple pie", Outcome::Succeeded, Duration::from_millis(1));
    let ids = |list: serde_json::Value| {
        let mut ids: Vec<String> =
            list.as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect();
        ids.sort();
        ids
    };
    let (_, list) = call(&f.dashboard, "GET", "/admin/api/invocations?function=hello").await;
    assert_eq!(ids(list), ["h1", "h2"]);
    let (_, list) = call(&f.dashboard, "GET", "/admin/api/invocations?outcome=failed").await;
    assert_eq!(ids(list), ["h2"]);
    let (_, list) = call(&f.dashboard, "GET", "/admin/api/invocations?text=APPLE").await;
    assert_eq!(ids(list), ["h1", "w1"]);
    let (_, list) = call(&f.dashboard, "GET", "/admin/api/invocations?limit=1").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // An empty value is no filter, as the OpenAPI document says (`allowEmptyValue`): an HTML form
    // sends its unset fields that way.
    let (status, list) =
        call(&f.dashboard, "GET", "/admin/api/invocations?function=&outcome=&text=&limit=").await;
    assert_eq!(status, 200);
    assert_eq!(ids(list), ["h1", "h2", "w1"]);
    let (status, detail) = call(&f.dashboard, "GET", "/admin/api/invocations/h2").await;
    assert_eq!(status, 200);
    assert_eq!(detail["trigger"]["inputs"]["req"], "banana");
    assert_eq!(detail["error"], "it broke");
}

#[tokio::test]
async fn bad_requests_say_what_was_wrong() {
    let f = fixture(50);
    let (status, body) = call(&f.dashboard, "GET", "/admin/api/invocations?outcome=Exploded").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("Exploded"), "{body}");
    let (status, body) = call(&f.dashboard, "GET", "/admin/api/invocations?limit=0").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
    let (status, body) = call(&f.dashboard, "GET", "/admin/api/invocations/nope").await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("historyPerFunction"), "{body}");
    let (status, _) = call(&f.dashboard, "POST", "/admin/api/functions").await;
    assert_eq!(status, 405);
    let uri: http::Uri = "/admin/api/queues".parse().unwrap();
    let response =
        f.dashboard.handle(&http::Method::TRACE, &uri, &http::HeaderMap::new(), bytes::Bytes::new()).await;
    assert_eq!(
        (response.status().as_u16(), &response.headers()["allow"]),
        (405, &"GET".parse::<http::HeaderValue>().unwrap())
    );
    let (status, _) = call(&f.dashboard, "PUT", "/admin/api/orchestrations").await;
    assert_eq!(status, 405, "a wrong method is 405 even without durable functions");
    let (status, body) = call(&f.dashboard, "GET", "/admin/api/orchestrations").await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("no durable functions"), "{body}");
    let (status, _) = call(&f.dashboard, "GET", "/admin/api/nothing-here").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn queues_show_depth_and_poison_and_a_poison_message_goes_back_to_its_queue() {
    let f = fixture(50);
    f.store.put("jobs", b"first", None).unwrap();
    let poisoned = f.store.put("jobs-poison", b"bad job", None).unwrap();
    f.store.put("jobs-poison", b"other bad job", None).unwrap();
    let (status, queues) = call(&f.dashboard, "GET", "/admin/api/queues").await;
    assert_eq!(status, 200);
    let jobs = queues.as_array().unwrap().iter().find(|q| q["name"] == "jobs").unwrap();
    assert_eq!(
        (jobs["visible"].as_u64(), jobs["poison"].as_u64(), jobs["isPoison"].as_bool()),
        (Some(1), Some(2), Some(false))
    );

    let (_, peeked) = call(&f.dashboard, "GET", "/admin/api/queues/jobs-poison/messages").await;
    assert_eq!(peeked.as_array().unwrap().len(), 2);
    assert!(peeked.as_array().unwrap().iter().any(|m| m["body"] == "bad job"));

    let uri = format!("/admin/api/queues/jobs-poison/messages/{}/requeue", poisoned.id);
    let (status, body) = call(&f.dashboard, "POST", &uri).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"requeued": poisoned.id, "from": "jobs-poison", "to": "jobs"}));
    let bodies: Vec<Vec<u8>> = f.store.peek("jobs", 10).unwrap().into_iter().map(|m| m.body).collect();
    assert_eq!(bodies, [b"first".to_vec(), b"bad job".to_vec()]);
    // The other poison message was looked at, not taken: it is visible, its count unchanged.
    let left = f.store.peek("jobs-poison", 10).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].body.as_slice(), left[0].dequeue_count), (b"other bad job".as_slice(), 0));

    let (status, body) = call(&f.dashboard, "POST", &uri).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = call(&f.dashboard, "POST", "/admin/api/queues/jobs/messages/x/requeue").await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("not a poison queue"), "{body}");

    let uri = format!("/admin/api/queues/jobs-poison/messages/{}", left[0].id);
    let (status, _) = call(&f.dashboard, "DELETE", &uri).await;
    assert_eq!(status, 200);
    assert!(f.store.peek("jobs-poison", 10).unwrap().is_empty());
}

#[tokio::test]
async fn workers_come_from_the_host() {
    let f = fixture(50);
    let (status, workers) = call(&f.dashboard, "GET", "/admin/api/workers").await;
    assert_eq!(status, 200);
    assert_eq!(workers, json!([{"slot": 0, "pid": 42, "live": true, "restarts": 1, "inFlight": 0}]));
}

/// Reads the feed until `wanted` appears in it, within a bounded wait.
async fn read_until(body: &mut fnwire_dashboard::DashboardBody, seen: &mut String, wanted: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(wanted) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("`{wanted}` never came on the feed; it said:\n{seen}"));
        let frame = frame.expect("the feed ended").unwrap();
        seen.push_str(&String::from_utf8_lossy(frame.data_ref().unwrap()));
    }
}

#[tokio::test]
async fn the_live_feed_sends_starts_logs_and_ends_and_closes_when_the_host_stops() {
    let f = fixture(50);
    let uri: http::Uri = "/admin/api/invocations/stream?function=hello".parse().unwrap();
    let response =
        f.dashboard.handle(&http::Method::GET, &uri, &http::HeaderMap::new(), bytes::Bytes::new()).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut seen = String::new();
    read_until(&mut body, &mut seen, ": open").await;
    let history = f.dashboard.history();
    run(history, "work", "other", "x", Outcome::Succeeded, Duration::from_millis(1));
    run(history, "hello", "mine", "x", Outcome::Succeeded, Duration::from_millis(1));
    history.add_log(&fnwire_observe::WorkerLog {
        invocation_id: "mine".into(),
        function: Some("hello".into()),
        worker_id: "w".into(),
        level: fnwire_observe::LogLevel::Information,
        user: true,
        message: "said hello".into(),
        at: std::time::SystemTime::now(),
    });
    read_until(&mut body, &mut seen, "said hello").await;
    assert!(seen.contains("event: started\ndata: {"), "{seen}");
    assert!(seen.contains("event: finished\ndata: {"), "{seen}");
    assert!(seen.contains("\"id\":\"mine\""), "{seen}");
    assert!(!seen.contains("\"other\""), "the feed filtered by function showed another function: {seen}");
    f.dashboard.close();
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(frame) = body.frame().await {
            frame.unwrap();
        }
    })
    .await;
    assert!(end.is_ok(), "the feed stayed open after the dashboard closed");
}

#[tokio::test]
async fn the_page_and_the_openapi_document_are_served() {
    let f = fixture(50);
    let uri: http::Uri = "/admin/ui".parse().unwrap();
    let response =
        f.dashboard.handle(&http::Method::GET, &uri, &http::HeaderMap::new(), bytes::Bytes::new()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    let page = response.into_body().collect().await.unwrap().to_bytes();
    let page = String::from_utf8(page.to_vec()).unwrap();
    assert!(page.contains("/admin/api/") && page.contains("EventSource"));
    assert!(
        !page.contains("https://") && !page.contains("http://"),
        "the page must load nothing from elsewhere"
    );

    let (status, doc) = call(&f.dashboard, "GET", "/admin/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    // Links (which a schema-driven tester follows from a list to one item) name operations that exist.
    let operations: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    let links: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .flat_map(|operation| operation["responses"].as_object().into_iter().flat_map(|r| r.values()))
        .flat_map(|response| response["links"].as_object().into_iter().flat_map(|l| l.values()))
        .map(|link| link["operationId"].as_str().unwrap())
        .collect();
    assert!(!links.is_empty());
    for target in links {
        assert!(operations.contains(&target), "a link names `{target}`, which no operation has");
    }
    // The API takes an empty query value as a value left out; the document must say so, or a
    // schema-driven tester rightly reports the empty value as accepted against the schema.
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/admin/api/invocations") && !path.starts_with("/admin/api/queues") {
            continue;
        }
        for parameter in item["get"]["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] == "query" {
                assert_eq!(parameter["allowEmptyValue"], true, "GET {path} query parameter {parameter}");
            }
        }
    }
    // Every documented GET without path parameters answers (the others are tested above).
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path.contains('{') || item.get("get").is_none() || path.ends_with("/stream") {
            continue;
        }
        let response = f
            .dashboard
            .handle(&http::Method::GET, &path.parse().unwrap(), &http::HeaderMap::new(), bytes::Bytes::new())
            .await;
        let documented = item["get"]["responses"].as_object().unwrap();
        let status = response.status().as_u16().to_string();
        assert!(documented.contains_key(&status), "GET {path} answered {status}, which is not documented");
    }
}
