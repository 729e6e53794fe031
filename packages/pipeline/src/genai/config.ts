import { QwenVLError } from '@qwen-vl/core';
import type { Device } from '@qwen-vl/core';
import type { BuiltModelHost } from '../built-model.js';

/** An execution provider a Config can name: onnxruntime-genai's short names, which are qwen-vl's devices. */
export type Provider = Device;

export const PROVIDERS: readonly Provider[] = ['cpu', 'cuda', 'dml', 'webgpu', 'wasm'];

/** What `Model.create` needs of the host besides the provider: the folder and how its models and runtime are reached. */
export type ConfigHost = Omit<BuiltModelHost, 'device' | 'providerOptions'> & {
  /** Awaited once the model is open (in the browser: until its fetched files are stored in the cache). */
  readonly opened?: () => Promise<void>;
};

/** How a host opens the folder a Config names (Node: from the file system; the browser: by URL). */
export type OpenConfigHost = (path: string) => Promise<ConfigHost>;

function checkString(value: unknown, source: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) throw new QwenVLError('INVALID_ARGUMENT', `must be a non-empty string, got ${JSON.stringify(value) ?? typeof value}`, { source });
}

function checkProvider(provider: unknown, source: string): asserts provider is Provider {
  if (!(PROVIDERS as readonly unknown[]).includes(provider)) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be one of ${PROVIDERS.join(', ')}, got ${JSON.stringify(provider) ?? typeof provider}`, { source });
  }
}

/**
 * onnxruntime-genai's `og.Config`: a model folder and the execution provider to run it on,
 * platform-neutral; `@qwen-vl/node` and `@qwen-vl/web` extend it with how their host reaches
 * the folder. With no provider appended the model runs on the host's CPU provider (`cpu` in
 * Node, `wasm` in the browser), as genai's does once `clearProviders()` has emptied the list. qwen-vl runs a model on one provider, so
 * the list holds at most one (genai would fall back through the list per operator).
 */
export class GenaiConfig {
  private providers: Provider[] = [];
  private readonly options = new Map<Provider, Record<string, string>>();

  constructor(
    /** The model folder (a path or URL, as the host reads it): one made by `qwen-vl build`, or onnxruntime-genai's. */
    readonly path: string,
    private readonly openHost: OpenConfigHost,
    /** The provider used while none is appended: the host's CPU one. */
    private readonly defaultProvider: Provider = 'cpu',
  ) {
    checkString(path, 'Config path');
  }

  /** Empties the provider list and forgets every provider option: the model then runs on the CPU. */
  clearProviders(): void {
    this.providers = [];
    this.options.clear();
  }

  /**
   * Runs the model on `provider`, with `options` as by `setProviderOption`. A second,
   * different provider is refused (INVALID_ARGUMENT): call `clearProviders()` first.
   */
  appendProvider(provider: Provider, options: Readonly<Record<string, string>> = {}): void {
    checkProvider(provider, 'Config.appendProvider provider');
    const other = this.providers.find((p) => p !== provider);
    if (other !== undefined) {
      throw new QwenVLError('INVALID_ARGUMENT', `cannot be added to ${other}: qwen-vl runs a model on one provider; call clearProviders() first`, {
        source: `Config.appendProvider provider "${provider}"`,
      });
    }
    if (typeof options !== 'object' || options === null) throw new QwenVLError('INVALID_ARGUMENT', 'must be an object of string options', { source: 'Config.appendProvider options' });
    for (const [key, value] of Object.entries(options)) this.setProviderOption(provider, key, value);
    if (!this.providers.includes(provider)) this.providers.push(provider);
  }

  /**
   * Sets one option of `provider` (genai's names and string values, e.g. cuda's
   * `device_id`: '1'); it applies once the provider is appended. Which options a provider
   * takes is the host's business: an unknown one fails `Model.create`, naming it.
   */
  setProviderOption(provider: Provider, key: string, value: string): void {
    checkProvider(provider, 'Config.setProviderOption provider');
    checkString(key, 'Config.setProviderOption key');
    if (typeof value !== 'string') throw new QwenVLError('INVALID_ARGUMENT', `must be a string, got ${typeof value}`, { source: `Config.setProviderOption value of "${key}"` });
    const options = this.options.get(provider) ?? {};
    options[key] = value;
    this.options.set(provider, options);
  }

  /** The provider the model runs on: the one appended, else the host's CPU one. */
  get provider(): Provider {
    return this.providers[0] ?? this.defaultProvider;
  }

  /** The options set for `provider` (by default the one the model runs on). */
  providerOptions(provider: Provider = this.provider): Readonly<Record<string, string>> {
    return { ...this.options.get(provider) };
  }

  /** The host's access to the folder; `Model.create` calls it. */
  host(): Promise<ConfigHost> {
    return this.openHost(this.path);
  }
}
