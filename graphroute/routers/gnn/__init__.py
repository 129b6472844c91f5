"""The graph-neural router: ``Router`` (router.py) and ``load`` (persistence.py).

router.py holds the class (parameters, fit, predict, select, growth); config.py its validated
``RouterConfig``; training.py the torch training loop; serving.py the published numpy state and
numpy prediction; growth.py new nodes and outcomes; persistence.py save / load.
"""

from graphroute.routers.gnn.persistence import FORMAT, FORMAT_VERSION, load
from graphroute.routers.gnn.router import Router

__all__ = ["Router", "load", "FORMAT", "FORMAT_VERSION"]
