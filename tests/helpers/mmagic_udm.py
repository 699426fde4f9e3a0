"""Tiny UDMEditor settings shared by the MMagic UDM tests."""

TINY_GENERATOR = dict(
    type="UniversalDegradationModel", embed_dim=16, map_channels=2, encoder_width=8, long_kernel=3,
    synthesis_width=8, synthesis_blocks=[1, 1, 1, 1, 1], rate_hidden=8,
)


def tiny_editor(gan: float = 0.05, seed: int = 0):
    from mmagic.registry import MODELS

    import mmagic_ext  # noqa: F401

    return MODELS.build(dict(
        type="UDMEditor", generator=dict(TINY_GENERATOR),
        discriminator=dict(type="UDMDiscriminator", width=8) if gan > 0 else None,
        training=dict(dists_pretrained=False, queue_size=8, weights=dict(similarity=0.0, l1=1.0, gan=gan)),
        seed=seed,
    ))


def tiny_batch(count: int = 2, size: int = 24):
    """A collated batch (pseudo_collate) of transfer tuples from the embedded photos."""
    from mmengine.dataset import pseudo_collate

    from mmagic_ext.datasets.degplug_datasets import DegplugTransferTupleDataset

    dataset = DegplugTransferTupleDataset(gt_folder="embedded:train", pipeline="homogeneous", crop_size=size, phase="val")
    return pseudo_collate([dataset[i] for i in range(count)])
