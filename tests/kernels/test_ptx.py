"""The grid barrier of every persistent (SYNC=True) kernel, checked on the PTX the GPU would run.

Compiled ahead of time (no GPU) by `python -m kernels.aot --dump`, the launcher's own configurations.
For each kernel, with the exchanged buffers (`*buf_ptr`: hbuf, gbuf, mbuf, dhbuf, the values programs
hand each other between steps) traced from their kernel parameter through the address arithmetic:

- the arrive is a release atomic at gpu scope on the counter (count_ptr), executed by one thread
  (its predicate, evaluated for every thread of the block, is true for exactly one), after a bar.sync
  on every path from an exchanged store;
- the poll is an acquire load (or atomic) at gpu scope on the counter, in a loop;
- no load of an exchanged buffer is .nc; every load that can read a value stored in the same launch
  (reachable from a store of that buffer) is strong or L2-only (.cg, .cv, .volatile, .relaxed/.acquire
  at gpu scope: never a plain cached ld.global) - the loads of the initial state before the time loop
  read what was written before the launch and may be cached; no exchanged load lies between the arrive
  and the poll loop's exit; every path from a store of a buffer to a load of it passes an arrive and
  then a poll.

The checker itself is tested on mutated PTX (each rule broken once). sm_90 and sm_80 at H = 128 run
by default; the table's larger configurations (H 256-512, bf16 / fp16, tf32x3) are slow.
"""
import dataclasses
import json
import os
import re
import subprocess
import sys
from collections import deque
from pathlib import Path

import pytest
import torch

from kernels import cells

KERNELS = [f"{cell}_{k}" for cell in cells.CELLS for k in ("fwd", "bwd")]  # every registered cell
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
EXCHANGED = re.compile(r"buf_ptr$")  # hbuf_ptr, gbuf_ptr, mbuf_ptr, dhbuf_ptr
STRONG = {"cg", "cv", "volatile"}    # L2-only or uncached: never a stale L1 line


# --- PTX parsing ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Instr:
    index: int
    line: int        # 1-based line in the PTX text
    pred: str | None  # "%p3" or "!%p3"
    op: str          # "ld.global.cg.v4.b32"
    args: str        # the operands as written
    text: str

    @property
    def parts(self) -> list[str]:
        return self.op.split(".")

    @property
    def address_regs(self) -> list[str]:
        return [r for m in re.findall(r"\[([^\]]*)\]", self.args) for r in REG.findall(m)]

    @property
    def dest(self) -> str | None:
        m = REG.match(self.args.strip())
        return m.group(0) if m else None


REG = re.compile(r"%[a-z]+[0-9]+|%(?:tid|ntid|ctaid|nctaid|laneid|warpid)\.[xyz]?")
LABEL = re.compile(r"^\s*(\$?[\w$]+):")
PARAM = re.compile(r"\[\s*(\w+)_param_(\d+)\s*\]")


@dataclasses.dataclass
class Kernel:
    name: str
    instrs: list
    labels: dict      # label -> index of the instruction after it
    threads: int      # .reqntid
    param_types: list  # "u64" | "u32" ... per PTX parameter

    def successors(self, i: int) -> list[int]:
        ins = self.instrs[i]
        if ins.op.startswith("bra"):
            target = self.labels[ins.args.strip()]
            return [target] if ins.pred is None else [target, i + 1]
        if ins.op in ("ret", "exit") and ins.pred is None:
            return []
        return [i + 1] if i + 1 < len(self.instrs) else []


def parse_ptx(text: str) -> Kernel:
    """The one .entry of a Triton PTX file as a list of instructions with labels."""
    instrs, labels = [], {}
    name = re.search(r"\.entry\s+(\w+)\(", text).group(1)
    header = text[text.index(".entry"):text.index(")", text.index(".entry"))]
    param_types = re.findall(r"\.param\s+\.(\w+)", header)
    threads = int(re.search(r"\.reqntid\s+(\d+)", text).group(1))
    body = text[text.index("{", text.index(".entry")):]
    for n, raw in enumerate(body.splitlines(), start=text[:text.index("{", text.index(".entry"))].count("\n") + 1):
        line = raw.split("//")[0].strip()
        if not line or line.startswith(".") or line in ("{", "}"):
            continue
        m = LABEL.match(line)
        if m:
            labels[m.group(1)] = len(instrs)
            continue
        pred = None
        if line.startswith("@"):
            pred, line = line[1:].split(None, 1)
        op, _, args = line.rstrip(";").partition(" ")
        instrs.append(Instr(len(instrs), n, pred, op.strip(), args.strip(), raw.strip()))
    return Kernel(name, instrs, labels, threads, param_types)


