use fnwire::{HttpRequest, HttpResponse, TimerInfo, http_trigger, queue_trigger, timer_trigger};

#[timer_trigger(schedule = "0 */5 * * * *")]
pub fn tick(req: HttpRequest) {
    let _ = req;
}

#[http_trigger(route = "todos")]
pub async fn todos(req: String) -> HttpResponse {
    let _ = req;
    HttpResponse::ok()
}

#[queue_trigger(queue = "jobs")]
pub fn work(msg: Option<TimerInfo>) {
    let _ = msg;
}

/// Still fine: a timer's JSON read as a value, a queue message as text.
#[timer_trigger(schedule = "0 */5 * * * *")]
pub fn tick_json(timer: serde_json::Value) {
    let _ = timer;
}

#[queue_trigger(queue = "jobs")]
pub fn work_text(msg: String) {
    let _ = msg;
}

fn main() {}
