import { MODEL_FILES, QwenVLError, hostTensor, loadModelConfigs, resolveBackend } from '@qwen-vl/core';
import type { Backend, Device, GenerationConfig, HostTensor, ModelConfig, ModelFolder, ModelSource } from '@qwen-vl/core';
import { DEFAULT_VIDEO_FPS, QwenVLProcessor, checkWellFormed, validateMessages } from '@qwen-vl/preprocess';
import type { ChatMessage, RawImage } from '@qwen-vl/preprocess';
import type { VisionEncoder } from '@qwen-vl/vision';
import { Generator, defaultClock, resolveSearchOptions, mergeVisionFeatures } from '@qwen-vl/decoder';
import type { GenerationTimings, SearchOptions, SearchOptionsInput, AbortFlag, FinishReason, DecoderSession } from '@qwen-vl/decoder';
import { BUILT_MODEL_FILES, checkGraphShape, manifestDataFiles, readBuildManifest } from './built-model-files.js';
import { chatMediaItems, withSystemPrompt } from './chat-messages.js';
import { ConversationCache, promptImages } from './conversation-cache.js';
import { openTextModel, openVisionModel } from './model-sessions.js';
import { PromptPreparer } from './prompt-preparer.js';
import type { PreparedModelInputs } from './prompt-preparer.js';
import { ResultStream } from './result-stream.js';
import { TurnQueue } from './turn-queue.js';

/** A chat message of a host whose images are `Image`s: a video item's `video` is its frames, each an `Image`. */
export type HostChatMessage<Image> = ChatMessage<Image, readonly Image[]>;

/** How a host decodes images; the pipeline passes these on from the chat options. */
export interface ImageDecodeOptions {
  /** Rotate/flip images by their EXIF orientation (Hugging Face does not). */
  applyExifOrientation?: boolean;
}

export interface ChatOptions extends SearchOptionsInput, ImageDecodeOptions {
  /** Ends the generation early (an AbortSignal); the result then has finishReason 'aborted'. */
  signal?: AbortFlag;
  /** System prompt; only when `messages` has no system message of its own. */
  system?: string;
  /** Overrides of preprocessor_config.json's pixel budget per image. */
  minPixels?: number;
  maxPixels?: number;
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

/** What a host (Node, the browser) supplies to run a built model folder. */
export interface VisionLanguageModelHost<Image> {
  /** The built folder: configs, tokenizer, and the .onnx files `openModel` reads. */
  readonly folder: ModelFolder;
  /**
   * The runtime source of one of the folder's .onnx files (BUILT_MODEL_FILES): a path, or
   * the bytes with their external data, which are in `externalData` as the folder's manifest
   * lists them (undefined without a manifest: `<file>.data`, when there). Throws
   * MISSING_FILE when the file is absent.
   */
  openModel(file: string, externalData: readonly string[] | undefined): Promise<ModelSource>;
  /**
   * Decodes one image item's payload; `where` names the item for error messages. Untyped
   * callers can put anything in an item, so it checks what it is given.
   */
  decodeImage(image: Image, where: string, options: ImageDecodeOptions): Promise<RawImage>;
  readonly device: Device;
  readonly intraOpThreads?: number;
  /** The backend to run on; by default the registered one `resolveBackend(device)` picks. */
  readonly backend?: Backend;
  /**
   * Called once `openModel` has given every model, before the runtime sessions are made from
   * them (which can take seconds, with nothing left to read).
   */
  readonly onCreatingSessions?: () => void;
}

/**
 * A Qwen2.5-VL model folder made by `qwen-vl build` with a chat API, independent of the host:
 * images, files and the runtime come through `VisionLanguageModelHost`. Each call is given
 * the whole conversation; when it continues the previous call's (that call's prompt and
 * answer, then more turns), the tokens and images already in the KV cache are not run again
 * (`ChatResult.cachedPromptTokens`). Calls on one model run one after another.
 */
export class VisionLanguageModel<Image> {
  private disposed = false;
  private readonly turns = new TurnQueue();
  private readonly generator: Generator;
  private readonly clock = defaultClock();
  /** What the decoder's cache holds after the last call that completed; undefined while a call runs. */
  private conversation: ConversationCache | undefined;

