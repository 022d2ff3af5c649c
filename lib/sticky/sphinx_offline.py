"""Sphinx extension: drop sphinx-thebe's scripts, the one part of Jupyter Book 1.x that names a CDN.

Jupyter Book always loads sphinx-thebe, which writes ``THEBE_JS_URL = "https://unpkg.com/..."`` into every
page so that a "launch" button could fetch it. This book has no such button and must not name remote
scripts at all, so the scripts are removed before each page is written.
"""

from sphinx.application import Sphinx


def _drop_thebe(app: Sphinx, pagename, templatename, context, doctree) -> None:
    def is_thebe(script) -> bool:
        return "thebe" in (script.filename or "") or "THEBE_JS_URL" in script.attributes.get("body", "")

    context["script_files"] = [s for s in context.get("script_files", []) if not is_thebe(s)]


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
