import { QwenVLError, asFloat32, hostTensor, isDeviceTensor, runKeepingOnDevice, toBigInt64 } from '@qwen-vl/core';
import type { HostTensor, InferenceSessionHandle, SessionTensor, TensorDataType, TextConfig } from '@qwen-vl/core';
import { decodePositionIds } from '@qwen-vl/mrope';
import { DECODER_IO, EMBED_IO, pastKeyName, pastValueName, presentKeyName, presentValueName } from './io-names.js';
import { gatherRows } from './batch-rows.js';
import { columnRange } from './column-range.js';
import { decoderPositionInput, positionFeeds } from './position-feeds.js';
import type { DecoderPositionInput } from './position-feeds.js';
import { OutputBuffers } from './output-buffers.js';
import type { OutputShape } from './output-buffers.js';

/** The MRoPE positions of the prompt rows: `@qwen-vl/mrope`'s `getRopeIndex(inputs, config)` gives them (a `RopeIndex`). */
export interface PromptPositions {
  /** `[3, B, S]` row-major: the t, h and w position of every token. */
  readonly positionIds: Int32Array;
  /** Per-row decode position offset, B entries. */
  readonly ropeDeltas: ArrayLike<number>;
}

export interface PrefillInput {
  /** float32 `[B, S, hidden]`, vision features already merged (`mergeVisionFeatures`). */
  readonly inputsEmbeds: HostTensor<'float32'>;
  /** `[B, S]`: 1 on tokens, 0 on (left) padding. */
  readonly attentionMask: HostTensor<'int32'>;
  /** `getRopeIndex` of the same rows (a `RopeIndex` will do): `[3, B, S]` positions and the per-row decode delta. */
  readonly positions: PromptPositions;
}

export interface DecoderSessionOptions {
  /**
   * The most prompt tokens one decoder run takes (default 512); a longer prompt is prefilled
   * in runs of this many, each attending to the cache of the ones before. A layer's
   * attention scores take `batch · heads · chunk · total` floats, so memory grows with the
   * chunk times the prompt instead of the prompt squared: for a 3B model (16 heads) and an
   * 8192-token prompt, 0.27 GB in chunks of 512 against 4.3 GB in one run.
   */
  readonly prefillChunkTokens?: number;
}

const DEFAULT_PREFILL_CHUNK_TOKENS = 512;

/**
 * A sequence of its own over a `DecoderSession`'s sessions (`createSequence`): a KV cache and
 * position bookkeeping that the session's calls work on inside `withSequence`. Several of them
 * let several generations share one model's sessions, each with its own cache.
 */
export interface DecoderSequence {
  /** Cached positions per row (padding included); 0 before its first prefill. */
  readonly pastLength: number;
  /** Rows of the sequence; 0 before its first prefill. */
  readonly batch: number;
  /**
   * Ends the sequence now, freeing the cache it holds on the device (a sequence no longer
   * referenced is freed when it is garbage-collected, and every one when the session is
   * disposed). Idempotent; `withSequence` refuses it afterwards. Not while its work runs.
   */
  dispose(): void;
}

/** Where a sequence's state lives between runs: the session's own, or a `DecoderSequence`'s. */
interface SequenceSlot {
  state: SequenceState | undefined;
  disposed: boolean;
}

/** The session and slot behind each `DecoderSequence` handle, kept out of its public surface. */
const sequenceSlots = new WeakMap<DecoderSequence, { readonly session: DecoderSession; readonly slot: SequenceSlot }>();

/** What the KV cache and the position bookkeeping hold between runs. */
interface SequenceState {
  readonly batch: number;
  /** Cache entries, by the decoder's past input names; device tensors where the backend keeps them. */
  readonly past: Readonly<Record<string, SessionTensor>>;
  /** int64 `[B, past]`, the mask of every cached position. */
  readonly attentionMask: BigInt64Array;
  readonly ropeDeltas: Int32Array;
  /** Real (unpadded) tokens of the longest row. */
  readonly longestRow: number;
  /** Where the sequence's runs write their outputs. */
  readonly buffers: OutputBuffers;
}

/** A sequence's state apart from its output buffers, as the row surgery (join, leave) builds it. */
type SequenceRows = Omit<SequenceState, 'buffers'>;

