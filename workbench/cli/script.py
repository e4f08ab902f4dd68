"""``workbench script``: write a standalone Python script that runs the real job for one setting."""

from __future__ import annotations

import argparse

from workbench.config import PIPELINES, PRECISIONS, DataSpec, ModelSpec, TrialConfig


def prepare_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="keras.applications name, demo, tiny, or a .keras/.h5/SavedModel path")
    p.add_argument("--image-size", default=None, help="input size, 96 or 96x128 (default: the model's own)")
    p.add_argument("--allow-unsafe", action="store_true", help="load .keras files with safe_mode off (trusted files)")
    p.add_argument("--data", required=True, help="demo[:COUNT], an image folder or a .npy file")
    p.add_argument("--pipeline", default="stream_to_disk", help=f"one of {', '.join(PIPELINES)} (default %(default)s)")
    p.add_argument("--precision", default="float32", help=f"one of {', '.join(PRECISIONS)} (default %(default)s)")
    p.add_argument("--batch-size", type=int, required=True, help="the batch size to run with")
    p.add_argument("--output", required=True, help="the .npy file the script writes the outputs to")
    p.add_argument("-o", "--script", required=True, help="the Python script to write")
    p.add_argument("--results", default=None, help="a results folder: its peak for this setting goes in the script")


def run(args: argparse.Namespace) -> int:
    from workbench.engine.scriptgen import write_script

    cfg = TrialConfig(model=ModelSpec(args.model, image_size=args.image_size, allow_unsafe=args.allow_unsafe),
                      data=DataSpec.parse(args.data), pipeline=args.pipeline, precision=args.precision,
                      batch_size=args.batch_size)
    path = write_script(cfg, args.output, args.script, results_dir=args.results)
    print(f"script: {path}  (run it with: python {path})")
    return 0
