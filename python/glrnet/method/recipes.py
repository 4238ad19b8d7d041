"""Training recipes: the settings ``glrnet train`` (and ``glrnet sweep``'s base) start from.

``DEFAULTS`` learn fast and keep the robustness (README, "Command line"): the leave-one-out
baseline makes K = 200 replications enough, and many cheap steps of the paper's SGD on the
summed mini-batch loss beat few expensive ones while keeping the weights small against the
noise.  ``PAPER`` is the paper's literal recipe (Section III.A-B).  The keys are those of
:func:`glrnet.train`, plus the fraction of the training images held out for validation.
"""
__all__ = ["DEFAULTS", "PAPER"]

DEFAULTS = {"replications": 200, "epochs": 80, "baseline": True, "learning_rate": 0.1, "batch_size": 25,
            "optimizer": "sgd", "batch_reduction": "sum", "validation_fraction": 0.1}
PAPER = {"replications": 10_000, "epochs": 12, "baseline": False, "learning_rate": 0.1, "batch_size": 25,
         "optimizer": "sgd", "batch_reduction": "sum", "validation_fraction": 0.0}
