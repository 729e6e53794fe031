import { QwenVLError, hostTensor } from '@qwen-vl/core';
import type { HostTensor } from '@qwen-vl/core';
import { TokenChooser, createRandomSource, finishReason, mergeVisionFeatures } from '@qwen-vl/decoder';
import type { DecoderSequence, RandomSource, SearchOptions } from '@qwen-vl/decoder';
import { decodePositionIds, getRopeIndex } from '@qwen-vl/mrope';
import type { RopeIndex } from '@qwen-vl/mrope';
import { encodeVision } from '../built-model.js';
import { readPromptInputs } from './generator-inputs.js';
import type { PromptInputs } from './generator-inputs.js';
import type { GeneratorParams } from './generator-params.js';
import type { Model } from './model.js';
import { modelParts } from './model-parts.js';
import type { ModelParts } from './model-parts.js';
import type { NamedTensors, Tensor } from './named-tensors.js';
import { SequenceRow } from './sequence-row.js';
import { checkTokenIds } from './tokenizer.js';

/** The outputs `Generator.getOutput` hands out. */
export const GENERATOR_OUTPUTS = ['logits', 'image_features', 'video_features'] as const;
export type GeneratorOutputName = (typeof GENERATOR_OUTPUTS)[number];

interface PendingPrompt extends PromptInputs {
  readonly positions: RopeIndex;
}

/**
 * onnxruntime-genai's `og.Generator`: generation one token at a time, over the model's
 * `DecoderSession` (its KV cache) and the search of `@qwen-vl/decoder` (`TokenChooser`:
 * the logits processors, greedy or sampled choice, as the chat API's generation loop).
 *
 * The sequence grows by `setInputs` (a prompt with its images, from the processor),
 * `appendTokens` and `generateNextToken`; `rewindTo` cuts it back. The model runs lazily: the
 * input and the tokens since the last model run are run by the next `generateNextToken`,
 * which then picks one token per row from the logits of the last position. A batch of B
 * prompts (left-padded) is B rows that generate side by side; a row that is done keeps
 * getting the pad token until every row is (`isDone`).
 *
 * Each generator has its own sequence and KV cache (a `DecoderSequence` of the model's decoder),
 * so several live on one model. Their model runs take turns: a `generateNextToken` while
 * another generator's runs waits for it (`DecoderSession.withSequence`).
 */
export class Generator {
  private readonly options: SearchOptions;
  private readonly batchSize: number | undefined;
  private readonly rng: RandomSource;
  private readonly padTokenId: number;
  private rows: SequenceRow[] = [];
  /** Columns (positions, left padding included) the decoder's cache holds, once any pending rewind is applied. */
  private cached = 0;
  private pendingPrompt: PendingPrompt | undefined;
  /** The cache length a `rewindTo` asked for, applied at the next model run. */
  private rewindTarget: number | undefined;
  /** Per row, the MRoPE (t) position of each prompt column before `tableColumns`; later columns sit at `column + ropeDelta`. */
  private positionTable: Int32Array[] = [];
  private tableColumns = 0;
  /** Per row, what the decoder adds to a cache position to get the next token's MRoPE position. */
  private ropeDeltas = new Int32Array(0);
  private chooser: TokenChooser | undefined;
  private logits: HostTensor<'float32'> | undefined;
  private features: { image: Tensor; video: Tensor } | undefined;
  private nextTokens: Int32Array | undefined;
  /** The generator's KV cache and positions in the model's decoder. */
  private readonly sequence: DecoderSequence;
  /** Whether this generator's `generateNextToken` is in progress (waiting for its turn included). */
  private running = false;
  private disposed = false;

  private constructor(
    private readonly model: Model,
    params: GeneratorParams,
    parts: ModelParts,
  ) {
    this.options = params.resolvedSearchOptions;
    this.batchSize = params.batchSize;
    this.rng = createRandomSource(this.options.randomSeed);
    this.padTokenId = parts.generationConfig.padTokenId ?? this.options.eosTokenIds[0] ?? 0;
    this.sequence = parts.decoder.createSequence();
  }

