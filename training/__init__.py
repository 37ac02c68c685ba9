"""fluctinit.training: surrogate-gradient training of the paper's networks (section 4.2, tables 4-6).

The whole public API, by module (import the names from here, ``from fluctinit.training
import train_experiment``; the modules are the implementation):

* experiments -- named experiment configs, one JSON file per experiment of tables 4-6:
  :func:`load_experiment`, :func:`list_experiments`, :func:`validate_experiment`,
  :func:`parameter_count`, :func:`layer_shapes`, :func:`required_files`,
  :func:`check_data_files`, ``DATASETS`` and the constraint tables ``DATA_CONSTRAINTS``,
  ``NETWORK_CONSTRAINTS``, ``INIT_CONSTRAINTS``, ``TRAINING_CONSTRAINTS``;
* model -- the network of a config and its initialization from the theory:
  :class:`SNNModel`, :class:`ModelOutput`, :func:`build_model`, :func:`initialize_model`,
  :func:`input_rate`, :func:`measure_encoder_rate`;
* data -- the data set as batches: :func:`load_data`, :class:`Splits`, :class:`TensorSplit`;
  whether a split holds spikes: :func:`has_spikes`, :func:`warn_if_silent`,
  :class:`SilentDataWarning`;
* losses (eqs. 20-25): :func:`max_over_time_cross_entropy`, :func:`spike_counts`,
  :func:`upper_bound_loss`, :func:`homeostatic_loss`,
  :func:`v_upper_for_rate`, ``LOSS_CONSTRAINTS``;
* optim: :class:`SMORMS3` (eqs. 30-33), :func:`make_optimizer`, ``OPTIMIZERS``,
  ``OPTIMIZER_CONSTRAINTS``;
* recording -- rates, surrogate-gradient and weight-update magnitudes: :func:`firing_rates`,
  :func:`firing_rates_from_counts`, :class:`GradientRecorder`, :func:`parameter_groups`,
  :func:`snapshot`, :func:`weight_update_magnitudes`, :func:`epochs_to_accuracy`;
* checkpoint -- atomic checkpoints and exact resume: :class:`Progress`,
  :func:`save_checkpoint`, :func:`restore_checkpoint_`, :func:`atomic_torch_save`; reading
  and comparing them: :func:`read_checkpoint`, :func:`check_same_run`,
  :func:`check_weights_fit`, :func:`run_differences`, ``CHECKPOINT_KEYS``;
* loop -- the training loop: :func:`train_experiment`, :func:`evaluate`, :func:`best_validation`,
  :func:`check_device`, :func:`resolve_config`, :func:`inapplicable_options`,
  ``TRAIN_CONSTRAINTS``;
* batched -- grid-batched training, the cells of a sweep that differ in their initialization
  alone trained as one model: :func:`train_batched`, :func:`batch_key`, :func:`max_batch_cells`
  (the stacked model itself: :mod:`fluctinit.training.stacked`);
* runs -- a run's file names and the summary over seeds: :func:`run_name`,
  :func:`summary_name`, :func:`summarize_seeds`, :func:`write_seed_summary`; what an output
  folder holds and may receive: :func:`plan_run`, :func:`plan_runs`, :class:`RunPlan`,
  :func:`read_results`, :func:`hold_output`, :func:`total_epochs`, :func:`priming_epochs`;
* bench -- the training-step benchmark: :func:`bench_shape`, :func:`format_table`,
  :func:`available_peers`;
* sweep, sweep_cells, sweep_engine, sweep_cluster -- parameter sweeps on Dask (``fluctinit sweep``): the grid
  (:func:`parse_grid`, :func:`parse_values`, ``GRID_SYNTAX``), the cells (:class:`Cell`,
  :func:`grid_cells`, :func:`cell_names`, :func:`train_cells`, :func:`train_row`,
  ``TRAIN_COLUMNS``, :func:`check_sweep_folder`, :func:`describe_values`, :func:`error_line`), a training sweep (:func:`train_sweep`) and
  running any sweep (:func:`run_sweep`, :class:`Engine`, :class:`SweepJob`, :class:`Task`,
  :class:`SweepSummary`, :func:`parse_slurm`, :func:`slurm_cluster`, :func:`default_workers`;
  on the workers :func:`announce_start`, :func:`cell_environment`).

Kept import-light: importing this package does not import torch; each name is imported from
its module on first use (PEP 562 ``__getattr__``).
"""

