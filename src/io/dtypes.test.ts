import { test } from 'node:test';
import assert from 'node:assert/strict';
import { floatToHalf, halfToFloat } from './dtypes.js';

test('floatToHalf inverts halfToFloat on every half bit pattern but NaN', () => {
  for (let h = 0; h < 0x10000; h++) {
    const x = halfToFloat(h);
    if (Number.isNaN(x)) assert.ok(Number.isNaN(halfToFloat(floatToHalf(x))));
    else assert.equal(floatToHalf(x), h, `bits 0x${h.toString(16)} (${x})`);
  }
});

test('floatToHalf rounds to nearest, ties to even, and overflows to infinity', () => {
  assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00); // tie between 1 and 1+2^-10: the even one
  assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02); // tie: up to the even one
  assert.equal(floatToHalf(1 + 2 ** -11 + 2 ** -20), 0x3c01);
  assert.equal(floatToHalf(65519), 0x7bff);
  assert.equal(floatToHalf(65520), 0x7c00);
  assert.equal(floatToHalf(-1e9), 0xfc00);
  assert.equal(floatToHalf(2 ** -25), 0); // tie between 0 and the smallest subnormal
  assert.equal(floatToHalf(2 ** -25 * 1.01), 1);
  assert.equal(floatToHalf(-(2 ** -24)), 0x8001);
  assert.equal(floatToHalf(2 ** -14 - 2 ** -25), 0x0400); // the largest subnormal's tie rounds up into the normals
});
