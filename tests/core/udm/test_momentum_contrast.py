import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from degplug.losses import ContrastiveLoss
from degplug.udm.contrastive import ContrastiveOutput, MomentumContrast

DIM = 8


class TinyEncoder(torch.nn.Module):
    def __init__(self, dim=DIM):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.head = torch.nn.Linear(16, dim)

    def forward(self, images):
        return self.head(torch.relu(self.conv(images)).mean(dim=(2, 3)))


def _moco(queue_size=10, momentum=0.9, seed=0):
    torch.manual_seed(seed)
    return MomentumContrast(TinyEncoder(), dim=DIM, queue_size=queue_size, momentum=momentum, temperature=0.1)


def _images(n, seed):
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_momentum_contrast_output_shapes_and_reusable_query_embedding():
    moco = _moco()
    queries = _images(4, 0)
    output = moco(queries, _images(4, 1))
    assert isinstance(output, ContrastiveOutput)
    assert output.logits.shape == (4, 11)
    assert torch.equal(output.labels, torch.zeros(4, dtype=torch.long))
    assert output.query_embedding.requires_grad
    assert torch.allclose(output.query_embedding, moco.encoder(queries))
    # cosine similarity / temperature: bounded by 1/τ
    assert output.logits.abs().max() <= 1 / 0.1 + 1e-4


def test_key_encoder_is_a_frozen_copy():
    moco = _moco()
    assert moco.key_encoder is not moco.encoder
    assert all(not p.requires_grad for p in moco.key_encoder.parameters())
    for key, query in zip(moco.key_encoder.parameters(), moco.encoder.parameters()):
        assert torch.equal(key, query) and key.data_ptr() != query.data_ptr()


def test_queue_fills_with_keys_and_wraps_around_when_not_divisible_by_batch():
    moco = _moco(queue_size=10)
    outputs = [moco(_images(4, 2 * step), _images(4, 2 * step + 1)) for step in range(3)]
    # 12 keys written into 10 slots: the third batch wrote slots 8, 9, 0, 1.
    assert moco.queue_pointer.item() == 2 and moco.keys_seen.item() == 12
    assert torch.allclose(moco.queue[8:10], outputs[2].key_embedding[:2])
    assert torch.allclose(moco.queue[0:2], outputs[2].key_embedding[2:])
    assert torch.allclose(moco.queue[2:8], torch.cat([outputs[0].key_embedding[2:], outputs[1].key_embedding]))
    assert torch.allclose(moco.queue.norm(dim=1), torch.ones(10))


def test_queue_keeps_the_last_keys_when_a_batch_exceeds_it():
    moco = _moco(queue_size=3)
    output = moco(_images(5, 0), _images(5, 1))
    assert torch.allclose(moco.queue, output.key_embedding[2:])
    assert moco.queue_pointer.item() == 0


def test_queue_and_pointer_are_saved_in_the_state_dict():
    moco = _moco()
    moco(_images(4, 0), _images(4, 1))
    state = moco.state_dict()
    assert {"queue", "queue_pointer", "keys_seen"} <= set(state)
    restored = _moco(seed=1)
    restored.load_state_dict(state)
    assert torch.equal(restored.queue, moco.queue) and restored.queue_pointer.item() == 4


def test_momentum_update_moves_the_key_encoder_toward_the_query_encoder():
    moco = _moco(momentum=0.9)
    with torch.no_grad():
        for p in moco.encoder.parameters():
            p.add_(1.0)
    before = [(q - k).clone() for q, k in zip(moco.encoder.parameters(), moco.key_encoder.parameters())]
    moco(_images(2, 0), _images(2, 1))
    for gap, q, k in zip(before, moco.encoder.parameters(), moco.key_encoder.parameters()):
        assert torch.allclose(q - k, 0.9 * gap, atol=1e-6)


def test_eval_mode_neither_updates_the_key_encoder_nor_the_queue():
    moco = _moco().eval()
    with torch.no_grad():
        for p in moco.encoder.parameters():
            p.add_(1.0)
    queue = moco.queue.clone()
    key_state = [p.clone() for p in moco.key_encoder.parameters()]
    moco(_images(4, 0), _images(4, 1))
    assert torch.equal(queue, moco.queue) and moco.keys_seen.item() == 0
    assert all(torch.equal(a, b) for a, b in zip(key_state, moco.key_encoder.parameters()))


def _colour_batch(generator, n=8):
    """Easy task: each image is a random colour plus noise; the positive has the same colour."""
    colours = torch.rand(n, 3, 1, 1, generator=generator)
    query = (colours + 0.05 * torch.randn(n, 3, 8, 8, generator=generator)).clamp(0, 1)
    key = (colours + 0.05 * torch.randn(n, 3, 8, 8, generator=generator)).clamp(0, 1)
    return query, key


def test_contrastive_loss_decreases_on_an_easy_task():
    moco = _moco(queue_size=16, momentum=0.9)
    criterion = ContrastiveLoss()
    optimizer = torch.optim.Adam(moco.encoder.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(40):
        query, key = _colour_batch(generator)
        output = moco(query, key)
        loss = criterion(output.logits, output.labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.7 * first, (first, last)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _distributed_worker(rank, world_size, port, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        moco = _moco(queue_size=10, momentum=0.9, seed=0)
        batch = 2 + rank  # unequal batches across ranks must also work
        keys = []
        for step in range(3):
            output = moco(_images(batch, 100 * rank + 2 * step), _images(batch, 100 * rank + 2 * step + 1))
            keys.append(output.key_embedding)
        torch.save({"queue": moco.queue, "pointer": moco.queue_pointer, "keys": keys}, os.path.join(out_dir, f"{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_end_with_identical_queues_holding_keys_of_both(tmp_path):
    # Two real processes joined by a gloo process group on localhost. "fork" where the platform
    # has it: the children inherit the imported modules instead of importing torch again, which
    # keeps the test fast; "spawn" elsewhere.
    start_method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    port = _free_port()
    mp.start_processes(
        _distributed_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True, start_method=start_method
    )
    rank0 = torch.load(tmp_path / "0.pt")
    rank1 = torch.load(tmp_path / "1.pt")
    assert torch.equal(rank0["queue"], rank1["queue"])
    assert rank0["pointer"].item() == rank1["pointer"].item() == (3 * 5) % 10
    last_step = torch.cat([rank0["keys"][2], rank1["keys"][2]])  # rank order: 2 keys then 3
    # 5 keys per step into 10 slots: the third step overwrote slots 0..4.
    assert torch.allclose(rank0["queue"][:5], last_step)
