"""`graphroute tune`: search Router hyperparameters with Optuna on the validation split."""

from __future__ import annotations

from graphroute.cli.bench import add_dataset_argument, given
from graphroute.cli.options import library_default, names, positive_int

NAME = "tune"
HELP = "search Router hyperparameters with Optuna on the validation split"


def add_arguments(p) -> None:
    from graphroute.embed import DEFAULT_EMBEDDER, EMBEDDERS
    from graphroute.eval import tune

    p.description = tune.__doc__
    add_dataset_argument(p)
    p.add_argument("--trials", type=positive_int, default=None,
                   help=f"number of trials to run now {library_default(tune.DEFAULT_TRIALS)}")
    p.add_argument("--seeds", type=positive_int, default=None,
                   help=f"split seeds averaged per trial {library_default(len(tune.DEFAULT_SEEDS))}")
    p.add_argument("--storage", default=tune.DEFAULT_STORAGE,
                   help=f"Optuna storage URL; the study resumes if it exists (default {tune.DEFAULT_STORAGE})")
    p.add_argument("--study", default=None, help=f"study name {library_default(tune.DEFAULT_STUDY)}")
    p.add_argument("--embedder", default=None,
                   help=f"text embedder for every trial: {names(EMBEDDERS)} {library_default(DEFAULT_EMBEDDER)}")
    p.add_argument("--epochs", type=positive_int, default=None, help="maximum epochs per trial (default: the Router's)")
    p.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    p.add_argument("--summary", help="write the study summary (JSON) here")


def run(args) -> int:
    import json
    import math
    from pathlib import Path

    import optuna

    from graphroute.eval.bench import DEFAULT_DATASET, load_bench_data
    from graphroute.eval.tune import study_summary, tune

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _, logs, cards = load_bench_data(args.dataset or DEFAULT_DATASET)
    base = given(args, embedder="embedder", epochs="epochs")

    def report(study, trial) -> None:
        best = study.best_value
        val = "failed" if trial.value is None else f"{trial.value:.4f}"
        print(f"trial {trial.number}: score {val} (best {best:.4f}) {json.dumps(trial.params)}", flush=True)

    kwargs = given(args, trials="n_trials", study="study_name", timeout="timeout")
    if args.seeds is not None:
        kwargs["seeds"] = list(range(args.seeds))
    study = tune(logs, storage=args.storage, base_params=base, cards=cards, callback=report, **kwargs)
    summary = study_summary(study)
    print(json.dumps({k: summary[k] for k in ("n_trials", "best_score", "best_params", "best_rewards")}, indent=2))
    if args.summary:
        Path(args.summary).write_text(json.dumps(summary, indent=2, default=float))
    return 0 if math.isfinite(summary["best_score"]) else 1
