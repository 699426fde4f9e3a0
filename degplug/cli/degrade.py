"""Degrade images with a preset or config and record the parameters (or re-apply recorded ones).

Writes ``<output>/<name>.png`` and ``<output>/<name>.json`` (the sampled parameters) per input
image. ``--params FILE`` re-applies a JSON written before to every input image, so one
degradation can be put on many clean images. Image ``k`` of the sorted input list gets seed
``(seed, k)``, so a run is reproducible and each image draws its own parameters.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from degplug.data.folders import resolve_image_paths
from degplug.data.image_io import ImageReadError, is_image_file, read_image, write_image
from degplug.data.sampling_source import derive_seed
from degplug.degradations.pipeline import DegradationPipeline, PipelineParams
from degplug.degradations.presets import preset_names
from degplug.utils.random import make_generator

logger = logging.getLogger("degplug.cli.degrade")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="an image file or a folder of images (searched recursively)")
    parser.add_argument("--output", required=True, help="folder for the degraded PNGs and their parameter JSONs")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", default=None, help=f"degradation preset: {', '.join(preset_names())} (default: realistic)")
    source.add_argument("--config", default=None, help="pipeline config file (YAML or JSON) instead of a preset")
    source.add_argument("--params", default=None, help="a parameter JSON written before: re-apply it to every input image")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _load_params(path: str) -> PipelineParams:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--params file not found: {path!r}")
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"--params file {path!r} is not valid JSON ({error})") from error
    if isinstance(data, dict) and "params" in data and "steps" not in data:
        data = data["params"]  # a JSON written by this command
    return PipelineParams.from_dict(data)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    inputs = resolve_image_paths(args.input)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    fixed_params = _load_params(args.params) if args.params else None
    pipeline = None
    if fixed_params is None:
        pipeline = DegradationPipeline.from_config(args.config or args.preset or "realistic")
    root = Path(args.input) if Path(args.input).is_dir() else None
    failed: list[str] = []
    written = 0
    for index, path in enumerate(tqdm(inputs, desc="degrade", unit="img", disable=args.no_progress or len(inputs) < 2)):
        try:
            image = read_image(path)
        except ImageReadError as error:
            logger.warning("skipping %s", error)
            print(f"warning: skipping {error}")
            failed.append(str(path))
            continue
        if fixed_params is not None:
            params = fixed_params
        else:
            params = pipeline.sample(make_generator(seed=derive_seed(args.seed, index)))
        degraded = DegradationPipeline.apply(image, params)
        name = path.relative_to(root) if root else Path(path.name)
        if is_image_file(name):  # LMDB entries carry no extension
            name = name.with_suffix("")
        write_image(output / f"{name}.png", degraded)
        record = {
            "input": str(path),
            "seed": None if fixed_params is not None else args.seed,
            "index": index,
            "input_size": [int(image.shape[-2]), int(image.shape[-1])],
            "output_size": [int(degraded.shape[-2]), int(degraded.shape[-1])],
            "params": params.to_dict(),
        }
        (output / f"{name}.json").write_text(json.dumps(record, indent=2))
        written += 1
    print(f"wrote {written} degraded image(s) to {output}" + (f"; skipped {len(failed)} unreadable: {failed}" if failed else ""))
    return 0 if written > 0 else 1
