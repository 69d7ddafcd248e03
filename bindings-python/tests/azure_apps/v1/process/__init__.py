import json


def main(job: str) -> str:
    data = json.loads(job)
    return f"done {data['jobId']}: {data['task'].upper()}"
