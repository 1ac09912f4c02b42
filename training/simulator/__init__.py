"""The simulator: labelled Caspian traffic from a randomized world (``docs/simulator.md``).

One room of its own, one module per concern: ``world`` (the drawn ranges), ``geography``
(ports, lanes, water), ``reception`` (who hears a ship), ``fleet`` (ships and profiles),
``planner`` (sailing, holding, berthing), ``behaviours`` (ordinary life and the suspicious
behaviours), ``twins`` (benign look-alikes), ``feed`` (what crews type and providers deliver
besides positions), ``truth`` (labels and planted events), ``scenario`` (one scenario put
together and written), ``audit`` (the leakage audit).

>>> from training.simulator import SimConfig
>>> SimConfig(vessels=10, days=2).world_seed_used
7
"""

from .scenario import Scenario, SimConfig, simulate, write_scenario

__all__ = ["Scenario", "SimConfig", "simulate", "write_scenario"]
