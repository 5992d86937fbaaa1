"""A stand-in agent: sends the planned requests through the base URLs it was given.

Usage: ``python agent.py PLAN.json OUT.json``. Each plan entry names a
provider, a path, a JSON body and headers; the result file records status,
headers and the exact body bytes received (hex), even for a cut-off stream.
The script exits with the plan's ``exit_code``.
"""

import json
import os
import sys

import httpx

BASE_URLS = {
    "anthropic": "ANTHROPIC_BASE_URL",
    "openai": "OPENAI_BASE_URL",
    "gemini": "GOOGLE_GEMINI_BASE_URL",
}


def send(client: httpx.Client, step: dict) -> dict:
    url = os.environ[BASE_URLS[step["provider"]]] + step["path"]
    result: dict = {
        "name": step["name"],
        "status": None,
        "headers": {},
        "body": "",
        "error": "",
    }
    received = b""
    try:
        with client.stream(
            "POST", url, json=step["body"], headers=step["headers"]
        ) as response:
            result["status"] = response.status_code
            result["headers"] = dict(response.headers)
            for piece in response.iter_bytes():
                received += piece
    except httpx.HTTPError as exc:
        result["error"] = type(exc).__name__
    result["body"] = received.hex()
    return result


def main() -> None:
    plan = json.loads(open(sys.argv[1]).read())
    with httpx.Client(timeout=20) as client:
        results = [send(client, step) for step in plan["steps"]]
    with open(sys.argv[2], "w") as out:
        json.dump(
            {
                "results": results,
                "env": {k: os.environ.get(k, "") for k in BASE_URLS.values()},
            },
            out,
        )
    sys.exit(plan["exit_code"])


if __name__ == "__main__":
    main()
