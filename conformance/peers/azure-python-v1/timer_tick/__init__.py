# function.json names no scriptFile: the host picks this file, the folder's only one.
import logging

import azure.functions as func


def main(timer: func.TimerRequest) -> None:
    logging.info("timer_tick isPastDue=%s", "true" if timer.past_due else "false")