  /** A generator with `params`' search options and an empty sequence of its own. */
  static async create(model: Model, params: GeneratorParams): Promise<Generator> {
    const parts = modelParts(model, 'Generator.create model');
    if (params?.model !== model) throw new QwenVLError('INVALID_ARGUMENT', 'must be GeneratorParams of the same model', { source: 'Generator.create params' });
    return new Generator(model, params, parts);
  }

  /**
   * Starts the sequence with a prompt: the tensors of `MultiModalProcessor.process` (or your
   * own of those names). Only on an empty generator (new, or after `rewindTo(0)`); add text
   * after it with `appendTokens`. The vision encoder and the prefill run at the next
   * `generateNextToken`.
   */
  setInputs(inputs: NamedTensors): void {
    const parts = this.guard('Generator.setInputs');
    if (this.columns > 0) {
      throw new QwenVLError('INVALID_ARGUMENT', `starts a sequence, and the generator holds ${this.columns} tokens already; add text with appendTokens(), or rewindTo(0) first`, {
        source: 'Generator.setInputs',
      });
    }
    const prompt = readPromptInputs(inputs, parts.config, this.batchSize);
    const [batch, length] = prompt.inputIds.dims;
    this.checkRoom(length, 'Generator.setInputs input_ids');
    const positions = getRopeIndex(prompt, parts.config);
    this.rows = Array.from({ length: batch }, (_, b) => {
      const mask = prompt.attentionMask.data.subarray(b * length, (b + 1) * length);
      const row = new SequenceRow(mask.indexOf(1));
      row.appendInput(Array.from(prompt.inputIds.data.subarray(b * length + row.padding, (b + 1) * length)));
      return row;
    });
    this.setPositions(positions);
    this.pendingPrompt = { ...prompt, positions };
    this.rewindTarget = undefined;
    this.cached = 0;
    this.features = undefined;
    this.clearStep();
  }

  /**
   * Appends tokens to every row: `tokens` holds the same number for each row, row after row
   * (one row: just the ids), e.g. the next user turn of a chat. They run at the next
   * `generateNextToken`, after which the rows generate again. Image and video pads cannot be
   * appended (their pixels come with `setInputs`).
   */
  appendTokens(tokens: ArrayLike<number>): void {
    const parts = this.guard('Generator.appendTokens');
    const source = 'Generator.appendTokens tokens';
    checkTokenIds(tokens, source, parts.config.text.vocabSize);
    const batch = this.rows.length > 0 ? this.rows.length : (this.batchSize ?? 1);
    if (tokens.length === 0 || tokens.length % batch !== 0) {
      throw new QwenVLError('INVALID_ARGUMENT', `has ${tokens.length} tokens for ${batch} row${batch === 1 ? '' : 's'}: give at least one, the same number for each row`, { source });
    }
    const ids = Array.from(tokens);
    const vision = ids.findIndex((id) => id === parts.config.imageTokenId || id === parts.config.videoTokenId);
    if (vision !== -1) {
      throw new QwenVLError('INVALID_ARGUMENT', `holds an image or video pad (id ${ids[vision]}) at entry ${vision}; images come with their pixels through MultiModalProcessor.process and setInputs`, {
        source,
      });
    }
    const each = ids.length / batch;
    this.checkRoom(this.columns + each, source);
    if (this.rows.length === 0) {
      this.rows = Array.from({ length: batch }, () => new SequenceRow(0));
      this.setPositions({ positionIds: new Int32Array(0), batch, length: 0, ropeDeltas: new Int32Array(batch) });
    }
    this.rows.forEach((row, b) => row.appendInput(ids.slice(b * each, (b + 1) * each)));
    this.clearStep();
  }

  /** Whether every row's generation has ended (EOS, or a length limit); `appendTokens` or `rewindTo` starts it again. */
  isDone(): boolean {
    return this.rows.length > 0 && this.rows.every((row) => row.finish !== undefined);
  }

