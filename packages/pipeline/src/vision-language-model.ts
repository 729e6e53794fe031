import { QwenVLError, hostTensor } from '@qwen-vl/core';
import type { GenerationConfig, HostTensor, ModelConfig } from '@qwen-vl/core';
import { checkWellFormed, validateMessages } from '@qwen-vl/preprocess';
import type { ChatMessage } from '@qwen-vl/preprocess';
import type { VisionEncoder } from '@qwen-vl/vision';
import { ContinuousBatch, Generator, defaultClock, resolveSearchOptions, mergeVisionFeatures } from '@qwen-vl/decoder';
import type { AbortFlag, DecoderSession, FinishReason, GenerationControl, GenerationResult, GenerationStreamEvent, GenerationTimings, SearchOptions, SearchOptionsInput } from '@qwen-vl/decoder';
import { encodeVision, openBuiltModel } from './built-model.js';
import type { BuiltModelHost } from './built-model.js';
import { prepareChat } from './chat-preparation.js';
import type { ChatPreparationOptions, ChatPreparer, HostImageDecoder } from './chat-preparation.js';
import { ConversationCache, promptImages } from './conversation-cache.js';
import type { PromptPreparer } from './prompt-preparer.js';
import type { PreparedModelInputs } from './prompt-preparer.js';
import { ResultStream } from './result-stream.js';
import { TurnQueue } from './turn-queue.js';

/** A chat message of a host whose images are `Image`s: a video item's `video` is its frames, each an `Image`. */
export type HostChatMessage<Image> = ChatMessage<Image, readonly Image[]>;

export interface ChatOptions extends SearchOptionsInput, ChatPreparationOptions {
  /** Ends the generation early (an AbortSignal); the result then has finishReason 'aborted'. */
  signal?: AbortFlag;
  /**
   * Called with the raw logits (before any search option is applied) of every step, vocabulary
   * size; step 0 is the prefill's. Each call gets a fresh array.
   */
  onStepLogits?: (step: number, logits: Float32Array) => void;
  /**
   * Compute each token's log-probability (a log-softmax over the vocabulary per token, about
   * 1 ms on CPU for a 152k vocabulary). Off by default: `ChatChunk.logprob` is then NaN and
   * `ChatResult.logprobs` empty.
   */
  logprobs?: boolean;
}

/** One generated token as the stream gives it. */
export interface ChatChunk {
  tokenId: number;
  /** Text this token completes; '' while a character or a possible stop string is still open, and for EOS. */
  text: string;
  /** Log-probability of the token under the raw logits; NaN unless `ChatOptions.logprobs`. */
  logprob: number;
}

export interface ChatTimings extends GenerationTimings {
  /** Images decoded, chat template, tokenizer, image processor and positions. */
  prepareMs: number;
  /** The vision encoder over the conversation's images (those not cached from the previous call). */
  visionMs: number;
  /** Embedding the prompt (past the cached part) and placing the image features. */
  embedMs: number;
  /** From the call to the first generated token. */
  timeToFirstTokenMs: number;
  totalMs: number;
}

export interface ChatResult {
  text: string;
  /** Generated token ids, in order. */
  tokens: number[];
  /** One per token with `ChatOptions.logprobs`, else empty. */
  logprobs: number[];
  finishReason: FinishReason;
  /** The whole conversation as the model saw it: token ids with every image pad expanded. */
  promptTokenIds: Int32Array;
  /**
   * Leading prompt tokens served from the previous call's KV cache, not run again (0 when the
   * prompt does not continue that call's conversation); their images were not encoded again.
   */
  cachedPromptTokens: number;
  timings: ChatTimings;
}

export type ChatStream = ResultStream<ChatChunk, ChatResult>;

/** What a host (Node, the browser) supplies to run a built model folder with the chat API. */
export interface VisionLanguageModelHost<Image> extends BuiltModelHost {
  /**
   * Decodes one image item's payload; `where` names the item for error messages. Untyped
   * callers can put anything in an item, so it checks what it is given.
   */
  readonly decodeImage: HostImageDecoder<Image>;
}

export interface VisionLanguageModelOptions<Image = unknown> {
  /**
   * Continuous batching: concurrent calls share the decoder, up to this many generating at
   * once (each joins the running batch at the next step and leaves it when it ends; see
   * `ContinuousBatch`); further calls wait for a row. Every call then prefills its whole
   * conversation (no reuse of the previous call's cache). Without it, calls run one after
   * another, each able to reuse the previous call's cache.
   */
  maxBatch?: number;
  /**
   * Prepares the calls' inputs elsewhere (worker threads): decoding images, the chat template,
   * the tokenizer and the image processor of one call then overlap the model runs of others.
   * The model owns it: `dispose` disposes it. Without it, calls are prepared on the calling thread.
   */
  chatPreparer?: ChatPreparer<Image>;
}

