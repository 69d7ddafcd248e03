"""Queue functions. `fnwire start --watch`, then `curl -d hello localhost:7071/api/enqueue`
(or `fnwire queue put jobs hello`) and `fnwire queue peek done`."""

import logging

import fnwire

app = fnwire.App()


@app.http_trigger(route="enqueue", methods=["POST"], auth_level="anonymous")
@app.queue_output(name="job", queue="jobs")
def enqueue(req: fnwire.HttpRequest, job: fnwire.Out[str]) -> fnwire.HttpResponse:
    """Puts the request body on queue `jobs`, where `work` picks it up."""
    text = req.get_body().decode()
    if not text:
        return fnwire.HttpResponse("enqueue expects a body: the text of the job", status_code=400)
    job.set(text)
    return fnwire.HttpResponse("queued on jobs\n", status_code=202)


@app.queue_trigger(queue="jobs")
@app.queue_output(name="done", queue="done")
def work(job: fnwire.QueueMessage, done: fnwire.Out[str]) -> None:
    """Upper-cases each message on `jobs` and puts the result on queue `done`."""
    text = job.get_text()
    logging.info("working on %s (id=%s)", text, job.id)
    done.set(text.upper())
