"""What a user's ONNX file declares, read without running it, and the safety checks done before anything runs it.

:func:`describe` reads the graph's signature and bookkeeping (never the external weights);
:func:`check_safe` refuses files that are not ONNX, too big, use custom operators, point outside their
folder for weights, or declare absurd tensor sizes. Running a file is :mod:`restora.models.byo.probe`'s job.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from restora.errors import ModelError

MAX_FILE_BYTES = 2 * 1024**3  # protobuf's own limit; bigger models must keep weights in external data
ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})
MAX_DIM = 10**7
MAX_INPUT_ELEMENTS = 2**28


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: ``shape`` has ints for fixed dims and strings for symbolic or unknown ones
    (``"?"`` when the file gives neither); None when the file does not give the rank at all."""

    name: str
    dtype: str
    shape: tuple[int | str, ...] | None


@dataclass(frozen=True)
class ModelFacts:
    """What :func:`describe` found in one ONNX file."""

    path: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    opsets: tuple[tuple[str, int], ...]  # (domain, version) as imported by the model
    domains: frozenset[str]  # operator domains of all nodes, subgraphs and local function bodies included
    functions: tuple[str, ...]  # "domain:name" of model-local functions (their calls are not custom operators)
    external_data: tuple[str, ...]  # the 'location' of every tensor stored outside the file
    initializer_bytes: int
    file_bytes: int
    largest_dim: tuple[str, int] = ("", 0)  # (tensor, dim): the biggest fixed dim declared anywhere (a negative
    # one instead, when there is one)

    @property
    def name(self) -> str:
        """The file's name, for messages."""
        return os.path.basename(self.path)


def _dtype(elem_type: int) -> str:
    """"float32", "int64", ... for a TensorProto data type; the ONNX name where numpy has none."""
    import onnx

    try:
        return onnx.helper.tensor_dtype_to_np_dtype(elem_type).name
    except (KeyError, ValueError, TypeError):  # UNDEFINED and types numpy lacks
        return onnx.TensorProto.DataType.Name(elem_type).lower() if elem_type else "undefined"


def _spec(value_info) -> TensorSpec:
    """A :class:`TensorSpec` from a ValueInfoProto (sequences and maps get their kind as dtype, no shape)."""
    kind = value_info.type.WhichOneof("value")
    if kind != "tensor_type":
        return TensorSpec(value_info.name, str(kind or "undefined").replace("_type", ""), None)
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return TensorSpec(value_info.name, _dtype(tensor.elem_type), None)
    dims = []
    for dim in tensor.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        else:
            dims.append(dim.dim_param if dim.HasField("dim_param") and dim.dim_param else "?")
    return TensorSpec(value_info.name, _dtype(tensor.elem_type), tuple(dims))


def _tensor_bytes(tensor) -> int:
    """Bytes a TensorProto's data takes: its external 'length' or raw bytes, else element count x item size."""
    import onnx

    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        entries = {e.key: e.value for e in tensor.external_data}
        if entries.get("length", "").isdigit():
            return int(entries["length"])
    if tensor.raw_data:
        return len(tensor.raw_data)
    if tensor.data_type == onnx.TensorProto.STRING:
        return sum(len(s) for s in tensor.string_data)
    try:
        item = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, ValueError, TypeError):
        item = 1
    return math.prod(int(d) for d in tensor.dims) * item


def _subgraphs(node):
    """The graphs held by a node's attributes (If branches, Loop and Scan bodies)."""
    for attr in node.attribute:
        if attr.HasField("g"):
            yield attr.g
        yield from attr.graphs


def _attribute_tensors(node):
    """Tensors held by a node's attributes (Constant values and the like)."""
    for attr in node.attribute:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
        if attr.HasField("sparse_tensor"):
            yield attr.sparse_tensor.values
            yield attr.sparse_tensor.indices


class _Walk:
    """Accumulates domains, external locations, initializer bytes and dims over a graph and its subgraphs."""

    def __init__(self, local_functions: set[tuple[str, str]]):
        self.local = local_functions
        self.domains: set[str] = set()
        self.external: list[str] = []
        self.init_bytes = 0
        self.largest = ("", 0)

    def tensor(self, tensor, counted: bool) -> None:
        """One stored tensor: its external location, and its bytes when it is an initializer."""
        import onnx

        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            entries = {e.key: e.value for e in tensor.external_data}
            self.external.append(entries.get("location", ""))
        if counted:
            self.init_bytes += _tensor_bytes(tensor)
        for dim in tensor.dims:
            self.dim(tensor.name, int(dim))

    def dim(self, name: str, value: int) -> None:
        """Keeps the largest fixed dim seen, or the first negative one (invalid, so it is what gets reported)."""
        if self.largest[1] >= 0 and (value < 0 or value > self.largest[1]):
            self.largest = (name, value)

    def value_infos(self, infos) -> None:
        for info in infos:
            spec = _spec(info)
            for dim in spec.shape or ():
                if isinstance(dim, int):
                    self.dim(spec.name, dim)

    def nodes(self, nodes) -> None:
        for node in nodes:
            # a call to a model-local function is not an operator; its body's nodes are walked instead
            if (node.domain, node.op_type) not in self.local:
                self.domains.add(node.domain)
            for tensor in _attribute_tensors(node):
                self.tensor(tensor, counted=False)
            for graph in _subgraphs(node):
                self.graph(graph)

    def graph(self, graph) -> None:
        for tensor in graph.initializer:
            self.tensor(tensor, counted=True)
        for sparse in graph.sparse_initializer:
            self.tensor(sparse.values, counted=True)
            self.tensor(sparse.indices, counted=True)
        self.value_infos(list(graph.input) + list(graph.output) + list(graph.value_info))
        self.nodes(graph.node)


