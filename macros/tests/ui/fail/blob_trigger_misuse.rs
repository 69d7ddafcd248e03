use fnwire::{Blob, HttpRequest, blob_trigger};

// A path pattern whose parameter is not closed.
#[blob_trigger(path = "uploads/{name")]
pub fn unclosed(blob: Blob) {
    let _ = blob;
}

// A source fnwire does not know.
#[blob_trigger(path = "uploads/{name}", source = "Webhook")]
pub fn unknown_source(blob: Blob) {
    let _ = blob;
}

// A blob trigger sends data, not an HTTP request.
#[blob_trigger(path = "uploads/{name}")]
pub fn wrong_parameter(req: HttpRequest) {
    let _ = req;
}

fn main() {}
