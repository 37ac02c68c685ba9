"""Spike data sets in event form, and loaders for SHD, CIFAR-10 and DVS-Gesture.

:class:`SpikeDataset` holds samples as events -- per sample, spike times in
seconds and unit indices -- plus labels, the number of units and the sample
duration.  Randman (:func:`fluctinit.sim.inputs.make_randman`), SHD
(:func:`load_shd`) and DVS-Gesture (:func:`load_dvs_gesture`) produce it.
Dense ``(batch, time, units)`` tensors are binned per mini-batch only
(:meth:`SpikeDataset.batches`; an SHD-sized data set, 8156 x 350 x 700 floats,
would be 8 GB dense), and the sparse form (:class:`EventBatch`: indices of the
active ``(sample, step, unit)``) serves an event-driven core.

Binning at step ``dt`` (seconds): a spike at time ``t`` falls into step
``floor(t/dt)``; a sample has ``n_steps_for(duration, dt) = ceil(duration/dt)``
steps; spikes beyond are dropped.  Dense values are spike counts per bin
(``binary=True`` clips them to 1).

Implementation modules (private): ``_spikes`` (the representation), ``_shd``,
``_cifar``, ``_dvs`` (the loaders).
"""

from ._cifar import CifarSplits, ImageDataset, load_cifar10
from ._dvs import (
    DvsGestureDataset,
    DvsGestureSplits,
    downsampled_unit,
    load_dvs_gesture,
    read_aedat31,
    read_gesture_labels,
)
from ._shd import (
    SHD_DURATION,
    SHD_FILES,
    SHD_GZ_MD5,
    SHD_N_UNITS,
    SHD_URL,
    ShdSplits,
    download_shd,
    load_shd,
    validate_shd_file,
)
from ._spikes import DATASET_CONSTRAINTS, DataError, EventBatch, SpikeDataset, n_steps_for

__all__ = [
    "DataError",
    "SpikeDataset",
    "EventBatch",
    "DATASET_CONSTRAINTS",
    "n_steps_for",
    "SHD_URL",
    "SHD_FILES",
    "SHD_GZ_MD5",
    "SHD_N_UNITS",
    "SHD_DURATION",
    "ShdSplits",
    "download_shd",
    "load_shd",
    "validate_shd_file",
    "CifarSplits",
    "ImageDataset",
    "load_cifar10",
    "DvsGestureDataset",
    "DvsGestureSplits",
    "downsampled_unit",
    "load_dvs_gesture",
    "read_aedat31",
    "read_gesture_labels",
]
