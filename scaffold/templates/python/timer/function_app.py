"""A timer function. `fnwire start --watch` and watch the log: `tick` runs every five seconds."""

import logging

import fnwire

app = fnwire.App()


@app.timer_trigger(schedule="*/5 * * * * *")
def tick(timer: fnwire.TimerInfo) -> None:
    """Runs on the schedule (NCRONTAB, with seconds): every five seconds."""
    logging.info("tick past_due=%s", str(timer.past_due).lower())