  /**
   * Runs the model over what is not in the KV cache yet (the prompt, appended tokens, the
   * last generated token) and picks the next token of every row that is not done. While
   * another generator of the model runs, it waits for its turn.
   */
  async generateNextToken(): Promise<void> {
    const parts = this.guard('Generator.generateNextToken');
    if (this.columns === 0) throw new QwenVLError('INVALID_ARGUMENT', 'has no input: call setInputs() or appendTokens() first', { source: 'Generator.generateNextToken' });
    if (this.isDone()) {
      throw new QwenVLError('INVALID_ARGUMENT', 'the generation is done (every row ended with EOS or reached its length limit): check isDone(), or appendTokens() / rewindTo() to go on', {
        source: 'Generator.generateNextToken',
      });
    }
    this.running = true;
    try {
      await parts.decoder.withSequence(this.sequence, async () => {
        try {
          this.chooseTokens(await this.runPending(parts));
        } finally {
          this.cached = Math.min(this.cached, this.sequence.pastLength);
        }
      });
    } catch (error) {
      // A model disposed while this waited for its turn ended the sequence: say that instead.
      modelParts(this.model, 'Generator.generateNextToken');
      throw error;
    } finally {
      this.running = false;
    }
  }

  /** The token each row got from the last `generateNextToken` (the pad token for a row already done). */
  getNextTokens(): Int32Array {
    if (this.nextTokens === undefined) {
      throw new QwenVLError('INVALID_ARGUMENT', 'no token was generated since the last setInputs, appendTokens or rewindTo; call generateNextToken() first', { source: 'Generator.getNextTokens' });
    }
    return this.nextTokens.slice();
  }

  /** Row `row`'s tokens: its prompt (without padding), then every generated and appended token. */
  getSequence(row: number): Int32Array {
    if (!Number.isInteger(row) || row < 0 || row >= this.rows.length) {
      throw new QwenVLError('INVALID_ARGUMENT', `must be a row index from 0 to ${this.rows.length - 1}, got ${row}`, { source: 'Generator.getSequence row' });
    }
    return Int32Array.from(this.rows[row].tokens);
  }

  /** Length of the sequence (of a batch: its columns, left padding included): what `rewindTo` counts. */
  tokenCount(): number {
    return this.columns;
  }

  /**
   * Cuts the sequence back to its first `length` tokens (columns of a batch), keeping the KV
   * cache of those positions: generating (or appending) goes on from there as if the rest had
   * never been. `length` must not end inside an image or video. The cache is cut at the next
   * model run; the last kept token is run again then, to give the logits of its position.
   */
  rewindTo(length: number): void {
    const parts = this.guard('Generator.rewindTo');
    const source = 'Generator.rewindTo length';
    const columns = this.columns;
    if (!Number.isInteger(length) || length < 0 || length > columns) {
      throw new QwenVLError('INVALID_ARGUMENT', `must be an integer from 0 to ${columns} (the tokens in the sequence), got ${length}`, { source });
    }
    if (length === 0) {
      this.reset();
      return;
    }
    const last = length - 1;
    this.rows.forEach((row, b) => {
      if (last < row.padding) throw new QwenVLError('INVALID_ARGUMENT', `must leave every row a token; row ${b} has ${row.padding} columns of padding`, { source });
      const token = row.tokens[last - row.padding];
      if (token === parts.config.imageTokenId || token === parts.config.videoTokenId) {
        throw new QwenVLError('INVALID_ARGUMENT', `ends inside an image or video (token ${last} of row ${b} is one of its pads): rewind to before its <|vision_start|> or past its <|vision_end|>`, {
          source,
        });
      }
    });
    // The last kept token is fed again at its own position: text sits at the same t, h and w.
    this.ropeDeltas = Int32Array.from(this.rows, (_, b) => (last < this.tableColumns ? this.positionTable[b][last] : last + this.ropeDeltas[b]) - last);
    this.tableColumns = Math.min(this.tableColumns, last);
    this.rows.forEach((row) => row.truncate(length - row.padding));
    this.rewindTarget = Math.min(this.rewindTarget ?? last, last);
    this.clearStep();
  }

