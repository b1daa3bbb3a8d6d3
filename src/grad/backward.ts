// Reverse-mode differentiation over a tape: walks the recorded nodes backwards from a scalar loss, asks
// each node's backward rule (./rules.ts) for its inputs' adjoints given its outputs', and sums adjoints
// where a value fans out. The adjoint nodes are emitted into the same graph (standard ONNX ops), so one
// session runs forward and backward. Only values that depend on a requested input are visited.
import type { Tape, TapeNode } from './tape.js';
import { RULES, type Rule } from './rules.js';

/** Emitting helpers the rules share. */
export class GradContext {
  /** The node producing each value, and how many differentiable nodes read it (for rules that fuse a pattern). */
  readonly producer = new Map<string, TapeNode>();
  readonly readers = new Map<string, number>();

  constructor(readonly t: Tape, nodes: readonly TapeNode[] = []) {
    for (const n of nodes) {
      for (const o of n.outputs) this.producer.set(o, n);
      // Readers on a differentiable path only (an earlier backward pass's nodes read values too).
      if (n.outputs.some((o) => t.isDifferentiable(o))) for (const i of n.inputs) this.readers.set(i, (this.readers.get(i) ?? 0) + 1);
    }
  }

  op(opType: string, inputs: string[], attrs?: Parameters<Tape['op']>[2]): string {
    return this.t.op(opType, inputs, attrs);
  }

  shape(name: string): number[] {
    return this.t.shapeOf(name);
  }

  private readonly again = new Map<string, string>();

  /**
   * A forward value as a rule's product reads it: the value itself, or, where the emitter marked it
   * recomputable (Winograd's transformed input), its recomputation, emitted once in the backward so that
   * the forward's copy is freed after its last forward reader.
   */
  saved(name: string): string {
    const emit = this.t.recomputed.get(name);
    if (!emit) return name;
    let out = this.again.get(name);
    if (!out) {
      out = emit();
      this.again.set(name, out);
    }
    return out;
  }

  ints(values: readonly number[]): string {
    return this.t.ints('g.i64', values);
  }

  scalar(v: number): string {
    return this.t.scalar('g.f32', v);
  }

  reshape(x: string, shape: number[]): string {
    const s = this.shape(x);
    return s.length === shape.length && s.every((d, i) => d === shape[i]) ? x : this.op('Reshape', [x, this.ints(shape)]);
  }

  /** Sums a broadcast gradient `g` back to `shape` (the operand's): the adjoint of numpy broadcasting. */
  unbroadcast(g: string, shape: number[]): string {
    const gs = this.shape(g);
    const lead = gs.length - shape.length;
    const axes = gs.map((d, i) => i).filter((i) => i < lead || (shape[i - lead] === 1 && gs[i] !== 1));
    if (!axes.length) return this.reshape(g, shape);
    return this.reshape(this.op('ReduceSum', [g, this.ints(axes)], { keepdims: 1 }), shape);
  }

  /** `g` broadcast to `shape` (the adjoint of a reduction). */
  expand(g: string, shape: number[]): string {
    const gs = this.shape(g);
    return gs.length === shape.length && gs.every((d, i) => d === shape[i]) ? g : this.op('Expand', [g, this.ints(shape)]);
  }
}

function sum(ctx: GradContext, parts: string[]): string {
  return parts.length === 1 ? parts[0] : ctx.op('Sum', parts);
}

/** Values that depend on one of `wrt` (through differentiable nodes). */
function dependents(t: Tape, nodes: TapeNode[], wrt: string[]): Set<string> {
  const dep = new Set(wrt);
  for (const n of nodes) {
    if (n.inputs.some((i) => dep.has(i))) for (const o of n.outputs) if (t.isDifferentiable(o)) dep.add(o);
  }
  return dep;
}

/**
 * Gradients of the scalar `loss` with respect to each of `wrt` (graph inputs declared with `grad`), as
 * names of new values in the tape (in `wrt` order). `seed` scales the loss's adjoint (default 1). An input
 * the loss does not reach gets zeros of its shape (finite inputs).
 */
export function gradients(t: Tape, loss: string, wrt: string[], seed?: string): string[] {
  const nodes = t.nodes.slice();
  const ctx = new GradContext(t, nodes);
  const dep = dependents(t, nodes, wrt);
  const adj = new Map<string, string[]>([[loss, [seed ?? ctx.expand(ctx.scalar(1), t.shapeOf(loss))]]]);
  const was = t.recording;
  t.recording = false;
  try {
    for (let k = nodes.length - 1; k >= 0; k--) backwardNode(ctx, nodes[k], adj, dep);
  } finally {
    t.recording = was;
  }
  return wrt.map((w) => {
    const parts = adj.get(w);
    // An unreached input's zeros are computed from it (w - w): a constant output would be folded by
    // onnxruntime into an initializer, which a session does not return.
    return parts ? sum(ctx, parts) : ctx.op('Sub', [w, w]);
  });
}

function backwardNode(ctx: GradContext, n: TapeNode, adj: Map<string, string[]>, dep: Set<string>): void {
  const want = n.inputs.map((i) => dep.has(i) && ctx.t.isDifferentiable(i));
  if (!want.some(Boolean) || !n.outputs.some((o) => adj.has(o) && dep.has(o))) return;
  const rule: Rule | undefined = RULES[n.op];
  if (!rule) throw new Error(`no backward rule for ONNX ${n.op} (node producing ${n.outputs[0]})`);
  const dys = n.outputs.map((o) => (adj.has(o) ? sum(ctx, adj.get(o)!) : null));
  const dxs = rule(ctx, n, dys, want);
  n.inputs.forEach((input, i) => {
    const dx = dxs[i];
    if (!want[i] || !dx) return;
    const parts = adj.get(input) ?? [];
    parts.push(dx);
    adj.set(input, parts);
  });
}
