"""Saving and loading a GNN router: a directory of JSON + safetensors (no pickle), written atomically.

Format version 4 (this graphroute writes it) adds the text evidence's embedding base (three arrays per
task in ``text_evidence.safetensors``; a version-3 directory's evidence loads without it, with its
weight 0, and routes as it did). Version 3 adds the text evidence (``text_evidence.safetensors``,
its vocabularies in config.json) when the router has any, and the task classifier
(``task_classifier.safetensors``, likewise) when it kept one; a version-3 directory without the latter
infers tasks by the neighbour vote, as it did when it was written. Version 2 holds, besides the graph and each member's weights, the
published node states of each member (``nodes_<i>.safetensors``) and, for a router searching with an
IVF index, that index (``index.safetensors``): loading then needs numpy only, no torch, and routes
exactly as the router that was saved. A version-1 directory still loads, but its node states were
not saved: loading it imports torch once to encode the graph (re-save it to drop that step).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path

import numpy as np

from graphroute.data.catalog import Catalog
from graphroute.embed import EMBEDDERS, Embedder, parse_spec
from graphroute.errors import ConfigError, RouterFileError
from graphroute.graph.arrays import GraphArrays
from graphroute.graph.index import IVFIndex, resolve_mode
from graphroute.graph.schema import EDGE_DIMS, EDGE_TYPES, NODE_TYPES
from graphroute.nn.config import NetConfig
from graphroute.version import __version__

__all__ = ["save", "load", "FORMAT", "FORMAT_VERSION"]

FORMAT = "graphroute-router"
FORMAT_VERSION = 4
READS = (1, 2, 3, 4)  # format versions load() understands


# ------------------------------------------------------------------------------ save
def _compact(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``half``: embeddings as float16, indices as int32 (where they fit)."""
    out = {}
    for k, v in arrays.items():
        if v.dtype.kind == "f" and k.endswith("_x"):
            out[k] = v.astype(np.float16)
        elif v.dtype == np.int64 and (v.size == 0 or int(np.abs(v).max()) < 2**31):
            out[k] = v.astype(np.int32)
        else:
            out[k] = v
    return out


def _published(router, live, half_graph: GraphArrays | None, weights: list[dict[str, np.ndarray]]):
    """(node states per member, index) to store: the live ones, or with ``half`` those the rounded graph and
    weights give (re-encoded, as a version-1 load or an observe() after loading would compute them)."""
    hs, index = [m.h for m in live.members], live.index
    if half_graph is None:
        return hs, index
    from graphroute.graph.state import GraphState
    from graphroute.routers.gnn import training

    nets = training.build_nets(router.net_config_, [{k: v.astype(np.float32) for k, v in w.items()} for w in weights])
    hs = training.encode(nets, GraphState.from_arrays(half_graph), router.k_neighbors)
    if index is not None:
        index = IVFIndex.build(half_graph.query_x, seed=router.seed)
    return hs, index


def save(router, path: str | Path, *, max_text_chars: int | None = None, half: bool = False) -> Path:
    """``Router.save``: see there."""
    import safetensors.numpy as stn

    router._check_fitted()
    if not isinstance(router.embedder, str) and router._embedder().name not in EMBEDDERS:
        raise ConfigError(f"Cannot save a router whose embedder {router._embedder().name!r} is not registered; "
                          "register it with graphroute.embed.register_embedder so load() can rebuild it.")
    path = Path(path)
    with router._lock:  # growth publishes a state and its catalog together under this lock: save one pair
        live, catalog = router._live, router.catalog_
    arrays = live.graph.arrays()
    meta = live.graph.meta()
    half_graph = None
    weights = [{k: np.ascontiguousarray(v.astype(np.float16) if half else v) for k, v in w.items()}
               for w in router.net_weights_]
    if half:
        arrays = _compact(arrays)
        half_graph = GraphArrays.from_parts(arrays, meta)
    hs, index = _published(router, live, half_graph, weights)
    if max_text_chars is not None:
        meta["query_texts"] = [t[:max_text_chars] for t in meta["query_texts"]]
    params = router.get_params()
    params["embedder"] = router._embedder().name if not isinstance(router.embedder, str) else router.embedder
    params["cache_dir"] = None if params["cache_dir"] in (None, False) else str(params["cache_dir"])
    config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "graphroute_version": __version__,
        "params": params, "net_config": asdict(router.net_config_), "n_members": len(router.net_weights_),
        "prefixes": router.prefixes_, "has_latency": router.has_latency_, "catalog": catalog.to_dict(),
        "state_meta": meta, "history": router.history_, "index": index is not None,
    }
    evidence = getattr(router, "text_evidence_", None)
    files = {"graph.safetensors": arrays}
    for i, w in enumerate(weights):
        files[f"net_{i}.safetensors"] = w
    for i, h in enumerate(hs):
        files[f"nodes_{i}.safetensors"] = {nt: np.ascontiguousarray(h[nt], dtype=np.float32) for nt in NODE_TYPES}
    if index is not None:
        files["index.safetensors"] = index.arrays()
    if evidence is not None:
        config["text_evidence"], files["text_evidence.safetensors"] = evidence.to_parts(half=half)
    classifier = getattr(router, "task_classifier_", None)
    config["task_inference"] = getattr(router, "task_inference_", None)
    if classifier is not None:
        config["task_classifier"], files["task_classifier.safetensors"] = classifier.to_parts(half=half)
    _write_dir(path, config, files, stn.save_file)
    return path


