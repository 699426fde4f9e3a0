"""Video: one degradation over a frame sequence with a temporally consistent random state."""

import itertools
import math

import pytest
import torch

from degplug.udm.config import UDMConfig
from degplug.udm.model import UniversalDegradationModel
from degplug.apps.video_files import degrade_video, read_frames
from degplug.udm.video import TemporalNoiseSource, degrade_sequence

torch.set_num_threads(1)
TINY = UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8).to_dict()


def noisy_model() -> UniversalDegradationModel:
    """A tiny model whose zero-initialised modulation is made non-zero, so the noise map matters."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = UniversalDegradationModel(**TINY)
        with torch.no_grad():
            for parameter in model.synthesis.parameters():
                if parameter.abs().sum() == 0:
                    parameter.normal_(0, 0.2)
    return model.eval()


def noise_maps(correlation: float, frames: int = 6, seed: int = 3) -> list[torch.Tensor]:
    source = TemporalNoiseSource(seed=seed, correlation=correlation)
    like = torch.zeros(1, 4, 64, 64)
    maps = []
    for _ in range(frames):
        source.next_frame()
        maps.append(source(like))
    return maps


def mean_frame_change(frames: list[torch.Tensor]) -> float:
    return float(torch.stack([(b - a).abs().mean() for a, b in itertools.pairwise(frames)]).mean())


def test_correlated_noise_field_changes_less_between_frames_than_independent_seeds():
    independent = mean_frame_change(noise_maps(0.0))
    correlated = mean_frame_change(noise_maps(0.9))
    # E|n_t - n_{t-1}| = sqrt(2(1-ρ)) · sqrt(2/π): 1.128 for ρ = 0, 0.357 for ρ = 0.9
    assert independent == pytest.approx(math.sqrt(2) * math.sqrt(2 / math.pi), rel=0.05)
    assert correlated == pytest.approx(math.sqrt(0.2) * math.sqrt(2 / math.pi), rel=0.08)


def test_correlated_noise_maps_stay_standard_normal_on_every_frame():
    for noise in noise_maps(0.9, frames=8):
        assert abs(float(noise.mean())) < 0.05
        assert float(noise.std()) == pytest.approx(1.0, abs=0.05)


def test_full_correlation_freezes_the_noise_and_the_same_seed_replays_the_sequence():
    frozen = noise_maps(1.0, frames=3)
    assert torch.equal(frozen[0], frozen[2])
    assert all(torch.equal(a, b) for a, b in zip(noise_maps(0.5, seed=7), noise_maps(0.5, seed=7)))
    assert not torch.equal(noise_maps(0.5, seed=7)[0], noise_maps(0.5, seed=8)[0])


def test_correlation_outside_unit_interval_is_rejected():
    with pytest.raises(ValueError, match="correlation"):
        TemporalNoiseSource(correlation=1.5)


def test_degraded_static_scene_flickers_less_with_correlation_than_with_independent_seeds():
    model = noisy_model()
    clean = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    embedding = model.encode(clean)
    frames = [clean] * 5
    with torch.no_grad():
        independent = [model.synthesize(clean, embedding, seed=s) for s in range(5)]
    correlated = list(degrade_sequence(model, embedding, frames, seed=0, correlation=0.9))
    frozen = list(degrade_sequence(model, embedding, frames, seed=0, correlation=1.0))
    assert mean_frame_change(independent) > 0
    assert mean_frame_change(correlated) < 0.6 * mean_frame_change(independent)
    assert mean_frame_change(frozen) == 0.0


def test_noise_source_replaces_the_generator_and_a_wrong_shape_is_named():
    model = noisy_model()
    clean = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    embedding = model.encode(clean)
    def zeros(like):
        return torch.zeros(like.shape[0], 1, *like.shape[-2:])

    with torch.no_grad():
        a = model.synthesize(clean, embedding, seed=1, noise_source=zeros)
        b = model.synthesize(clean, embedding, seed=2, noise_source=zeros)
        assert torch.equal(a, b)
        assert not torch.equal(model.synthesize(clean, embedding, seed=1), model.synthesize(clean, embedding, seed=2))
        with pytest.raises(ValueError, match="noise_source returned shape"):
            model.synthesize(clean, embedding, noise_source=lambda like: torch.zeros(1, 2, 3, 3))


def test_frame_folder_round_trip_and_size_change_is_rejected(tmp_path):
    from degplug.data.image_io import write_image

    model = noisy_model()
    folder = tmp_path / "frames"
    for index in range(3):
        write_image(folder / f"f{index:02d}.png", torch.rand(3, 16, 20, generator=torch.Generator().manual_seed(index)))
    embedding = model.encode(torch.rand(1, 3, 16, 16))
    assert degrade_video(model, embedding, folder, tmp_path / "out", seed=0, correlation=0.8) == 3
    frames, info = read_frames(tmp_path / "out")
    frames = list(frames)
    assert info.frames == 3 and frames[0].shape == (3, 16, 20)
    with pytest.raises(ValueError, match="differs from the first frame"):
        list(degrade_sequence(model, embedding, [torch.rand(3, 16, 16), torch.rand(3, 16, 20)]))


def test_video_file_is_written_and_read_back(tmp_path):
    model = noisy_model()
    embedding = model.encode(torch.rand(1, 3, 16, 16))
    frames = [torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    from degplug.apps.video_files import FrameWriter

    writer = FrameWriter(tmp_path / "in.avi", fps=10)
    for frame in frames:
        writer.write(frame)
    writer.close()
    written = degrade_video(model, embedding, tmp_path / "in.avi", tmp_path / "out.avi", seed=1, correlation=0.5)
    assert written == 4
    read_back, info = read_frames(tmp_path / "out.avi")
    assert len(list(read_back)) == 4 and info.fps == pytest.approx(10, abs=0.5)


def test_unknown_source_kind_is_a_clear_error(tmp_path):
    (tmp_path / "clip.txt").write_text("x")
    with pytest.raises(ValueError, match="folder of frames or a video file"):
        read_frames(tmp_path / "clip.txt")
    with pytest.raises(FileNotFoundError):
        read_frames(tmp_path / "missing")
