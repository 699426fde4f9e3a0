"""Degrade images with a preset or config and record the parameters (or re-apply recorded ones).

Writes ``<output>/<name>.png`` and ``<output>/<name>.json`` (the sampled parameters) per input
image. ``--params FILE`` re-applies a JSON written before to every input image, so one
degradation can be put on many clean images. Image ``k`` of the sorted input list gets seed
``(seed, k)``, so a run is reproducible and each image draws its own parameters.

Existing outputs are never replaced silently: a run that would write over them stops and says so,
unless ``--overwrite`` (replace) or ``--skip-existing`` (keep them, degrade only the others) is
given. Each image and then its JSON are written atomically, the JSON last, so a JSON on disk
always belongs to a complete image (``--skip-existing`` redoes an image without its JSON). An
output folder inside the input folder is not searched for inputs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from degplug.cli.image_files import (
    check_unique_outputs,
    list_inputs,
    relative_stem,
    report_skip,
)
from degplug.data.image_io import ImageReadError, read_image, write_image
from degplug.data.sampling_source import derive_seed
from degplug.degradations.pipeline import DegradationPipeline, PipelineParams
from degplug.degradations.presets import preset_names
from degplug.utils.atomic import atomic_write
from degplug.utils.random import make_generator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="an image file or a folder of images (searched recursively)")
    parser.add_argument("--out", "--output", required=True, help="folder for the degraded PNGs and their parameter JSONs")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", default=None, help=f"degradation preset: {', '.join(preset_names())} (default: realistic)")
    source.add_argument("--config", default=None, help="pipeline config file (YAML or JSON) instead of a preset")
    source.add_argument("--params", default=None, help="a parameter JSON written before: re-apply it to every input image")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    existing.add_argument("--skip-existing", action="store_true", help="keep outputs that already exist and degrade only the other inputs")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _load_params(path: str) -> PipelineParams:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--params file not found: {path!r}")
    try:
        data = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"--params file {path!r} is not valid JSON ({error})") from error
    if isinstance(data, dict) and "params" in data and "steps" not in data:
        data = data["params"]  # a JSON written by this command
    try:
        return PipelineParams.from_dict(data)
    except ValueError as error:
        raise ValueError(f"--params file {path!r}: {error}") from error


def _pipeline(args: argparse.Namespace) -> DegradationPipeline:
    source = args.config or args.preset or "realistic"
    try:
        return DegradationPipeline.from_config(source)
    except ValueError as error:
        if str(source) in str(error):  # already names the file
            raise
        raise ValueError(f"{'--config' if args.config else '--preset'} {source!r}: {error}") from error


def _existing_outputs(targets: list[tuple[Path, Path]], args: argparse.Namespace, output: Path) -> set[int]:
    """Indices of inputs whose outputs are already complete; ValueError when they would be replaced."""
    present = [index for index, (image, record) in enumerate(targets) if image.exists() or record.exists()]
    if not present or args.overwrite:
        return set()
    if args.skip_existing:
        return {index for index in present if targets[index][0].is_file() and targets[index][1].is_file()}
    example = targets[present[0]][0] if targets[present[0]][0].exists() else targets[present[0]][1]
    raise ValueError(
        f"--out {str(output)!r} already holds the outputs of {len(present)} of the {len(targets)} input(s) "
        f"(e.g. {str(example)!r}); pass --overwrite to replace them or --skip-existing to keep them and degrade only the others"
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    output = Path(args.out)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--out {str(output)!r} is a file; degrade writes a folder of images and JSONs")
    if output.exists() and Path(args.input).is_dir() and output.resolve() == Path(args.input).resolve():
        raise ValueError(f"--out {str(output)!r} is the input folder; the degraded PNGs would replace the inputs: choose another folder")
    fixed_params = _load_params(args.params) if args.params else None
    pipeline = _pipeline(args) if fixed_params is None else None
    inputs, root = list_inputs(args.input, "--input", exclude=[output])
    names = [relative_stem(path, root) for path in inputs]
    targets = [(output / f"{name}.png", output / f"{name}.json") for name in names]
    check_unique_outputs(zip(inputs, (image for image, _ in targets)))  # also: no output is its own input
    done = _existing_outputs(targets, args, output)
    output.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    written = 0
    todo = [index for index in range(len(inputs)) if index not in done]
    for index in tqdm(todo, desc="degrade", unit="img", disable=args.no_progress or len(todo) < 2):
        path = inputs[index]
        try:
            image = read_image(path)
        except ImageReadError as error:
            report_skip(path, error.reason)
            failed.append(str(path))
            continue
        if fixed_params is not None:
            params = fixed_params
        else:
            params = pipeline.sample(make_generator(seed=derive_seed(args.seed, index)))
        degraded = DegradationPipeline.apply(image, params)
        image_path, record_path = targets[index]
        record_path.unlink(missing_ok=True)  # a JSON always belongs to a complete image (it is written last)
        write_image(image_path, degraded)
        record = {
            "input": str(path),
            "seed": None if fixed_params is not None else args.seed,
            "index": index,
            "input_size": [int(image.shape[-2]), int(image.shape[-1])],
            "output_size": [int(degraded.shape[-2]), int(degraded.shape[-1])],
            "params": params.to_dict(),
        }
        encoded = json.dumps(record, indent=2).encode("utf-8")
        atomic_write(record_path, lambda handle, data=encoded: handle.write(data))
        written += 1
    kept = f"; kept {len(done)} existing" if done else ""
    print(f"wrote {written} degraded image(s) to {output}{kept}" + (f"; skipped {len(failed)} unreadable: {failed}" if failed else ""))
    return 0 if written > 0 or (done and not failed) else 1
