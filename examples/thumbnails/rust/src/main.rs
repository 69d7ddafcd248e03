//! The thumbnails app: a blob trigger on `uploads/{name}`. For each new or changed upload it
//! writes a small "thumbnail" card, `thumbnails/{name}.json` (the upload's size, content type,
//! version and a short text preview), records the upload in table `Thumbnails` (one row per
//! file: its size and where its card is), and announces it on queue `thumbnailed`. See README.md.

use fnwire::{Blob, Out, blob_output, blob_trigger, queue_output, table_output};
use serde_json::{Value, json};

/// How much of the upload the card previews.
const PREVIEW_CHARS: usize = 64;
/// The container the trigger watches: the table's `PartitionKey`.
const CONTAINER: &str = "uploads";

/// A file name as a table `RowKey`: Azure Tables refuses `/`, `\`, `#` and `?` in keys, and a
/// blob's name may hold them (`uploads/2024/cat.png` has the name `2024/cat.png`), so each
/// becomes `_`.
pub fn row_key(name: &str) -> String {
    name.replace(['/', '\\', '#', '?'], "_")
}

/// Runs once per version of each blob in `uploads` (an overwrite runs it again).
#[blob_trigger(path = "uploads/{name}")]
#[blob_output(name = "card", path = "thumbnails/{name}.json")]
#[table_output(name = "row", table_name = "Thumbnails")]
#[queue_output(name = "done", queue = "thumbnailed")]
pub fn thumbnail(upload: Blob, card: Out<String>, row: Out<Value>, done: Out<String>) {
    let name = upload.parameters.get("name").cloned().unwrap_or_default();
    let preview: String = upload.text().chars().take(PREVIEW_CHARS).collect();
    let summary = serde_json::json!({
        "blob": upload.path,
        "name": name,
        "bytes": upload.content.len(),
        "contentType": upload.content_type,
        "etag": upload.etag,
        "lastModified": upload.last_modified,
        "preview": preview,
    });
    tracing::info!(blob = %upload.path, bytes = upload.content.len(), "made a thumbnail card");
    card.set(summary.to_string());
    row.set(json!({
        "PartitionKey": CONTAINER,
        "RowKey": row_key(&name),
        // `*` inserts or replaces: an overwritten upload updates its row. Without an ETag a
        // table output only inserts (as on Azure), and the second write of a name would fail.
        "ETag": "*",
        "Blob": upload.path,
        "Bytes": upload.content.len(),
        "Thumbnail": format!("thumbnails/{name}.json"),
    }));
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
        let (card, row, done) = (Out::detached("card"), Out::detached("row"), Out::detached("done"));
        thumbnail(upload, card.clone(), row.clone(), done.clone());
        let text = |out: &Out<String>| match out.get().unwrap().unwrap().data {
            Some(fnwire::protocol::rpc::typed_data::Data::String(s)) => s,
            other => panic!("expected text, got {other:?}"),
        };
        let card: serde_json::Value = serde_json::from_str(&text(&card)).unwrap();
        assert_eq!(card["bytes"], 16);
        assert_eq!(card["name"], "notes.txt");
        assert_eq!(card["preview"], "hello thumbnails");
        assert_eq!(text(&done), "uploads/notes.txt 0x1");
        let row = match row.get().unwrap().unwrap().data {
            Some(fnwire::protocol::rpc::typed_data::Data::Json(s)) => {
                serde_json::from_str::<Value>(&s).unwrap()
            }
            other => panic!("expected JSON, got {other:?}"),
        };
        assert_eq!(
            row,
            json!({"PartitionKey": "uploads", "RowKey": "notes.txt", "ETag": "*", "Blob": "uploads/notes.txt", "Bytes": 16,
                   "Thumbnail": "thumbnails/notes.txt.json"})
        );
    }

    #[test]
    fn a_nested_name_makes_a_row_key_azure_tables_accepts() {
        assert_eq!(row_key("2024/cat#1?.png"), "2024_cat_1_.png");
        assert_eq!(row_key("plain.txt"), "plain.txt");
    }
}