  private constructor(
    private readonly host: VisionLanguageModelHost<Image>,
    /** config.json, parsed. */
    readonly config: ModelConfig,
    /** generation_config.json, parsed: the defaults of every search option. */
    readonly generationConfig: GenerationConfig,
    private readonly preparer: PromptPreparer,
    private readonly decoder: DecoderSession,
    private readonly vision: VisionEncoder | undefined,
  ) {
    const tokenizer = preparer.processor.tokenizer;
    this.generator = new Generator(decoder, (ids) => tokenizer.decode(ids, { skipSpecialTokens: true }));
  }

  /** Loads the configs and tokenizer, then the text model and, when the folder has one, the vision encoder. */
  static async load<Image>(host: VisionLanguageModelHost<Image>): Promise<VisionLanguageModel<Image>> {
    const { folder } = host;
    const manifest = await readBuildManifest(folder);
    const openModel = (file: string) => host.openModel(file, manifestDataFiles(manifest, file));
    const { model, generation } = await loadModelConfigs(folder);
    checkGraphShape(manifest, model, `${folder.location}/${MODEL_FILES.config}`);
    const preparer = new PromptPreparer(await QwenVLProcessor.fromFolder(folder), model);
    // Every model is read before any session is created: a missing text file fails before a
    // (large) model is loaded, and a host that downloads them knows when downloading is over.
    const embedSource = await openModel(BUILT_MODEL_FILES.embed);
    const decoderSource = await openModel(BUILT_MODEL_FILES.decoder);
    const visionSource = (await folder.exists(BUILT_MODEL_FILES.vision)) ? await openModel(BUILT_MODEL_FILES.vision) : undefined;
    host.onCreatingSessions?.();
    const backend = host.backend ?? (await resolveBackend(host.device));
    const options = { device: host.device, intraOpThreads: host.intraOpThreads };
    const decoder = await openTextModel(backend, embedSource, decoderSource, model.text, options);
    try {
      const vision = visionSource === undefined ? undefined : await openVisionModel(backend, visionSource, model.vision, options);
      return new VisionLanguageModel(host, model, generation, preparer, decoder, vision);
    } catch (error) {
      await decoder.dispose();
      throw error;
    }
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

  /** Frees the runtime sessions, after a generation in progress ends. */
  async dispose(): Promise<void> {
    const release = await this.turns.acquire();
    try {
      if (this.disposed) return;
      this.disposed = true;
      await Promise.all([this.decoder.dispose(), this.vision?.dispose()]);
    } finally {
      release();
    }
  }

  private async *generate(messages: readonly HostChatMessage<Image>[], options: ChatOptions): AsyncGenerator<ChatChunk, ChatResult, undefined> {
    const { signal, system, minPixels, maxPixels, applyExifOrientation, onStepLogits, logprobs, ...search } = options;
    const searchOptions = this.searchOptions(search);
    const release = await this.turns.acquire();
    try {
      if (this.disposed) throw new QwenVLError('INVALID_ARGUMENT', 'was disposed; load the model again', { source: 'QwenVL' });
      const started = this.clock();
      validateMessages(messages);
      checkChatOptions(options);
      const conversation = withSystemPrompt(messages, system);
      const media = chatMediaItems(conversation);
      const decode = (image: unknown, where: string) => this.host.decodeImage(image as Image, where, { applyExifOrientation });
      const images = await Promise.all(media.images.map(({ image, where }) => decode(image, where)));
      const videos = await Promise.all(media.videos.map(({ frames, where }) => Promise.all(frames.map((frame, k) => decode(frame, `${where}[${k}]`)))));
      const fps = media.videos.map((video) => video.fps ?? DEFAULT_VIDEO_FPS);
      const prepared = this.preparer.prepareMessages(conversation, { images, videos }, { minPixels, maxPixels, fps });
      const imagesInPrompt = promptImages(prepared);
      // Taken now, so that a call that fails or is left early leaves no claim on the cache.
      const previous = this.conversation;
      this.conversation = undefined;
      // One conversation: ids [1, L], not padded.
      const promptIds = prepared.inputIds.data;
      const cachedTokens = previous?.reusableBy(promptIds, imagesInPrompt) ?? 0;
      const prepareDone = this.clock();
      const imageFeatures = await this.encodeImages(prepared, cachedTokens === 0 ? 0 : previous!.images.length);
      const videoFeatures = await this.encode(prepared.pixelValuesVideos, prepared.videoGridThw);
      const visionDone = this.clock();
      const length = promptIds.length;
      const newIds = hostTensor('int32', promptIds.subarray(cachedTokens), [1, length - cachedTokens]);
      const inputsEmbeds = mergeVisionFeatures(await this.decoder.embed(newIds), newIds, imageFeatures, videoFeatures, this.config);
      const embedDone = this.clock();

      // The prepared inputs go in as they are, with their positions; the generator feeds the part not cached.
      const stream = this.generator.stream({ ...prepared, cachedTokens, inputsEmbeds }, searchOptions, {
        signal,
        logprobs: logprobs === true,
        ...(onStepLogits !== undefined && { onStepLogits: (step: number, logits: HostTensor<'float32'>) => onStepLogits(step, logits.data) }),
      });
      let firstToken: number | undefined;
      for (;;) {
        const next = await stream.next();
        if (next.done === true) {
          const [row] = next.value.rows;
          // Videos are not told apart by the cache, so a conversation with one is not kept.
          if (prepared.videoGridThw.length === 0) this.conversation = ConversationCache.after(promptIds, imagesInPrompt, row.tokens, this.decoder.pastLength);
          const end = this.clock();
          return {
            text: row.text,
            tokens: row.tokens,
            logprobs: row.logprobs,
            finishReason: row.finishReason,
            promptTokenIds: promptIds,
            cachedPromptTokens: cachedTokens,
            timings: {
              ...next.value.timings,
              prepareMs: prepareDone - started,
              visionMs: visionDone - prepareDone,
              embedMs: embedDone - visionDone,
              timeToFirstTokenMs: (firstToken ?? end) - started,
              totalMs: end - started,
            },
          };
        }
        firstToken ??= this.clock();
        yield { tokenId: next.value.tokenId, text: next.value.text, logprob: next.value.logprob };
      }
    } finally {
      release();
    }
  }

  /** Image features `[tokens, hidden]` of the prompt's images from `first` on (the earlier ones are cached); undefined for none. */
  private encodeImages(prepared: PreparedModelInputs, first: number): Promise<HostTensor<'float32'> | undefined> {
    // The images to encode are the last ones, so their patches are the tail of pixelValues.
    const skippedRows = prepared.imageGridThw.slice(0, first).reduce((sum, [t, h, w]) => sum + t * h * w, 0);
    return this.encode(prepared.pixelValues.subarray(skippedRows * prepared.rowSize), prepared.imageGridThw.slice(first));
  }

  /** Vision features `[tokens, hidden]` of the patch rows of `grids`; undefined for no grid. */
  private async encode(pixelValues: Float32Array, grids: readonly (readonly [number, number, number])[]): Promise<HostTensor<'float32'> | undefined> {
    if (grids.length === 0) return undefined;
    if (this.vision === undefined) {
      throw new QwenVLError('MISSING_FILE', 'not found, and the conversation has images or videos; rebuild the folder with "qwen-vl build"', {
        source: `${this.host.folder.location}/${BUILT_MODEL_FILES.vision}`,
      });
    }
    const { features, dims } = await this.vision.encode(pixelValues, grids);
    return hostTensor('float32', features, dims);
  }
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
