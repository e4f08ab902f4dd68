"""The one Jinja2 environment of the renderers: packaged templates, autoescaping on.

Every HTML page or fragment the package writes (the report, the notebook pages, the panel's
table) goes through here, so every user string (model names, paths, errors) arrives as text.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def environment() -> Any:
    """The shared environment: templates from ``workbench/render/templates``, strict, escaped."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("workbench.render", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True)  # a written file ends with a newline


def render(template: str, **data: Any) -> str:
    """Render one packaged template with plain data."""
    return environment().get_template(template).render(**data)