/** The moments of a chat call that its timings are measured between (ms, the model's clock). */
interface CallPhases {
  started: number;
  prepareDone: number;
  visionMs: number;
  embedMs: number;
}

/**
 * A Qwen2.5-VL model folder made by `qwen-vl build` with a chat API, independent of the host:
 * images, files and the runtime come through `VisionLanguageModelHost`. Each call is given
 * the whole conversation; when it continues the previous call's (that call's prompt and
 * answer, then more turns), the tokens and images already in the KV cache are not run again
 * (`ChatResult.cachedPromptTokens`). Calls on one model run one after another, unless it was
 * loaded with `maxBatch`: then concurrent calls are generated together.
 */
export class VisionLanguageModel<Image> {
  private disposed = false;
  private readonly turns = new TurnQueue();
  private readonly generator: Generator;
  /** The running batch of concurrent calls, with `maxBatch`. */
  private readonly batch: ContinuousBatch | undefined;
  private readonly clock = defaultClock();
  /** What the decoder's cache holds after the last call that completed; undefined while a call runs. */
  private conversation: ConversationCache | undefined;

  private readonly chatPreparer: ChatPreparer<Image> | undefined;

  private constructor(
    private readonly host: VisionLanguageModelHost<Image>,
    /** config.json, parsed. */
    readonly config: ModelConfig,
    /** generation_config.json, parsed: the defaults of every search option. */
    readonly generationConfig: GenerationConfig,
    private readonly preparer: PromptPreparer,
    private readonly decoder: DecoderSession,
    private readonly vision: VisionEncoder | undefined,
    options: VisionLanguageModelOptions<Image>,
  ) {
    this.chatPreparer = options.chatPreparer;
    const tokenizer = preparer.processor.tokenizer;
    const decode = (ids: readonly number[]) => tokenizer.decode(ids, { skipSpecialTokens: true });
    this.generator = new Generator(decoder, decode);
    this.batch = options.maxBatch === undefined ? undefined : new ContinuousBatch(decoder, decode, { maxBatch: options.maxBatch });
  }

  /** Loads the configs and tokenizer, then the text model and, when the folder has one, the vision encoder. */
  static async load<Image>(host: VisionLanguageModelHost<Image>, options: VisionLanguageModelOptions<Image> = {}): Promise<VisionLanguageModel<Image>> {
    const { maxBatch } = options;
    if (maxBatch !== undefined && (!Number.isSafeInteger(maxBatch) || maxBatch < 1)) {
      throw new QwenVLError('INVALID_ARGUMENT', `must be a positive integer, got ${String(maxBatch)}`, { source: 'options.maxBatch' });
    }
    const { config, generationConfig, preparer, decoder, vision } = await openBuiltModel(host);
    return new VisionLanguageModel(host, config, generationConfig, preparer, decoder, vision, options);
  }

  /** Calls generating in the batch now (0 without `maxBatch`). */
  get batchSize(): number {
    return this.batch?.size ?? 0;
  }

  /**
   * The search options a call with `options` runs with: the given ones over
   * generation_config.json's. Throws INVALID_ARGUMENT naming a bad option.
   */
  searchOptions(options: SearchOptionsInput = {}): SearchOptions {
    return resolveSearchOptions(options, this.generationConfig, this.config.text.maxPositionEmbeddings);
  }

  /** Generates the assistant's reply to `messages` and returns it whole. */
  chat(messages: readonly HostChatMessage<Image>[], options: ChatOptions = {}): Promise<ChatResult> {
    return this.chatStream(messages, options).result;
  }

  /**
   * Generates the assistant's reply piece by piece: `for await (const chunk of stream)` gives
   * each token with its text, `await stream.result` the summary. Leaving the loop early stops
   * the generation.
   */
  chatStream(messages: readonly HostChatMessage<Image>[], options: ChatOptions = {}): ChatStream {
    return new ResultStream(this.generate(messages, options));
  }

  /** Frees the runtime sessions, after the generations in progress end. */
  async dispose(): Promise<void> {
    const release = await this.turns.acquire();
    try {
      if (this.disposed) return;
      this.disposed = true;
      await this.batch?.idle();
      await Promise.all([this.decoder.dispose(), this.vision?.dispose(), this.chatPreparer?.dispose()]);
    } finally {
      release();
    }
  }

