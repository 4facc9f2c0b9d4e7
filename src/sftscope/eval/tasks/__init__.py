"""Built-in benchmarks, one module each. Importing this package registers them (one line per module)."""

from sftscope.eval.tasks import (
    aime24,  # noqa: F401
    aime25,  # noqa: F401
    countdown,  # noqa: F401
    gpqa,  # noqa: F401
    hexphi,  # noqa: F401
    humaneval,  # noqa: F401
    ifeval,  # noqa: F401
    livecodebench,  # noqa: F401
    math500,  # noqa: F401
    mmlu_pro,  # noqa: F401
    procedural,  # noqa: F401
)
