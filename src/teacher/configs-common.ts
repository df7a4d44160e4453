/**
 * What the ecosystem-config resolvers (configs-timm.ts, configs-hf.ts) share: the spec shape they
 * produce, the ImageNet mean/std, and the small validated readers through which every key of a
 * config file is read, each refusal naming the file and the key.
 */
import type { Interpolation } from '../data/image.js';
import { UsageError } from '../errors.js';

/** The `--preprocess` spec shape these resolvers produce (mirrors src/teacher/preprocess.ts). */
export interface EcosystemPreprocess {
  layout?: 'NCHW' | 'NHWC';
  /** number S: shorter side → S, longer → int(S·long/short); [H, W]: exactly that size (a warp). */
  resize?: number | [number, number];
  /** Center crop to S×S or [H, W] (pads with 0 when the image is smaller). */
  crop?: number | [number, number];
  /** 'round': torchvision/timm CenterCrop, int(round((H − h) / 2)); 'floor': HF, (H − h) // 2. */
  cropRounding?: 'round' | 'floor';
  /** PIL filter of the resize. */
  interpolation?: Interpolation;
  channels?: 'RGB' | 'BGR' | 'L';
  /** pixel · scale (1/255 for ToTensor, rescale_factor for HF). */
  scale?: number;
  /** (x·scale − mean[c]) / std[c], per output channel. */
  mean?: number[];
  std?: number[];
  /** Where the recipe came from, recorded in the manifest. */
  source?: string;
}

// timm/data/constants.py
export const IMAGENET_DEFAULT_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_DEFAULT_STD = [0.229, 0.224, 0.225];

// ------------------------------------------------------------------------------------------------
// Small validated readers. Every refusal names the file and the key (as spelled in the file).

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const show = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

export function fail(file: string, key: string, msg: string, hint?: string): never {
  throw new UsageError(`${file}: ${key} ${msg}`, hint);
}

/** Python's truthiness for JSON values (timm's resolve_data_config tests `cfg.get(k, None)`). */
export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isObj(v)) return Object.keys(v).length > 0;
  return true;
}

export function posInt(v: unknown, file: string, key: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(file, key, `must be a positive integer, got ${show(v)}`);
  return v;
}

export function posNumber(v: unknown, file: string, key: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(file, key, `must be a positive finite number, got ${show(v)}`);
  return v;
}

export function bool(v: unknown, file: string, key: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') fail(file, key, `must be true or false, got ${show(v)}`);
  return v;
}

/**
 * A per-channel vector of C finite numbers. `allowScalar`: HF's normalize broadcasts a float;
 * a length-1 list broadcasts too in timm (torchvision Normalize views mean as [-1, 1, 1]).
 */
export function channelVector(v: unknown, C: number, file: string, key: string, nonZero: boolean, allowScalar: boolean): number[] {
  let arr: unknown[];
  if (typeof v === 'number' && allowScalar) arr = [v];
  else if (Array.isArray(v)) arr = v;
  else fail(file, key, `must be a list of ${C} numbers, got ${show(v)}`);
  if (arr.length === 1 && C > 1) arr = new Array<unknown>(C).fill(arr[0]);
  if (arr.length !== C) fail(file, key, `has ${arr.length} value(s), the model takes ${C} channel(s): ${show(v)}`);
  return arr.map((x, i) => {
    if (typeof x !== 'number' || !Number.isFinite(x)) fail(file, `${key}[${i}]`, `must be a finite number, got ${show(x)}`);
    if (nonZero && x === 0) fail(file, `${key}[${i}]`, 'must be non-zero (it divides)');
    return x;
  });
}

export const square = (h: number, w: number): number | [number, number] => (h === w ? h : [h, w]);
