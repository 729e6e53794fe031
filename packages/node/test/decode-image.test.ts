import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { isQwenVLError } from '@qwen-vl/core';
import { decodeImage } from '../src/decode-image.js';
import { useTempDir } from './helpers/temp-dir.js';

const W = 6;
const H = 4;

/** Deterministic RGB content with distinct values per pixel and channel. */
function rgbPixels(width = W, height = H): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + 11) % 256;
  return data;
}

function raw(data: Uint8Array | Uint16Array, channels: 1 | 2 | 3 | 4, width = W, height = H, pageHeight?: number) {
  return sharp(data, { raw: { width, height, channels, ...(pageHeight !== undefined ? { pageHeight } : {}) } });
}

/** Keeps only every `channels`-th sample starting at `offset`: one channel of interleaved data. */
function channel(data: Uint8Array, channels: number, offset: number): number[] {
  return Array.from(data.filter((_, i) => i % channels === offset));
}

const dir = useTempDir('qwen-vl-decode-');

async function saveAs(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir(), name);
  await writeFile(path, bytes);
  return path;
}

describe('decodeImage', () => {
  it('decodes a lossless RGB PNG from a path to the exact pixels', async () => {
    const pixels = rgbPixels();
    const path = await saveAs('rgb.png', await raw(pixels, 3).png().toBuffer());
    const image = await decodeImage(path);
    expect(image).toMatchObject({ width: W, height: H, channels: 3 });
    expect(Array.from(image.data)).toEqual(Array.from(pixels));
  });

  it('decodes encoded bytes as well as paths', async () => {
    const pixels = rgbPixels();
    const image = await decodeImage(await raw(pixels, 3).png().toBuffer());
    expect(Array.from(image.data)).toEqual(Array.from(pixels));
  });

  it('replicates gray into R, G and B', async () => {
    const gray = Uint8Array.from({ length: W * H }, (_, i) => i * 10);
    const png = await raw(gray, 1).toColourspace('b-w').png().toBuffer();
    expect((await sharp(png).metadata()).channels).toBe(1);
    const image = await decodeImage(png);
    expect(image.channels).toBe(3);
    for (let c = 0; c < 3; c++) expect(channel(image.data, 3, c)).toEqual(Array.from(gray));
  });

  it('keeps the alpha of gray+alpha next to the replicated gray', async () => {
    const ga = Uint8Array.from({ length: W * H * 2 }, (_, i) => (i % 2 === 0 ? i * 5 : 255 - i));
    const png = await raw(ga, 2).toColourspace('b-w').png().toBuffer();
    expect((await sharp(png).metadata()).channels).toBe(2);
    const image = await decodeImage(png);
    expect(image.channels).toBe(4);
    const gray = channel(ga, 2, 0);
    for (let c = 0; c < 3; c++) expect(channel(image.data, 4, c)).toEqual(gray);
    expect(channel(image.data, 4, 3)).toEqual(channel(ga, 2, 1));
  });

  it('expands a palette PNG to RGB', async () => {
    // Four colours fit a palette exactly, so the round trip is lossless.
    const colours = [
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
      [10, 20, 30],
    ];
    const pixels = Uint8Array.from({ length: W * H * 3 }, (_, i) => colours[Math.floor(i / 3) % 4][i % 3]);
    const png = await raw(pixels, 3).png({ palette: true, colours: 4, dither: 0 }).toBuffer();
    expect((await sharp(png).metadata()).isPalette).toBe(true);
    const image = await decodeImage(png);
    expect(image.channels).toBe(3);
    expect(Array.from(image.data)).toEqual(Array.from(pixels));
  });

  it('keeps RGBA as four channels', async () => {
    const rgba = Uint8Array.from({ length: W * H * 4 }, (_, i) => (i * 53 + 7) % 256);
    const image = await decodeImage(await raw(rgba, 4).png().toBuffer());
    expect(image.channels).toBe(4);
    expect(Array.from(image.data)).toEqual(Array.from(rgba));
  });

  it('scales 16-bit samples to 8 bits', async () => {
    const samples = Uint16Array.from({ length: W * H * 3 }, (_, i) => (i * 2741) % 65536);
    const png = await raw(samples, 3).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(png).metadata()).depth).toBe('ushort');
    const image = await decodeImage(png);
    expect(image.channels).toBe(3);
    // Each 8-bit value must be the 16-bit one divided by 257, within rounding.
    image.data.forEach((value, i) => expect(Math.abs(value - samples[i] / 257)).toBeLessThanOrEqual(1));
  });

  it.each([
    ['JPEG', (s: Sharp) => s.jpeg({ quality: 100 }), 8],
    ['lossless WebP', (s: Sharp) => s.webp({ lossless: true }), 0],
    ['lossless AVIF', (s: Sharp) => s.avif({ lossless: true }), 3],
    ['uncompressed TIFF', (s: Sharp) => s.tiff({ compression: 'none' }), 0],
  ])('decodes %s', async (_name, encode, tolerance) => {
    // A smooth image keeps lossy codecs close to the source.
    const width = 32;
    const height = 24;
    const pixels = Uint8Array.from({ length: width * height * 3 }, (_, i) => {
      const p = Math.floor(i / 3);
      return [(p % width) * 6, Math.floor(p / width) * 8, 128][i % 3];
    });
    const image = await decodeImage(await encode(raw(pixels, 3, width, height)).toBuffer());
    expect(image).toMatchObject({ width, height, channels: 3 });
    let maxDiff = 0;
    image.data.forEach((value, i) => (maxDiff = Math.max(maxDiff, Math.abs(value - pixels[i]))));
    expect(maxDiff).toBeLessThanOrEqual(tolerance);
  });

  it('takes only the first frame of an animated GIF', async () => {
    const red = [255, 0, 0];
    const blue = [0, 0, 255];
    const frames = Uint8Array.from({ length: W * H * 2 * 3 }, (_, i) => (i < W * H * 3 ? red : blue)[i % 3]);
    const gif = await raw(frames, 3, W, H * 2, H)
      .gif()
      .toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const image = await decodeImage(gif);
    expect(image).toMatchObject({ width: W, height: H });
    const rgb = image.channels;
    for (let c = 0; c < 3; c++) expect(new Set(channel(image.data, rgb, c))).toEqual(new Set([red[c]]));
  });

  it('converts CMYK to sRGB', async () => {
    const white = new Uint8Array(W * H * 3).fill(255);
    const black = new Uint8Array(W * H * 3);
    for (const [pixels, expected] of [
      [white, 255],
      [black, 0],
    ] as const) {
      const jpeg = await raw(pixels, 3).toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer();
      expect((await sharp(jpeg).metadata()).space).toBe('cmyk');
      const image = await decodeImage(jpeg);
      expect(image.channels).toBe(3);
      // CMYK→sRGB through a colour profile is not exact, but white and black stay near.
      image.data.forEach((value) => expect(Math.abs(value - expected)).toBeLessThanOrEqual(12));
    }
  });

  it('ignores EXIF orientation unless asked to apply it', async () => {
    const jpeg = await raw(rgbPixels(), 3).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    expect((await sharp(jpeg).metadata()).orientation).toBe(6);
    expect(await decodeImage(jpeg)).toMatchObject({ width: W, height: H });
    expect(await decodeImage(jpeg, { applyExifOrientation: true })).toMatchObject({ width: H, height: W });
  });

  it('reports a truncated file as INVALID_IMAGE naming the file and the decoder cause', async () => {
    const jpeg = await raw(rgbPixels(64, 48), 3, 64, 48).jpeg().toBuffer();
    const path = await saveAs('truncated.jpg', jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    const error = await decodeImage(path).catch((e: unknown) => e);
    expect(isQwenVLError(error, 'INVALID_IMAGE')).toBe(true);
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(/premature end/i);
    expect((error as Error).message).not.toContain('\n');
  });

  it('reports a truncated PNG as INVALID_IMAGE', async () => {
    const png = await raw(rgbPixels(64, 48), 3, 64, 48).png().toBuffer();
    const path = await saveAs('truncated.png', png.subarray(0, Math.floor(png.length / 2)));
    const error = await decodeImage(path).catch((e: unknown) => e);
    expect(isQwenVLError(error, 'INVALID_IMAGE')).toBe(true);
    expect((error as Error).message).toContain(path);
  });

  it('reports bytes that are no image as INVALID_IMAGE', async () => {
    const path = await saveAs('text.png', new TextEncoder().encode('not an image at all'));
    const error = await decodeImage(path).catch((e: unknown) => e);
    expect(isQwenVLError(error, 'INVALID_IMAGE')).toBe(true);
    expect((error as Error).message).toContain(path);
  });

  it('reports a missing file as MISSING_FILE naming the path', async () => {
    const path = join(dir(), 'nope.png');
    const error = await decodeImage(path).catch((e: unknown) => e);
    expect(isQwenVLError(error, 'MISSING_FILE')).toBe(true);
    expect((error as Error).message).toContain(path);
  });
});
