"""The markdown report (`report.md`): the same document as the HTML, figures linked as PNG files."""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from sftscope.report.document import Document


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(doc: Document, figure_paths: dict[str, str]) -> str:
    """`figure_paths` maps a figure name to its path relative to the markdown file."""
    parts = [f"# {doc.title}", "", f"_{doc.meta_line}_", ""]
    for section in doc.sections:
        parts += [f"## {section.title}", ""]
        if section.bullets:
            parts += [f"- {b}" for b in section.bullets] + [""]
        for paragraph in section.paragraphs:
            parts += [paragraph, ""]
        for name in section.figures:
            if name in figure_paths:
                parts += [f"![{section.title}: {name}]({figure_paths[name]})", ""]
        for header, rows in section.tables:
            parts += [md_table(header, rows), ""]
        if section.data is not None:
            dumped = yaml.safe_dump(section.data, sort_keys=True, default_flow_style=False)
            parts += ["```yaml", dumped.rstrip(), "```", ""]
    return "\n".join(parts)
