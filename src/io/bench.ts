// `npm run bench -- io`: reading torch.save files at the size of the official local codebook
// (32000x768 float32, 98 MB): a contiguous tensor (as torch.save(tensor) writes it) and a transposed
// view of the same storage, which must be materialised to C order. Synthetic bytes, real layout.
import { zipSync } from 'fflate';
import { parsePth, pthTensor } from './pth.js';

const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
// BININT2 little-endian: 32000 = 0x7d00, 768 = 0x0300.
const N32000 = 'M\x00}';
const N768 = 'M\x00\x03';

function pthBytes(size: string, stride: string, storage: Uint8Array): Uint8Array {
  const pkl = latin1(
    '\x80\x02ctorch._utils\n_rebuild_tensor_v2\nq\x00((X\x07\x00\x00\x00storageq\x01ctorch\nFloatStorage\nq\x02' +
      'X\x01\x00\x00\x000q\x03X\x03\x00\x00\x00cpuq\x04J\x00\x00w\x01tq\x05QK\x00' + size + stride +
      '\x89ccollections\nOrderedDict\n)Rtq\x06R.',
  );
  return zipSync({ 'archive/data.pkl': [pkl, { level: 0 }], 'archive/data/0': [storage, { level: 0 }] });
}

export async function benchIo(args: string[]): Promise<void> {
  const reps = Number(args[0] ?? 3);
  const data = new Float32Array(32000 * 768).map((_, i) => i % 1000);
  const storage = new Uint8Array(data.buffer);
  const cases: [string, Uint8Array][] = [
    ['contiguous 32000x768', pthBytes(`${N32000}${N768}\x86`, `${N768}K\x01\x86`, storage)],
    ['transposed view 768x32000', pthBytes(`${N768}${N32000}\x86`, `K\x01${N768}\x86`, storage)],
  ];
  for (const [name, bytes] of cases) {
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      pthTensor(parsePth(bytes));
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    console.log(`${name}: median ${times[Math.floor(reps / 2)].toFixed(0)} ms for ${(bytes.length / 1e6).toFixed(1)} MB (${reps} runs)`);
  }
  await Promise.resolve();
}
