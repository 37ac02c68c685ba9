"""fluctinit.training: surrogate-gradient training of the paper's networks (section 4.2, tables 4-6).

Experiment configs (:mod:`.experiments`, one JSON file per experiment of tables 4-6), model
building, data feeding, losses (:mod:`.losses`, eqs. 20-25), optimizers (:mod:`.optim`,
SMORMS3 eqs. 30-33), recording (:mod:`.recording`: rates, surrogate-gradient and
weight-update magnitudes), checkpoints and the training loop (:func:`train_experiment`), and
the training-step benchmark (:mod:`.bench`).

Kept import-light: importing this package does not import torch; the submodules do.
"""

__all__: list[str] = []