def _write_dir(path: Path, config: dict, files: dict[str, dict[str, np.ndarray]], save_file) -> None:
    """Write config + safetensors files + manifest into a temporary directory, then swap it in atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    old = None
    try:
        (tmp / "config.json").write_text(json.dumps(config))
        for name, tensors in files.items():
            save_file(tensors, str(tmp / name))
        names = sorted(p.name for p in tmp.iterdir())
        manifest = {"format": FORMAT, "files": {f: _sha256(tmp / f) for f in names}}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        for f in tmp.iterdir():  # mkdtemp and safetensors create owner-only files; a router is shareable data
            f.chmod(0o644)
        tmp.chmod(0o755)
        if not path.exists():
            os.replace(tmp, path)
        elif _exchange(tmp, path):  # one atomic step: a crash leaves the old or the new router, never neither
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous router
        else:  # no atomic exchange on this system: old aside, new in (the except below puts the old back)
            old = path.parent / f".{path.name}.old-{os.getpid()}-{threading.get_ident()}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        if old is not None and old.exists() and not path.exists():
            os.replace(old, path)  # the swap failed between its two renames: put the previous router back
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directory entries in one atomic step (Linux renameat2 RENAME_EXCHANGE).

    Returns False where the system or file system cannot (the caller then renames twice).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # no glibc >= 2.28
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):  # unsupported here
        return False
    raise OSError(err, os.strerror(err), str(b))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------------------ load
def _verified_files(path: Path) -> dict[str, str]:
    """The manifest's {file: sha256}, every file checked: a plain file inside ``path`` with that hash."""
    if not path.is_dir():
        raise RouterFileError(f"No saved router at {str(path)!r} (not a directory). Save one with router.save(path), "
                              "or check the path.")
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        files = manifest["files"]
        if not isinstance(files, dict):
            raise TypeError("files is not a mapping")
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise RouterFileError(f"{path}/manifest.json is missing or unreadable ({exc}); the directory is not a complete "
                              "saved router. Save it again.") from None
    for name, digest in files.items():
        f = path / name
        if Path(name).name != name or name.startswith("."):
            raise RouterFileError(f"The manifest of {path} names {name!r}, which is not a plain file name; refusing it "
                                  "(a saved router reads only files inside its directory). Save the router again.")
        if f.is_symlink():
            raise RouterFileError(f"{f} is a symbolic link; a saved router holds plain files only, so links (which "
                                  "could point outside the directory) are refused. Replace it with the file itself.")
        if not f.is_file():
            raise RouterFileError(f"{f} is missing; the saved router is incomplete. Save it again.")
        if _sha256(f) != digest:
            raise RouterFileError(f"{f} does not match its recorded hash: the file was truncated, corrupted or "
                                  "edited. Restore it or save the router again.")
    return files