  /**
   * An output of the last model run: `logits` (float32 `[B, 1, vocab]`, the raw logits the
   * last `generateNextToken` chose from), `image_features` and `video_features` (float32
   * `[tokens, hidden]`, the vision encoder's output for the prompt of `setInputs`; `[0, hidden]`
   * without images or videos). Each call returns a copy of its own.
   */
  getOutput(name: GeneratorOutputName): Tensor {
    const source = `Generator.getOutput name ${JSON.stringify(name)}`;
    if (!(GENERATOR_OUTPUTS as readonly string[]).includes(name)) {
      throw new QwenVLError('INVALID_ARGUMENT', `is not an output of the generator; the outputs are ${GENERATOR_OUTPUTS.join(', ')}`, { source });
    }
    if (name === 'logits') {
      if (this.logits === undefined)
        throw new QwenVLError('INVALID_ARGUMENT', 'is computed by generateNextToken(), and there were none since the last setInputs, appendTokens or rewindTo', { source });
      // A copy: the decoder writes later runs' logits over the buffer these came in.
      return { ...this.logits, data: this.logits.data.slice() };
    }
    if (this.features === undefined) throw new QwenVLError('INVALID_ARGUMENT', 'is computed with the prompt of setInputs(), at the first generateNextToken() after it', { source });
    return name === 'image_features' ? this.features.image : this.features.video;
  }

  /** `getOutput('logits')`. */
  getLogits(): Tensor {
    return this.getOutput('logits');
  }

  /**
   * Refuses a sequence of `length` tokens (columns) that leaves no room under `maxLength` to
   * generate, as onnxruntime-genai does, rather than generating past it.
   */
  private checkRoom(length: number, source: string): void {
    const { maxLength } = this.options;
    if (maxLength !== undefined && length >= maxLength) {
      throw new QwenVLError(
        'INVALID_ARGUMENT',
        `would make the sequence ${length} tokens long, and maxLength is ${maxLength}: no room to generate; raise maxLength (GeneratorParams.setSearchOptions), or rewindTo() first`,
        { source },
      );
    }
  }

  private get columns(): number {
    return this.rows.length === 0 ? 0 : this.rows[0].padding + this.rows[0].tokens.length;
  }

  /**
   * Frees the generator's KV cache now (on a GPU it is device memory; a generator no longer
   * referenced frees it when garbage-collected, and `model.dispose()` frees every one). The
   * generator refuses every call afterwards. Idempotent.
   */
  dispose(): void {
    if (this.disposed) return;
    if (this.running) throw new QwenVLError('INVALID_ARGUMENT', 'generateNextToken() is still running; await it first', { source: 'Generator.dispose' });
    this.disposed = true;
    this.sequence.dispose();
    this.reset();
  }

  /** The model's parts, if this generator may use them now. */
  private guard(source: string): ModelParts {
    const parts = modelParts(this.model, source);
    if (this.disposed) throw new QwenVLError('INVALID_ARGUMENT', 'the generator was disposed; create another', { source });
    if (this.running) throw new QwenVLError('INVALID_ARGUMENT', 'generateNextToken() is still running; await it first', { source });
    return parts;
  }

  private reset(): void {
    this.rows = [];
    this.cached = 0;
    this.pendingPrompt = undefined;
    this.rewindTarget = undefined;
    this.setPositions({ positionIds: new Int32Array(0), batch: 0, length: 0, ropeDeltas: new Int32Array(0) });
    this.features = undefined;
    this.clearStep();
  }

  private clearStep(): void {
    this.logits = undefined;
    this.nextTokens = undefined;
  }

  /** Keeps the t row of `positions` for rewinding, and its deltas. */
  private setPositions(positions: RopeIndex): void {
    const { batch, length } = positions;
    this.positionTable = Array.from({ length: batch }, (_, b) => positions.positionIds.slice(b * length, (b + 1) * length));
    this.tableColumns = length;
    this.ropeDeltas = Int32Array.from(positions.ropeDeltas);
  }

  /** Brings the cache up to the sequence and returns the logits `[B, vocab]` of its last position. */
  private async runPending(parts: ModelParts): Promise<HostTensor<'float32'>> {
    let logits: HostTensor<'float32'> | undefined;
    if (this.pendingPrompt !== undefined) {
      logits = await this.prefillPrompt(parts, this.pendingPrompt);
      this.pendingPrompt = undefined;
    }
    if (this.rewindTarget !== undefined) {
      if (this.cached > 0) await parts.decoder.truncate(Math.min(this.rewindTarget, this.cached), this.ropeDeltas);
      this.cached = Math.min(this.cached, this.rewindTarget);
      this.rewindTarget = undefined;
      logits = undefined;
    }
    const uncached = this.columns - this.cached;
    if (uncached > 0) logits = this.cached === 0 ? await this.prefillText(parts) : await this.appendColumns(parts, uncached);
    if (logits === undefined) throw new QwenVLError('INVALID_ARGUMENT', 'found nothing to run', { source: 'Generator.generateNextToken' });
    return logits;
  }

