"""The thumbnails app with fnwire's Python package: the same function as examples/thumbnails/rust.

Run it with `fnwire start examples/thumbnails/python`, drop a file into
`.fnwire/blobs/uploads/`, then `fnwire blob get thumbnails/<name>.json --app examples/thumbnails/python`
(see ../README.md).
"""

import json
import logging

import fnwire

app = fnwire.App()

# How much of the upload the card previews.
PREVIEW_CHARS = 64


@app.blob_trigger(path="uploads/{name}")
@app.blob_output(name="card", path="thumbnails/{name}.json")
@app.queue_output(name="done", queue="thumbnailed")
def thumbnail(upload: bytes, card: fnwire.Out[str], done: fnwire.Out[str]) -> None:
    """Runs once per version of each blob in `uploads` (an overwrite runs it again). The host
    fills `{name}` in the output paths from the blob's own path."""
    preview = upload.decode("utf-8", errors="replace")[:PREVIEW_CHARS]
    card.set(json.dumps({"bytes": len(upload), "preview": preview}))
    done.set(f"{len(upload)} bytes")
    logging.info("made a thumbnail card (%d bytes)", len(upload))
