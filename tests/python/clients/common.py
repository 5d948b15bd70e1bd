"""What the Python client drivers share: the documents they store, their
settings (a local server only), and how they fail and report HTTP errors."""
import os
import sys
import uuid
from urllib.parse import urlsplit

# Six short documents on clearly different topics.
DOCS = {
    "pasta": "To cook pasta, bring a large pot of salted water to a rolling boil "
    "and cook the spaghetti for about ten minutes until al dente.",
    "orbits": "A satellite in low Earth orbit circles the planet roughly every "
    "ninety minutes; raising the orbit takes a prograde burn of its engine.",
    "tax": "Capital gains on shares held for more than a year are usually taxed "
    "at a lower rate than ordinary income under the tax code.",
    "tennis": "In tennis a player must win four points and lead by two to take a "
    "game, and win six games to take a set.",
    "volcanoes": "Volcanoes erupt when molten rock called magma rises through "
    "cracks in the crust and escapes as lava and ash.",
    "jazz": "Jazz musicians improvise melodies over chord changes, a tradition "
    "shaped by Louis Armstrong and Charlie Parker.",
}


def fail(name, message):
    sys.exit(f"{name}: FAIL: {message}")


def settings(name, namespace_prefix):
    """(base URL, key, project id, namespace) from the environment: a loopback
    base URL only, no proxy, and a fresh namespace unless ZERODB_NAMESPACE."""
    missing = [k for k in ("ZERODB_BASE_URL", "ZERODB_API_KEY", "ZERODB_PROJECT_ID")
               if not os.environ.get(k)]
    if missing:
        fail(name, f"set {', '.join(missing)} (a local server's base URL, key and project id)")
    base = os.environ["ZERODB_BASE_URL"]
    # The clients' default base URL is the hosted service: only a local server
    # may ever be named, so a typo cannot send test data out.
    if urlsplit(base).hostname not in ("127.0.0.1", "localhost", "::1"):
        fail(name, f"ZERODB_BASE_URL must be a loopback address, got {base!r}")
    # The edge is local; a proxy from the environment must not carry the calls.
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        os.environ.pop(k, None)
    namespace = os.environ.get("ZERODB_NAMESPACE") or f"{namespace_prefix}_{uuid.uuid4().hex[:12]}"
    return base, os.environ["ZERODB_API_KEY"], os.environ["ZERODB_PROJECT_ID"], namespace


def run(name, main):
    """Runs `main`, saying an HTTP failure of the client in one line."""
    import httpx  # the clients' HTTP library

    try:
        main()
    except httpx.HTTPStatusError as e:
        fail(name, f"{e.request.method} {e.request.url.path} answered {e.response.status_code}: "
                   f"{e.response.text[:500]}")
    except httpx.HTTPError as e:
        fail(name, f"{e.request.method} {e.request.url} failed: {e!r}")