from __future__ import annotations

from fluctinit._lazy import lazy_exports

#: public name -> (module, name in that module)
_EXPORTS: dict[str, tuple[str, str]] = {
    **{n: ("experiments", n) for n in (
        "DATASETS", "list_experiments", "load_experiment", "validate_experiment", "parameter_count",
        "layer_shapes", "required_files", "check_data_files", "data_files_present", "DATA_FILES", "DATA_SOURCES",
        "DATA_CONSTRAINTS", "NETWORK_CONSTRAINTS", "INIT_CONSTRAINTS", "TRAINING_CONSTRAINTS",
    )},
    **{n: ("model", n) for n in (
        "ModelOutput", "SNNModel", "build_model", "initialize_model", "sequential_rates_", "predicted_rates", "calibrated_kernels_", "layer_statistics", "free_sigma", "layer_free_membrane", "input_rate",
        "measure_encoder_rate",
    )},
    **{n: ("data", n) for n in (
        "Splits", "TensorSplit", "load_data", "has_spikes", "warn_if_silent", "SilentDataWarning",
    )},
    **{n: ("losses", n) for n in (
        "max_over_time_cross_entropy", "spike_counts", "upper_bound_loss",
        "homeostatic_loss", "v_upper_for_rate",
    )},
    "LOSS_CONSTRAINTS": ("losses", "CONSTRAINTS"),
    **{n: ("optim", n) for n in ("SMORMS3", "make_optimizer", "OPTIMIZERS")},
    "OPTIMIZER_CONSTRAINTS": ("optim", "CONSTRAINTS"),
    **{n: ("recording", n) for n in (
        "firing_rates", "firing_rates_from_counts", "GradientRecorder", "parameter_groups", "snapshot",
        "weight_update_magnitudes", "epochs_to_accuracy",
    )},
    **{n: ("checkpoint", n) for n in (
        "Progress", "atomic_torch_save", "save_checkpoint", "restore_checkpoint_", "read_checkpoint",
        "check_same_run", "check_weights_fit", "run_differences", "CHECKPOINT_KEYS",
    )},
    **{n: ("loop", n) for n in (
        "train_experiment", "evaluate", "best_validation", "OVERRIDE_KEYS", "check_device", "resolve_config",
        "inapplicable_options",
    )},
    "TRAIN_CONSTRAINTS": ("loop", "CONSTRAINTS"),
    **{n: ("batched", n) for n in ("train_batched", "batch_key", "max_batch_cells")},
    **{n: ("runs", n) for n in (
        "run_name", "summary_name", "summarize_seeds", "write_seed_summary", "total_epochs", "priming_epochs",
        "RunPlan", "plan_run", "plan_runs", "read_results", "hold_output",
    )},
    **{n: ("bench", n) for n in ("bench_shape", "format_table", "available_peers")},
    **{n: ("sweep", n) for n in (
        "GRID_SYNTAX", "parse_grid", "parse_values", "cell_names", "grid_cells", "Cell", "train_cells", "train_row",
        "check_sweep_folder", "TRAIN_COLUMNS", "describe_values", "error_line",
    )},
    **{n: ("sweep_engine", n) for n in (
        "Task", "SweepJob", "SweepSummary", "run_sweep", "announce_start", "cell_environment",
    )},
    **{n: ("sweep_cluster", n) for n in ("Engine", "parse_slurm", "slurm_cluster", "default_workers")},
    "train_sweep": ("sweep_cells", "train_sweep"),
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
