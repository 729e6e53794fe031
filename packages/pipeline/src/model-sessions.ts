import type { Backend, Device, InferenceSessionHandle, ModelSource, TextConfig, VisionConfig } from '@qwen-vl/core';
import { VisionEncoder } from '@qwen-vl/vision';
import { DecoderSession, decoderDeviceOutputs } from '@qwen-vl/decoder';
import { AdaptedSession } from './folder-layouts/adapted-session.js';
import type { SessionNames } from './folder-layouts/adapted-session.js';

export interface ModelSessionOptions {
  readonly device: Device;
  /** Threads per operator; the runtime picks when omitted. */
  readonly intraOpThreads?: number;
  /** Settings of the device's execution provider (`SessionOptions.providerOptions`). */
  readonly providerOptions?: Readonly<Record<string, string>>;
}

/**
 * How a graph whose input and output names are not qwen-vl's (a genai folder's, as
 * genai_config.json names them) is presented under qwen-vl's (`AdaptedSession`).
 */
export interface GraphNaming {
  /** The graph's name of qwen-vl's output `name`, needed before the session exists: the cache outputs are kept on the device by it. */
  graphOutput(name: string): string;
  /** The names of the created `session`; throws INVALID_MODEL where it lacks one they give. */
  sessionNames(session: InferenceSessionHandle): SessionNames;
}

/** A session of `source`, keeping `deviceOutputs` (qwen-vl's names) on the device, under qwen-vl's names when `naming` says the graph's differ. */
async function createSession(
  backend: Backend,
  source: ModelSource,
  options: ModelSessionOptions,
  naming: GraphNaming | undefined,
  deviceOutputs: readonly string[] = [],
): Promise<InferenceSessionHandle> {
  const session = await backend.createSession(source, {
    device: options.device,
    deviceOutputs: deviceOutputs.map((name) => naming?.graphOutput(name) ?? name),
    ...(options.intraOpThreads !== undefined && { intraOpThreads: options.intraOpThreads }),
    ...(options.providerOptions !== undefined && { providerOptions: options.providerOptions }),
  });
  if (naming === undefined) return session;
  try {
    return new AdaptedSession(session, naming.sessionNames(session));
  } catch (error) {
    await session.dispose();
    throw error;
  }
}

/**
 * The text model (`embed.onnx` and `decoder.onnx`, or a layout's equivalents) as one
 * DecoderSession, its KV cache kept on the device. `naming` gives the graphs whose names
 * are another runtime's.
 */
export async function openTextModel(
  backend: Backend,
  embed: ModelSource,
  decoder: ModelSource,
  config: TextConfig,
  options: ModelSessionOptions,
  naming: { readonly embed?: GraphNaming; readonly decoder?: GraphNaming } = {},
): Promise<DecoderSession> {
  const embedSession = await createSession(backend, embed, options, naming.embed);
  let decoderSession: InferenceSessionHandle | undefined;
  try {
    decoderSession = await createSession(backend, decoder, options, naming.decoder, decoderDeviceOutputs(config));
    return new DecoderSession(embedSession, decoderSession, config);
  } catch (error) {
    await Promise.all([embedSession.dispose(), decoderSession?.dispose()]);
    throw error;
  }
}

/** The exported vision tower (`vision.onnx`, or a layout's equivalent) as a VisionEncoder. */
export async function openVisionModel(backend: Backend, vision: ModelSource, config: VisionConfig, options: ModelSessionOptions, naming?: GraphNaming): Promise<VisionEncoder> {
  const session = await createSession(backend, vision, options, naming);
  try {
    return new VisionEncoder(session, config);
  } catch (error) {
    await session.dispose();
    throw error;
  }
}
