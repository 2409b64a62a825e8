"""How a chapter is laid out, read from its MyST source: main path, "Going further", takeaways.

Every chapter opens with what its source is and a box of this build's findings, follows the
source on its main path, keeps what goes beyond the source under one ``## Going further``
heading, and ends with ``## Key takeaways``. ``prose_words`` counts the words a reader reads in
each part (code cells, code blocks and directive options left out), which gives the reading
times the landing page shows (``{reading-time}``, ``fwcompare.sphinxext``) and the word counts
of the issue notes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

GOING_FURTHER = "Going further"
TAKEAWAYS = "Key takeaways"
WORDS_PER_MINUTE = 200  # myst-parser's default reading speed, and a common estimate for prose
# Fences whose body is code, not prose (a language name, or a directive that shows code).
CODE_DIRECTIVES = {"code-cell", "literalinclude", "code-block", "code", "sourcecode", "glue:figure",
                   "math", "mermaid", "graphviz"}
FENCE = re.compile(r"^\s*(`{3,}|:{3,})\s*(\S*)")
WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*")


@dataclass(frozen=True)
class WordCount:
    main: int  # title, introduction, findings box and the source's path
    going_further: int
    takeaways: int

    def minutes(self, part: str = "main") -> int:
        """Reading time of ``main`` (with the takeaways) or ``going_further``, whole minutes, at least 1."""
        if part not in ("main", "going_further"):
            raise ValueError(f"part must be 'main' or 'going_further', got {part!r}")
        words = self.main + self.takeaways if part == "main" else self.going_further
        return max(1, math.ceil(words / WORDS_PER_MINUTE)) if words else 0


def _is_code_fence(info: str) -> bool:
    if info.startswith("{"):
        return info.strip("{}").split("}")[0] in CODE_DIRECTIVES
    return bool(info)  # ```python, ```text, ...: a code block


def prose_lines(text: str) -> list[str]:
    """The lines of ``text`` a reader reads as prose: outside code fences, front matter, comments
    and directive options (nested fences of MyST tab-sets and admonitions are followed)."""
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":  # YAML front matter (jupytext header)
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), 0)
        lines = lines[end + 1:]
    prose, open_fences = [], []  # stack of (fence marker, is code)
    for line in lines:
        fence = FENCE.match(line)
        if fence and open_fences and not fence.group(2) and fence.group(1).startswith(open_fences[-1][0]):
            open_fences.pop()
            continue
        in_code = any(is_code for _, is_code in open_fences)
        if fence and not in_code and fence.group(2):
            open_fences.append((fence.group(1), _is_code_fence(fence.group(2))))
            continue
        stripped = line.strip()
        if in_code or re.match(r"^:[\w-]+:", stripped) or stripped.startswith(("%", "<!--", "+++")):
            continue
        prose.append(line)
    return prose


def _heading(line: str) -> str | None:
    match = re.match(r"^## +(.+?)\s*(\{#[^}]*\})?\s*$", line)
    return match.group(1) if match else None


def prose_words(source: str | Path) -> WordCount:
    """Prose words of a chapter (its text, or the path of its ``.md``) in each of its three parts."""
    text = Path(source).read_text() if isinstance(source, Path) else source
    counts = {"main": 0, "going_further": 0, "takeaways": 0}
    part = "main"
    for line in prose_lines(text):
        title = _heading(line)
        if title is not None:
            if title.startswith(GOING_FURTHER):
                part = "going_further"
            elif title == TAKEAWAYS:
                part = "takeaways"
            elif part == "takeaways":
                raise ValueError(f"the section {title!r} comes after '## {TAKEAWAYS}', which must be last")
        counts[part] += len(WORD.findall(re.sub(r"\{[\w:-]+\}`[^`]*`|\(http[^)]*\)", " x ", line)))
    return WordCount(**counts)