def _read_config(path: Path, files: dict[str, str]) -> dict:
    try:
        config = json.loads((path / "config.json").read_text())
        if not isinstance(config, dict):
            raise ValueError(f"a JSON {type(config).__name__}, not an object")
    except (OSError, ValueError, RecursionError) as exc:
        raise RouterFileError(f"{path}/config.json is unreadable ({exc}). Save the router again.") from None
    version = config.get("format_version")
    if config.get("format") != FORMAT or version not in READS or type(version) is not int:
        raise RouterFileError(f"{path} holds format {config.get('format')!r} version {version!r}; this graphroute "
                              f"({__version__}) reads {FORMAT!r} version {FORMAT_VERSION} (and {', '.join(map(str, READS[:-1]))}). "
                              "Re-save it with a matching graphroute version.")
    n_members = config.get("n_members")
    needed = ["config.json", "graph.safetensors"]
    if isinstance(n_members, int) and 1 <= n_members <= len(files):
        needed += [f"net_{i}.safetensors" for i in range(n_members)]
        if version >= 2:
            needed += [f"nodes_{i}.safetensors" for i in range(n_members)]
        if version >= 2 and config.get("index"):
            needed.append("index.safetensors")
        if version >= 3 and config.get("text_evidence"):
            needed.append("text_evidence.safetensors")
        if version >= 3 and config.get("task_classifier"):
            needed.append("task_classifier.safetensors")
    unlisted = [f for f in needed if f not in files]
    if unlisted or not isinstance(n_members, int) or not 1 <= n_members <= len(files):
        raise RouterFileError(f"{path}: the manifest does not cover {unlisted or 'the networks'} "
                              f"(n_members={n_members!r}), so those files are unverified; refusing them. "
                              "Save it again.")
    return config


