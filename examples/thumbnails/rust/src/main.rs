//! The thumbnails app: a blob trigger on `uploads/{name}`. For each new or changed upload it
//! writes a small "thumbnail" card, `thumbnails/{name}.json` (the upload's size, content type,
//! version and a short text preview), and announces it on queue `thumbnailed`. See README.md.

use fnwire::{Blob, Out, blob_output, blob_trigger, queue_output};

/// How much of the upload the card previews.
const PREVIEW_CHARS: usize = 64;

/// Runs once per version of each blob in `uploads` (an overwrite runs it again).
#[blob_trigger(path = "uploads/{name}")]
#[blob_output(name = "card", path = "thumbnails/{name}.json")]
#[queue_output(name = "done", queue = "thumbnailed")]
pub fn thumbnail(upload: Blob, card: Out<String>, done: Out<String>) {
    let preview: String = upload.text().chars().take(PREVIEW_CHARS).collect();
    let summary = serde_json::json!({
        "blob": upload.path,
        "name": upload.parameters.get("name"),
        "bytes": upload.content.len(),
        "contentType": upload.content_type,
        "etag": upload.etag,
        "lastModified": upload.last_modified,
        "preview": preview,
    });
    tracing::info!(blob = %upload.path, bytes = upload.content.len(), "made a thumbnail card");
    card.set(summary.to_string());
    done.set(format!("{} {}", upload.path, upload.etag.unwrap_or_default()));
}

fn main() -> std::process::ExitCode {
    fnwire::run()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The annotated function stays a plain Rust function.
    #[test]
    fn the_card_describes_the_upload() {
        let mut upload = Blob::new("uploads/notes.txt", "hello thumbnails");
        upload.parameters.insert("name".into(), "notes.txt".into());
        upload.etag = Some("0x1".into());
        let (card, done) = (Out::detached("card"), Out::detached("done"));
        thumbnail(upload, card.clone(), done.clone());
        let text = |out: &Out<String>| match out.get().unwrap().unwrap().data {
            Some(fnwire::protocol::rpc::typed_data::Data::String(s)) => s,
            other => panic!("expected text, got {other:?}"),
        };
        let card: serde_json::Value = serde_json::from_str(&text(&card)).unwrap();
        assert_eq!(card["bytes"], 16);
        assert_eq!(card["name"], "notes.txt");
        assert_eq!(card["preview"], "hello thumbnails");
        assert_eq!(text(&done), "uploads/notes.txt 0x1");
    }
}
