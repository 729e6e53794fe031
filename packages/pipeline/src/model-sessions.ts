import type { Backend, Device, InferenceSessionHandle, ModelSource, TextConfig, VisionConfig } from '@qwen-vl/core';
import { VisionEncoder } from '@qwen-vl/vision';
import { DecoderSession, decoderDeviceOutputs } from '@qwen-vl/decoder';

export interface ModelSessionOptions {
  readonly device: Device;
  /** Threads per operator; the runtime picks when omitted. */
  readonly intraOpThreads?: number;
  /** Settings of the device's execution provider (`SessionOptions.providerOptions`). */
  readonly providerOptions?: Readonly<Record<string, string>>;
}

/** The backend's session options for `options`, keeping `deviceOutputs` (graph output names) on the device. */
export function sessionOptions(options: ModelSessionOptions, deviceOutputs: readonly string[] = []) {
  return {
    device: options.device,
    deviceOutputs,
    ...(options.intraOpThreads !== undefined && { intraOpThreads: options.intraOpThreads }),
    ...(options.providerOptions !== undefined && { providerOptions: options.providerOptions }),
  };
}

/** The text model (`embed.onnx` and `decoder.onnx`) as one DecoderSession, its KV cache kept on the device. */
export async function openTextModel(backend: Backend, embed: ModelSource, decoder: ModelSource, config: TextConfig, options: ModelSessionOptions): Promise<DecoderSession> {
  const embedSession = await backend.createSession(embed, sessionOptions(options));
  let decoderSession: InferenceSessionHandle | undefined;
  try {
    decoderSession = await backend.createSession(decoder, sessionOptions(options, decoderDeviceOutputs(config)));
    return new DecoderSession(embedSession, decoderSession, config);
  } catch (error) {
    await Promise.all([embedSession.dispose(), decoderSession?.dispose()]);
    throw error;
  }
}

/** The exported vision tower (`vision.onnx`) as a VisionEncoder. */
export async function openVisionModel(backend: Backend, vision: ModelSource, config: VisionConfig, options: ModelSessionOptions): Promise<VisionEncoder> {
  const session = await backend.createSession(vision, sessionOptions(options));
  try {
    return new VisionEncoder(session, config);
  } catch (error) {
    await session.dispose();
    throw error;
  }
}
