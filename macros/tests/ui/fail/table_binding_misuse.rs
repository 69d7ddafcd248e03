use fnwire::{HttpRequest, HttpResponse, Json};
use fnwire::{http_trigger, table_input, table_output};
use serde_json::Value;

#[http_trigger]
#[table_input(name = "rows", partition_key = "p", take = "five")]
#[table_output(table_name = "Orders", partition = "p")]
pub fn lookup(req: HttpRequest, rows: Json<Vec<Value>>) -> HttpResponse {
    let _ = (req, rows);
    HttpResponse::ok()
}

fn main() {}
