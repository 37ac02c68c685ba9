"""fluctinit.datasets: the spike data sets of the paper, in event form, and their downloads.

:class:`SpikeDataset` holds samples as events -- per sample, spike times in seconds and unit
indices -- plus labels, the number of units and the sample duration.  Randman
(:func:`make_randman`), SHD (:func:`load_shd`) and DVS-Gesture (:func:`load_dvs_gesture`)
produce it.  Dense ``(batch, time, units)`` tensors are binned per mini-batch only
(:meth:`SpikeDataset.batches`; an SHD-sized data set, 8156 x 350 x 700 floats, would be 8 GB
dense), and the sparse forms (:class:`EventBatch`, :class:`SpikeEvents`) feed the simulator's
event-driven input.

Binning at step ``dt`` (seconds): a spike at time ``t`` falls into step ``floor(t/dt)``; a
sample has ``n_steps_for(duration, dt) = ceil(duration/dt)`` steps; spikes beyond are
dropped.  Dense values are spike counts per bin (``binary=True`` clips them to 1).

* representation (:mod:`.spikes`): :class:`SpikeDataset`, :class:`EventBatch`,
  :class:`DataError`, :func:`n_steps_for`; :func:`check_spike_times`, the one policy for
  spike times (negative: an error; NaN or inf: dropped with one :class:`DataWarning` giving
  the count and first sample, or an error with ``strict=True``); :class:`SpikeEvents` (defined in
  :mod:`fluctinit.sim.events`, which consumes it);
* Randman (:mod:`.randman`): :class:`RandmanConfig`, :class:`RandmanSplits`, :func:`make_randman`;
* SHD (:mod:`.shd`): :func:`load_shd`, :func:`download_shd`, :func:`validate_shd_file`,
  :class:`ShdSplits`;
* FSDD through SHD's cochlear model (:mod:`.fsdd`, :mod:`.cochlea`): :func:`convert_fsdd`
  (recordings to SHD-layout files), :func:`load_fsdd`, :func:`fsdd_file`, :func:`download_fsdd`
  (checksum-verified), :func:`read_wav`, :func:`scan_recordings`; :func:`write_spike_file`
  writes SHD's layout.  Real audio-derived spikes, never SHD;
* CIFAR-10 (:mod:`.cifar10`): :func:`load_cifar10`, :class:`CifarSplits`, :class:`ImageDataset`;
* DVS-Gesture (:mod:`.dvs_gesture`): :func:`load_dvs_gesture`, :class:`DvsGestureDataset`,
  :class:`DvsGestureSplits`, :func:`read_aedat31`, :func:`read_gesture_labels`;
* downloads (:mod:`.download`): :func:`fetch`, :func:`read_md5sums`, :func:`md5_of`.
"""

from fluctinit.sim.events import SpikeEvents

from .cifar10 import CifarSplits, ImageDataset, load_cifar10
from .download import fetch, md5_of, read_md5sums
from .dvs_gesture import (
    DvsGestureDataset,
    DvsGestureSplits,
    downsampled_unit,
    load_dvs_gesture,
    read_aedat31,
    read_gesture_labels,
)
from .fsdd import (
    FSDD_ATTRIBUTION,
    FSDD_COMMIT,
    FSDD_DURATION,
    FSDD_FILES,
    FSDD_N_CLASSES,
    FSDD_SAMPLE_RATE,
    FSDD_URL,
    FsddRecording,
    convert_fsdd,
    download_fsdd,
    fsdd_checksums,
    fsdd_file,
    load_fsdd,
    read_wav,
    scan_recordings,
    spike_file_units,
)
from .randman import RANDMAN_CONSTRAINTS, RandmanConfig, RandmanSplits, make_randman
from .shd import (
    SHD_DURATION,
    SHD_FILES,
    SHD_GZ_MD5,
    SHD_N_CLASSES,
    SHD_N_UNITS,
    SHD_URL,
    ShdSplits,
    download_shd,
    load_shd,
    validate_shd_file,
    read_spike_file,
    write_spike_file,
)
from .spikes import (
    DATASET_CONSTRAINTS,
    DataError,
    DataWarning,
    EventBatch,
    SpikeDataset,
    check_spike_times,
    n_steps_for,
)

__all__ = [
    "DataError",
    "DataWarning",
    "check_spike_times",
    "SpikeDataset",
    "EventBatch",
    "SpikeEvents",
    "DATASET_CONSTRAINTS",
    "n_steps_for",
    "RANDMAN_CONSTRAINTS",
    "RandmanConfig",
    "RandmanSplits",
    "make_randman",
    "SHD_URL",
    "SHD_FILES",
    "SHD_GZ_MD5",
    "SHD_N_CLASSES",
    "SHD_N_UNITS",
    "SHD_DURATION",
    "ShdSplits",
    "download_shd",
    "load_shd",
    "validate_shd_file",
    "write_spike_file",
    "read_spike_file",
    "FSDD_FILES",
    "FSDD_N_CLASSES",
    "FSDD_DURATION",
    "FSDD_SAMPLE_RATE",
    "FSDD_COMMIT",
    "FSDD_URL",
    "FSDD_ATTRIBUTION",
    "FsddRecording",
    "read_wav",
    "scan_recordings",
    "fsdd_checksums",
    "download_fsdd",
    "convert_fsdd",
    "load_fsdd",
    "fsdd_file",
    "spike_file_units",
    "CifarSplits",
    "ImageDataset",
    "load_cifar10",
    "DvsGestureDataset",
    "DvsGestureSplits",
    "downsampled_unit",
    "load_dvs_gesture",
    "read_aedat31",
    "read_gesture_labels",
    "fetch",
    "read_md5sums",
    "md5_of",
]
