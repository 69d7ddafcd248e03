"""An Azure Functions app (Python v2 model) with a blob trigger, unchanged: `func.InputStream`
with the blob's name, length and URI, and `{name}` from the trigger path in an output path."""

import logging

import azure.functions as func

app = func.FunctionApp()


@app.blob_trigger(arg_name="upload", path="uploads/{name}", connection="AzureWebJobsStorage")
@app.blob_output(arg_name="summary", path="summaries/{name}", connection="AzureWebJobsStorage")
def summarize(upload: func.InputStream, summary: func.Out[str]) -> None:
    logging.info("Python blob trigger function processed blob Name: %s Blob Size: %s bytes", upload.name, upload.length)
    summary.set(f"{upload.name} {upload.length} {upload.read().decode()} {upload.uri.split(':', 1)[0]}")
