"""The results store's schema: append-only migrations (never edit one that has shipped; add a new one).

`MIGRATIONS[i]` takes the schema from version i to i + 1; `store.db.Store` runs the missing ones, statement
by statement, inside one transaction.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        run TEXT PRIMARY KEY,
        config TEXT NOT NULL,              -- resolved config, JSON
        package_version TEXT NOT NULL,
        task_versions TEXT NOT NULL,       -- {task: version}, JSON
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE checkpoints (
        run TEXT NOT NULL,
        checkpoint TEXT NOT NULL,
        step INTEGER NOT NULL,
        path TEXT NOT NULL,
        PRIMARY KEY (run, checkpoint)
    );
    CREATE TABLE tasks (
        task TEXT NOT NULL,
        task_version TEXT NOT NULL,
        domain TEXT NOT NULL,
        n_samples INTEGER NOT NULL,
        metric TEXT NOT NULL,
        sampling TEXT NOT NULL,            -- default SamplingParams, JSON
        PRIMARY KEY (task, task_version)
    );
    CREATE TABLE samples (
        run TEXT NOT NULL,
        checkpoint TEXT NOT NULL,
        step INTEGER NOT NULL,
        task TEXT NOT NULL,
        task_version TEXT NOT NULL,
        domain TEXT NOT NULL,
        example_id TEXT NOT NULL,
        sample_idx INTEGER NOT NULL,
        prompt_hash TEXT NOT NULL,
        prompt TEXT NOT NULL,
        gold TEXT,
        completion TEXT NOT NULL,
        extracted TEXT,
        correct INTEGER NOT NULL,
        score REAL NOT NULL,
        n_tokens INTEGER NOT NULL,
        finish_reason TEXT NOT NULL,
        sampling TEXT NOT NULL,            -- the SamplingParams used, JSON
        error TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (run, checkpoint, task, task_version, example_id, sample_idx)
    );
    CREATE INDEX samples_by_task ON samples (task, run, checkpoint);
    """,
    # 2: the protocol joins the key (paper and strict samples never mix); provenance columns; the model's
    # identity per checkpoint; the unused tasks table goes (every sample carries its metric and sampling).
    """
    CREATE TABLE samples_v2 (
        run TEXT NOT NULL,
        checkpoint TEXT NOT NULL,
        step INTEGER NOT NULL,
        task TEXT NOT NULL,
        task_version TEXT NOT NULL,
        protocol TEXT NOT NULL,
        domain TEXT NOT NULL,
        metric TEXT NOT NULL,
        example_id TEXT NOT NULL,
        sample_idx INTEGER NOT NULL,
        prompt_hash TEXT NOT NULL,
        prompt TEXT NOT NULL,
        gold TEXT,
        completion TEXT NOT NULL,
        extracted TEXT,
        correct INTEGER NOT NULL,
        score REAL NOT NULL,
        details TEXT,                      -- Verdict.details, JSON
        n_tokens INTEGER NOT NULL,
        finish_reason TEXT NOT NULL,
        sampling TEXT NOT NULL,            -- the SamplingParams used, JSON
        scorer TEXT NOT NULL,              -- what scored it (rules, sandbox mode), JSON
        model_id TEXT NOT NULL,            -- the model's identity when it was generated
        error TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (run, checkpoint, task, task_version, protocol, example_id, sample_idx)
    );
    INSERT INTO samples_v2 SELECT run, checkpoint, step, task, task_version, 'strict', domain,
        CASE task WHEN 'hexphi' THEN 'refusal_proxy' WHEN 'ifeval' THEN 'ifeval' ELSE 'accuracy' END,
        example_id, sample_idx, prompt_hash, prompt, gold, completion, extracted, correct, score, NULL,
        n_tokens, finish_reason, sampling, '{}', '', error, created_at FROM samples;
    DROP TABLE samples;
    ALTER TABLE samples_v2 RENAME TO samples;
    CREATE INDEX samples_by_checkpoint ON samples (run, checkpoint, task);
    ALTER TABLE checkpoints ADD COLUMN model_id TEXT NOT NULL DEFAULT '';
    DROP TABLE tasks;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
TABLES = ("runs", "checkpoints", "samples", "schema_version")


def statements(script: str) -> list[str]:
    """A migration's statements, one by one (executescript would commit the surrounding transaction)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [s for s in statements if s.strip(" ;\n")]