def _load(path: str):
    """The ModelProto of ``path`` without external data; ModelError when it is missing, empty, huge or not ONNX."""
    import onnx

    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise ModelError(f"{name}: no such model file ({path})")
    size = os.path.getsize(path)
    if size == 0:
        raise ModelError(f"{name}: the file is empty, not an ONNX model")
    if size > MAX_FILE_BYTES:
        raise ModelError(f"{name}: the file is {size / 1024**3:.1f} GiB; an ONNX file may be at most 2 GiB "
                         "(bigger models keep their weights in external data files)")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf and onnx raise assorted types for a broken file
        raise ModelError(f"{name}: not a valid ONNX model (it cannot be parsed: {_first_line(exc)})") from None
    # protobuf parses many non-ONNX byte strings into a mostly empty message rather than failing
    if not model.ir_version or not model.HasField("graph"):
        raise ModelError(f"{name}: not a valid ONNX model (no IR version or graph in it)")
    return model, size


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[:limit] + "..."


def describe(path: str | os.PathLike) -> ModelFacts:
    """The signature and bookkeeping of the ONNX file at ``path`` (external weights are never read).

    Inputs exclude names that are also initializers (old exporters list weights as graph inputs)."""
    path = os.fspath(path)
    model, size = _load(path)
    graph = model.graph
    local = {(f.domain, f.name) for f in model.functions}
    walk = _Walk(local)
    walk.graph(graph)
    for function in model.functions:
        walk.nodes(function.node)
    weights = {t.name for t in graph.initializer}
    return ModelFacts(
        path=path,
        inputs=tuple(_spec(v) for v in graph.input if v.name not in weights),
        outputs=tuple(_spec(v) for v in graph.output),
        opsets=tuple((o.domain, int(o.version)) for o in model.opset_import),
        domains=frozenset(walk.domains),
        functions=tuple(f"{d}:{n}" for d, n in sorted(local)),
        external_data=tuple(walk.external),
        initializer_bytes=walk.init_bytes,
        file_bytes=size,
        largest_dim=walk.largest,
    )


def _check_location(folder: str, location: str) -> str | None:
    """Why an external-data ``location`` is refused, or None: it must be a relative path inside ``folder``
    (symlinks followed) naming an existing file."""
    if not location:
        return "an externally stored tensor has no 'location'"
    if (PurePosixPath(location).is_absolute() or PureWindowsPath(location).is_absolute()
            or location.startswith(("/", "\\")) or PureWindowsPath(location).drive):
        return f"external data location '{location}' is an absolute path"
    if ".." in location.replace("\\", "/").split("/"):
        return f"external data location '{location}' contains '..'"
    root = os.path.realpath(folder)
    target = os.path.realpath(os.path.join(root, location))
    if os.path.commonpath([root, target]) != root:
        return f"external data location '{location}' resolves outside the model's folder"
    if not os.path.isfile(target):
        return f"external data file '{location}' does not exist next to the model"
    return None


def _check_dims(facts: ModelFacts) -> str | None:
    """Why the declared sizes are refused, or None (hostile files declare huge tensors to exhaust memory)."""
    tensor, dim = facts.largest_dim
    if dim < 0:
        return f"tensor '{tensor}' declares a negative dimension {dim}"
    if dim > MAX_DIM:
        return f"tensor '{tensor}' declares a dimension of {dim} (more than {MAX_DIM})"
    for spec in facts.inputs:
        fixed = [d for d in spec.shape or () if isinstance(d, int)]
        if math.prod(fixed) > MAX_INPUT_ELEMENTS:
            return f"input '{spec.name}' declares {math.prod(fixed)} elements (more than 2**28)"
    return None


def check_safe(path: str | os.PathLike, facts: ModelFacts | None = None) -> ModelFacts:
    """``facts`` (described here when None) once the file passes every safety check; ModelError naming the
    file and the first problem otherwise."""
    path = os.fspath(path)
    name = os.path.basename(path)
    facts = facts if facts is not None else describe(path)
    if facts.file_bytes > MAX_FILE_BYTES:
        raise ModelError(f"{name}: the file is {facts.file_bytes / 1024**3:.1f} GiB; at most 2 GiB is allowed")
    custom = sorted(facts.domains - ALLOWED_DOMAINS)
    if custom:
        raise ModelError(f"{name}: uses operators from custom domain(s) {', '.join(custom)}; only standard ONNX, "
                         "ai.onnx.ml and com.microsoft operators are allowed (custom-op libraries are not loaded)")
    folder = os.path.dirname(os.path.abspath(path))
    for location in facts.external_data:
        problem = _check_location(folder, location)
        if problem:
            raise ModelError(f"{name}: {problem}")
    problem = _check_dims(facts)
    if problem:
        raise ModelError(f"{name}: {problem}")
    if not facts.inputs or not facts.outputs:
        raise ModelError(f"{name}: the model has no {'inputs' if not facts.inputs else 'outputs'}")
    audio = facts.inputs[0]
    if audio.dtype != "float32":
        raise ModelError(f"{name}: its first input '{audio.name}' (the audio) is {audio.dtype}; it must be float32")
    _check_structure(path, name)
    return facts


def _check_structure(path: str, name: str) -> None:
    """ModelError when onnx's checker rejects the graph (a truncated or hand-broken file that still parsed).

    The checker is given the path so it resolves external data against the model's folder without reading it."""
    import onnx

    try:
        onnx.checker.check_model(path)
    except Exception as exc:  # noqa: BLE001 - ValidationError, and C++ errors surfaced as other types
        raise ModelError(f"{name}: not a valid ONNX model ({_first_line(exc)})") from None
