//! A durable orchestration. `fnwire start --watch`, then
//! `curl -X POST -d '"Tokyo"' localhost:7071/api/orchestrators/hello_cities` and open the
//! `statusQueryGetUri` it answers with.

use fnwire::durable::{DurableClient, OrchestrationContext, TaskError};
use fnwire::http::StatusCode;
use fnwire::{HttpRequest, HttpResponse, activity_trigger, durable_client_input, http_trigger, orchestration_trigger};

/// Starts orchestrator `name` with the request body (a JSON string) as input and answers 202
/// with the URLs that follow it.
#[http_trigger(route = "orchestrators/{name}", methods = "post", auth_level = "anonymous")]
#[durable_client_input(name = "client")]
pub async fn http_start(req: HttpRequest, client: DurableClient) -> HttpResponse {
    let name = req.param("name").unwrap_or_default().to_string();
    let city = req.text().trim().trim_matches('"').to_string();
    let city = if city.is_empty() { "Seattle".to_string() } else { city };
    match client.start_new(&name, None, city).await {
        Ok(id) => client.create_check_status_response(&req, &id),
        Err(e) => HttpResponse::new(e.status().unwrap_or(StatusCode::BAD_GATEWAY)).with_text(e.to_string()),
    }
}

/// Says hello three times, one activity after the other.
#[orchestration_trigger]
pub async fn hello_cities(ctx: OrchestrationContext) -> Result<Vec<String>, TaskError> {
    let city: String = ctx.input()?;
    let mut greetings = Vec::new();
    for place in [city.as_str(), "London", "Lima"] {
        greetings.push(ctx.call_activity::<String>("say_hello", place).await?);
    }
    Ok(greetings)
}

#[activity_trigger]
pub fn say_hello(name: String) -> Result<String, fnwire::Error> {
    Ok(format!("Hello {name}!"))
}

fn main() -> std::process::ExitCode {
    fnwire::run()
}