ARITH = {"mov", "add", "sub", "mad", "mul", "cvt", "cvta", "shl", "shr", "and", "or", "xor", "selp", "min", "max",
         "neg", "bfe", "bfi", "prmt", "mul24", "mad24"}


def pointer_params(k: Kernel) -> dict[str, set[int]]:
    """register -> the kernel parameters its value is derived from (address arithmetic, flow-insensitive)."""
    taint: dict[str, set[int]] = {}
    for ins in k.instrs:
        m = PARAM.search(ins.args)
        if ins.op.startswith("ld.param") and m:
            taint.setdefault(ins.dest, set()).add(int(m.group(2)))
    changed = True
    while changed:
        changed = False
        for ins in k.instrs:
            if ins.parts[0] not in ARITH or ins.dest is None:
                continue
            srcs = set().union(*(taint.get(r, set()) for r in REG.findall(ins.args)[1:]))
            if not srcs <= taint.get(ins.dest, set()):
                taint.setdefault(ins.dest, set()).update(srcs)
                changed = True
    return taint


def touches(ins: Instr, taint: dict, params: set[int]) -> bool:
    return any(taint.get(r, set()) & params for r in ins.address_regs)


# --- the rules --------------------------------------------------------------------------------------------------
def _scope_ok(ins: Instr) -> bool:
    """gpu or system scope; atomics without a scope are .gpu by PTX's default."""
    scopes = {"cta", "cluster", "gpu", "sys"} & set(ins.parts)
    return scopes <= {"gpu", "sys"} and (bool(scopes) or ins.parts[0] in ("atom", "red"))


def is_arrive(ins: Instr) -> bool:
    return ins.parts[0] in ("atom", "red") and bool({"release", "acq_rel"} & set(ins.parts))


def is_poll(ins: Instr) -> bool:
    return ins.parts[0] in ("ld", "atom") and bool({"acquire", "acq_rel"} & set(ins.parts))


def _eval(k: Kernel, defs: dict, reg: str, tid: int, depth: int = 0):
    """The value of reg in thread tid, from the instructions defining it (tid-only arithmetic)."""
    if reg == "%tid.x":
        return tid
    if re.fullmatch(r"-?(0x[0-9a-fA-F]+|\d+)", reg):
        return int(reg, 0)
    if reg not in defs or len(defs[reg]) != 1 or depth > 50:
        raise ValueError(f"{reg} is not a function of %tid.x alone")
    ins = defs[reg][0]
    ops = [a.strip() for a in ins.args.split(",")][1:]
    v = [(lambda a: _eval(k, defs, a, tid, depth + 1))(a) if not a.startswith("!") else
         not _eval(k, defs, a[1:], tid, depth + 1) for a in ops]
    kind = ins.parts[0]
    if kind == "mov":
        return v[0]
    if kind == "setp":
        cmp = ins.parts[1]
        return {"eq": v[0] == v[1], "ne": v[0] != v[1], "lt": v[0] < v[1], "le": v[0] <= v[1], "gt": v[0] > v[1],
                "ge": v[0] >= v[1]}[cmp]
    if kind == "bfe":
        return (v[0] >> v[1]) & ((1 << v[2]) - 1)
    if kind == "selp":
        return v[0] if v[2] else v[1]
    if kind == "not":
        return (not v[0]) if ins.parts[1] == "pred" else ~v[0]
    binary = {"and": lambda a, b: a & b, "or": lambda a, b: a | b, "xor": lambda a, b: a ^ b,
              "shl": lambda a, b: a << b, "shr": lambda a, b: a >> b, "add": lambda a, b: a + b,
              "sub": lambda a, b: a - b, "mul": lambda a, b: a * b}
    if kind in binary:
        return binary[kind](v[0], v[1])
    raise ValueError(f"{reg} defined by {ins.text!r}")


def threads_executing(k: Kernel, ins: Instr) -> list[int]:
    """The threads of a block that execute ins: its predicate (or the branch skipping it) evaluated per thread."""
    defs: dict[str, list] = {}
    for d in k.instrs:
        if d.dest is not None and d.parts[0] != "bra":
            defs.setdefault(d.dest, []).append(d)
    pred = ins.pred
    entries = set(k.labels.values())
    if pred is None:  # under a branch: a conditional branch jumping over it, and no label in between
        p = ins.index
        while p > 0 and p not in entries:
            b = k.instrs[p - 1]
            if b.op.startswith("bra"):
                if b.pred is not None and k.labels[b.args.strip()] > ins.index:
                    pred = b.pred[1:] if b.pred.startswith("!") else "!" + b.pred
                break
            p -= 1
    if pred is None:
        return list(range(k.threads))
    neg, reg = pred.startswith("!"), pred.lstrip("!")
    return [t for t in range(k.threads) if bool(_eval(k, defs, reg, t)) != neg]