  private async *generate(messages: readonly HostChatMessage<Image>[], options: ChatOptions): AsyncGenerator<ChatChunk, ChatResult, undefined> {
    const searchOptions = this.searchOptions(chatSearchOptions(options));
    if (this.batch !== undefined) return yield* this.generateInBatch(this.batch, messages, options, searchOptions);
    const release = await this.turns.acquire();
    try {
      this.requireLoaded();
      const started = this.clock();
      const prepared = await this.prepare(messages, options);
      const imagesInPrompt = promptImages(prepared);
      // Taken now, so that a call that fails or is left early leaves no claim on the cache.
      const previous = this.conversation;
      this.conversation = undefined;
      // One conversation: ids [1, L], not padded.
      const promptIds = prepared.inputIds.data;
      const cachedTokens = previous?.reusableBy(promptIds, imagesInPrompt) ?? 0;
      const prepareDone = this.clock();
      const { inputsEmbeds, visionMs, embedMs } = await this.embed(prepared, cachedTokens === 0 ? 0 : previous!.images.length, cachedTokens);

      // The prepared inputs go in as they are, with their positions; the generator feeds the part not cached.
      const generation = this.generator.stream({ ...prepared, cachedTokens, inputsEmbeds }, searchOptions, generationControl(options));
      const { result, firstToken } = yield* this.chunks(generation);
      // Videos are not told apart by the cache, so a conversation with one is not kept.
      if (prepared.videoGridThw.length === 0) this.conversation = ConversationCache.after(promptIds, imagesInPrompt, result.rows[0].tokens, this.decoder.pastLength);
      return this.chatResult(result, promptIds, cachedTokens, { started, prepareDone, visionMs, embedMs }, firstToken);
    } finally {
      release();
    }
  }

  /**
   * A call in the running batch: its images are decoded and its prompt prepared at once, in
   * parallel with the batch's runs; its vision encoder and embedding run when it joins, inside
   * the batch's loop, so that no two model runs overlap.
   */
  private async *generateInBatch(
    batch: ContinuousBatch,
    messages: readonly HostChatMessage<Image>[],
    options: ChatOptions,
    searchOptions: SearchOptions,
  ): AsyncGenerator<ChatChunk, ChatResult, undefined> {
    this.requireLoaded();
    const started = this.clock();
    const prepared = await this.prepare(messages, options);
    const phases: CallPhases = { started, prepareDone: this.clock(), visionMs: 0, embedMs: 0 };
    // dispose() may have come while the images were decoded; it waits for the calls already in the batch.
    this.requireLoaded();
    const prompt = async () => {
      const { inputsEmbeds, visionMs, embedMs } = await this.embed(prepared, 0, 0);
      Object.assign(phases, { visionMs, embedMs });
      return { ...prepared, inputsEmbeds };
    };
    const { result, firstToken } = yield* this.chunks(batch.stream({ prompt, options: searchOptions, control: generationControl(options) }));
    return this.chatResult(result, prepared.inputIds.data, 0, phases, firstToken);
  }

  private requireLoaded(): void {
    if (this.disposed) throw new QwenVLError('INVALID_ARGUMENT', 'was disposed; load the model again', { source: 'QwenVL' });
  }

  /** Checks the call, decodes its images and videos, and prepares the conversation's model inputs (one row). */
  private async prepare(messages: readonly HostChatMessage<Image>[], options: ChatOptions): Promise<PreparedModelInputs> {
    validateMessages(messages);
    checkChatOptions(options);
    const { system, minPixels, maxPixels, applyExifOrientation } = options;
    const preparation: ChatPreparationOptions = { system, minPixels, maxPixels, applyExifOrientation };
    if (this.chatPreparer !== undefined) return this.chatPreparer.prepare(messages, preparation);
    return prepareChat(this.preparer, this.host.decodeImage, messages, preparation);
  }

  /**
   * The embeddings of the prompt past its first `cachedTokens` tokens, the features of its
   * images from `firstImage` on (the earlier ones are cached) and of its videos in place.
   */
  private async embed(prepared: PreparedModelInputs, firstImage: number, cachedTokens: number): Promise<{ inputsEmbeds: HostTensor<'float32'>; visionMs: number; embedMs: number }> {
    const start = this.clock();
    const imageFeatures = await this.encodeImages(prepared, firstImage);
    const videoFeatures = await this.encode(prepared.pixelValuesVideos, prepared.videoGridThw);
    const visionDone = this.clock();
    const promptIds = prepared.inputIds.data;
    const newIds = hostTensor('int32', promptIds.subarray(cachedTokens), [1, promptIds.length - cachedTokens]);
    const inputsEmbeds = mergeVisionFeatures(await this.decoder.embed(newIds), newIds, imageFeatures, videoFeatures, this.config);
    return { inputsEmbeds, visionMs: visionDone - start, embedMs: this.clock() - visionDone };
  }

