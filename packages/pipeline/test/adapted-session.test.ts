import { describe, expect, it } from 'vitest';
import { hostTensor } from '@qwen-vl/core';
import type { DeviceTensor, InferenceSessionHandle, SessionTensor } from '@qwen-vl/core';
import { AdaptedSession } from '../src/index.js';

/** A session with genai-style names that records what it is given and echoes `x` as `y`. */
function recordingSession() {
  const calls: { feeds: Record<string, SessionTensor>; fetches: readonly string[]; keep?: readonly string[] }[] = [];
  const session: InferenceSessionHandle = {
    inputNames: ['graph_x', 'graph_extra'],
    outputNames: ['graph_y'],
    run: async (feeds, fetches = []) => {
      calls.push({ feeds: { ...feeds }, fetches });
      return { graph_y: feeds.graph_x };
    },
    runWithDeviceTensors: async (feeds, fetches, options) => {
      calls.push({ feeds: { ...feeds }, fetches, keep: options.keepOnDevice });
      return { graph_y: feeds.graph_x };
    },
    dispose: async () => undefined,
  };
  return { session, calls };
}

describe('AdaptedSession', () => {
  const extra = hostTensor('float32', new Float32Array(0), [0, 4]);

  it('renames feeds, fetches and outputs, adds the constant feeds and rewrites host feeds', async () => {
    const { session, calls } = recordingSession();
    const adapted = new AdaptedSession(session, {
      inputs: { x: 'graph_x' },
      outputs: { y: 'graph_y' },
      constantFeeds: { graph_extra: extra },
      rewriteFeed: (name, tensor) =>
        name === 'x'
          ? hostTensor(
              'int64',
              (tensor.data as BigInt64Array).map((v) => v * 10n),
              tensor.dims,
            )
          : tensor,
    });
    expect([adapted.inputNames, adapted.outputNames]).toEqual([['x'], ['y']]);
    const out = await adapted.run({ x: hostTensor('int64', BigInt64Array.of(1n, 2n), [2]) }, ['y']);
    expect(calls[0].fetches).toEqual(['graph_y']);
    expect(calls[0].feeds.graph_extra).toBe(extra);
    expect(Array.from(out.y.data as BigInt64Array)).toEqual([10n, 20n]);
  });

  it('passes device tensors through unchanged, renaming what stays on the device', async () => {
    const { session, calls } = recordingSession();
    const adapted = new AdaptedSession(session, { inputs: { x: 'graph_x' }, outputs: { y: 'graph_y' }, rewriteFeed: () => hostTensor('float32', new Float32Array(1), [1]) });
    const device: DeviceTensor = { kind: 'device', type: 'float32', dims: [1], dispose: () => undefined };
    const out = await adapted.runWithDeviceTensors!({ x: device }, ['y'], { keepOnDevice: ['y'] });
    expect(calls[0].keep).toEqual(['graph_y']);
    expect(out.y).toBe(device);
  });
});