/**
 * Runs the exported text graphs: one prefill over the prompt, then one step per generated
 * token, keeping the KV cache and the decode positions (`past + rope delta`, equal in all
 * three MRoPE rows) between calls. It owns the two sessions it is given.
 *
 * The cache stays in the runtime between runs (`runKeepingOnDevice`): each step feeds the
 * previous step's present.* device tensors back as past_key_values.* and disposes them once
 * the run has replaced them, so on a GPU it never passes through JavaScript. Create the
 * decoder session with `deviceOutputs: decoderDeviceOutputs(config)` for that.
 *
 * The decoder may take the positions as qwen-vl's exports do (`rotary_cos` / `rotary_sin`,
 * computed here) or as onnxruntime-genai's and transformers.js's do (`position_ids`
 * `[3, B, S]`); it is fed what its inputs ask for. `num_logits_to_keep` is optional too:
 * without it the decoder returns every position's logits and the last one is kept here.
 *
 * The session holds one sequence of its own, which the calls work on. `createSequence` makes
 * more over the same two sessions (the weights are loaded once), each with its own cache;
 * `withSequence` runs calls on one of them, one at a time.
 */
export class DecoderSession {
  /** A sequence handle dropped without `dispose` frees its cache once collected (device memory is not garbage-collected). */
  private static readonly collected = new FinalizationRegistry<{ readonly session: DecoderSession; readonly slot: SequenceSlot }>(({ session, slot }) => session.endSequence(slot));
  /** The state the calls work on: the session's own sequence, or the one `withSequence` put in. */
  private slot: SequenceSlot = { state: undefined, disposed: false };
  /** The `createSequence` sequences not ended yet, for `dispose`. */
  private readonly sequences = new Set<SequenceSlot>();
  /** The last `withSequence` work queued: the next one starts after it. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The output buffers of the last sequence that ended, for the next one. */
  private spareBuffers: OutputBuffers | undefined;
  /** Each host output's element type and dims at its last run: what the next run's buffers are shaped by. */
  private readonly outputShapes = new Map<string, { readonly type: TensorDataType; readonly dims: readonly number[] }>();
  private readonly pastNames: readonly string[];
  private readonly presentNames: readonly string[];
  private readonly prefillChunkTokens: number;
  private readonly positionInput: DecoderPositionInput;
  /** Whether the graph takes `num_logits_to_keep`; one without it returns logits for every new position. */
  private readonly keepsLogits: boolean;

  constructor(
    private readonly embedSession: InferenceSessionHandle,
    private readonly decoderSession: InferenceSessionHandle,
    private readonly config: TextConfig,
    options: DecoderSessionOptions = {},
  ) {
    this.prefillChunkTokens = options.prefillChunkTokens ?? DEFAULT_PREFILL_CHUNK_TOKENS;
    if (!Number.isInteger(this.prefillChunkTokens) || this.prefillChunkTokens < 1) {
      throw new QwenVLError('INVALID_ARGUMENT', `must be a positive integer, got ${this.prefillChunkTokens}`, { source: 'DecoderSession prefillChunkTokens' });
    }
    const layers = Array.from({ length: config.numHiddenLayers }, (_, i) => i);
    this.pastNames = layers.flatMap((i) => [pastKeyName(i), pastValueName(i)]);
    this.presentNames = decoderDeviceOutputs(config);
    requireNames(embedSession, [EMBED_IO.inputIds], [EMBED_IO.inputsEmbeds], 'embedding model');
    requireNames(decoderSession, [DECODER_IO.inputsEmbeds, DECODER_IO.attentionMask, ...this.pastNames], [DECODER_IO.logits, ...this.presentNames], 'decoder model');
    this.positionInput = decoderPositionInput(decoderSession.inputNames, 'decoder model');
    this.keepsLogits = decoderSession.inputNames.includes(DECODER_IO.numLogitsToKeep);
  }

  /** Cached positions per row (padding included); 0 before the first prefill. */
  get pastLength(): number {
    return pastLengthOf(this.state);
  }

  private get state(): SequenceState | undefined {
    return this.slot.state;
  }

  private set state(state: SequenceState | undefined) {
    this.slot.state = state;
  }

