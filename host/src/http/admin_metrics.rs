//! `GET /admin/metrics`: the host's Prometheus metrics ([`fnwire_telemetry::metrics`]), behind the
//! master key like `/admin/host/status`. Queue depths are read from the app's store at each scrape.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use fnwire_storage::QueueStore;
use fnwire_telemetry::metrics::{CONTENT_TYPE, Metrics, QueueDepth};
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::Full;

use crate::keys::{AuthLevel, Keys, presented_key};

pub const METRICS_PATH: &str = "/admin/metrics";

/// What the route needs once the app has started.
#[derive(Debug, Clone)]
pub struct MetricsSource {
    pub metrics: Arc<Metrics>,
    pub keys: Arc<Keys>,
    pub store: Arc<dyn QueueStore>,
}

/// The route's state: empty until the app has started (it then answers 503).
#[derive(Debug, Default)]
pub struct AdminMetrics(OnceLock<MetricsSource>);

type Response = http::Response<Full<Bytes>>;

impl AdminMetrics {
    pub fn set(&self, source: MetricsSource) {
        let _ = self.0.set(source);
    }

    /// The answer, or `None` when the path is not `/admin/metrics`.
    pub async fn answer(
        &self,
        method: &Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
    ) -> Option<Response> {
        if uri.path() != METRICS_PATH {
            return None;
        }
        if method != Method::GET && method != Method::HEAD {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "/admin/metrics accepts GET");
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
            return Some(response);
        }
        let Some(source) = self.0.get() else {
            return Some(plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the host is still starting; try again shortly",
            ));
        };
        if !source.keys.allows(AuthLevel::Admin, presented_key(headers, uri).as_deref()) {
            return Some(plain(
                StatusCode::UNAUTHORIZED,
                "/admin/metrics needs the master key in the x-functions-key header or the code query parameter \
                 (`fnwire keys` prints it)",
            ));
        }
        let store = source.store.clone();
        // The store may wait on its lock or the database: off the runtime's threads.
        let queues = tokio::task::spawn_blocking(move || store.list_queues()).await;
        let queues = match queues {
            Ok(Ok(queues)) => queues
                .into_iter()
                .map(|q| QueueDepth {
                    queue: q.name,
                    visible: q.visible,
                    invisible: q.invisible,
                    oldest_age: q.oldest_age,
                })
                .collect(),
            Ok(Err(e)) => {
                // The other metrics still answer; the queue gauges are left out of this scrape.
                tracing::warn!("/admin/metrics could not read the queues from the app's store: {e}");
                Vec::new()
            }
            Err(e) => {
                tracing::warn!("/admin/metrics: reading the queues stopped: {e}");
                Vec::new()
            }
        };
        let mut response = http::Response::new(Full::new(Bytes::from(source.metrics.render(&queues))));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Some(response)
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = http::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