  /** The prompt of `setInputs`: vision encoder, embeddings with the features placed, prefill. */
  private async prefillPrompt(parts: ModelParts, prompt: PendingPrompt): Promise<HostTensor<'float32'>> {
    const image = await encodeVision(parts.vision, parts.folder, prompt.pixelValues, prompt.imageGridThw);
    const video = await encodeVision(parts.vision, parts.folder, prompt.pixelValuesVideos, prompt.videoGridThw);
    const inputsEmbeds = mergeVisionFeatures(await parts.decoder.embed(prompt.inputIds), prompt.inputIds, image, video, parts.config);
    const logits = await parts.decoder.prefill({ inputsEmbeds, attentionMask: prompt.attentionMask, positions: prompt.positions });
    const none = hostTensor('float32', new Float32Array(0), [0, parts.config.text.hiddenSize]);
    this.features = { image: image ?? none, video: video ?? none };
    this.cached = prompt.inputIds.dims[1];
    return logits;
  }

  /** A sequence of text only, from an empty cache: prefilled with its positions (`getRopeIndex`, padding included). */
  private async prefillText(parts: ModelParts): Promise<HostTensor<'float32'>> {
    const columns = this.columns;
    const batch = this.rows.length;
    const ids = new Int32Array(batch * columns).fill(this.padTokenId);
    const mask = new Int32Array(batch * columns);
    this.rows.forEach((row, b) => {
      ids.set(row.tokens, b * columns + row.padding);
      mask.fill(1, b * columns + row.padding, (b + 1) * columns);
    });
    const inputIds = hostTensor('int32', ids, [batch, columns]);
    const attentionMask = hostTensor('int32', mask, [batch, columns]);
    const positions = getRopeIndex({ inputIds, attentionMask }, parts.config);
    const inputsEmbeds = await parts.decoder.embed(inputIds);
    const logits = await parts.decoder.prefill({ inputsEmbeds, attentionMask, positions });
    this.setPositions(positions);
    this.cached = columns;
    return logits;
  }

  /** The last `count` columns of every row, run after the cache (text continues at `column + ropeDelta`). */
  private async appendColumns(parts: ModelParts, count: number): Promise<HostTensor<'float32'>> {
    const start = this.cached;
    const ids = this.rows.flatMap((row) => row.tokens.slice(start - row.padding, start - row.padding + count));
    let logits: HostTensor<'float32'>;
    if (count === 1) {
      logits = await parts.decoder.step(ids);
    } else {
      const batch = this.rows.length;
      const inputIds = hostTensor('int32', Int32Array.from(ids), [batch, count]);
      logits = await parts.decoder.extend({
        inputsEmbeds: await parts.decoder.embed(inputIds),
        attentionMask: hostTensor('int32', new Int32Array(batch * count).fill(1), [batch, count]),
        positions: { positionIds: decodePositionIds(start, count, this.ropeDeltas), ropeDeltas: this.ropeDeltas },
      });
    }
    this.cached = start + count;
    return logits;
  }

  /** One token for every row that is not done, from `logits` `[B, vocab]`; done rows get the pad. */
  private chooseTokens(logits: HostTensor<'float32'>): void {
    const [batch, vocab] = logits.dims;
    const chooser = (this.chooser ??= new TokenChooser(vocab));
    const next = new Int32Array(batch);
    this.rows.forEach((row, b) => {
      if (row.finish !== undefined) {
        next[b] = this.padTokenId;
        row.push(this.padTokenId);
        return;
      }
      const tokenId = chooser.choose(logits.data.subarray(b * vocab, (b + 1) * vocab), this.options, row, this.rng);
      row.push(tokenId);
      next[b] = tokenId;
      row.finish = finishReason(this.options, { tokenId, promptLength: row.inputLength, generatedLength: row.tokens.length - row.inputLength, stopStringMatched: false });
    });
    this.logits = hostTensor('float32', logits.data, [batch, 1, vocab]);
    this.nextTokens = next;
  }
}