  /**
   * A new, empty sequence over this session's graphs, for `withSequence`: its own cache and
   * positions, apart from the session's own sequence and every other one.
   */
  createSequence(): DecoderSequence {
    const slot: SequenceSlot = { state: undefined, disposed: false };
    const sequence: DecoderSequence = {
      get pastLength() {
        return pastLengthOf(slot.state);
      },
      get batch() {
        return slot.state?.batch ?? 0;
      },
      dispose: () => {
        DecoderSession.collected.unregister(slot);
        this.endSequence(slot);
      },
    };
    sequenceSlots.set(sequence, { session: this, slot });
    this.sequences.add(slot);
    DecoderSession.collected.register(sequence, { session: this, slot }, slot);
    return sequence;
  }

  /**
   * Runs `work` with `sequence` in place of the session's own sequence: `prefill`, `step`,
   * `truncate` and the rest work on its cache until `work` settles, then the session's own
   * sequence is back. Calls queue: one `work` runs at a time, in call order (the runtime runs
   * one graph at a time, and the sessions are shared), so `work` must not call
   * `withSequence` itself. A failed `work` rejects its own call only.
   */
  withSequence<T>(sequence: DecoderSequence, work: () => Promise<T>): Promise<T> {
    const entry = sequenceSlots.get(sequence);
    if (entry === undefined || entry.session !== this) {
      return Promise.reject(new QwenVLError('INVALID_ARGUMENT', "must be a sequence of this session's createSequence()", { source: 'DecoderSession.withSequence sequence' }));
    }
    const turn = this.queue.then(async () => {
      if (entry.slot.disposed) throw new QwenVLError('INVALID_ARGUMENT', 'was disposed (or its session was)', { source: 'DecoderSession.withSequence sequence' });
      const own = this.slot;
      this.slot = entry.slot;
      try {
        return await work();
      } finally {
        this.slot = own;
      }
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** `inputs_embeds` `[B, S, hidden]` of token ids `[B, S]`. */
  async embed(inputIds: HostTensor<'int32'>): Promise<HostTensor<'float32'>> {
    // ONNX Gather reads a negative index from the end of the table: -1 would quietly embed the
    // last vocabulary row. (An id past the end fails in onnxruntime, naming the model.)
    const negative = inputIds.data.findIndex((id) => id < 0);
    if (negative !== -1) {
      throw new QwenVLError('INVALID_ARGUMENT', `entry ${negative} is ${inputIds.data[negative]}; token ids are ≥ 0`, { source: 'DecoderSession.embed inputIds' });
    }
    const ids = hostTensor('int64', toBigInt64(inputIds.data), inputIds.dims);
    const out = await this.embedSession.run({ [EMBED_IO.inputIds]: ids }, [EMBED_IO.inputsEmbeds]);
    // An fp16 export's embeddings are float16: the merge and the decoder's feed work in float32.
    return asFloat32(out[EMBED_IO.inputsEmbeds]) as HostTensor<'float32'>;
  }

  /**
   * Starts a new sequence (dropping any cache) and returns the logits of each row's last
   * position, float32 `[B, vocab]`. Rows must be left-padded so that position is the last.
   * A prompt longer than `prefillChunkTokens` runs in chunks; a failure leaves no sequence.
   */
  async prefill(input: PrefillInput): Promise<HostTensor<'float32'>> {
    const { batch } = checkPrefill(input, this.config.hiddenSize);
    const emptyPast = hostTensor('float32', new Float32Array(0), [batch, this.config.numKeyValueHeads, 0, this.config.headDim]);
    this.dropState();
    const empty: SequenceState = {
      batch,
      past: Object.fromEntries(this.pastNames.map((name) => [name, emptyPast])),
      attentionMask: new BigInt64Array(0),
      ropeDeltas: new Int32Array(batch),
      longestRow: 0,
      buffers: this.spareBuffers ?? new OutputBuffers(),
    };
    this.spareBuffers = undefined;
    return this.appendPrompt(input, empty, 'prompt', 'the prompt');
  }

  /**
   * Appends prompt tokens to the current sequence, keeping its cache, and returns the logits
   * of each row's last position: the next turn of a conversation whose earlier turns are
   * cached. `positions` are those of the new tokens in the whole sequence, with the whole
   * sequence's rope deltas. Chunked like `prefill`; a failure leaves no sequence.
   */
  async extend(input: PrefillInput): Promise<HostTensor<'float32'>> {
    const state = this.requireState('DecoderSession.extend');
    const { batch } = checkPrefill(input, this.config.hiddenSize);
    if (batch !== state.batch) throw new QwenVLError('INVALID_ARGUMENT', `has ${batch} rows, the cached sequence ${state.batch}`, { source: 'DecoderSession.extend inputsEmbeds' });
    return this.appendPrompt(input, state, 'DecoderSession.extend', 'the cached conversation with the new prompt');
  }

  /** Runs `input` after `start`'s cache, in chunks of at most prefillChunkTokens. */
  private async appendPrompt(input: PrefillInput, start: SequenceState, source: string, what: string): Promise<HostTensor<'float32'>> {
    const [batch, length] = input.inputsEmbeds.dims;
    // Exact for one row; for several, an upper bound (rows may differ in how much they add).
    const longestRow = start.longestRow + longestMaskedRow(input.attentionMask.data, batch, length);
    this.checkLength(longestRow, source, what);
    const past = start.attentionMask.length / batch;
    const mask = concatColumns(start.attentionMask, toBigInt64(input.attentionMask.data), batch);
    const hidden = this.config.hiddenSize;
    let state: SequenceState = { ...start, ropeDeltas: Int32Array.from(input.positions.ropeDeltas), longestRow };
    try {
      for (let first = 0; ; first += this.prefillChunkTokens) {
        const end = Math.min(length, first + this.prefillChunkTokens);
        const embeds = hostTensor('float32', columnRange(input.inputsEmbeds.data, batch, length * hidden, first * hidden, end * hidden), [batch, end - first, hidden]);
        const logits = await this.run(embeds, columnRange(input.positions.positionIds, 3 * batch, length, first, end), {
          ...state,
          attentionMask: columnRange(mask, batch, past + length, 0, past + end),
        });
        if (end === length) return logits;
        state = this.state!;
      }
    } catch (error) {
      this.dropState();
      throw error;
    }
  }

  /** Appends one token per row and returns the logits after it, float32 `[B, vocab]`. */
  async step(tokenIds: ArrayLike<number>): Promise<HostTensor<'float32'>> {
    const state = this.requireState('DecoderSession.step');
    if (tokenIds.length !== state.batch) {
      throw new QwenVLError('INVALID_ARGUMENT', `has ${tokenIds.length} token ids for a batch of ${state.batch}`, { source: 'DecoderSession.step tokenIds' });
    }
    this.checkLength(state.longestRow + 1, 'DecoderSession.step', 'the prompt with the generated tokens');
    const pastLength = this.pastLength;
    const inputsEmbeds = await this.embed(hostTensor('int32', Int32Array.from(tokenIds), [state.batch, 1]));
    const attentionMask = concatColumns(state.attentionMask, new BigInt64Array(state.batch).fill(1n), state.batch);
    const positionIds = decodePositionIds(pastLength, 1, state.ropeDeltas);
    return this.run(inputsEmbeds, positionIds, { ...state, attentionMask, longestRow: state.longestRow + 1 });
  }

  /**
   * Adds the rows of `input` to the running batch (continuous batching): they are prefilled
   * on their own, as `prefill` would (the batch's rows wait), and their cache is then merged
   * into the batch's as its last rows, every row right-aligned to the longer of the two (left
   * padding, masked out; the rope deltas shift with it). Returns the logits of the new rows'
   * last positions, `[rows of input, vocab]`. Without a sequence it is `prefill`. A failure
   * leaves the batch as it was. The merge is done in host memory: a cache the backend keeps
   * is read back (`DeviceTensor.download`) and fed from the host at the next run.
   */
  async join(input: PrefillInput): Promise<HostTensor<'float32'>> {
    const running = this.state;
    if (running === undefined) return this.prefill(input);
    this.state = undefined;
    try {
      const logits = await this.prefill(input);
      const joined = this.state!;
      this.state = undefined;
      try {
        this.state = { ...(await mergeRows(running, joined)), buffers: running.buffers };
      } catch (error) {
        disposeDeviceTensors(joined.past);
        throw error;
      }
      this.spareBuffers = joined.buffers;
      disposeDeviceTensors(joined.past);
      disposeDeviceTensors(running.past);
      return logits;
    } catch (error) {
      this.state = running;
      throw error;
    }
  }

  /**
   * Drops the rows `rows` (indices into the batch) from the sequence, with their cache: the
   * other rows keep their order and go on as they were. Columns that every remaining row
   * pads are cut off (their rope deltas grow by as many). Dropping every row ends the
   * sequence. Done in host memory, as `join`; a failure leaves the batch as it was.
   */
  async leave(rows: readonly number[]): Promise<void> {
    const state = this.requireState('DecoderSession.leave');
    const leaving = new Set(rows);
    if (rows.some((row) => !Number.isInteger(row) || row < 0 || row >= state.batch) || leaving.size !== rows.length) {
      throw new QwenVLError('INVALID_ARGUMENT', `must be distinct row indices from 0 to ${state.batch - 1}, got [${rows.join(', ')}]`, { source: 'DecoderSession.leave rows' });
    }
    if (leaving.size === 0) return;
    const kept = Array.from({ length: state.batch }, (_, row) => row).filter((row) => !leaving.has(row));
    if (kept.length === 0) {
      this.dropState();
      return;
    }
    const next = await keepRows(state, kept);
    disposeDeviceTensors(state.past);
    this.state = { ...next, buffers: state.buffers };
  }

  /** Rows of the current sequence; 0 before the first prefill. */
  get batch(): number {
    return this.state?.batch ?? 0;
  }

  /**
   * Keeps the first `length` cached positions of every row and drops the rest, going on from
   * there with `ropeDeltas` (one per row: what decoding adds to a cache position to get the
   * MRoPE position of the next token). 0 ends the sequence. The cache is cut in host memory:
   * a tensor the backend keeps is read back through `DeviceTensor.download`, and the cut one
   * is fed back from the host at the next run. A failure leaves the cache as it was.
   */
  async truncate(length: number, ropeDeltas: ArrayLike<number>): Promise<void> {
    const state = this.requireState('DecoderSession.truncate');
    const past = this.pastLength;
    if (!Number.isInteger(length) || length < 0 || length > past) {
      throw new QwenVLError('INVALID_ARGUMENT', `must be an integer from 0 to ${past} (the cached positions), got ${length}`, { source: 'DecoderSession.truncate length' });
    }
    if (ropeDeltas.length !== state.batch) {
      throw new QwenVLError('INVALID_ARGUMENT', `has ${ropeDeltas.length} entries for a batch of ${state.batch}`, { source: 'DecoderSession.truncate ropeDeltas' });
    }
    if (length === 0) {
      this.dropState();
      return;
    }
    const cut: Record<string, SessionTensor> = {};
    if (length === past) Object.assign(cut, state.past);
    else for (const [name, tensor] of Object.entries(state.past)) cut[name] = keepPositions(await readBack(tensor, name), length);
    if (length !== past) disposeDeviceTensors(state.past);
    this.state = {
      batch: state.batch,
      past: cut,
      attentionMask: columnRange(state.attentionMask, state.batch, past, 0, length),
      ropeDeltas: Int32Array.from(ropeDeltas),
      longestRow: Math.min(state.longestRow, length),
      buffers: state.buffers,
    };
  }

  /** Ends the session's own sequence and every `createSequence` one, then frees the two sessions. */
  async dispose(): Promise<void> {
    this.dropState();
    for (const slot of this.sequences) this.endSequence(slot);
    await Promise.all([this.embedSession.dispose(), this.decoderSession.dispose()]);
  }

  /** One decoder run over new tokens; `next` is the state once they are cached. */
  private async run(inputsEmbeds: HostTensor<'float32'>, positionIds: Int32Array, next: SequenceState): Promise<HostTensor<'float32'>> {
    const newTokens = inputsEmbeds.dims[1];
    const total = next.attentionMask.length / next.batch;
    const feeds = {
      [DECODER_IO.inputsEmbeds]: inputsEmbeds,
      [DECODER_IO.attentionMask]: hostTensor('int64', next.attentionMask, [next.batch, total]),
      ...positionFeeds(this.positionInput, positionIds, next.batch, newTokens, this.config),
      ...(this.keepsLogits && { [DECODER_IO.numLogitsToKeep]: hostTensor('int64', BigInt64Array.of(1n), []) }),
      ...next.past,
    };
    const fetches = [DECODER_IO.logits, ...this.presentNames];
    const outputBuffers = next.buffers.tensorsFor(this.expectedOutputs(fetches, next.batch, this.keepsLogits ? 1 : newTokens, total), Object.values(next.past));
    const out = await runKeepingOnDevice(this.decoderSession, feeds, fetches, this.presentNames, outputBuffers);
    for (const name of fetches) {
      const tensor = out[name];
      if (!isDeviceTensor(tensor)) this.outputShapes.set(name, { type: tensor.type, dims: tensor.dims });
    }
    const past: Record<string, SessionTensor> = {};
    this.presentNames.forEach((present, k) => (past[this.pastNames[k]] = out[present]));
    if (this.slot.disposed) {
      // Its session was disposed while the run was in flight: the sequence keeps nothing.
      disposeDeviceTensors(past);
      throw new QwenVLError('INVALID_ARGUMENT', 'was disposed (or its session was) while its run was in flight', { source: 'DecoderSession sequence' });
    }
    // Only once the run has succeeded: a failed step leaves the previous cache usable.
    disposeDeviceTensors(next.past);
    this.state = { ...next, past };
    // An fp16 export's logits are float16: sampling works in float32.
    return lastPositionLogits(asFloat32(out[DECODER_IO.logits] as HostTensor), next.batch, this.config.vocabSize);
  }

  /**
   * The shapes of a run's host outputs, known from earlier runs: logits `[B, kept, vocab]` and
   * the cache `[B, kv heads, total, head dim]`. Until a first run there are none.
   */
  private expectedOutputs(names: readonly string[], batch: number, keptLogits: number, total: number): OutputShape[] {
    return names.flatMap((name) => {
      const last = this.outputShapes.get(name);
      if (last === undefined) return [];
      const dims = name === DECODER_IO.logits ? [batch, keptLogits, last.dims[2]] : [batch, last.dims[1], total, last.dims[3]];
      return [{ name, type: last.type, dims }];
    });
  }

  private requireState(source: string): SequenceState {
    if (this.state === undefined) throw new QwenVLError('INVALID_ARGUMENT', 'needs a prefill() first to start a sequence', { source });
    return this.state;
  }

  /** Ends the sequence, freeing the cache it holds on the device. */
  private dropState(): void {
    if (this.state !== undefined) {
      disposeDeviceTensors(this.state.past);
      this.spareBuffers = this.state.buffers;
    }
    this.state = undefined;
  }

  /** Ends a `createSequence` sequence for good. */
  private endSequence(slot: SequenceSlot): void {
    if (slot.state !== undefined) disposeDeviceTensors(slot.state.past);
    slot.state = undefined;
    slot.disposed = true;
    this.sequences.delete(slot);
  }

  private checkLength(tokens: number, source: string, what: string): void {
    const max = this.config.maxPositionEmbeddings;
    if (tokens > max) {
      throw new QwenVLError('PROMPT_TOO_LONG', `${what} reaches ${tokens} tokens, more than the model's max_position_embeddings (${max}, config.json)`, { source });
    }
  }
}

/**
 * The decoder outputs to keep in device memory (its present.* cache): pass them as
 * `SessionOptions.deviceOutputs` when creating the decoder session.
 */
export function decoderDeviceOutputs(config: Pick<TextConfig, 'numHiddenLayers'>): string[] {
  return Array.from({ length: config.numHiddenLayers }, (_, i) => [presentKeyName(i), presentValueName(i)]).flat();
}

function pastLengthOf(state: SequenceState | undefined): number {
  return state === undefined ? 0 : state.attentionMask.length / state.batch;
}

function disposeDeviceTensors(tensors: Readonly<Record<string, SessionTensor>>): void {
  for (const tensor of Object.values(tensors)) if (isDeviceTensor(tensor)) tensor.dispose();
}

/** A cache tensor in host memory, read back from the device when it is kept there. */
async function readBack(tensor: SessionTensor, name: string): Promise<HostTensor> {
  if (!isDeviceTensor(tensor)) return tensor;
  if (tensor.download === undefined) {
    throw new QwenVLError('BACKEND_UNAVAILABLE', 'is kept on the device by a backend that cannot read it back, so the cache cannot be cut', { source: `DecoderSession cache "${name}"` });
  }
  return tensor.download();
}

/** A sequence's cache tensors in host memory, read back from the device where the backend keeps them. */
async function hostCache(state: SequenceState): Promise<Record<string, HostTensor>> {
  const entries = await Promise.all(Object.entries(state.past).map(async ([name, tensor]) => [name, await readBack(tensor, name)] as const));
  return Object.fromEntries(entries);
}

/** How many leading positions of `row` its mask marks as padding. */
function leadingPadding(mask: BigInt64Array, row: number, positions: number): number {
  let padding = 0;
  while (padding < positions && mask[row * positions + padding] === 0n) padding++;
  return padding;
}

/** The real tokens of the longest row of a `[B, positions]` mask. */
function longestRowOf(mask: BigInt64Array, batch: number): number {
  const positions = mask.length / batch;
  let longest = 0;
  for (let row = 0; row < batch; row++) {
    let count = 0;
    for (let i = row * positions; i < (row + 1) * positions; i++) if (mask[i] !== 0n) count++;
    longest = Math.max(longest, count);
  }
  return longest;
}

/** Rows picked from one or two sequences, each right-aligned to `length` positions from its position `from`. */
interface PickedRow {
  readonly state: SequenceState;
  readonly cache: Record<string, HostTensor>;
  readonly row: number;
  readonly from: number;
}

/** The sequence of `rows`, in order, over `length` positions; each row's rope delta follows its shift. */
function assembleRows(rows: readonly PickedRow[], names: readonly string[], length: number): SequenceRows {
  const positionsOf = (picked: PickedRow) => picked.state.attentionMask.length / picked.state.batch;
  const attentionMask = gatherRows(
    rows.map((picked) => ({ data: picked.state.attentionMask, positions: positionsOf(picked), row: picked.row, from: picked.from })),
    1,
    1,
    length,
  );
  const past: Record<string, HostTensor> = {};
  for (const name of names) {
    const [, heads, , headDim] = rows[0].cache[name].dims;
    const data = gatherRows(
      rows.map((picked) => ({ data: picked.cache[name].data as Float32Array, positions: positionsOf(picked), row: picked.row, from: picked.from })),
      heads,
      headDim,
      length,
    );
    past[name] = { type: rows[0].cache[name].type, dims: [rows.length, heads, length, headDim], data };
  }
  // A row's columns move by length − positions (left when columns were cut): its delta moves the other way.
  const ropeDeltas = Int32Array.from(rows, (picked) => picked.state.ropeDeltas[picked.row] - (length - positionsOf(picked)));
  return { batch: rows.length, past, attentionMask, ropeDeltas, longestRow: longestRowOf(attentionMask, rows.length) };
}

/** `joined`'s rows after `running`'s, both right-aligned to the longer. */
async function mergeRows(running: SequenceState, joined: SequenceState): Promise<SequenceRows> {
  const [runningCache, joinedCache] = [await hostCache(running), await hostCache(joined)];
  const length = Math.max(running.attentionMask.length / running.batch, joined.attentionMask.length / joined.batch);
  const rows = [
    ...Array.from({ length: running.batch }, (_, row) => ({ state: running, cache: runningCache, row, from: 0 })),
    ...Array.from({ length: joined.batch }, (_, row) => ({ state: joined, cache: joinedCache, row, from: 0 })),
  ];
  return assembleRows(rows, Object.keys(running.past), length);
}

/** The rows `kept` of `state`, without the leading columns all of them pad. */
async function keepRows(state: SequenceState, kept: readonly number[]): Promise<SequenceRows> {
  const cache = await hostCache(state);
  const positions = state.attentionMask.length / state.batch;
  const cut = Math.min(...kept.map((row) => leadingPadding(state.attentionMask, row, positions)));
  return assembleRows(
    kept.map((row) => ({ state, cache, row, from: cut })),
    Object.keys(state.past),
    positions - cut,
  );
}

/** The first `length` positions of a `[B, heads, past, headDim]` cache tensor. */
function keepPositions(tensor: HostTensor, length: number): HostTensor {
  const [batch, heads, past, headDim] = tensor.dims;
  // float32, or float16 bits in a Uint16Array: columnRange keeps the array's own type.
  const data = tensor.data as Float32Array;
  return { type: tensor.type, dims: [batch, heads, length, headDim], data: columnRange(data, batch * heads, past * headDim, 0, length * headDim) };
}

/**
 * Each row's logits at its last position, `[B, vocab]`, of the decoder's `[B, K, vocab]`
 * output: K is 1 where the graph took `num_logits_to_keep`, the run's new tokens otherwise.
 */
function lastPositionLogits(logits: HostTensor, batch: number, vocab: number): HostTensor<'float32'> {
  const [rows, kept, width] = logits.dims;
  if (logits.type !== 'float32' || logits.dims.length !== 3 || rows !== batch || width !== vocab) {
    throw new QwenVLError('INVALID_MODEL', `returned ${logits.type} [${logits.dims.join(', ')}], expected float32 [${batch}, positions, ${vocab}]`, {
      source: `decoder model output "${DECODER_IO.logits}"`,
    });
  }
  const data = logits.data as Float32Array;
  return hostTensor('float32', kept === 1 ? data : columnRange(data, batch, kept * vocab, (kept - 1) * vocab, kept * vocab), [batch, vocab]);
}

function requireNames(session: InferenceSessionHandle, inputs: readonly string[], outputs: readonly string[], what: string): void {
  const missingInputs = inputs.filter((name) => !session.inputNames.includes(name));
  const missingOutputs = outputs.filter((name) => !session.outputNames.includes(name));
  if (missingInputs.length > 0 || missingOutputs.length > 0) {
    const missing = [...missingInputs.map((n) => `input ${n}`), ...missingOutputs.map((n) => `output ${n}`)].join(', ');
    throw new QwenVLError('INVALID_MODEL', `lacks ${missing} (it has inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')})`, { source: what });
  }
}

function checkPrefill(input: PrefillInput, hiddenSize: number): { batch: number; length: number } {
  const dims = input.inputsEmbeds.dims;
  if (dims.length !== 3 || dims[2] !== hiddenSize || dims[0] === 0 || dims[1] === 0) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be [B, S, ${hiddenSize}] with B, S > 0, got [${dims.join(', ')}]`, { source: 'prefill inputsEmbeds' });
  }
  const [batch, length] = dims;
  const mask = input.attentionMask.dims;
  if (mask.length !== 2 || mask[0] !== batch || mask[1] !== length) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be [${batch}, ${length}] like inputsEmbeds, got [${mask.join(', ')}]`, { source: 'prefill attentionMask' });
  }
  if (input.positions.positionIds.length !== 3 * batch * length) {
    throw new QwenVLError('INVALID_ARGUMENT', `has ${input.positions.positionIds.length} entries, [3, ${batch}, ${length}] needs ${3 * batch * length}`, { source: 'prefill positions.positionIds' });
  }
  if (input.positions.ropeDeltas.length !== batch) {
    throw new QwenVLError('INVALID_ARGUMENT', `has ${input.positions.ropeDeltas.length} entries for a batch of ${batch}`, { source: 'prefill positions.ropeDeltas' });
  }
  for (let b = 0; b < batch; b++) {
    if (input.attentionMask.data[(b + 1) * length - 1] === 0) {
      throw new QwenVLError('INVALID_ARGUMENT', `row ${b} ends in padding; pad on the left so every row's last position is a token`, { source: 'prefill attentionMask' });
    }
  }
  return { batch, length };
}

/** `[B, p]` and `[B, s]` masks side by side: `[B, p + s]`. */
function concatColumns(left: BigInt64Array, right: BigInt64Array, batch: number): BigInt64Array {
  const [p, q] = [left.length / batch, right.length / batch];
  const out = new BigInt64Array(batch * (p + q));
  for (let b = 0; b < batch; b++) {
    out.set(left.subarray(b * p, (b + 1) * p), b * (p + q));
    out.set(right.subarray(b * q, (b + 1) * q), b * (p + q) + p);
  }
  return out;
}

function longestMaskedRow(mask: Int32Array, batch: number, length: number): number {
  let longest = 0;
  for (let b = 0; b < batch; b++) {
    let count = 0;
    for (let i = b * length; i < (b + 1) * length; i++) count += mask[i] === 0 ? 0 : 1;
    longest = Math.max(longest, count);
  }
  return longest;
}
