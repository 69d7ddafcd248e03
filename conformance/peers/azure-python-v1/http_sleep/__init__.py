import asyncio

import azure.functions as func

from ..shared_code.contract import SLEEP_MAX_MS, text


async def main(req: func.HttpRequest) -> func.HttpResponse:
    raw = req.params.get("ms")
    if raw is None or not (raw.isascii() and raw.isdigit()) or int(raw) > SLEEP_MAX_MS:
        return text("invalid ms", 400)
    ms = int(raw)
    await asyncio.sleep(ms / 1000)
    return text(f"slept {ms}")
