"""More seeds for what the verdict names, so a difference it reports can be told from a seed's.

After the search, the networks the verdict names (the one it takes, the most accurate, the best
within each parameter budget) and the baselines are trained again with ``confirm_seeds`` more
seeds, each from the same start as in the search (inherited from the parent, or from scratch),
as required trials of the study: claimed by the same job processes, resumed like the rest. The
take is always confirmed; the others in that order while their cost, estimated from each
network's own training seconds, stays within ``CONFIRM_SHARE`` of the search's training time.
"""

from __future__ import annotations

from ranksearch.baselines import required_networks
from ranksearch.config import SearchConfig
from ranksearch.records import Required
from ranksearch.results import Tables
from ranksearch.verdict_parts import Verdict

CONFIRM_SHARE = 0.25


def named_keys(v: Verdict, tables: Tables) -> list[str]:
    """The keys the verdict names, most important first, each once; then the other baselines by size."""
    keys = [c.key for c in (v.take, v.most_accurate) if c is not None]
    for b in v.budgets:
        keys += [c.key for c in (b.best, b.best_candidate) if c is not None]
    keys += [c.key for c in v.options if c.role == "baseline"]
    keys += [b.key for b in sorted(tables.baselines, key=lambda b: b.trainable_params)]
    return [k for i, k in enumerate(keys) if k not in keys[:i] and k != "parent"]


def confirmations(v: Verdict, tables: Tables, cfg: SearchConfig, template) -> list[Required]:
    """The confirmation trials to queue: every named network within the cost share, the take always."""
    if cfg.confirm_seeds < 1 or v.take is None:
        return []
    rows = {r.key: r for r in tables.references + tables.candidates}
    inherits = {f"baseline {r.name}": r.inherits for r in required_networks(cfg, template) if r.kind == "baseline"}
    allowed, spent, chosen = CONFIRM_SHARE * tables.search_seconds, tables.confirmation_seconds, []
    for key in named_keys(v, tables):
        row = rows.get(key)
        if row is None or row.val_accuracy is None or row.seeds:
            continue
        cost = row.seconds * cfg.confirm_seeds
        if (chosen or key != v.take.key) and spent + cost > allowed:
            continue
        spent += cost
        chosen.append(key)
    out = []
    for key in chosen:
        inherit = inherits.get(key, False) if key.startswith("baseline ") else cfg.start == "parent"
        for i in range(1, cfg.confirm_seeds + 1):
            seed = cfg.seed + i
            out.append(Required("confirm", f"{key} seed {seed}", {}, inherit, False, key, seed))
    return out
