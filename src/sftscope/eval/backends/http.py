"""POST a JSON body to an OpenAI-compatible server, with retries: the one HTTP client of the eval layer.

Used by the `openai` generation backend (chat completions) and the TruthfulQA judges (completions). Only the
standard library (urllib), no `openai` package. A failed request (connection refused, timeout, HTTP 408/409/
429/5xx, a reply that is not JSON) is retried with exponential backoff; after the last try the call fails with
an InputError naming the URL and `fix`, so a sweep stops with a clear message instead of storing empty answers.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any

from sftscope.errors import InputError

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


def post_json(
    url: str,
    body: dict[str, Any],
    *,
    api_key: str,
    timeout: float,
    retries: int,
    backoff: float,
    fix: str = "check --base-url and that the server is running",
) -> dict[str, Any]:
    data = json.dumps(body).encode("utf-8")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"}
    last = ""
    for attempt in range(retries):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:200]
            if exc.code not in RETRY_STATUS:
                raise InputError(
                    f"{url}: HTTP {exc.code} ({detail}); check the model name and request"
                ) from None
            last = f"HTTP {exc.code} {detail}"
        except (
            urllib.error.URLError,
            TimeoutError,
            ConnectionError,
            OSError,
            http.client.HTTPException,
        ) as exc:
            last = str(getattr(exc, "reason", exc)) or type(exc).__name__
        except json.JSONDecodeError as exc:
            last = f"reply is not JSON ({exc.msg})"
        except UnicodeDecodeError:
            last = "reply is not UTF-8"
        except ValueError as exc:  # a URL that urllib cannot even send to (bad port, bad host)
            raise InputError(f"{url}: not a usable server URL ({exc}); check --base-url") from None
    raise InputError(f"{url}: server unreachable after {retries} tries ({last}); {fix}")
