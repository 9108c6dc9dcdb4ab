"""What the HTML pages share: security headers, the static files, and the page shells.

Pages are static shells (no data, no key needed); their scripts read the key a person typed into the
key dialog from ``sessionStorage`` (gone when the tab closes) and send it as ``Authorization: Bearer``
to the ``/v1`` JSON endpoints, which check it. Nothing is loaded from another origin, so the pages work
offline, and the Content-Security-Policy forbids anything else.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
    " object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


def static_file(path: str) -> Path | None:
    """The file under ``static/`` that ``path`` names, or None (no escaping the folder, no directories)."""
    root = STATIC_DIR.resolve()
    candidate = (root / path).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def shell(*, title: str, page: str, script: str, body: str = "") -> str:
    """An HTML page shell; ``page`` names the nav entry that is current, ``script`` the page's module."""
    current = ' aria-current="page"'
    nav = "".join(
        f'<a href="{href}"{current if name == page else ""}>{label}</a>'
        for name, href, label in (("center", "/", "Command center"), ("history", "/history", "History"),
                                  ("status", "/status", "Public status"))
    )
    charts = '<script src="/static/vendor/chart.umd.min.js" defer></script>' if page in {"center", "history"} else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{title} · triage</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/css/triage.css">
{charts}
<script src="/static/js/common.js" defer></script>
<script src="/static/js/{script}" defer></script>
</head>
<body class="app" data-page="{page}">
<a class="skip" href="#main">Skip to content</a>
<header class="app-head">
<span class="brand">triage</span>
<nav aria-label="Pages">{nav}</nav>
<span class="live" id="live" role="status" aria-live="polite"></span>
<button type="button" class="link" id="sign-out" hidden>Forget key</button>
</header>
<dialog id="key-dialog" aria-labelledby="key-title">
<form method="dialog" id="key-form">
<h2 id="key-title">API key</h2>
<p>These pages show internal data. Enter an API key with a role that may read incidents (analyst, engineer,
approver or admin). It is kept in this tab only and sent with each request.</p>
<label for="key-input">Key</label>
<input id="key-input" name="key" type="password" autocomplete="off" spellcheck="false" required
 pattern="trg_[A-Za-z0-9]+_[A-Za-z0-9-]+">
<p class="error" id="key-error" role="alert"></p>
<div class="actions"><button type="submit" id="key-submit">Use key</button></div>
</form>
</dialog>
<main id="main" tabindex="-1">{body}</main>
</body>
</html>
"""