def load(path: str | Path, *, embedder: str | Embedder | None = None, cache_dir=None):
    """Load a router saved with ``Router.save``; checks every file's hash and the format version.

    embedder: override the saved embedder (e.g. a custom registered one). cache_dir: this machine's
    embedding cache (None: the default); a cache path saved in the file is never used, since a path
    read from a file could point anywhere. A version-2 router loads with numpy only; a version-1
    router imports torch once, to encode its graph (re-save it to make later loads torch-free).
    Raises RouterFileError when the directory is missing, damaged, tampered or of another version.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from graphroute.routers.gnn.router import Router

    path = Path(path)
    files = _verified_files(path)
    config = _read_config(path, files)
    try:
        params = dict(config["params"])
        if embedder is not None:
            params["embedder"] = embedder
        else:
            _check_saved_embedder(path, params.get("embedder"))
        params["cache_dir"] = cache_dir  # the cache is this machine's choice, never a path read from the file
        router = Router(**params)
        graph = GraphArrays.from_parts(load_file(str(path / "graph.safetensors")), config["state_meta"])
        router.net_config_ = NetConfig.from_dict(config["net_config"])
        router.prefixes_ = list(config["prefixes"])
        router.has_latency_ = bool(config["has_latency"])
        router.catalog_ = Catalog.from_dict(config["catalog"])
        router.history_ = config.get("history", [])
        router.net_weights_ = [_weights(load_file(str(path / f"net_{i}.safetensors")), router.net_config_, i)
                               for i in range(int(config["n_members"]))]
        router._nets = None
        _check_graph(graph)
        if config["format_version"] == 1:  # node states were not saved: encode them (torch)
            _publish_v1(router, graph)
        else:
            hs = [_node_states(load_file(str(path / f"nodes_{i}.safetensors")), graph, router.net_config_)
                  for i in range(len(router.net_weights_))]
            index = None
            if config.get("index") and resolve_mode(router.neighbor_search, graph.n_queries) == "ivf":
                index = IVFIndex.from_arrays(graph.query_x, load_file(str(path / "index.safetensors")))
            router._publish(graph, hs, index=index, carry_index=False)
        router.text_evidence_ = None
        if config.get("text_evidence"):
            from graphroute.routers.text_evidence import TextEvidence

            router.text_evidence_ = TextEvidence.from_parts(config["text_evidence"],
                                                            load_file(str(path / "text_evidence.safetensors")))
        router.task_classifier_ = None
        router.task_inference_ = config.get("task_inference") or {"method": "neighbour vote"}
        if config.get("task_classifier"):
            from graphroute.routers.task_inference import TaskClassifier

            router.task_classifier_ = TaskClassifier.from_parts(config["task_classifier"],
                                                                load_file(str(path / "task_classifier.safetensors")))
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError, SafetensorError) as exc:
        raise RouterFileError(f"{path} could not be rebuilt ({type(exc).__name__}: {exc}); it was written by an "
                              "incompatible graphroute or edited. Save it again.") from None
    return router


def _publish_v1(router, graph: GraphArrays) -> None:
    from graphroute.graph.state import GraphState

    router._publish_state(GraphState.from_arrays(graph), carry_index=False)


def _weights(w: dict[str, np.ndarray], cfg: NetConfig, i: int) -> dict[str, np.ndarray]:
    """A member's state dict as float32, checked against the network's shapes (as ``load_state_dict(strict=True)``)."""
    want = cfg.param_shapes(EDGE_TYPES, EDGE_DIMS)
    missing, unexpected = sorted(set(want) - set(w)), sorted(set(w) - set(want))
    if missing or unexpected:
        raise ValueError(f"net_{i}.safetensors does not fit the network: missing {missing[:3]}, unexpected "
                         f"{unexpected[:3]}")
    for k, shape in want.items():
        if tuple(w[k].shape) != shape:
            raise ValueError(f"size mismatch for {k} in net_{i}.safetensors: saved {tuple(w[k].shape)}, the network "
                             f"has {shape}")
    out = {k: np.asarray(w[k], dtype=np.float32) for k in want}
    if not all(np.isfinite(v).all() for v in out.values()):
        raise ValueError(f"net_{i}.safetensors holds NaN or infinite weights")
    return out


def _node_states(h: dict[str, np.ndarray], graph: GraphArrays, cfg: NetConfig) -> dict[str, np.ndarray]:
    sizes = {"query": graph.n_queries, "task": len(graph.task_names), "model": len(graph.model_names),
             "agent": len(graph.agent_names)}
    out = {}
    for nt in NODE_TYPES:
        v = np.asarray(h[nt], dtype=np.float32)
        if v.shape != (sizes[nt], cfg.hidden):
            raise ValueError(f"the saved {nt} node states have shape {v.shape}, not ({sizes[nt]}, {cfg.hidden})")
        if not np.isfinite(v).all():
            raise ValueError(f"the saved {nt} node states hold NaN or infinite values")
        out[nt] = v
    return out


def _check_saved_embedder(path: Path, spec) -> None:
    """A saved embedder must be a registered name with integer options only (e.g. "hash:dim=32"): a
    string option could be a path, and a saved router must not make load() read files outside it."""
    if not isinstance(spec, str):
        raise RouterFileError(f"{path}: saved embedder {spec!r} is not a name. Pass embedder= to load().")
    base, kwargs = parse_spec(spec)
    if base not in EMBEDDERS:
        raise RouterFileError(f"{path} was saved with embedder {spec!r}, which is not registered here (valid: "
                              f"{sorted(EMBEDDERS)}). Register it with graphroute.embed.register_embedder before "
                              "load(), or pass embedder= to load().")
    text = {k: v for k, v in kwargs.items() if not isinstance(v, int)}
    if text:
        raise RouterFileError(f"{path}: saved embedder spec {spec!r} carries non-numeric options {sorted(text)} "
                              "(possibly a path outside the router's directory); refusing it. "
                              "Pass embedder= to load().")


def _check_graph(g: GraphArrays) -> None:
    """Shapes agree and every index points inside its table (raises ValueError naming the first break)."""
    n, t = len(g.query_ids), len(g.task_names)
    m, a, e = len(g.model_names), len(g.agent_names), g.out_query.shape[0]
    sizes = {"query_texts": (len(g.query_texts), n), "query_task": (g.query_task.shape[0], n),
             "query_x": (g.query_x.shape[0], n), "task_x": (g.task_x.shape[0], t),
             "model_x": (g.model_x.shape[0], m), "model_num": (g.model_num.shape[0], m),
             "agent_x": (g.agent_x.shape[0], a), "nbr_idx": (g.nbr_idx.shape[0], n),
             "nbr_sim": (tuple(g.nbr_sim.shape), tuple(g.nbr_idx.shape))}
    sizes.update({f: (getattr(g, f).shape[0], e) for f in
                  ("out_model", "out_agent", "out_effect", "out_cost", "out_latency")})
    for name, (got, want) in sizes.items():
        if got != want:
            raise ValueError(f"{name} has {got} rows where {want} were expected")
    for name, idx, hi in (("query_task", g.query_task, t), ("out_query", g.out_query, n),
                          ("out_model", g.out_model, m), ("out_agent", g.out_agent, a), ("nbr_idx", g.nbr_idx, n)):
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= hi):
            raise ValueError(f"{name} points outside its table of {hi} rows")
    for name in ("query_x", "task_x", "model_x", "model_num", "agent_x", "out_effect", "out_cost"):
        if not bool(np.isfinite(getattr(g, name)).all()):
            raise ValueError(f"{name} holds NaN or infinite values")
    if g.out_cost.size and float(g.out_cost.min()) < 0:
        raise ValueError("out_cost holds negative costs")
    dims = {g.query_x.shape[1:], g.task_x.shape[1:], g.model_x.shape[1:], g.agent_x.shape[1:]}
    if len(dims) != 1 or g.query_x.ndim != 2:
        raise ValueError(f"the node embeddings disagree in width ({sorted(dims)})")
