// The per-operator sum of onnxruntime's profile (the browser benchmark's --profile): the last model run only,
// from wasm's console lines and from a profile file alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { opTable, opTimes, traceEvents } from './op-profile.js';

const ev = (cat: string, name: string, ts: number, dur: number, op?: string) => ({ cat, name, ts, dur, ...(op ? { args: { op_name: op } } : {}) });
const events = [
  ev('Session', 'model_run', 0, 100), ev('Node', 'Conv_1_kernel_time', 10, 50_000, 'Conv'),
  ev('Session', 'model_run', 1000, 900), ev('Node', 'Conv_1_kernel_time', 1010, 3000, 'Conv'), ev('Node', 'Conv_2_kernel_time', 1100, 1000, 'Conv'),
  ev('Node', 'Conv_1_fence_before', 1005, 5, 'Conv'), ev('Node', 'Add_3_kernel_time', 1500, 500, 'Add'),
];

test('opTimes sums the kernels of the last model run by operator', () => {
  const t = opTimes(events);
  assert.deepEqual([...t], [['Conv', { ms: 4, nodes: 2 }], ['Add', { ms: 0.5, nodes: 1 }]]);
});

test('traceEvents reads console lines and a JSON array alike', () => {
  const lines = ['some log line', '[', ...events.map((e) => `${JSON.stringify(e)},`), ']'].join('\n');
  assert.deepEqual(traceEvents(lines), events);
  assert.deepEqual(traceEvents(JSON.stringify(events)), events);
  const table = opTable(opTimes(events), new Map([['Conv', { ms: 1, nodes: 2 }], ['Add', { ms: 0.5, nodes: 1 }]]), ['browser', 'node']);
  assert.equal(table[2], '| Conv | 4 ms (2) | 88.9% | 1 ms (2) | 4.00x |');
  assert.equal(table.at(-1), '| all kernels | 5 ms | 100% | 2 ms | 3.00x |');
});
