import logging

import azure.functions as func

from ..shared_code.contract import text


def main(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("conformance log: information")
    logging.warning("conformance log: warning")
    logging.error("conformance log: error")
    return text("logged")
