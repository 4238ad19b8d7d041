"""Training recipes: the settings ``glrnet train`` (and ``glrnet sweep``'s base) start from.

``DEFAULTS`` learn fast and keep the robustness (README, "Command line"): the leave-one-out
baseline makes K = 50 replications enough, many cheap steps of plain SGD on the summed
mini-batch loss (step 0.8, decayed by a cosine schedule) beat few expensive ones, and a weight
decay of 1e-3 keeps the weights small against the noise, which is what keeps the robustness
(measured: README, "The training recipe decides the robustness").  ``PAPER`` is the paper's
literal recipe (Section III.A-B).  The keys are those of
:func:`glrnet.train`, plus the fraction of the training images held out for validation.
"""
__all__ = ["DEFAULTS", "PAPER"]

DEFAULTS = {"replications": 50, "epochs": 30, "baseline": True, "learning_rate": 0.8, "batch_size": 25,
            "optimizer": "sgd", "batch_reduction": "sum", "schedule": "cosine", "weight_decay": 1e-3,
            "validation_fraction": 0.1}
PAPER = {"replications": 10_000, "epochs": 12, "baseline": False, "learning_rate": 0.1, "batch_size": 25,
         "optimizer": "sgd", "batch_reduction": "sum", "schedule": "constant", "weight_decay": 0.0,
         "validation_fraction": 0.0}