  /** Hands out a generation's tokens as chat chunks; returns its result and when its first token came. */
  private async *chunks(
    generation: AsyncGenerator<GenerationStreamEvent, GenerationResult, undefined>,
  ): AsyncGenerator<ChatChunk, { result: GenerationResult; firstToken: number | undefined }, undefined> {
    let firstToken: number | undefined;
    let done = false;
    try {
      for (;;) {
        const next = await generation.next();
        if (next.done === true) {
          done = true;
          return { result: next.value, firstToken };
        }
        firstToken ??= this.clock();
        yield { tokenId: next.value.tokenId, text: next.value.text, logprob: next.value.logprob };
      }
    } finally {
      // Left early (the caller stopped reading): a batch frees the row at once.
      if (!done) await generation.return(undefined as never);
    }
  }

  /** The call's result from its generation's (one row). */
  private chatResult(generation: GenerationResult, promptIds: Int32Array, cachedTokens: number, phases: CallPhases, firstToken: number | undefined): ChatResult {
    const [row] = generation.rows;
    const end = this.clock();
    return {
      text: row.text,
      tokens: row.tokens,
      logprobs: row.logprobs,
      finishReason: row.finishReason,
      promptTokenIds: promptIds,
      cachedPromptTokens: cachedTokens,
      timings: {
        ...generation.timings,
        prepareMs: phases.prepareDone - phases.started,
        visionMs: phases.visionMs,
        embedMs: phases.embedMs,
        timeToFirstTokenMs: (firstToken ?? end) - phases.started,
        totalMs: end - phases.started,
      },
    };
  }

  /** Image features `[tokens, hidden]` of the prompt's images from `first` on (the earlier ones are cached); undefined for none. */
  private encodeImages(prepared: PreparedModelInputs, first: number): Promise<HostTensor<'float32'> | undefined> {
    // The images to encode are the last ones, so their patches are the tail of pixelValues.
    const skippedRows = prepared.imageGridThw.slice(0, first).reduce((sum, [t, h, w]) => sum + t * h * w, 0);
    return this.encode(prepared.pixelValues.subarray(skippedRows * prepared.rowSize), prepared.imageGridThw.slice(first));
  }

  /** Vision features `[tokens, hidden]` of the patch rows of `grids`; undefined for no grid. */
  private encode(pixelValues: Float32Array, grids: readonly (readonly [number, number, number])[]): Promise<HostTensor<'float32'> | undefined> {
    return encodeVision(this.vision, this.host.folder, pixelValues, grids);
  }
}

/** The options of a call that the pipeline reads itself; a new one that is not listed fails to compile. */
const PIPELINE_OPTIONS: Readonly<Record<Exclude<keyof ChatOptions, keyof SearchOptionsInput>, true>> = {
  signal: true,
  system: true,
  minPixels: true,
  maxPixels: true,
  applyExifOrientation: true,
  onStepLogits: true,
  logprobs: true,
};

/** The search options among a call's options: everything but what the pipeline itself reads. */
function chatSearchOptions(options: ChatOptions): SearchOptionsInput {
  return Object.fromEntries(Object.entries(options).filter(([name]) => !Object.hasOwn(PIPELINE_OPTIONS, name)));
}

/** The generation loop's control from a call's options. */
function generationControl({ signal, logprobs, onStepLogits }: ChatOptions): GenerationControl {
  return {
    signal,
    logprobs: logprobs === true,
    ...(onStepLogits !== undefined && { onStepLogits: (step: number, logits: HostTensor<'float32'>) => onStepLogits(step, logits.data) }),
  };
}

/**
 * The options search-option resolution does not see: a `signal` that is not an AbortSignal
 * would be read as never aborted, and a `system` prompt must be text like any message.
 */
function checkChatOptions(options: ChatOptions): void {
  const { signal, system } = options as { signal?: unknown; system?: unknown };
  if (signal !== undefined && (typeof signal !== 'object' || signal === null || typeof (signal as { aborted?: unknown }).aborted !== 'boolean')) {
    throw new QwenVLError(
      'INVALID_ARGUMENT',
      `must be an AbortSignal, got ${signal === null ? 'null' : typeof signal === 'object' ? 'an object without a boolean "aborted"' : `${typeof signal} ${JSON.stringify(signal)}`}`,
      { source: 'options.signal' },
    );
  }
  if (system !== undefined) {
    if (typeof system !== 'string') throw new QwenVLError('INVALID_ARGUMENT', `must be a string, got ${typeof system}`, { source: 'options.system' });
    checkWellFormed(system, 'options.system');
  }
}
