"""The thumbnails app with fnwire's Python package: the same function as examples/thumbnails/rust.

Run it with `fnwire start examples/thumbnails/python`, drop a file into
`.fnwire/blobs/uploads/`, then `fnwire blob get thumbnails/<name>.json --app examples/thumbnails/python`
and `fnwire table query Thumbnails --app examples/thumbnails/python` (see ../README.md).
"""

import json
import logging

import fnwire

app = fnwire.App()

# How much of the upload the card previews.
PREVIEW_CHARS = 64
# The container the trigger watches: the table's PartitionKey.
CONTAINER = "uploads"


def row_key(name: str) -> str:
    """A file name as a table RowKey: Azure Tables refuses `/`, `\\`, `#` and `?` in keys, and a
    blob's name may hold them (`uploads/2024/cat.png` has the name `2024/cat.png`)."""
    for forbidden in "/\\#?":
        name = name.replace(forbidden, "_")
    return name


@app.blob_trigger(path="uploads/{name}")
@app.blob_output(name="card", path="thumbnails/{name}.json")
@app.table_output(name="row", table_name="Thumbnails")
@app.queue_output(name="done", queue="thumbnailed")
def thumbnail(upload: fnwire.Blob, card: fnwire.Out[str], row: fnwire.Out[str], done: fnwire.Out[str]) -> None:
    """Runs once per version of each blob in `uploads` (an overwrite runs it again). The host
    fills `{name}` in the output paths from the blob's own path."""
    name = upload.parameters.get("name", upload.name)
    preview = upload.get_text()[:PREVIEW_CHARS]
    card.set(
        json.dumps(
            {
                "blob": upload.path,
                "name": name,
                "bytes": upload.length,
                "contentType": upload.content_type,
                "etag": upload.etag,
                "lastModified": upload.last_modified,
                "preview": preview,
            }
        )
    )
    row.set(
        json.dumps(
            {
                "PartitionKey": CONTAINER,
                "RowKey": row_key(name),
                # `*` inserts or replaces: an overwritten upload updates its row. Without an ETag a
                # table output only inserts (as on Azure), and the second write of a name would fail.
                "ETag": "*",
                "Blob": upload.path,
                "Bytes": upload.length,
                "Thumbnail": f"thumbnails/{name}.json",
            }
        )
    )
    done.set(f"{upload.path} {upload.etag or ''}")
    logging.info("made a thumbnail card for %s (%d bytes)", upload.path, upload.length)