def _reach(k: Kernel, starts, stop) -> set[int]:
    seen, todo = set(), deque(starts)
    while todo:
        i = todo.popleft()
        if i in seen or stop(i):
            continue
        seen.add(i)
        todo.extend(k.successors(i))
    return seen


def _predecessors(k: Kernel) -> dict[int, list[int]]:
    preds: dict[int, list[int]] = {}
    for i in range(len(k.instrs)):
        for j in k.successors(i):
            preds.setdefault(j, []).append(i)
    return preds


def barrier_problems(ptx: str, params: list[str]) -> list[str]:
    """Every rule of the module docstring broken by this kernel (empty: the barrier is sound).
    params: the kernel's runtime arguments in order (its PTX parameters)."""
    k = parse_ptx(ptx)
    problems = []
    for i, name in enumerate(params):  # the mapping is right: pointers are .u64, scalars .u32
        if (k.param_types[i] == "u64") != name.endswith("_ptr"):
            return [f"parameter {i} ({name}) is .{k.param_types[i]} in the PTX: wrong parameter list"]
    taint = pointer_params(k)
    counter = {params.index("count_ptr")}
    exchanged = {i for i, n in enumerate(params) if EXCHANGED.search(n)}
    arrives = [ins for ins in k.instrs if is_arrive(ins) and touches(ins, taint, counter)]
    polls = [ins for ins in k.instrs if is_poll(ins) and touches(ins, taint, counter)]
    if not arrives:
        return ["no release atomic on the counter (arrive)"]
    if not polls:
        return ["no acquire load or atomic on the counter (poll)"]
    for ins in k.instrs:
        if touches(ins, taint, counter) and ins.parts[0] in ("ld", "st", "atom", "red") and not (
                is_arrive(ins) or is_poll(ins)):
            problems.append(f"line {ins.line}: counter accessed without release/acquire: {ins.text}")
    for ins in arrives + polls:
        if not _scope_ok(ins):
            problems.append(f"line {ins.line}: not at gpu scope: {ins.text}")
    for a in arrives:
        try:
            who = threads_executing(k, a)
        except ValueError as e:
            who, problems = [], problems + [f"line {a.line}: arrive predicate unknown ({e}): {a.text}"]
        if len(who) != 1 and who:
            problems.append(f"line {a.line}: arrive executed by {len(who)} threads of {k.threads}: {a.text}")
    loads = [ins for ins in k.instrs if ins.parts[0] in ("ld", "cp") and touches(ins, taint, exchanged)]
    stores = [ins for ins in k.instrs if ins.parts[0] in ("st", "cp", "red", "atom") and touches(ins, taint, exchanged)]
    if not loads or not stores:
        return problems + [f"no loads ({len(loads)}) or stores ({len(stores)}) of the exchanged buffers found"]
    # loads that can read what another program stored in this launch (not the state written before it)
    in_launch = set()
    for st in stores:
        buffers = set().union(*(taint.get(r, set()) for r in st.address_regs)) & exchanged
        reached = _reach(k, k.successors(st.index), lambda i: False)
        in_launch |= {ins.index for ins in loads if ins.index in reached and
                      any(taint.get(r, set()) & buffers for r in ins.address_regs)}
    for ins in loads:
        parts = set(ins.parts)
        strong = bool(STRONG & parts) or (bool({"relaxed", "acquire"} & parts) and _scope_ok(ins))
        if "nc" in parts:
            problems.append(f"line {ins.line}: exchanged buffer loaded .nc: {ins.text}")
        elif ins.index in in_launch and not strong:
            problems.append(f"line {ins.line}: exchanged buffer loaded cached: {ins.text}")
    problems += _order_problems(k, arrives, polls, loads, stores, taint, exchanged)
    return problems


