"""Open a finished or running search from its run folder (config.json) or a storage URL and name."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import optuna

from ranksearch.config import SearchConfig, read_json
from ranksearch.errors import UserError
from ranksearch.study import CONFIG_ATTR, open_storage


def open_run(run_dir: str | None = None, storage: str | None = None, study_name: str | None = None):
    """(study, SearchConfig) of a run folder, or of ``storage`` + ``study_name``."""
    if run_dir:
        folder = Path(run_dir)
        if not (folder / "config.json").is_file():
            raise UserError(f"{folder}: not a run folder (no config.json); give the --out folder of `ranksearch run`")
        try:
            cfg = SearchConfig.from_dict(read_json(folder / "config.json"))
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(f"{folder / 'config.json'}: not a ranksearch run configuration ({e})") from None
        url = storage or cfg.storage
        local = folder / "study.db"
        if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists() and local.exists():
            url = f"sqlite:///{local.resolve()}"  # the folder was moved or copied
        cfg = replace(cfg, storage=url, out=str(folder))
        name = study_name or cfg.study_name
    else:
        if not (storage and study_name):
            raise UserError("give a run folder, or --storage URL and --study NAME")
        url, name = storage, study_name
        cfg = None
    store = open_storage(url)
    if name not in [s.study_name for s in optuna.get_all_study_summaries(store, include_best_trial=False)]:
        raise UserError(f"no study {name!r} in {url}")
    study = optuna.load_study(study_name=name, storage=store)
    if cfg is None:
        saved = study.user_attrs.get(CONFIG_ATTR)
        if saved is None:
            raise UserError(f"study {name!r} was not made by ranksearch")
        cfg = replace(SearchConfig.from_dict(saved), storage=url)
    return study, cfg
