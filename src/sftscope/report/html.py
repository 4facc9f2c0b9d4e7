"""The self-contained HTML report: inline CSS, figures as base64 PNG data URIs, no script, no network."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

import yaml

from sftscope.report.document import Document

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1180px;
       padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
.meta { color: #666; font-size: .85rem; }
.verdict { background: #f4f7fb; border-left: 4px solid #1f77b4; padding: .6rem 1rem; }
.verdict li { margin: .25rem 0; }
table { border-collapse: collapse; font-size: .8rem; margin: .6rem 0; }
th, td { border: 1px solid #ddd; padding: .25rem .45rem; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; }
img { max-width: 100%; height: auto; display: block; margin: .5rem 0; }
.scroll { overflow-x: auto; }
pre { background: #f7f7f7; padding: .6rem; font-size: .8rem; overflow-x: auto; }
"""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def image(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{esc(alt)}">'


def render_html(doc: Document) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(doc.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(doc.title)}</h1>",
        f'<p class="meta">{esc(doc.meta_line)}</p>',
    ]
    for section in doc.sections:
        parts.append(f"<h2>{esc(section.title)}</h2>")
        if section.bullets:
            cls = ' class="verdict"' if section.key == "verdict" else ""
            parts.append(f"<ul{cls}>" + "".join(f"<li>{esc(b)}</li>" for b in section.bullets) + "</ul>")
        for paragraph in section.paragraphs:
            parts.append(f"<p>{esc(paragraph)}</p>")
        for name in section.figures:
            parts.append(image(doc.figures[name], f"{section.title}: {name}"))
        for header, rows in section.tables:
            parts.append(table(header, rows))
        if section.data is not None:
            dumped = yaml.safe_dump(section.data, sort_keys=True, default_flow_style=False)
            parts.append(f"<details><summary>show</summary><pre>{esc(dumped)}</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