def _order_problems(k, arrives, polls, loads, stores, taint, exchanged) -> list[str]:
    problems = []
    arrive_ix, poll_ix = {a.index for a in arrives}, {p.index for p in polls}
    preds = _predecessors(k)
    # the barrier: instructions on a path arrive -> poll that does not pass an arrive again
    after = _reach(k, [j for a in arrive_ix for j in k.successors(a)], lambda i: i in arrive_ix)
    seen, todo = set(), deque(poll_ix)
    while todo:
        i = todo.popleft()
        if i in seen or i in arrive_ix:
            continue
        seen.add(i)
        todo.extend(preds.get(i, []))
    region = after & seen
    if not any(p.index in _reach(k, [j for j in k.successors(p.index) if j in region], lambda i: i not in region)
               for p in polls if p.index in region):
        problems.append("the poll is not in a loop (no spin until the target)")
    for ins in loads:
        if ins.index in region:
            problems.append(f"line {ins.line}: exchanged load between the arrive and the poll loop's exit: {ins.text}")
    bars = {i for i, ins in enumerate(k.instrs) if ins.parts[0] in ("bar", "barrier")}
    for st in stores:  # store -> (bar.sync) -> arrive -> poll -> load of the same buffer
        buffers = set().union(*(taint.get(r, set()) for r in st.address_regs)) & exchanged
        state_seen, todo = set(), deque((j, "stored") for j in k.successors(st.index))
        while todo:
            i, state = todo.popleft()
            if (i, state) in state_seen:
                continue
            state_seen.add((i, state))
            ins = k.instrs[i]
            if ins.parts[0] in ("ld", "cp") and any(taint.get(r, set()) & buffers for r in ins.address_regs):
                problems.append(f"line {ins.line}: reads what line {st.line} stored without a grid barrier between")
                continue
            if i in bars and state == "stored":
                state = "synced"
            elif i in arrive_ix:
                if state == "stored":
                    problems.append(f"line {ins.line}: arrive with no bar.sync after the store on line {st.line}")
                state = "arrived"
            elif i in poll_ix and state == "arrived":
                continue  # past the barrier
            todo.extend((j, state) for j in k.successors(i))
    return sorted(set(problems))


# --- compiling the launcher's configurations --------------------------------------------------------------------
_CACHE: dict[tuple, dict[str, str]] = {}


def _compiled(tmp_root: Path, arch: int, H: int, dtype: str, precision: str) -> dict[str, str]:
    """{kernel: PTX} of every cell's SYNC=True kernels, compiled once per configuration by kernels.aot --dump."""
    key = (arch, H, dtype, precision)
    if key not in _CACHE:
        out = tmp_root / f"sm{arch}-H{H}-{dtype}-{precision}"
        env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # real jit functions
        res = subprocess.run([sys.executable, "-m", "kernels.aot", "--json", "--kernel", *KERNELS, "--hidden", str(H),
                              "--arch", str(arch), "--dtype", dtype, "--precision", precision, "--sync", "sync",
                              "--dump", str(out)], env=env, capture_output=True, text=True, timeout=1500)
        assert res.returncode == 0, res.stderr[-3000:]
        rows = [json.loads(line) for line in res.stdout.splitlines()]
        assert [r["kernel"] for r in rows] == KERNELS
        assert all(r["sync"] and r["hblocks"] > 1 for r in rows), "a configuration without the grid barrier"
        ptx = {}
        for r in rows:
            files = sorted(out.glob(f"{r['kernel']}-sm{arch}-H{H}-{dtype}-{precision}-sync*.ptx"))
            assert len(files) == 1, f"{r['kernel']}: PTX files {files}"
            ptx[r["kernel"]] = files[0].read_text()
        _CACHE[key] = ptx
    return _CACHE[key]


def _runtime_params(kernel: str, H: int, dtype: str, precision: str, arch: int) -> list[str]:
    """The kernel's runtime arguments in order (constexprs and None pointers are not PTX parameters)."""
    from kernels import aot

    cell_name, which = kernel.rsplit("_", 1)
    cell = cells.get(cell_name)
    _, constexprs, _ = aot.launch_plan(cell, which, H, DTYPES[dtype], arch, exact_fp32=precision == "tf32x3")
    return [a for a in cell.kernels[which].fn.arg_names if a not in constexprs]


@pytest.fixture(scope="module")
def tmp_root(tmp_path_factory):
    return tmp_path_factory.mktemp("ptx")


def _check(tmp_root, kernel, arch, H, dtype, precision):
    ptx = _compiled(tmp_root, arch, H, dtype, precision)[kernel]
    problems = barrier_problems(ptx, _runtime_params(kernel, H, dtype, precision, arch))
    assert not problems, f"{kernel} sm_{arch} H={H} {dtype} {precision}:\n" + "\n".join(problems)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("arch", [90, 80], ids=["sm90", "sm80"])
def test_barrier_ptx(tmp_root, kernel, arch):
    """H = 128 fp32: 4 hidden blocks in every cell's launch table, the grid barrier compiled in."""
    _check(tmp_root, kernel, arch, 128, "fp32", "tf32")


