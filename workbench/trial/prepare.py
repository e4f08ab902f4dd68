"""Build the demo dataset cache and train the demo model, in a process of its own.

``python -m workbench.trial.prepare demo|demo-data``: started by
:func:`workbench.engine.prepare.prepare` before a sweep's first trial, never inside a measured
trial. Training imports TensorFlow, which is why this lives on the trial side.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from workbench import demo_assets
from workbench.trial import demo_model


def _run(what: str, force: bool) -> dict[str, Any]:
    with demo_assets.locked():
        if force:
            for key in ("data_meta", "model_meta"):
                demo_assets.paths()[key].unlink(missing_ok=True)
    demo_assets.ensure_data()
    report: dict[str, Any] = {"cache": str(demo_assets.cache_dir()), "data_ready": True}
    if what == "demo":
        with demo_assets.locked():
            if not demo_assets.model_ready():
                os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
                import keras

                demo_model.train_model(keras)
        report["model"] = demo_assets.model_record()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.trial.prepare",
                                     description="Build the demo dataset cache and train the demo model.")
    parser.add_argument("what", choices=["demo", "demo-data"],
                        help="demo: data and model; demo-data: the dataset cache only")
    parser.add_argument("--force", action="store_true", help="rebuild even when the cache is valid")
    args = parser.parse_args(argv)
    print(json.dumps(_run(args.what, args.force), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
