import { isDeviceTensor } from '@qwen-vl/core';
import type { DeviceRunOptions, HostTensor, InferenceSessionHandle, SessionTensor } from '@qwen-vl/core';

/** How an export of another runtime maps to the names qwen-vl's runtime classes use. */
export interface SessionNames {
  /** qwen-vl's name → the graph's, of every input qwen-vl feeds. */
  readonly inputs: Readonly<Record<string, string>>;
  /** qwen-vl's name → the graph's, of every output qwen-vl reads. */
  readonly outputs: Readonly<Record<string, string>>;
  /** Graph inputs qwen-vl does not feed, by the graph's names, and the value each always gets. */
  readonly constantFeeds?: Readonly<Record<string, HostTensor>>;
  /** Rewrites a host feed (named as qwen-vl names it) before the graph gets it. */
  readonly rewriteFeed?: (name: string, tensor: HostTensor) => HostTensor;
}

/**
 * A session of another runtime's export under qwen-vl's input and output names, so that
 * `DecoderSession` and `VisionEncoder` run it as they run qwen-vl's own: feeds and fetches
 * are renamed on the way in (constant feeds added), outputs renamed on the way out. It owns
 * the session it wraps.
 */
export class AdaptedSession implements InferenceSessionHandle {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly runWithDeviceTensors?: (feeds: Readonly<Record<string, SessionTensor>>, fetches: readonly string[], options: DeviceRunOptions) => Promise<Record<string, SessionTensor>>;

  constructor(
    private readonly session: InferenceSessionHandle,
    private readonly names: SessionNames,
  ) {
    this.inputNames = Object.keys(names.inputs);
    this.outputNames = Object.keys(names.outputs);
    const withDevice = session.runWithDeviceTensors?.bind(session);
    if (withDevice !== undefined) {
      this.runWithDeviceTensors = async (feeds, fetches, options) =>
        this.renameOutputs(
          await withDevice(
            this.graphFeeds(feeds),
            fetches.map((name) => this.graphOutput(name)),
            {
              keepOnDevice: options.keepOnDevice.map((name) => this.graphOutput(name)),
              outputBuffers: options.outputBuffers && Object.fromEntries(Object.entries(options.outputBuffers).map(([name, tensor]) => [this.graphOutput(name), tensor])),
            },
          ),
        );
    }
  }

  async run(feeds: Readonly<Record<string, HostTensor>>, fetches: readonly string[] = this.outputNames): Promise<Record<string, HostTensor>> {
    const graphFeeds = this.graphFeeds(feeds) as Record<string, HostTensor>;
    return this.renameOutputs(
      await this.session.run(
        graphFeeds,
        fetches.map((name) => this.graphOutput(name)),
      ),
    );
  }

  dispose(): Promise<void> {
    return this.session.dispose();
  }

  private graphFeeds(feeds: Readonly<Record<string, SessionTensor>>): Record<string, SessionTensor> {
    const out: Record<string, SessionTensor> = { ...this.names.constantFeeds };
    for (const [name, tensor] of Object.entries(feeds)) {
      // An unknown name passes unchanged, for the wrapped session to name in its error.
      const rewritten = this.names.rewriteFeed !== undefined && !isDeviceTensor(tensor) ? this.names.rewriteFeed(name, tensor) : tensor;
      out[this.names.inputs[name] ?? name] = rewritten;
    }
    return out;
  }

  private graphOutput(name: string): string {
    return this.names.outputs[name] ?? name;
  }

  private renameOutputs<T>(outputs: Record<string, T>): Record<string, T> {
    const renamed: Record<string, T> = {};
    for (const [ours, graph] of Object.entries(this.names.outputs)) if (graph in outputs) renamed[ours] = outputs[graph];
    return renamed;
  }
}