@pytest.mark.slow
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("arch,H,dtype,precision", [
    (90, 320, "bf16", "tf32"), (80, 320, "bf16", "tf32"), (90, 256, "fp32", "tf32x3"),
    (90, 512, "fp16", "tf32"),
], ids=["sm90-H320-bf16", "sm80-H320-bf16", "sm90-H256-fp32-tf32x3", "sm90-H512-fp16"])
def test_barrier_ptx_sweep(tmp_root, kernel, arch, H, dtype, precision):
    _check(tmp_root, kernel, arch, H, dtype, precision)


# --- the checker catches each broken rule -----------------------------------------------------------------------
def _lines_with(ptx: str, pattern: str) -> list[int]:
    return [i for i, line in enumerate(ptx.splitlines()) if re.search(pattern, line.split("//")[0])]


def _mutate(ptx: str, pattern: str, repl: str, which: int = 0) -> str:
    lines = ptx.splitlines()
    n = _lines_with(ptx, pattern)[which]
    lines[n] = re.sub(pattern, repl, lines[n])
    return "\n".join(lines)


def _insert_after(ptx: str, pattern: str, new_line: str) -> str:
    lines = ptx.splitlines()
    n = _lines_with(ptx, pattern)[0]
    return "\n".join(lines[:n + 1] + [new_line] + lines[n + 1:])


MUTATIONS = {  # name -> (mutate(ptx), what the checker must report)
    "plain-cached-load": (lambda p: _mutate(p, r"ld\.global\.cg\.", "ld.global."), "loaded cached"),
    "nc-load": (lambda p: _mutate(p, r"ld\.global\.cg\.", "ld.global.nc."), "loaded .nc"),
    "arrive-every-thread": (lambda p: _mutate(p, r"@%p\d+\s+(atom\.global\.gpu\.release)", r"\1"),
                            "arrive executed by 128 threads"),
    "arrive-cta-scope": (lambda p: _mutate(p, r"atom\.global\.gpu\.release", "atom.global.cta.release"),
                         "not at gpu scope"),
    "arrive-relaxed": (lambda p: _mutate(p, r"atom\.global\.gpu\.release", "atom.global.gpu.relaxed"),
                       "no release atomic"),
    "poll-relaxed": (lambda p: re.sub(r"ld\.global\.gpu\.acquire", "ld.global.gpu.relaxed", p),
                     "no acquire load"),
    "poll-once": (lambda p: _mutate(p, r"ld\.global\.gpu\.acquire", "ld.global.gpu.relaxed", which=1),
                  "not in a loop"),
    "load-inside-barrier": (lambda p: _insert_after(p, r"atom\.global\.gpu\.release",
                                                    next(ln for ln in p.splitlines() if "ld.global.cg." in ln)),
                            "between the arrive and the poll loop's exit"),
    "no-bar-before-arrive": (lambda p: _drop_bar_before_arrive(p), "no bar.sync after the store"),
}


def _drop_bar_before_arrive(ptx: str) -> str:
    lines = ptx.splitlines()
    n = _lines_with(ptx, r"atom\.global\.gpu\.release")[0]
    bar = max(i for i in _lines_with(ptx, r"\bbar\.sync\b") if i < n)
    return "\n".join(lines[:bar] + lines[bar + 1:])


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_checker_catches_broken_barrier(tmp_root, mutation):
    ptx = _compiled(tmp_root, 90, 128, "fp32", "tf32")["lstm_fwd"]
    params = _runtime_params("lstm_fwd", 128, "fp32", "tf32", 90)
    assert barrier_problems(ptx, params) == []
    mutate, expected = MUTATIONS[mutation]
    problems = barrier_problems(mutate(ptx), params)
    assert any(expected in p for p in problems), problems


def test_checker_catches_load_hoisted_before_the_barrier(tmp_root):
    """A load of the exchanged buffer moved to just after the store (a prefetch across the barrier)."""
    ptx = _compiled(tmp_root, 90, 128, "fp32", "tf32")["gru_fwd"]
    params = _runtime_params("gru_fwd", 128, "fp32", "tf32", 90)
    load = next(ln for ln in ptx.splitlines() if "ld.global.cg." in ln)
    hbuf = params.index("hbuf_ptr")
    taint = pointer_params(parse_ptx(ptx))
    store = next(ins for ins in parse_ptx(ptx).instrs if ins.op.startswith("st.global") and touches(ins, taint, {hbuf}))
    problems = barrier_problems(_insert_after(ptx, re.escape(store.text.split("//")[0].strip()), load), params)
    assert any("without a grid barrier between" in p for p in problems), problems
