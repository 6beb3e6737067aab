"""A BERT sentence model as an ONNX graph, built here from its safetensors weights, run by ONNX Runtime.

No exported model file is needed (none can be downloaded here): the graph is written op by op from
the model's shape, and the weights are handed to ONNX Runtime from memory, so the graph itself is a
few kilobytes. The arithmetic is the model's (embeddings, six post-norm encoder layers, exact-erf
GELU, mean pooling, L2 normalisation), in standard ONNX operators (opset 20); ONNX Runtime fuses
what it can (bias + GELU) and runs the matrix products with its own kernels, which do a question's
small products about twice as fast as numpy and a batch as fast as torch (docs/performance.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from rag.index.embedder import BertShape

OPSET = 20  # Gelu is a standard operator from opset 20
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "embedding"


def bert_weights(w: dict[str, np.ndarray], shape: BertShape) -> dict[str, np.ndarray]:
    """The graph's weights by name, from the model's: Q, K and V joined into one product, the
    attention scale folded into Q, the token-type row folded into the positions (one type here)."""
    import numpy as np

    scale = np.float32(1.0 / np.sqrt(shape.hidden // shape.heads))
    out = {
        "word": w["embeddings.word_embeddings.weight"],
        "position": w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0],
        "embeddings.ln.w": w["embeddings.LayerNorm.weight"],
        "embeddings.ln.b": w["embeddings.LayerNorm.bias"],
    }
    for i in range(shape.layers):
        p = f"encoder.layer.{i}."
        att = p + "attention.self."
        out[p + "qkv.w"] = np.concatenate(
            [w[att + "query.weight"] * scale, w[att + "key.weight"], w[att + "value.weight"]]
        )
        out[p + "qkv.b"] = np.concatenate([w[att + "query.bias"] * scale, w[att + "key.bias"], w[att + "value.bias"]])
        for name, key in (
            ("attention.output.dense", "out"),
            ("intermediate.dense", "up"),
            ("output.dense", "down"),
        ):
            out[p + key + ".w"] = w[p + name + ".weight"]
            out[p + key + ".b"] = w[p + name + ".bias"]
        for name, key in (("attention.output.LayerNorm", "ln1"), ("output.LayerNorm", "ln2")):
            out[p + key + ".w"] = w[p + name + ".weight"]
            out[p + key + ".b"] = w[p + name + ".bias"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


class _Graph:
    """Nodes and constants of the graph being written; weights are declared, not stored."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        from onnx import TensorProto

        self.nodes: list = []
        self.constants: list = []
        self.weights: list = []
        for name, array in weights.items():
            t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=array.shape)
            t.data_location = TensorProto.EXTERNAL  # the data comes from memory at session creation
            for key, value in (("location", "weights"), ("offset", "0"), ("length", str(array.nbytes))):
                t.external_data.add(key=key, value=value)
            self.weights.append(t)
        self._count = 0

    def op(self, op_type: str, *inputs: str, **attrs: object) -> str:
        """Add a node of one output; its output's name."""
        return self.ops(op_type, *inputs, outputs=1, **attrs)[0]

    def ops(self, op_type: str, *inputs: str, outputs: int, **attrs: object) -> list[str]:
        """Add a node; its outputs' names."""
        from onnx import helper

        self._count += 1
        names = [f"{op_type.lower()}{self._count}_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attrs))  # type: ignore[arg-type]
        return names

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.constants.append(numpy_helper.from_array(value, name))
        return name


def bert_graph(weights: dict[str, np.ndarray], shape: BertShape) -> bytes:
    """The serialized ONNX model: (input_ids, attention_mask) int64 [batch, length] → unit vectors."""
    import numpy as np
    from onnx import TensorProto, helper

    g = _Graph(weights)
    d, heads = shape.hidden, shape.heads
    ids, mask = INPUTS

    def dense(x: str, key: str) -> str:  # x [batch·length, in] @ W.T + b, W as stored ([out, in])
        return g.op("Gemm", x, key + ".w", key + ".b", transB=1)

    def layer_norm(x: str, key: str) -> str:
        return g.op("LayerNormalization", x, key + ".w", key + ".b", epsilon=shape.eps, axis=-1)

    batch_length = g.op("Shape", ids)
    length = g.op("Shape", ids, start=1, end=2)
    positions = g.op("Slice", "position", g.const("zero", np.array([0], np.int64)), length)
    x = g.op("Add", g.op("Gather", "word", ids), positions)
    x = g.op("Reshape", layer_norm(x, "embeddings.ln"), g.const("rows", np.array([-1, d], np.int64)))
    by_head = g.op("Concat", batch_length, g.const("heads", np.array([heads, d // heads], np.int64)), axis=0)
    rows = "rows"
    maskf = g.op("Cast", mask, to=TensorProto.FLOAT)
    # 0 where a token is attended, float32's lowest where it is padding: added to the scores.
    bias = g.op(
        "Mul",
        g.op("Sub", g.const("one", np.array(1, np.float32)), maskf),
        g.const("lowest", np.array(np.finfo(np.float32).min, np.float32)),
    )
    bias = g.op("Unsqueeze", bias, g.const("axes12", np.array([1, 2], np.int64)))
    for i in range(shape.layers):
        p = f"encoder.layer.{i}."
        q, k, v = g.ops(
            "Split", dense(x, p + "qkv"), g.const(p + "split", np.array([d, d, d], np.int64)), axis=-1, outputs=3
        )

        def split_heads(t: str, perm: list[int]) -> str:
            return g.op("Transpose", g.op("Reshape", t, by_head), perm=perm)

        scores = g.op("MatMul", split_heads(q, [0, 2, 1, 3]), split_heads(k, [0, 2, 3, 1]))
        probs = g.op("Softmax", g.op("Add", scores, bias), axis=-1)
        context = g.op("Transpose", g.op("MatMul", probs, split_heads(v, [0, 2, 1, 3])), perm=[0, 2, 1, 3])
        x = layer_norm(g.op("Add", dense(g.op("Reshape", context, rows), p + "out"), x), p + "ln1")
        h = g.op("Gelu", dense(x, p + "up"))
        x = layer_norm(g.op("Add", dense(h, p + "down"), x), p + "ln2")
    x = g.op("Reshape", x, g.op("Concat", batch_length, g.const("width", np.array([d], np.int64)), axis=0))
    weights3 = g.op("Unsqueeze", maskf, g.const("axis2", np.array([2], np.int64)))
    axis1 = g.const("axis1", np.array([1], np.int64))
    summed = g.op("ReduceSum", g.op("Mul", x, weights3), axis1, keepdims=0)
    count = g.op("Max", g.op("ReduceSum", weights3, axis1, keepdims=0), g.const("tiny9", np.array(1e-9, np.float32)))
    pooled = g.op("Div", summed, count)
    norm = g.op("ReduceL2", pooled, g.const("last", np.array([-1], np.int64)), keepdims=1)
    norm = g.op("Max", norm, g.const("tiny12", np.array(1e-12, np.float32)))
    g.nodes.append(helper.make_node("Div", [pooled, norm], [OUTPUT]))
    graph = helper.make_graph(
        g.nodes,
        "bert",
        [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "length"]) for name in INPUTS],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", d])],
        g.weights + g.constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=10)
    return model.SerializeToString()


def bert_session(weights: dict[str, np.ndarray], shape: BertShape, *, threads: int, spin: bool = True):
    """An ONNX Runtime session of the model on the CPU with `threads` threads for each operator; with `spin`
    False, a thread with nothing to do sleeps at once instead of spinning a while for more. Either way no
    thread spins once a run has returned: ORT's default keeps one core busy ~50 ms after it, the time of the
    Chroma and SQLite writes that follow an ingest's last batch (docs/performance.md)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.log_severity_level = 3  # errors only: ORT warns about constants its optimiser folds away
    names = list(weights)
    options.add_external_initializers(names, [ort.OrtValue.ortvalue_from_numpy(weights[n]) for n in names])
    return ort.InferenceSession(bert_graph(weights, shape), options, providers=["CPUExecutionProvider"])
