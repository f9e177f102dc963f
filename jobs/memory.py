"""Peak memory per GPU (or per CPU process) of a training, estimated before it runs, and what the slots hold.

The estimate adds five lines, each per GPU:
  weights      the base model in its training dtype (bf16 on a GPU, fp32 on the CPU; 4-bit NF4 linears with
               load_in_4bit), plus the LoRA matrices in fp32; with sharding=fsdp divided by the world size, plus the
               one decoder layer FSDP gathers whole while it computes.
  gradients    one per trainable weight (every weight for full, the LoRA matrices otherwise), sharded like the
               weights; DDP (several GPUs, sharding=none) keeps a second copy in its all-reduce buckets.
  optimizer    AdamW's two moments per trainable weight, sharded like the weights.
  activations  what the backward pass needs, for batch_size × max_seq_length tokens (the longest a batch can be,
               packed or not): per decoder layer (only its input with gradient_checkpointing, plus one layer being
               recomputed) and the logits over the vocabulary (with their fp32 loss copy and gradient). Never sharded.
  runtime      what the process holds besides tensors: the CUDA context on a GPU, Python, torch and the libraries
               on the CPU.
It is an estimate for choosing settings: bench/memory_estimate.py checks it against measured peaks
(docs/full-finetuning-and-sharding.md has the figures).
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from jobs.atomic import read_json

GIB = 1 << 30
RUNTIME_BYTES = {"gpu": int(0.5 * GIB), "cpu": int(0.6 * GIB)}
NF4_BYTES = 0.53          # bytes per 4-bit weight, with its double-quantized scales
LINES = ("weights", "gradients", "optimizer", "activations", "runtime")


@dataclass
class Estimate:
    lines: dict[str, int] = field(default_factory=dict)   # name -> bytes per GPU (or per CPU process)
    device: str = "gpu"
    world_size: int = 1
    processes_per_node: int = 1

    @property
    def total(self) -> int:
        return sum(self.lines.values())

    def text(self) -> list[str]:
        unit = "GPU" if self.device == "gpu" else "CPU process"
        out = [f"estimated peak memory per {unit}: {fmt_bytes(self.total)}"]
        out += [f"  {k}: {fmt_bytes(v)}" for k, v in self.lines.items()]
        return out


def fmt_bytes(n: float) -> str:
    return f"{n / GIB:.2f} GiB" if n >= GIB / 4 else f"{n / (1 << 20):.0f} MiB"


@dataclass(frozen=True)
class Shape:
    """What the estimate needs from a model's config.json."""
    params: int
    hidden: int
    layers: int
    intermediate: int
    vocab: int
    kv_hidden: int

    @classmethod
    def of(cls, model_path: Path, n_params: int | None = None) -> Shape | None:
        cfg = read_json(Path(model_path) / "config.json", {}) or {}
        cfg = cfg.get("text_config", cfg) if isinstance(cfg, dict) else {}
        try:
            h, L = int(cfg["hidden_size"]), int(cfg["num_hidden_layers"])
            inter = int(cfg.get("intermediate_size") or 4 * h)
            vocab = int(cfg["vocab_size"])
            heads = int(cfg.get("num_attention_heads") or 1)
            kv = int(cfg.get("num_key_value_heads") or heads)
        except (KeyError, TypeError, ValueError):
            return None
        kv_hidden = h * kv // max(heads, 1)
        if not n_params:
            emb = vocab * h * (1 if cfg.get("tie_word_embeddings") else 2)
            n_params = emb + L * (2 * h * h + 2 * h * kv_hidden + 3 * h * inter + 2 * h) + h
        return cls(int(n_params), h, L, inter, vocab, kv_hidden)

    @property
    def layer_linear(self) -> int:
        """Weights of one decoder layer's linear projections (q, k, v, o, gate, up, down)."""
        h, kv, i = self.hidden, self.kv_hidden, self.intermediate
        return 2 * h * h + 2 * h * kv + 3 * h * i

    def lora_params(self, rank: int) -> int:
        """LoRA on every linear of every decoder layer (target_modules="all-linear", the head excluded)."""
        h, kv, i = self.hidden, self.kv_hidden, self.intermediate
        per_layer = (h + h) * 2 + (h + kv) * 2 + (h + i) * 2 + (i + h)
        return self.layers * rank * per_layer


def estimate(shape: Shape, params: dict, device: str = "gpu") -> Estimate:
    """Peak bytes per GPU (device="gpu": bf16) or per CPU process (device="cpu": fp32) for these params."""
    b = 2 if device == "gpu" else 4
    gpus, nodes = int(params.get("num_gpus") or 1), int(params.get("num_nodes") or 1)
    world = gpus * nodes
    fsdp = params.get("sharding") == "fsdp" and world > 1
    shard = world if fsdp else 1
    full = params.get("finetuning_type") == "full"
    four_bit = bool(params.get("load_in_4bit")) and not full
    n = shape.params

    linear = shape.layers * shape.layer_linear
    base = (linear * NF4_BYTES + (n - linear) * b) if four_bit else n * b
    trainable = n if full else shape.lora_params(int(params.get("lora_rank") or 8))
    tb = b if full else 4                     # LoRA matrices train in fp32 whatever the base dtype
    layer_bytes = (shape.layer_linear * (NF4_BYTES if four_bit else b)) if fsdp else 0
    weights = base / shard + (0 if full else trainable * 4 / shard) + 2 * layer_bytes
    grads = trainable * tb / shard + (trainable * tb if world > 1 and not fsdp else 0)
    optim = 2 * trainable * tb / shard

    tokens = int(params.get("batch_size") or 1) * int(params.get("max_seq_length") or 1024)
    h, kv, i = shape.hidden, shape.kv_hidden, shape.intermediate
    per_layer = tokens * (6 * h + 2 * kv + 5 * i + (0 if full else 4 * h + i)) * b
    if params.get("gradient_checkpointing"):
        layers = shape.layers * tokens * h * b + per_layer
    else:
        layers = shape.layers * per_layer
    logits = tokens * shape.vocab * (b + 8)
    act = layers + logits + tokens * h * b
    return Estimate({"weights": int(weights), "gradients": int(grads), "optimizer": int(optim),
                     "activations": int(act), "runtime": RUNTIME_BYTES[device]},
                    device=device, world_size=world, processes_per_node=gpus)


# ---------------------------------------------------------------- what a slot holds
def gpu_memory(gpu_ids: list[str | None]) -> list[int | None]:
    """Total memory of each listed GPU (nvidia-smi), None for a CPU slot or a GPU it cannot read."""
    if not any(g is not None for g in gpu_ids):
        return [None] * len(gpu_ids)
    found: dict[str, int] = {}
    exe = shutil.which("nvidia-smi")
    if exe:
        try:
            out = subprocess.run([exe, "--query-gpu=index,memory.total", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=10).stdout
            for line in out.splitlines():
                idx, mib = (x.strip() for x in line.split(",")[:2])
                found[idx] = int(float(mib)) << 20
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    return [found.get(str(g)) if g is not None else None for g in gpu_ids]


def machine_memory() -> int:
    import psutil
    return int(psutil.virtual_memory().total)


def slot_memory(gpu_ids: list[str | None]) -> list[dict]:
    """What spooler.json records per slot: the GPU's memory, or for a CPU slot the machine's (shared by them all)."""
    gpus = gpu_memory(gpu_ids)
    return [{"memory_bytes": m, "memory_kind": "gpu"} if g is not None else
            {"memory_bytes": machine_memory(), "memory_kind": "cpu"} for g, m in zip(gpu_ids, gpus, strict=True)]
